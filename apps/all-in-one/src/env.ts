import { z } from 'zod';
import { apiEnvShape } from '@inno-train/api';
import { parseEnv } from '@inno-train/config';
import { monitorEnvShape } from '@inno-train/monitor';
import { provisionerEnvShape } from '@inno-train/provisioner';
import { transferEnvShape } from '@inno-train/transfer';

/**
 * `npm start` reads the same variables as the separate apps, with the same rules: the shape is
 * theirs, spread, so a rule changed in an app holds here too. Only what it fills in itself when
 * unset is made optional (S3 bucket, provider keys, API key; Redis needs nothing: a local
 * redis-server is started when REDIS_URL does not answer), plus its own few variables.
 */
export const allInOneEnvShape = {
  ...apiEnvShape,
  ...provisionerEnvShape,
  ...transferEnvShape,
  ...monitorEnvShape,
  /** A person's machine: listen on loopback unless told otherwise (the API app defaults to 0.0.0.0). */
  API_HOST: apiEnvShape.API_HOST.unwrap().default('127.0.0.1'),
  /** With API_ADMIN_KEYS and API_KEYS_FILE also unset: one admin key is generated at first start and kept under INNO_DATA_DIR. */
  API_KEYS: apiEnvShape.API_KEYS.optional(),
  /** Unset: the embedded S3's bucket (`inno-train`); required once S3 is configured (below). */
  S3_BUCKET: transferEnvShape.S3_BUCKET.optional(),
  /** Unset: the local provider; required with PROVIDER=lambda (below). */
  LAMBDA_API_KEY: provisionerEnvShape.LAMBDA_API_KEY.optional(),
  SSH_PRIVATE_KEY_PATH: provisionerEnvShape.SSH_PRIVATE_KEY_PATH.optional(),
  PROVIDER: z.enum(['lambda', 'local']).optional(),
  INNO_DATA_DIR: z.string().min(1).optional(),
  /** Port of the embedded S3 server (0 = any free port). */
  S3_EMBEDDED_PORT: z.coerce.number().int().min(0).max(65535).default(0),
};

export type AllInOneEnv = ReturnType<typeof parseAllInOneEnv>;

export function parseAllInOneEnv(env: Record<string, string | undefined>) {
  const parsed = parseEnv(allInOneEnvShape, env);
  const provider = parsed.PROVIDER ?? (parsed.LAMBDA_API_KEY ? 'lambda' : 'local');
  if (provider === 'lambda' && !parsed.LAMBDA_API_KEY)
    throw new Error('Invalid configuration: LAMBDA_API_KEY is required with PROVIDER=lambda');
  if (provider === 'lambda' && !parsed.SSH_PRIVATE_KEY_PATH)
    throw new Error('Invalid configuration: SSH_PRIVATE_KEY_PATH is required with PROVIDER=lambda');
  const s3Configured = Boolean(parsed.S3_ENDPOINT || parsed.AWS_ACCESS_KEY_ID);
  if (s3Configured && !parsed.S3_BUCKET) throw new Error('Invalid configuration: S3_BUCKET is required when S3 is configured');
  if (provider === 'lambda' && !s3Configured) {
    throw new Error(
      'Invalid configuration: PROVIDER=lambda needs a real S3 (S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): a GPU host cannot reach the embedded one',
    );
  }
  // A local "instance" answers at once and costs nothing: poll it every second, so a person
  // watching the demo sees progress move. Real instances keep the slower defaults.
  const localPolls =
    provider === 'local'
      ? {
          BOOT_POLL_MS: parsed.BOOT_POLL_MS ?? 1000,
          TRANSFER_POLL_MS: parsed.TRANSFER_POLL_MS ?? 1000,
          TRAIN_POLL_MS: parsed.TRAIN_POLL_MS ?? 1000,
          TERMINATE_POLL_MS: parsed.TERMINATE_POLL_MS ?? 1000,
        }
      : {};
  return { ...parsed, ...localPolls, provider, s3Configured };
}
