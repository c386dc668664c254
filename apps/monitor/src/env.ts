import { logEnv, parseEnv, redisEnv, sshEnv, workerEnv } from '@inno-train/config';

/** Every variable the monitor reads. The all-in-one spreads this shape into its own. */
export const monitorEnvShape = {
  ...redisEnv,
  ...sshEnv,
  ...logEnv,
  ...workerEnv,
};

export type MonitorEnv = ReturnType<typeof parseMonitorEnv>;

/** Parsed once at start: a bad or missing variable stops the process with a message naming it. */
export function parseMonitorEnv(env: Record<string, string | undefined>) {
  return parseEnv(monitorEnvShape, env);
}
