import { z } from 'zod';
import { logEnv, parseEnv, redisEnv, s3Env } from '@inno-train/config';

export const apiEnvShape = {
  ...redisEnv,
  ...s3Env,
  ...logEnv,
  API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  API_HOST: z.string().min(1).default('0.0.0.0'),
  API_KEYS: z
    .string()
    .min(1)
    .transform((value) => value.split(',').map((key) => key.trim()).filter(Boolean))
    .refine((keys) => keys.length > 0 && keys.every((key) => key.length >= 16), 'must list keys of at least 16 characters, comma-separated'),
};

export type ApiEnv = ReturnType<typeof parseApiEnv>;

export function parseApiEnv(env: Record<string, string | undefined>) {
  return parseEnv(apiEnvShape, env);
}
