import { lambdaEnv, loadSshIdentity, logEnv, parseEnv, redisEnv, sshExecutorSettings, sshEnv, workerEnv } from '@inno-train/config';
import { SshExecutor } from '@inno-train/ssh-executor';
import { createWorkerRuntime, exitOnStartupError } from '@inno-train/workflow';
import { provisionerBindings } from './index';
import { setUpLambda } from './lambda-setup';
import { startCloudWatch } from './cloud-watch';
import { startReconciler } from './reconciler';

async function main(): Promise<void> {
  const env = parseEnv({ ...redisEnv, ...sshEnv, ...lambdaEnv, ...logEnv, ...workerEnv }, process.env);
  const runtime = createWorkerRuntime({ name: 'provisioner', ...env, secrets: [env.SSH_KEY_PASSPHRASE, env.LAMBDA_API_KEY] });
  runtime.shutdown.installSignalHandlers();
  const identity = loadSshIdentity(env);
  const { lambda, sshKeyName } = await setUpLambda(env, runtime.redis, identity, runtime.logger);
  const deps = { store: runtime.store, queues: runtime.queues, lambda, shell: new SshExecutor({ ...sshExecutorSettings(env), onSession: runtime.logSshSession }), identity, sshKeyName, timings: runtime.timings, namespace: env.INNO_NAMESPACE };
  runtime.startWorkers(provisionerBindings(deps));
  const reconciler = await startReconciler({
    ...deps, connection: runtime.redis, prefix: runtime.prefix, logger: runtime.logger,
    everyMs: env.RECONCILE_EVERY_MS, graceMs: env.RECONCILE_GRACE_MS,
  });
  runtime.shutdown.register('reconciler', () => reconciler.close());
  const cloudWatch = await startCloudWatch({ ...deps, connection: runtime.redis, prefix: runtime.prefix, logger: runtime.logger, everyMs: env.CLOUD_WATCH_MS });
  runtime.shutdown.register('cloud-watch', () => cloudWatch.close());
}

main().catch(exitOnStartupError);
