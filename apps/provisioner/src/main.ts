import { loadSshIdentity, sshExecutorSettings } from '@inno-train/config';
import { SshExecutor } from '@inno-train/ssh-executor';
import { createWorkerRuntime, exitOnStartupError } from '@inno-train/workflow';
import { compose } from './compose';
import { parseProvisionerEnv } from './env';
import { setUpLambda } from './lambda-setup';

/** Wires the provisioner to the outside world (Redis, Lambda, SSH); compose builds the rest. */
async function main(): Promise<void> {
  const env = parseProvisionerEnv(process.env);
  const runtime = createWorkerRuntime({ name: 'provisioner', ...env, secrets: [env.SSH_KEY_PASSPHRASE, env.LAMBDA_API_KEY] });
  runtime.shutdown.installSignalHandlers();
  const identity = loadSshIdentity(env);
  const { lambda, sshKeyName } = await setUpLambda(env, runtime.redis, identity, runtime.logger);
  const shell = new SshExecutor({
    ...sshExecutorSettings(env),
    onSession: runtime.logSshSession,
    onConnection: runtime.logSshConnection,
  });
  // Registered before the service: closers run in reverse, so steps finish before connections close.
  runtime.shutdown.register('ssh', () => shell.close());
  const provisioner = compose(env, { runtime, lambda, sshKeyName, shell, identity });
  runtime.shutdown.register('provisioner', () => provisioner.close());
  await provisioner.start();
}

main().catch(exitOnStartupError);
