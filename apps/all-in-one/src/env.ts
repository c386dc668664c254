import { z } from 'zod';
import { apiEnvShape } from '@inno-train/api';
import { envBoolean, lambdaEnv, logEnv, parseEnv, redisEnv, sshEnv, workerEnv } from '@inno-train/config';

/**
 * `npm start` reads the same variables as the separate apps, but almost all are optional: what is
 * not configured is filled in (local Redis, embedded S3, local provider, a generated API key).
 */
export const allInOneEnvShape = {
  ...redisEnv,
  ...logEnv,
  ...workerEnv,
  PROVIDER: z.enum(['lambda', 'local']).optional(),
  INNO_DATA_DIR: z.string().min(1).optional(),
  API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_KEYS: z.string().min(1).optional(),
  S3_ALLOWED_PREFIXES: apiEnvShape.S3_ALLOWED_PREFIXES,
  API_RATE_LIMIT_PER_MINUTE: apiEnvShape.API_RATE_LIMIT_PER_MINUTE,
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_FORCE_PATH_STYLE: envBoolean.optional(),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name').optional(),
  /** Port of the embedded S3 server (0 = any free port). */
  S3_EMBEDDED_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  LAMBDA_API_URL: lambdaEnv.LAMBDA_API_URL,
  LAMBDA_API_KEY: lambdaEnv.LAMBDA_API_KEY.optional(),
  LAMBDA_SSH_KEY_NAME: lambdaEnv.LAMBDA_SSH_KEY_NAME,
  LAMBDA_REQUESTS_PER_SECOND: lambdaEnv.LAMBDA_REQUESTS_PER_SECOND,
  LAMBDA_LAUNCH_MIN_INTERVAL_MS: lambdaEnv.LAMBDA_LAUNCH_MIN_INTERVAL_MS,
  LAMBDA_LAUNCHES_PER_MINUTE: lambdaEnv.LAMBDA_LAUNCHES_PER_MINUTE,
  LAMBDA_PACE_MARGIN_MS: lambdaEnv.LAMBDA_PACE_MARGIN_MS,
  SSH_PRIVATE_KEY_PATH: sshEnv.SSH_PRIVATE_KEY_PATH.optional(),
  SSH_KEY_PASSPHRASE: sshEnv.SSH_KEY_PASSPHRASE,
  SSH_USER: sshEnv.SSH_USER,
  SSH_PORT: sshEnv.SSH_PORT,
  SSH_CONNECT_TIMEOUT_MS: sshEnv.SSH_CONNECT_TIMEOUT_MS,
  SSH_KEEPALIVE_INTERVAL_MS: sshEnv.SSH_KEEPALIVE_INTERVAL_MS,
  SSH_KEEPALIVE_COUNT_MAX: sshEnv.SSH_KEEPALIVE_COUNT_MAX,
};

export type AllInOneEnv = ReturnType<typeof parseAllInOneEnv>;

export function parseAllInOneEnv(env: Record<string, string | undefined>) {
  const parsed = parseEnv(allInOneEnvShape, env);
  const provider = parsed.PROVIDER ?? (parsed.LAMBDA_API_KEY ? 'lambda' : 'local');
  if (provider === 'lambda' && !parsed.LAMBDA_API_KEY) throw new Error('Invalid configuration: LAMBDA_API_KEY is required with PROVIDER=lambda');
  if (provider === 'lambda' && !parsed.SSH_PRIVATE_KEY_PATH) throw new Error('Invalid configuration: SSH_PRIVATE_KEY_PATH is required with PROVIDER=lambda');
  const s3Configured = Boolean(parsed.S3_ENDPOINT || parsed.AWS_ACCESS_KEY_ID);
  if (s3Configured && !parsed.S3_BUCKET) throw new Error('Invalid configuration: S3_BUCKET is required when S3 is configured');
  if (provider === 'lambda' && !s3Configured) {
    throw new Error('Invalid configuration: PROVIDER=lambda needs a real S3 (S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): a GPU host cannot reach the embedded one');
  }
  // A local "instance" answers at once and costs nothing: poll it every second, so a person
  // watching the demo sees progress move. Real instances keep the slower defaults.
  const localPolls = provider === 'local'
    ? { BOOT_POLL_MS: parsed.BOOT_POLL_MS ?? 1000, TRANSFER_POLL_MS: parsed.TRANSFER_POLL_MS ?? 1000, TRAIN_POLL_MS: parsed.TRAIN_POLL_MS ?? 1000, TERMINATE_POLL_MS: parsed.TERMINATE_POLL_MS ?? 1000 }
    : {};
  return { ...parsed, ...localPolls, provider, s3Configured };
}
