import { armCrashPoints, createLogger, createShutdown, registerSecret } from '@inno-train/core';
import { createJobStore } from '@inno-train/job-store';
import { createS3Storage } from '@inno-train/storage';
import { closeStageQueues, createRedis, openStageQueues } from '@inno-train/workflow';
import { createApp } from './app';
import { redisRateCounter } from './guard';
import { parseApiEnv } from './env';

async function main(): Promise<void> {
  const env = parseApiEnv(process.env);
  for (const key of env.API_KEYS) registerSecret(key);
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
  const queues = openStageQueues({ connection: redis, prefix: `{${env.INNO_NAMESPACE}}` });
  shutdown.register('queues', () => closeStageQueues(queues));
  const storage = createS3Storage({
    region: env.S3_REGION,
    endpoint: env.S3_ENDPOINT,
    forcePathStyle: env.S3_FORCE_PATH_STYLE,
    credentials: env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY }
      : undefined,
  });
  const app = createApp({
    store: createJobStore({ redis, namespace: env.INNO_NAMESPACE }),
    queues,
    storage,
    defaultBucket: env.S3_BUCKET,
    apiKeys: env.API_KEYS,
    allowedPrefixes: env.S3_ALLOWED_PREFIXES ?? [`s3://${env.S3_BUCKET}/`],
    rateLimitPerMinute: env.API_RATE_LIMIT_PER_MINUTE,
    rateCounter: redisRateCounter(redis, env.INNO_NAMESPACE),
    logger,
    ping: async () => (await redis.ping()) === 'PONG',
  });
  const server = app.listen(env.API_PORT, env.API_HOST, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : env.API_PORT;
    logger.info({ port }, `API listening on http://${env.API_HOST}:${port}`);
  });
  shutdown.register('http', () => new Promise<void>((resolve) => server.close(() => resolve())));
}

main().catch((error: unknown) => {
  // Config errors name the variable; they are the usual reason to land here.
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
