import { armCrashPoints, createLogger, createShutdown, registerSecret, type Logger, type Shutdown } from '@inno-train/core';
import { createJobStore, type JobStore, type StatusChange } from '@inno-train/job-store';
import type { WorkflowTimings } from '@inno-train/workflow-constants';
import type { Redis } from 'ioredis';
import { closeStageQueues, openStageQueues, type StageQueues } from './queues';
import { createRedis } from './redis';
import { resolveTimings } from './worker-app';

export interface WorkerRuntimeConfig {
  name: string;
  REDIS_URL: string;
  INNO_NAMESPACE: string;
  LOG_LEVEL: string;
  WORKER_CONCURRENCY: number;
  SHUTDOWN_DEADLINE_MS: number;
  STEP_LOCK_MS?: number | undefined;
  STEP_STALLED_CHECK_MS?: number | undefined;
  /** Test-only crash points to arm (see core's crashPoint). */
  INNO_CRASH_POINTS?: string[] | undefined;
  BOOT_POLL_MS?: number | undefined;
  TRANSFER_POLL_MS?: number | undefined;
  TRAIN_POLL_MS?: number | undefined;
  TERMINATE_POLL_MS?: number | undefined;
  BOOT_DEADLINE_MS?: number | undefined;
  UNREACHABLE_GRACE_MS?: number | undefined;
  BOOT_DEADLINE_MULTI_GPU_MS?: number | undefined;
  CAPACITY_POLL_MS?: number | undefined;
  MAX_LAUNCH_ATTEMPTS?: number | undefined;
  HOST_RECHECK_MS?: number | undefined;
  /** Secret values to mask in every log line and message. */
  secrets: (string | undefined)[];
  /** Accounting callbacks (the process's metrics); each must not throw. */
  hooks?: RuntimeHooks;
}

/** What the runtime tells the process's metrics: status changes its store commits, SSH calls it logs. */
export interface RuntimeHooks {
  onStatusChange?: (change: StatusChange) => void;
  onSshSession?: (session: { kind: string; label?: string; ok: boolean; errorCode?: string }) => void;
}

export interface WorkerRuntime {
  logger: Logger;
  shutdown: Shutdown;
  redis: Redis;
  queues: StageQueues;
  store: JobStore;
  timings: WorkflowTimings;
  prefix: string;
  /** For the SSH executor's onSession: one debug line per host session (accounting, never content). */
  logSshSession(session: { host: string; kind: string; label?: string; ms: number; ok: boolean; errorCode?: string }): void;
  /** For the SSH executor's onConnection: one debug line per SSH login (connections are shared by calls). */
  logSshConnection(connection: { host: string; port: number; ms: number; ok: boolean; errorCode?: string }): void;
}

/** What every worker app builds the same way at start: logger, shutdown, Redis, queues, store. */
export function createWorkerRuntime(config: WorkerRuntimeConfig): WorkerRuntime {
  for (const secret of config.secrets) registerSecret(secret);
  const logger = createLogger({ name: config.name, level: config.LOG_LEVEL });
  if (config.INNO_CRASH_POINTS?.length) {
    armCrashPoints(config.INNO_CRASH_POINTS);
    logger.warn({ crashPoints: config.INNO_CRASH_POINTS }, 'crash points armed: this process will kill itself on purpose (test setting)');
  }
  const shutdown = createShutdown(logger, config.SHUTDOWN_DEADLINE_MS);
  const redis = createRedis(config.REDIS_URL, 'worker', `inno-train-${config.name}`);
  shutdown.register('redis', async () => void (await redis.quit().catch(() => redis.disconnect())));
  const prefix = `{${config.INNO_NAMESPACE}}`;
  const queues = openStageQueues({ connection: redis, prefix });
  shutdown.register('queues', () => closeStageQueues(queues));
  const store = createJobStore({ redis, namespace: config.INNO_NAMESPACE, onStatusChange: config.hooks?.onStatusChange });
  const timings = resolveTimings(config);
  return {
    logger,
    shutdown,
    redis,
    queues,
    store,
    timings,
    prefix,
    logSshSession: (session) => {
      logger.debug({ ssh: session }, 'ssh session');
      config.hooks?.onSshSession?.(session);
    },
    logSshConnection: (connection) => logger.debug({ ssh: connection }, 'ssh connection'),
  };
}

/** The end of every app's main: config errors name the variable and stop the process. */
export function exitOnStartupError(error: unknown): never {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
