import type { Server } from 'node:http';
import { registerSecret, type Logger } from '@inno-train/core';
import { createJobStore, createMetricsStore } from '@inno-train/job-store';
import { registerStoreGauges, redisStoreReaders, type Telemetry } from '@inno-train/telemetry';
import { createWebhookStore } from '@inno-train/webhooks';
import { closeStageQueues, openStageQueues } from '@inno-train/workflow';
import type { Redis } from 'ioredis';
import { createApp } from './app';
import { createStreamHub } from './stream-hub';
import type { ApiEnv } from './env';
import { loadKeyEntries } from './keys';
import { redisRateCounter } from './guard';
import { redisSessionStore } from './session';
import type { CheckpointLinker } from './checkpoint-routes';
import type { InputChecker } from './submit';

/** What compose reads of the env. The all-in-one fills API_KEYS and S3_BUCKET in when unset. */
export type ApiComposeEnv = Pick<
  ApiEnv,
  | 'INNO_NAMESPACE'
  | 'API_PORT'
  | 'API_HOST'
  | 'API_KEYS'
  | 'API_ADMIN_KEYS'
  | 'API_KEYS_FILE'
  | 'CORS_ORIGINS'
  | 'API_SESSION_TTL_MINUTES'
  | 'S3_BUCKET'
  | 'S3_ALLOWED_PREFIXES'
  | 'API_RATE_LIMIT_PER_MINUTE'
  | 'WEBHOOK_ALLOW_HTTP'
  | 'WEBHOOK_ALLOW_PRIVATE_NETWORKS'
>;

/** What a process builds from the outside world and hands in. */
export interface ApiInfrastructure {
  /**
   * A fail-fast client (createRedis(url, 'api', ...)): with no offline queue, a request during a
   * Redis outage answers 503 at once instead of hanging. The job store, queues, rate counter and
   * /healthz all use it.
   */
  redis: Redis;
  /** S3 metadata: that a job's inputs exist, a checkpoint's files, presigned downloads (createS3Storage). */
  storage: InputChecker & CheckpointLinker;
  logger: Logger;
  /**
   * The process's metrics. Compose feeds it the status changes its store commits (cancels) and
   * registers the gauges read from Redis (jobs, queues, instances): the API is the one kind of
   * process that serves those, so replicas of the workers do not count them again.
   */
  telemetry?: Telemetry;
}

export interface ApiService {
  /** Listens on API_HOST:API_PORT; resolves once listening, rejects if the port cannot be bound. */
  start(): Promise<void>;
  /** Stops listening, cuts connections still open after `deadlineMs`, closes the queues. */
  close(deadlineMs?: number): Promise<void>;
  /** The port listened on (API_PORT=0 picks a free one); only after start. */
  port(): number;
}

/** The API's own shutdown deadline (its requests are short; workers get SHUTDOWN_DEADLINE_MS). */
const CLOSE_DEADLINE_MS = 10_000;

/**
 * The API: job store, queues and the Express app over the given Redis. Reads no process.env and
 * installs no signal handlers: its main and the all-in-one do that.
 */
export function compose(env: ApiComposeEnv, infrastructure: ApiInfrastructure): ApiService {
  const { redis, storage, logger } = infrastructure;
  // Clients' keys never reach a log line, whichever process serves them.
  for (const key of [...(env.API_KEYS ?? []), ...(env.API_ADMIN_KEYS ?? [])]) registerSecret(key);
  const keys = loadKeyEntries({
    keys: env.API_KEYS,
    adminKeys: env.API_ADMIN_KEYS,
    file: env.API_KEYS_FILE,
    defaultPrefixes: env.S3_ALLOWED_PREFIXES ?? [`s3://${env.S3_BUCKET}/`],
  });
  const queues = openStageQueues({ connection: redis, prefix: `{${env.INNO_NAMESPACE}}` });
  if (infrastructure.telemetry) {
    registerStoreGauges(infrastructure.telemetry, redisStoreReaders({ redis, namespace: env.INNO_NAMESPACE, queues }), logger);
  }
  // Live streams' wake-ups: a subscriber needs a connection of its own. It waits out a Redis outage
  // (offline queue, no retry limit) instead of failing: streams re-read on their timer meanwhile.
  const subscriber = redis.duplicate({ connectionName: 'inno-train-api-streams', enableOfflineQueue: true, maxRetriesPerRequest: null });
  subscriber.on('error', () => undefined);
  const streams = createStreamHub({ wakeups: { subscriber, namespace: env.INNO_NAMESPACE }, logger });
  const app = createApp({
    store: createJobStore({ redis, namespace: env.INNO_NAMESPACE, onStatusChange: infrastructure.telemetry?.hooks.onStatusChange }),
    queues,
    storage,
    defaultBucket: env.S3_BUCKET,
    keys,
    rateLimitPerMinute: env.API_RATE_LIMIT_PER_MINUTE,
    rateCounter: redisRateCounter(redis, env.INNO_NAMESPACE),
    corsOrigins: env.CORS_ORIGINS,
    sessions: redisSessionStore({ redis, namespace: env.INNO_NAMESPACE, ttlMinutes: env.API_SESSION_TTL_MINUTES }),
    logger,
    ping: async () => (await redis.ping()) === 'PONG',
    streams,
    metrics: createMetricsStore({ redis, namespace: env.INNO_NAMESPACE }),
    webhooks: {
      store: createWebhookStore({ redis, namespace: env.INNO_NAMESPACE }),
      guard: { allowHttp: env.WEBHOOK_ALLOW_HTTP, allowPrivateNetworks: env.WEBHOOK_ALLOW_PRIVATE_NETWORKS },
    },
  });
  let server: Server | undefined;
  return {
    async start() {
      server = await listen(app, env.API_PORT, env.API_HOST);
      const port = boundPort(server, env.API_PORT);
      logger.info({ port }, `API listening on http://${env.API_HOST}:${port}`);
    },
    async close(deadlineMs = CLOSE_DEADLINE_MS) {
      // Stop listening first, then end the open streams: their clients resume on another replica.
      const closing = server ? closeServer(server, deadlineMs) : Promise.resolve();
      streams.close();
      await closing;
      subscriber.disconnect();
      await closeStageQueues(queues);
    },
    port() {
      if (!server) throw new Error('The API is not listening yet: call start() first');
      return boundPort(server, env.API_PORT);
    },
  };
}

function listen(app: ReturnType<typeof createApp>, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
    server.once('error', reject);
  });
}

function boundPort(server: Server, configured: number): number {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : configured;
}

/** Requests in flight may finish until the deadline; then their connections are cut (clients retry). */
function closeServer(server: Server, deadlineMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), deadlineMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
