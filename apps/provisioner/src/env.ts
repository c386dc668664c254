import { z } from 'zod';
import { lambdaEnv, logEnv, parseEnv, redisEnv, sshEnv, workerEnv } from '@inno-train/config';

/** Every variable the provisioner reads. The all-in-one spreads this shape into its own. */
export const provisionerEnvShape = {
  ...redisEnv,
  ...sshEnv,
  ...lambdaEnv,
  ...logEnv,
  ...workerEnv,
  /** Finished jobs' records, events and logs are deleted this long after they end (S3 outputs never are). */
  JOB_RETENTION_DAYS: z.coerce.number().positive().max(3650).default(30),
  /** How often the retention sweep runs. */
  RETENTION_EVERY_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(10 * 60_000),
};

export type ProvisionerEnv = ReturnType<typeof parseProvisionerEnv>;

/** Parsed once at start: a bad or missing variable stops the process with a message naming it. */
export function parseProvisionerEnv(env: Record<string, string | undefined>) {
  return parseEnv(provisionerEnvShape, env);
}
