import { envBoolean, logEnv, parseEnv, redisEnv, s3Env, sshEnv, workerEnv, healthEnv } from '@inno-train/config';
import { z } from 'zod';

/** Every variable the monitor reads. The all-in-one spreads this shape into its own. */
export const monitorEnvShape = {
  ...redisEnv,
  ...sshEnv,
  // Checkpoint sync presigns PUTs and lists what arrived (the bytes go from the host to S3); the
  // bucket is the job's own output URI's, so S3_BUCKET is not needed here.
  S3_ENDPOINT: s3Env.S3_ENDPOINT,
  S3_REGION: s3Env.S3_REGION,
  S3_FORCE_PATH_STYLE: s3Env.S3_FORCE_PATH_STYLE,
  AWS_ACCESS_KEY_ID: s3Env.AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY: s3Env.AWS_SECRET_ACCESS_KEY,
  ...logEnv,
  ...workerEnv,
  ...healthEnv,
  /** The live tail of training logs (log-watcher.ts): lines within a second. false: the poll alone. */
  LOG_WATCH: envBoolean.default(true),
  /** Tails (one SSH channel each) one monitor process runs at most; other jobs are polled only. */
  LOG_WATCH_MAX_STREAMS: z.coerce.number().int().min(1).max(100_000).default(2000),
};

export type MonitorEnv = ReturnType<typeof parseMonitorEnv>;

/** Parsed once at start: a bad or missing variable stops the process with a message naming it. */
export function parseMonitorEnv(env: Record<string, string | undefined>) {
  return parseEnv(monitorEnvShape, env);
}
