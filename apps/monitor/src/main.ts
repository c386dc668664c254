import { loadSshIdentity, sshExecutorSettings } from '@inno-train/config';
import { SshExecutor } from '@inno-train/ssh-executor';
import { createWorkerRuntime, exitOnStartupError } from '@inno-train/workflow';
import { compose } from './compose';
import { parseMonitorEnv } from './env';

/** Wires the monitor to the outside world (Redis, SSH); compose builds the rest. */
async function main(): Promise<void> {
  const env = parseMonitorEnv(process.env);
  const runtime = createWorkerRuntime({ name: 'monitor', ...env, secrets: [env.SSH_KEY_PASSPHRASE] });
  runtime.shutdown.installSignalHandlers();
  const shell = new SshExecutor({ ...sshExecutorSettings(env), onSession: runtime.logSshSession });
  const monitor = compose(env, { runtime, shell, identity: loadSshIdentity(env) });
  runtime.shutdown.register('monitor', () => monitor.close());
  await monitor.start();
}

main().catch(exitOnStartupError);
