import { z } from 'zod';

/** "true"/"false"/"1"/"0" from the environment. */
export const envBoolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const optionalString = z.string().min(1).optional();

export const redisEnv = {
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  /** Namespace of the job store's keys and the queues' prefix (tests and side-by-side installs). */
  INNO_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9-]{1,40}$/)
    .default('inno-train'),
};

export const s3Env = {
  S3_ENDPOINT: z.url().optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_FORCE_PATH_STYLE: envBoolean.optional(),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
  AWS_ACCESS_KEY_ID: optionalString,
  AWS_SECRET_ACCESS_KEY: optionalString,
};

export const sshEnv = {
  SSH_PRIVATE_KEY_PATH: z.string().min(1),
  SSH_KEY_PASSPHRASE: optionalString,
  SSH_USER: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/)
    .default('ubuntu'),
  SSH_PORT: z.coerce.number().int().min(1).max(65535).default(22),
  /** TCP connect + SSH handshake + auth, per connection. */
  SSH_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  /**
   * A connection whose peer leaves this many keepalives in a row unanswered, one every interval,
   * is dropped and the operation on it fails as host trouble (about interval x (count + 1)).
   */
  SSH_KEEPALIVE_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
  SSH_KEEPALIVE_COUNT_MAX: z.coerce.number().int().min(1).max(100).default(3),
  /** One connection per host is kept and shared by every call; closed after this long with no call on it. */
  SSH_IDLE_CLOSE_MS: z.coerce.number().int().min(100).default(60_000),
  /** Calls at once on one connection (OpenSSH allows 10 sessions); more wait for a free channel. */
  SSH_MAX_CHANNELS: z.coerce.number().int().min(1).max(64).default(8),
};

/** The SSH executor's settings from the parsed env (the executor itself never reads env). */
export function sshExecutorSettings(env: {
  SSH_CONNECT_TIMEOUT_MS: number;
  SSH_KEEPALIVE_INTERVAL_MS: number;
  SSH_KEEPALIVE_COUNT_MAX: number;
  SSH_IDLE_CLOSE_MS: number;
  SSH_MAX_CHANNELS: number;
}) {
  return {
    readyTimeoutMs: env.SSH_CONNECT_TIMEOUT_MS,
    keepaliveIntervalMs: env.SSH_KEEPALIVE_INTERVAL_MS,
    keepaliveCountMax: env.SSH_KEEPALIVE_COUNT_MAX,
    idleCloseMs: env.SSH_IDLE_CLOSE_MS,
    maxChannelsPerConnection: env.SSH_MAX_CHANNELS,
  };
}

export const lambdaEnv = {
  LAMBDA_API_URL: z.url().default('https://cloud.lambda.ai/api/v1'),
  LAMBDA_API_KEY: z.string().min(1),
  LAMBDA_SSH_KEY_NAME: optionalString,
  /** Lambda's documented account limits; lower them only for a simulator. */
  LAMBDA_REQUESTS_PER_SECOND: z.coerce.number().positive().default(1),
  LAMBDA_LAUNCH_MIN_INTERVAL_MS: z.coerce.number().int().min(0).default(12_000),
  LAMBDA_LAUNCHES_PER_MINUTE: z.coerce.number().int().min(1).default(5),
  /** Extra spacing on every limit window, for clock and network jitter between replicas and Lambda. */
  LAMBDA_PACE_MARGIN_MS: z.coerce.number().int().min(0).default(250),
};

export const logEnv = {
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/**
 * Test-only: comma-separated crash points (see core's crashPoint) at which the process SIGKILLs
 * itself, to prove every stage survives a worker dying at that line. Never set in production.
 */
export const crashPointEnv = {
  INNO_CRASH_POINTS: z
    .string()
    .regex(/^[a-z0-9:_-]+(,[a-z0-9:_-]+)*$/, 'must be a comma-separated list of crash point names')
    .transform((value) => value.split(','))
    .optional(),
};

/** Worker tuning shared by the worker apps. */
export const workerEnv = {
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(50),
  SHUTDOWN_DEADLINE_MS: z.coerce.number().int().min(0).default(30_000),
  /** Poll intervals; the defaults suit real GPU instances, tests shorten them. */
  BOOT_POLL_MS: z.coerce.number().int().min(10).optional(),
  TRANSFER_POLL_MS: z.coerce.number().int().min(10).optional(),
  /** Requests in flight at once per stage-in or stage-out on a host (the transfer engine's connections). */
  TRANSFER_CONNECTIONS: z.coerce.number().int().min(1).max(256).optional(),
  TRAIN_POLL_MS: z.coerce.number().int().min(10).optional(),
  TERMINATE_POLL_MS: z.coerce.number().int().min(10).optional(),
  BOOT_DEADLINE_MS: z.coerce.number().int().min(1000).optional(),
  UNREACHABLE_GRACE_MS: z.coerce.number().int().min(0).optional(),
  BOOT_DEADLINE_MULTI_GPU_MS: z.coerce.number().int().min(1000).optional(),
  CAPACITY_POLL_MS: z.coerce.number().int().min(10).optional(),
  /** How often a job waiting for a concurrency slot looks again (default 10 s; an ended job wakes it at once). */
  SLOT_POLL_MS: z.coerce.number().int().min(10).optional(),
  MAX_LAUNCH_ATTEMPTS: z.coerce.number().int().min(1).max(20).optional(),
  /** How soon a stage looks again at a host that did not answer (default 2 s). */
  HOST_RECHECK_MS: z.coerce.number().int().min(10).optional(),
  /**
   * How often the provisioner reads every instance's status from the cloud (one list call) so a
   * stage whose instance is unhealthy, terminated or gone stops waiting on SSH at once.
   */
  CLOUD_WATCH_MS: z.coerce.number().int().min(100).default(15_000),
  /**
   * Every read of instance statuses (boot checks, teardown, the cloud watch) shares one listing of
   * the account kept in Redis; a new one is made at most this often across every replica.
   */
  CLOUD_LIST_MIN_INTERVAL_MS: z.coerce.number().int().min(100).default(1000),
  /**
   * BullMQ's lock on an active step, and how often workers look for steps whose worker died. A
   * killed worker's step runs again within about lock + check interval; see README "Crashes".
   */
  STEP_LOCK_MS: z.coerce.number().int().min(1000).default(20_000),
  STEP_STALLED_CHECK_MS: z.coerce.number().int().min(500).default(10_000),
  /** The orphan reconciler: how often it runs, and how old an instance must be before it may act. */
  RECONCILE_EVERY_MS: z.coerce.number().int().min(100).default(60_000),
  RECONCILE_GRACE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(5 * 60_000),
  ...crashPointEnv,
};

const probePort = z.coerce.number().int().min(0).max(65535).optional();

/**
 * The health server of a worker app and of the all-in-one: /livez, /readyz and /metrics on a port
 * of their own. Unset: no server (tests, one-off runs); 0: any free port (logged at start).
 */
export const healthEnv = {
  HEALTH_PORT: probePort,
  /** Loopback by default; 0.0.0.0 where a scraper or kubelet calls from outside (compose sets it). */
  HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
};

/**
 * The API's /metrics, apart from its public port (the public one never serves it). Unset: no
 * metrics server; 0: any free port (logged at start).
 */
export const metricsEnv = {
  METRICS_PORT: probePort,
  /** Loopback by default: metrics tell how many jobs and instances exist; expose them on purpose. */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
};
