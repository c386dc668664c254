import { lambdaEnv, loadSshIdentity, logEnv, parseEnv, redisEnv, sshEnv, workerEnv } from '@inno-train/config';
import { createLambdaClient, createRedisPacer } from '@inno-train/lambda-client';
import { SshExecutor } from '@inno-train/ssh-executor';
import { createWorkerRuntime, exitOnStartupError } from '@inno-train/workflow';
import { provisionerBindings } from './index';
import { ensureSshKeyName, publicKeyOf } from './ssh-key';

async function main(): Promise<void> {
  const env = parseEnv({ ...redisEnv, ...sshEnv, ...lambdaEnv, ...logEnv, ...workerEnv }, process.env);
  const runtime = createWorkerRuntime({ name: 'provisioner', ...env, secrets: [env.SSH_KEY_PASSPHRASE, env.LAMBDA_API_KEY] });
  runtime.shutdown.installSignalHandlers();
  const identity = loadSshIdentity(env);
  const lambda = createLambdaClient({
    baseUrl: env.LAMBDA_API_URL,
    apiKey: env.LAMBDA_API_KEY,
    // Lambda's limits are per account: every replica paces through the same Redis keys.
    pacer: createRedisPacer(runtime.redis, {
      prefix: `${env.INNO_NAMESPACE}:lambda-pace`,
      generalPerSecond: env.LAMBDA_REQUESTS_PER_SECOND,
      launchMinIntervalMs: env.LAMBDA_LAUNCH_MIN_INTERVAL_MS,
      launchPerMinute: env.LAMBDA_LAUNCHES_PER_MINUTE,
    }),
    logger: runtime.logger,
  });
  const sshKeyName = await ensureSshKeyName(lambda, publicKeyOf(identity.privateKey, identity.passphrase), env.LAMBDA_SSH_KEY_NAME, runtime.logger);
  const deps = { store: runtime.store, queues: runtime.queues, lambda, shell: new SshExecutor(), identity, sshKeyName, timings: runtime.timings };
  runtime.startWorkers(provisionerBindings(deps));
}

main().catch(exitOnStartupError);
