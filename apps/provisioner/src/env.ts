import { lambdaEnv, logEnv, parseEnv, redisEnv, sshEnv, workerEnv } from '@inno-train/config';

/** Every variable the provisioner reads. The all-in-one spreads this shape into its own. */
export const provisionerEnvShape = {
  ...redisEnv,
  ...sshEnv,
  ...lambdaEnv,
  ...logEnv,
  ...workerEnv,
};

export type ProvisionerEnv = ReturnType<typeof parseProvisionerEnv>;

/** Parsed once at start: a bad or missing variable stops the process with a message naming it. */
export function parseProvisionerEnv(env: Record<string, string | undefined>) {
  return parseEnv(provisionerEnvShape, env);
}
