import { loadSshIdentity, sshExecutorSettings } from '@inno-train/config';
import { SshExecutor } from '@inno-train/ssh-executor';
import { createS3Storage } from '@inno-train/storage';
import { checkReadiness, createTelemetry, redisCheck, serveHealth } from '@inno-train/telemetry';
import { createWorkerRuntime, exitOnStartupError } from '@inno-train/workflow';
import { compose } from './compose';
import { parseMonitorEnv } from './env';

/** Wires the monitor to the outside world (Redis, SSH, S3); compose builds the rest. */
async function main(): Promise<void> {
  const env = parseMonitorEnv(process.env);
  const telemetry = createTelemetry({ app: 'monitor' });
  const runtime = createWorkerRuntime({
    name: 'monitor',
    ...env,
    secrets: [env.SSH_KEY_PASSPHRASE, env.AWS_SECRET_ACCESS_KEY],
    hooks: telemetry.hooks,
  });
  runtime.shutdown.installSignalHandlers();
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
  const storage = createS3Storage({
    region: env.S3_REGION,
    endpoint: env.S3_ENDPOINT,
    forcePathStyle: env.S3_FORCE_PATH_STYLE,
    credentials:
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY }
        : undefined,
  });
  const monitor = compose(env, { runtime, shell, storage, identity });
  runtime.shutdown.register('monitor', () => monitor.close());
  const health = await serveHealth(env.HEALTH_PORT, {
    host: env.HEALTH_HOST,
    registry: telemetry.registry,
    logger: runtime.logger,
    ready: () => checkReadiness({ redis: redisCheck(runtime.redis), workers: () => monitor.running() }),
  });
  if (health) runtime.shutdown.register('health', health.close);
  await monitor.start();
}

main().catch(exitOnStartupError);
