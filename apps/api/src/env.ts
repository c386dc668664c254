import { z } from 'zod';
import { crashPointEnv, logEnv, parseEnv, redisEnv, s3Env } from '@inno-train/config';

export const apiEnvShape = {
  ...redisEnv,
  ...s3Env,
  ...logEnv,
  ...crashPointEnv,
  API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  API_HOST: z.string().min(1).default('0.0.0.0'),
  API_KEYS: z
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
    ),
  /** Where jobs may read inputs and write outputs; default: the service's own bucket. */
  S3_ALLOWED_PREFIXES: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    )
    .refine(
      (prefixes) => prefixes.every((p) => /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.*$/.test(p)),
      'must list s3://bucket/prefix entries, comma-separated',
    )
    .optional(),
  /** Requests per minute per API key, across every API replica (0 = no limit). */
  API_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(600),
};

export type ApiEnv = ReturnType<typeof parseApiEnv>;

export function parseApiEnv(env: Record<string, string | undefined>) {
  return parseEnv(apiEnvShape, env);
}
