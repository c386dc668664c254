import { z } from 'zod';
import { S3_PREFIX_PATTERN } from './keys';
import { crashPointEnv, envBoolean, logEnv, metricsEnv, parseEnv, redisEnv, s3Env } from '@inno-train/config';

const keyList = z
  .string()
  .min(1)
  .transform((value) =>
    value
      .split(',')
      .map((key) => key.trim())
      .filter(Boolean),
  )
  .refine(
    (keys) => keys.length > 0 && keys.every((key) => key.length >= 16),
    'must list keys of at least 16 characters (or sha256:<hex> digests), comma-separated',
  );

export const apiEnvShape = {
  ...redisEnv,
  ...s3Env,
  ...logEnv,
  ...crashPointEnv,
  ...metricsEnv,
  API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  API_HOST: z.string().min(1).default('0.0.0.0'),
  /** Client keys with no limits, comma-separated (plain, or sha256:<hex> digests). */
  API_KEYS: keyList.optional(),
  /** Admin keys, the same way: they see every tenant's jobs and open Bull Board. */
  API_ADMIN_KEYS: keyList.optional(),
  /** A JSON file of named keys with roles, prefixes and limits (see README, "Keys and tenants"). */
  API_KEYS_FILE: z.string().min(1).optional(),
  /** Origins a browser may call the API from (CORS), comma-separated; unset: none. */
  CORS_ORIGINS: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .refine((origins) => origins.every((o) => /^https?:\/\/[^/\s]+$/.test(o)), 'must list origins (scheme://host[:port]), comma-separated')
    .optional(),
  /** How long an operator's browser session (Bull Board login) lasts. */
  API_SESSION_TTL_MINUTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .default(8 * 60),
  /** Where jobs may read inputs and write outputs; default: the service's own bucket. */
  S3_ALLOWED_PREFIXES: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    )
    .refine((prefixes) => prefixes.every((p) => S3_PREFIX_PATTERN.test(p)), 'must list s3://bucket/prefix entries, comma-separated')
    .optional(),
  /** Requests per minute per API key, across every API replica (0 = no limit). */
  API_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(600),
  /** Webhook URLs may be http:// (development and tests only). */
  WEBHOOK_ALLOW_HTTP: envBoolean.default(false),
  /** Webhook URLs may reach loopback, private and link-local addresses (development and tests only). */
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: envBoolean.default(false),
};

export type ApiEnv = ReturnType<typeof parseApiEnv>;

export function parseApiEnv(env: Record<string, string | undefined>) {
  return parseEnv(apiEnvShape, env);
}
