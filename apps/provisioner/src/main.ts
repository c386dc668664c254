import { loadSshIdentity, sshExecutorSettings } from '@inno-train/config';
import { SshExecutor } from '@inno-train/ssh-executor';
import { checkReadiness, createTelemetry, redisCheck, serveHealth } from '@inno-train/telemetry';
import { createWorkerRuntime, exitOnStartupError } from '@inno-train/workflow';
import { compose } from './compose';
import { parseProvisionerEnv } from './env';
import { setUpLambda } from './lambda-setup';

/** Wires the provisioner to the outside world (Redis, Lambda, SSH); compose builds the rest. */
async function main(): Promise<void> {
  const env = parseProvisionerEnv(process.env);
  const telemetry = createTelemetry({ app: 'provisioner' });
  const runtime = createWorkerRuntime({
    name: 'provisioner',
    ...env,
    secrets: [env.SSH_KEY_PASSPHRASE, env.LAMBDA_API_KEY],
    hooks: telemetry.hooks,
  });
  runtime.shutdown.installSignalHandlers();
  const identity = loadSshIdentity(env);
  const { lambda, sshKeyName } = await setUpLambda(env, runtime.redis, identity, runtime.logger, telemetry.hooks.onLambdaRequest);
  const shell = new SshExecutor({
    ...sshExecutorSettings(env),
    onSession: runtime.logSshSession,
    onConnection: runtime.logSshConnection,
  });
  // Decrypted now, not inside the first job's first step.
  shell.preloadKey(identity);
  // Registered before the service: closers run in reverse, so steps finish before connections close.
  runtime.shutdown.register('ssh', () => shell.close());
  const provisioner = compose(env, { runtime, lambda, sshKeyName, shell, identity, hooks: telemetry.hooks });
  runtime.shutdown.register('provisioner', () => provisioner.close());
  const health = await serveHealth(env.HEALTH_PORT, {
    host: env.HEALTH_HOST,
    registry: telemetry.registry,
    logger: runtime.logger,
    ready: () => checkReadiness({ redis: redisCheck(runtime.redis), workers: () => provisioner.running() }),
  });
  if (health) runtime.shutdown.register('health', health.close);
  await provisioner.start();
}

main().catch(exitOnStartupError);
