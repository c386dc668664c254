import { loadSshIdentity, sshExecutorSettings } from '@inno-train/config';
import { SshExecutor } from '@inno-train/ssh-executor';
import { createS3Storage } from '@inno-train/storage';
import { checkReadiness, createTelemetry, redisCheck, serveHealth } from '@inno-train/telemetry';
import { createWorkerRuntime, exitOnStartupError } from '@inno-train/workflow';
import { compose } from './compose';
import { parseTransferEnv } from './env';

/** Wires the transfer app to the outside world (Redis, S3, SSH); compose builds the rest. */
async function main(): Promise<void> {
  const env = parseTransferEnv(process.env);
  const telemetry = createTelemetry({ app: 'transfer' });
  const runtime = createWorkerRuntime({
    name: 'transfer',
    ...env,
    secrets: [env.SSH_KEY_PASSPHRASE, env.AWS_SECRET_ACCESS_KEY],
    hooks: telemetry.hooks,
  });
  runtime.shutdown.installSignalHandlers();
  const storage = createS3Storage({
    region: env.S3_REGION,
    endpoint: env.S3_ENDPOINT,
    forcePathStyle: env.S3_FORCE_PATH_STYLE,
    credentials:
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY }
        : undefined,
  });
  const shell = new SshExecutor({
    ...sshExecutorSettings(env),
    onSession: runtime.logSshSession,
    onConnection: runtime.logSshConnection,
  });
  const identity = loadSshIdentity(env);
  // Decrypted now, not inside the first job's first step.
  shell.preloadKey(identity);
  // Registered before the service: closers run in reverse, so steps finish before connections close.
  runtime.shutdown.register('ssh', () => shell.close());
  const transfer = compose(env, { runtime, storage, shell, identity });
  runtime.shutdown.register('transfer', () => transfer.close());
  const health = await serveHealth(env.HEALTH_PORT, {
    host: env.HEALTH_HOST,
    registry: telemetry.registry,
    logger: runtime.logger,
    ready: () => checkReadiness({ redis: redisCheck(runtime.redis), workers: () => transfer.running() }),
  });
  if (health) runtime.shutdown.register('health', health.close);
  await transfer.start();
}

main().catch(exitOnStartupError);
