import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { BULL_BOARD_PATH, createApp, redisRateCounter } from '@inno-train/api';
import { createLogger, registerSecret } from '@inno-train/core';
import { startS3Server } from '@inno-train/embedded-s3';
import { monitorBindings } from '@inno-train/monitor';
import { provisionerBindings, startCloudWatch, startReconciler } from '@inno-train/provisioner';
import { createS3Storage } from '@inno-train/storage';
import { transferBindings } from '@inno-train/transfer';
import { createRedis, createWorkerRuntime } from '@inno-train/workflow';
import { loadOrCreateApiKey, repoRoot, writeRuntimeInfo, type RuntimeInfo } from './data-dir';
import type { AllInOneEnv } from './env';
import { buildProvider } from './providers';
import { ensureRedis } from './redis-bootstrap';

export interface StartedService {
  info: RuntimeInfo;
  apiKey: string;
  apiKeyCreated: boolean;
  dataDir: string;
  shutdown(reason: string): Promise<void>;
}

/**
 * The whole service in one process: the same API factory and stage bindings the separate apps
 * run, with Redis, S3, provider and API key filled in when not configured.
 */
export async function startAllInOne(env: AllInOneEnv): Promise<StartedService> {
  const dataDir = env.INNO_DATA_DIR ?? join(repoRoot(), '.data');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const bootLogger = createLogger({ name: 'all-in-one', level: env.LOG_LEVEL });
  const redisHandle = await ensureRedis(env.REDIS_URL, dataDir, bootLogger);
  const runtime = createWorkerRuntime({ name: 'all-in-one', ...env, REDIS_URL: redisHandle.url, secrets: [env.AWS_SECRET_ACCESS_KEY, env.LAMBDA_API_KEY, env.SSH_KEY_PASSPHRASE] });
  // Stopped last: registered first (closers run in reverse order).
  runtime.shutdown.register('redis-server', () => redisHandle.stop());

  const s3 = await resolveS3(env, dataDir);
  if (s3.stop) runtime.shutdown.register('embedded-s3', s3.stop);
  const storage = createS3Storage({ region: s3.region, endpoint: s3.endpoint ?? undefined, forcePathStyle: s3.forcePathStyle, credentials: s3.credentials });
  if (s3.embedded) await storage.ensureBucket(s3.bucket);

  const provider = await buildProvider(env, runtime.redis, dataDir, runtime.logger);
  runtime.shutdown.register('provider', provider.stop);
  const base = { store: runtime.store, queues: runtime.queues, timings: runtime.timings, identity: provider.identity, shell: provider.shell };
  const provisionDeps = { ...base, lambda: provider.lambda, sshKeyName: provider.sshKeyName, namespace: env.INNO_NAMESPACE };
  runtime.startWorkers([
    ...provisionerBindings(provisionDeps),
    ...transferBindings({ ...base, storage }),
    ...monitorBindings(base),
  ]);

  const reconciler = await startReconciler({
    ...provisionDeps, connection: runtime.redis, prefix: runtime.prefix, logger: runtime.logger,
    everyMs: env.RECONCILE_EVERY_MS, graceMs: env.RECONCILE_GRACE_MS,
  });
  runtime.shutdown.register('reconciler', () => reconciler.close());
  const cloudWatch = await startCloudWatch({ ...provisionDeps, connection: runtime.redis, prefix: runtime.prefix, logger: runtime.logger, everyMs: env.CLOUD_WATCH_MS });
  runtime.shutdown.register('cloud-watch', () => cloudWatch.close());

  const { key, created } = env.API_KEYS ? { key: env.API_KEYS.split(',')[0]!.trim(), created: false } : loadOrCreateApiKey(dataDir);
  registerSecret(key);
  const apiRedis = createRedis(redisHandle.url, 'api', 'inno-train-all-in-one-api');
  runtime.shutdown.register('api-redis', async () => void (await apiRedis.quit().catch(() => apiRedis.disconnect())));
  const app = createApp({
    store: runtime.store, queues: runtime.queues, storage, defaultBucket: s3.bucket,
    apiKeys: env.API_KEYS ? env.API_KEYS.split(',').map((k) => k.trim()).filter(Boolean) : [key],
    logger: runtime.logger, ping: async () => (await apiRedis.ping()) === 'PONG',
    allowedPrefixes: env.S3_ALLOWED_PREFIXES ?? [`s3://${s3.bucket}/`],
    rateLimitPerMinute: env.API_RATE_LIMIT_PER_MINUTE,
    rateCounter: redisRateCounter(apiRedis, env.INNO_NAMESPACE),
  });
  const server = await listen(app, env.API_PORT, env.API_HOST);
  runtime.shutdown.register('http', () => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const apiUrl = `http://${env.API_HOST === '0.0.0.0' ? '127.0.0.1' : env.API_HOST}:${port}`;
  const info: RuntimeInfo = {
    apiUrl, bullBoardUrl: `${apiUrl}${BULL_BOARD_PATH}`, provider: env.provider, pid: process.pid,
    s3: { endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, forcePathStyle: s3.forcePathStyle, ...(s3.embedded ? s3.credentials : {}) },
  };
  writeRuntimeInfo(dataDir, info);
  return { info, apiKey: key, apiKeyCreated: created, dataDir, shutdown: runtime.shutdown.shutdown };
}

async function resolveS3(env: AllInOneEnv, dataDir: string) {
  if (env.s3Configured) {
    const credentials = env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } : undefined;
    return { embedded: false, endpoint: env.S3_ENDPOINT ?? null, region: env.S3_REGION, bucket: env.S3_BUCKET!, forcePathStyle: env.S3_FORCE_PATH_STYLE ?? false, credentials, stop: undefined };
  }
  const bucket = env.S3_BUCKET ?? 'inno-train';
  const server = await startS3Server({ directory: join(dataDir, 's3'), buckets: [bucket], port: env.S3_EMBEDDED_PORT });
  return {
    embedded: true, endpoint: server.endpoint, region: server.region, bucket, forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey }, stop: () => server.close(),
  };
}

function listen(app: ReturnType<typeof createApp>, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => resolve(server));
    server.once('error', reject);
  });
}
