import { join } from 'node:path';
import { loadSshIdentity, sshExecutorSettings } from '@inno-train/config';
import type { Logger } from '@inno-train/core';
import { createLocalProvider } from '@inno-train/local-provider';
import { setUpLambda, type HostShell, type LambdaApi } from '@inno-train/provisioner';
import { SshExecutor } from '@inno-train/ssh-executor';
import type { HostTarget, SshIdentity } from '@inno-train/workflow';
import type { Redis } from 'ioredis';
import type { AllInOneEnv } from './env';

/** What every stage needs of a host: run a command, write a file, check it answers. */
export interface HostAccess extends HostShell {
  upload(target: HostTarget, remotePath: string, content: string | Buffer, mode?: number): Promise<void>;
}

export interface ProviderParts {
  lambda: LambdaApi;
  shell: HostAccess;
  identity: SshIdentity;
  sshKeyName: string;
  /** Stops what the provider runs on this machine (local instances' processes). */
  stop(): Promise<void>;
}

/** The provider's clients: real Lambda over SSH, or instances that are folders on this machine. */
export async function buildProvider(env: AllInOneEnv, redis: Redis, dataDir: string, logger: Logger): Promise<ProviderParts> {
  if (env.provider === 'local') {
    const local = createLocalProvider({
      rootDir: join(dataDir, 'local-instances'),
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', USER: process.env.USER ?? 'inno', LANG: process.env.LANG ?? 'C.UTF-8' },
    });
    await local.load();
    return { lambda: local.api, shell: local.executor, identity: { username: env.SSH_USER, port: 0, privateKey: '' }, sshKeyName: 'local', stop: () => local.stopAll() };
  }
  const identity = loadSshIdentity({ ...env, SSH_PRIVATE_KEY_PATH: env.SSH_PRIVATE_KEY_PATH ?? '' });
  const { lambda, sshKeyName } = await setUpLambda({ ...env, LAMBDA_API_KEY: env.LAMBDA_API_KEY ?? '' }, redis, identity, logger);
  return { lambda, shell: new SshExecutor(sshExecutorSettings(env)), identity, sshKeyName, stop: async () => undefined };
}
