import { z } from 'zod';
import { envBoolean, lambdaEnv, logEnv, parseEnv, redisEnv, sshEnv, workerEnv, healthEnv } from '@inno-train/config';
import { DEFAULT_RETRY_SCHEDULE_MS } from '@inno-train/webhooks';

/** Every variable the provisioner reads. The all-in-one spreads this shape into its own. */
export const provisionerEnvShape = {
  ...redisEnv,
  ...sshEnv,
  ...lambdaEnv,
  ...logEnv,
  ...workerEnv,
  ...healthEnv,
  /** Finished jobs' records, events and logs are deleted this long after they end (S3 outputs never are). */
  JOB_RETENTION_DAYS: z.coerce.number().positive().max(3650).default(30),
  /** How often the retention sweep runs. */
  RETENTION_EVERY_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(10 * 60_000),
  /** Webhook deliveries may go to http:// URLs (development and tests only). */
  WEBHOOK_ALLOW_HTTP: envBoolean.default(false),
  /** Webhook deliveries may reach loopback, private and link-local addresses (development and tests only). */
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: envBoolean.default(false),
  /** Delays before each retry of a failed webhook delivery (ms, comma-separated); attempts = entries + 1. */
  WEBHOOK_RETRY_SCHEDULE_MS: z
    .string()
    .transform((value) => value.split(',').map((ms) => Number(ms.trim())))
    .refine(
      (delays) => delays.length > 0 && delays.length <= 50 && delays.every((ms) => Number.isInteger(ms) && ms >= 1),
      'must list 1 to 50 delays in ms, comma-separated',
    )
    .default(DEFAULT_RETRY_SCHEDULE_MS),
};

export type ProvisionerEnv = ReturnType<typeof parseProvisionerEnv>;

/** Parsed once at start: a bad or missing variable stops the process with a message naming it. */
export function parseProvisionerEnv(env: Record<string, string | undefined>) {
  return parseEnv(provisionerEnvShape, env);
}
