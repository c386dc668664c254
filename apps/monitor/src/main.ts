import { loadSshIdentity, logEnv, parseEnv, redisEnv, sshExecutorSettings, sshEnv, workerEnv } from '@inno-train/config';
import { SshExecutor } from '@inno-train/ssh-executor';
import { createWorkerRuntime, exitOnStartupError } from '@inno-train/workflow';
import { monitorBindings } from './index';

function main(): void {
  const env = parseEnv({ ...redisEnv, ...sshEnv, ...logEnv, ...workerEnv }, process.env);
  const runtime = createWorkerRuntime({ name: 'monitor', ...env, secrets: [env.SSH_KEY_PASSPHRASE] });
  runtime.shutdown.installSignalHandlers();
  const deps = { store: runtime.store, queues: runtime.queues, shell: new SshExecutor({ ...sshExecutorSettings(env), onSession: runtime.logSshSession }), identity: loadSshIdentity(env), timings: runtime.timings };
  runtime.startWorkers(monitorBindings(deps));
}

try {
  main();
} catch (error) {
  exitOnStartupError(error);
}
