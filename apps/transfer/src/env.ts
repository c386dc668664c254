import { logEnv, parseEnv, redisEnv, s3Env, sshEnv, workerEnv, healthEnv } from '@inno-train/config';

/** Every variable the transfer app reads. The all-in-one spreads this shape into its own. */
export const transferEnvShape = {
  ...redisEnv,
  ...s3Env,
  ...sshEnv,
  ...logEnv,
  ...workerEnv,
  ...healthEnv,
};

export type TransferEnv = ReturnType<typeof parseTransferEnv>;

/** Parsed once at start: a bad or missing variable stops the process with a message naming it. */
export function parseTransferEnv(env: Record<string, string | undefined>) {
  return parseEnv(transferEnvShape, env);
}
