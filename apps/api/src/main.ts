import { armCrashPoints, createLogger, createShutdown, registerSecret } from '@inno-train/core';
import { createS3Storage } from '@inno-train/storage';
import { checkReadiness, createTelemetry, redisCheck, serveHealth } from '@inno-train/telemetry';
import { createRedis, exitOnStartupError } from '@inno-train/workflow';
import { compose } from './compose';
import { parseApiEnv } from './env';

/** Wires the API to the outside world (Redis, S3, a logger, signals); compose builds the rest. */
async function main(): Promise<void> {
  const env = parseApiEnv(process.env);
  registerSecret(env.AWS_SECRET_ACCESS_KEY);
  const logger = createLogger({ name: 'api', level: env.LOG_LEVEL });
  if (env.INNO_CRASH_POINTS?.length) {
    armCrashPoints(env.INNO_CRASH_POINTS);
    logger.warn({ crashPoints: env.INNO_CRASH_POINTS }, 'crash points armed: this process will kill itself on purpose (test setting)');
  }
  const shutdown = createShutdown(logger, 10_000);
  shutdown.installSignalHandlers();

  const redis = createRedis(env.REDIS_URL, 'api', 'inno-train-api');
  shutdown.register('redis', async () => void (await redis.quit()));
  const storage = createS3Storage({
    region: env.S3_REGION,
    endpoint: env.S3_ENDPOINT,
    forcePathStyle: env.S3_FORCE_PATH_STYLE,
    credentials:
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY }
        : undefined,
  });
  const telemetry = createTelemetry({ app: 'api' });
  const api = compose(env, { redis, storage, logger, telemetry });
  shutdown.register('api', () => api.close());
  // /metrics on its own port (loopback by default), never on the public one.
  const metrics = await serveHealth(env.METRICS_PORT, {
    host: env.METRICS_HOST,
    registry: telemetry.registry,
    logger,
    name: 'metrics server',
    ready: () => checkReadiness({ redis: redisCheck(redis) }),
  });
  if (metrics) shutdown.register('metrics', metrics.close);
  await api.start();
}

main().catch(exitOnStartupError);
