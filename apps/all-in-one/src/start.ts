import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BULL_BOARD_PATH, compose as composeApi } from '@inno-train/api';
import { createLogger } from '@inno-train/core';
import { startS3Server } from '@inno-train/embedded-s3';
import { compose as composeMonitor } from '@inno-train/monitor';
import { compose as composeProvisioner } from '@inno-train/provisioner';
import { createS3Storage, type S3Storage } from '@inno-train/storage';
import { checkReadiness, createTelemetry, redisCheck, serveHealth, type Telemetry } from '@inno-train/telemetry';
import { compose as composeTransfer } from '@inno-train/transfer';
import { createRedis, createWorkerRuntime, type WorkerRuntime } from '@inno-train/workflow';
import type { Redis } from 'ioredis';
import { loadOrCreateApiKey, repoRoot, writeRuntimeInfo, type RuntimeInfo } from './data-dir';
import type { AllInOneEnv } from './env';
import { buildProvider, type ProviderParts } from './providers';
import { ensureRedis } from './redis-bootstrap';

export interface StartedService {
  info: RuntimeInfo;
  /** The key the banner shows: the generated one, else the first plain configured one (null: none to show). */
  apiKey: string | null;
  apiKeyCreated: boolean;
  dataDir: string;
  shutdown(reason: string): Promise<void>;
}

/** What the process builds once from the outside world; every app composed here shares it. */
interface Infrastructure {
  runtime: WorkerRuntime;
  /** One registry for every app composed here, served on HEALTH_PORT. */
  telemetry: Telemetry;
  /** The API's fail-fast Redis client (503 during an outage), as apps/api builds it. */
  apiRedis: Redis;
  storage: S3Storage;
  s3: S3Settings;
  provider: ProviderParts;
}

/**
 * The whole service in one process: each app's own `compose` (the functions the separate apps'
 * mains call, so the two cannot drift) over infrastructure built once, with Redis, S3, provider
 * and API key filled in when not configured.
 */
export async function startAllInOne(env: AllInOneEnv): Promise<StartedService> {
  const dataDir = env.INNO_DATA_DIR ?? join(repoRoot(), '.data');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const infra = await buildInfrastructure(env, dataDir);
  const { runtime, provider } = infra;
  const keys = resolveApiKeys(env, dataDir);

  const hosts = { runtime, shell: provider.shell, identity: provider.identity };
  const workerApps = [
    composeProvisioner(env, { ...hosts, lambda: provider.lambda, sshKeyName: provider.sshKeyName, hooks: infra.telemetry.hooks }),
    composeTransfer({ ...env, S3_BUCKET: infra.s3.bucket }, { ...hosts, storage: infra.storage }),
    composeMonitor(env, { ...hosts, storage: infra.storage }),
  ];
  const api = composeApi(
    { ...env, API_ADMIN_KEYS: keys.adminKeys, S3_BUCKET: infra.s3.bucket },
    { redis: infra.apiRedis, storage: infra.storage, logger: runtime.logger, telemetry: infra.telemetry },
  );
  // The worker apps close together under one deadline (one after another would take three).
  runtime.shutdown.register('workers', async () => {
    await Promise.all(workerApps.map((app) => app.close(env.SHUTDOWN_DEADLINE_MS)));
  });
  // Registered last, so closed first: stop taking requests before the workers go.
  runtime.shutdown.register('api', () => api.close());
  // Everything on one port: /livez, /readyz (Redis, every worker app) and /metrics (the API's gauges included).
  const health = await serveHealth(env.HEALTH_PORT, {
    host: env.HEALTH_HOST,
    registry: infra.telemetry.registry,
    logger: runtime.logger,
    ready: () => checkReadiness({ redis: redisCheck(runtime.redis), workers: () => workerApps.every((app) => app.running()) }),
  });
  if (health) runtime.shutdown.register('health', health.close);
  for (const app of workerApps) await app.start();
  await api.start();

  const apiUrl = `http://${env.API_HOST === '0.0.0.0' ? '127.0.0.1' : env.API_HOST}:${api.port()}`;
  const { s3 } = infra;
  const info: RuntimeInfo = {
    apiUrl,
    bullBoardUrl: `${apiUrl}${BULL_BOARD_PATH}`,
    provider: env.provider,
    pid: process.pid,
    s3: {
      endpoint: s3.endpoint,
      region: s3.region,
      bucket: s3.bucket,
      forcePathStyle: s3.forcePathStyle,
      ...(s3.embedded ? s3.credentials : {}),
    },
  };
  writeRuntimeInfo(dataDir, info);
  runtime.logger.info({ apiUrl, provider: env.provider }, 'all-in-one started');
  return { info, apiKey: keys.shown, apiKeyCreated: keys.created, dataDir, shutdown: runtime.shutdown.shutdown };
}

/**
 * With no keys configured (API_KEYS, API_ADMIN_KEYS, API_KEYS_FILE), one is generated at the first
 * start and kept: an admin key, since the person at this machine runs it, opens Bull Board with it,
 * and submits jobs with it (`npm run demo`). Configured keys are used as they are.
 */
function resolveApiKeys(env: AllInOneEnv, dataDir: string): { adminKeys: string[] | undefined; shown: string | null; created: boolean } {
  if (env.API_KEYS || env.API_ADMIN_KEYS || env.API_KEYS_FILE) {
    // A `sha256:<hex>` entry is a digest, not a key anyone could paste; an admin's first, as it opens Bull Board too.
    const shown = [...(env.API_ADMIN_KEYS ?? []), ...(env.API_KEYS ?? [])].find((key) => !key.startsWith('sha256:')) ?? null;
    return { adminKeys: env.API_ADMIN_KEYS, shown, created: false };
  }
  const { key, created } = loadOrCreateApiKey(dataDir);
  return { adminKeys: [key], shown: key, created };
}

/** Redis (started here if none answers), S3 (embedded if none is configured), the provider's clients. */
async function buildInfrastructure(env: AllInOneEnv, dataDir: string): Promise<Infrastructure> {
  const bootLogger = createLogger({ name: 'all-in-one', level: env.LOG_LEVEL });
  const redisHandle = await ensureRedis(env.REDIS_URL, dataDir, bootLogger);
  const telemetry = createTelemetry({ app: 'all-in-one' });
  const runtime = createWorkerRuntime({
    name: 'all-in-one',
    ...env,
    REDIS_URL: redisHandle.url,
    secrets: [env.AWS_SECRET_ACCESS_KEY, env.LAMBDA_API_KEY, env.SSH_KEY_PASSPHRASE],
    hooks: telemetry.hooks,
  });
  // Stopped last: registered first (closers run in reverse order).
  runtime.shutdown.register('redis-server', () => redisHandle.stop());

  const s3 = await resolveS3(env, dataDir);
  if (s3.stop) runtime.shutdown.register('embedded-s3', s3.stop);
  const storage = createS3Storage({
    region: s3.region,
    endpoint: s3.endpoint ?? undefined,
    forcePathStyle: s3.forcePathStyle,
    credentials: s3.credentials,
  });
  if (s3.embedded) await storage.ensureBucket(s3.bucket);

  const provider = await buildProvider(env, runtime.redis, dataDir, runtime.logger, {
    onSession: runtime.logSshSession,
    onConnection: runtime.logSshConnection,
    onRequest: telemetry.hooks.onLambdaRequest,
  });
  runtime.shutdown.register('provider', provider.stop);
  const apiRedis = createRedis(redisHandle.url, 'api', 'inno-train-all-in-one-api');
  runtime.shutdown.register('api-redis', async () => void (await apiRedis.quit().catch(() => apiRedis.disconnect())));
  return { runtime, telemetry, apiRedis, storage, s3, provider };
}

type S3Settings = Awaited<ReturnType<typeof resolveS3>>;

async function resolveS3(env: AllInOneEnv, dataDir: string) {
  if (env.s3Configured) {
    const credentials =
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY }
        : undefined;
    return {
      embedded: false,
      endpoint: env.S3_ENDPOINT ?? null,
      region: env.S3_REGION,
      bucket: env.S3_BUCKET!,
      forcePathStyle: env.S3_FORCE_PATH_STYLE ?? false,
      credentials,
      stop: undefined,
    };
  }
  const bucket = env.S3_BUCKET ?? 'inno-train';
  const server = await startS3Server({ directory: join(dataDir, 's3'), buckets: [bucket], port: env.S3_EMBEDDED_PORT });
  return {
    embedded: true,
    endpoint: server.endpoint,
    region: server.region,
    bucket,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    stop: () => server.close(),
  };
}
