import { join } from 'node:path';
import type { CloudProvider } from '@inno-train/cloud-port';
import { loadSshIdentity, sshExecutorSettings } from '@inno-train/config';
import type { Logger } from '@inno-train/core';
import type { HostExecutor } from '@inno-train/host-port';
import type { LambdaClientOptions } from '@inno-train/lambda-client';
import { createLocalProvider } from '@inno-train/local-provider';
import { setUpLambda } from '@inno-train/provisioner';
import { SshExecutor, type SshExecutorOptions } from '@inno-train/ssh-executor';
import type { SshIdentity } from '@inno-train/workflow';
import type { Redis } from 'ioredis';
import type { AllInOneEnv } from './env';

export interface ProviderParts {
  /** The cloud: Lambda's client, or the local provider's instances. */
  lambda: CloudProvider;
  /** What every stage needs of a host (run a command, write a file, check it answers): SSH or local. */
  shell: HostExecutor;
  identity: SshIdentity;
  sshKeyName: string;
  /** Stops what the provider runs on this machine (local instances' processes). */
  stop(): Promise<void>;
}

/**
 * The provider's clients: real Lambda over SSH (built as the provisioner's main builds them, and
 * reporting every SSH call and login like the separate apps), or instances that are
 * folders on this machine.
 */
export async function buildProvider(
  env: AllInOneEnv,
  redis: Redis,
  dataDir: string,
  logger: Logger,
  accounting: Pick<SshExecutorOptions, 'onSession' | 'onConnection'> & Pick<LambdaClientOptions, 'onRequest'>,
): Promise<ProviderParts> {
  if (env.provider === 'local') {
    const local = createLocalProvider({
      rootDir: join(dataDir, 'local-instances'),
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', USER: process.env.USER ?? 'inno', LANG: process.env.LANG ?? 'C.UTF-8' },
    });
    await local.load();
    return {
      lambda: local.api,
      shell: local.executor,
      identity: { username: env.SSH_USER, port: 0, privateKey: '' },
      sshKeyName: 'local',
      stop: () => local.stopAll(),
    };
  }
  // parseAllInOneEnv refuses PROVIDER=lambda without these two.
  const identity = loadSshIdentity({ ...env, SSH_PRIVATE_KEY_PATH: env.SSH_PRIVATE_KEY_PATH ?? '' });
  const { lambda, sshKeyName } = await setUpLambda(
    { ...env, LAMBDA_API_KEY: env.LAMBDA_API_KEY ?? '' },
    redis,
    identity,
    logger,
    accounting.onRequest,
  );
  const shell = new SshExecutor({ ...sshExecutorSettings(env), onSession: accounting.onSession, onConnection: accounting.onConnection });
  // Decrypted now, not inside the first job's first step.
  shell.preloadKey(identity);
  return { lambda, shell, identity, sshKeyName, stop: () => shell.close() };
}
