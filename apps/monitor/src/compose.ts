import {
  failJob,
  jobError,
  promoteStage,
  resolveTimings,
  startAppWorkers,
  startWorkerSet,
  type StageBinding,
  type TimingOverrides,
  type WorkerRuntime,
} from '@inno-train/workflow';
import { randomUUID } from 'node:crypto';
import { createMetricsStore } from '@inno-train/job-store';
import { QUEUES, STAGES } from '@inno-train/workflow-constants';
import type { MonitorEnv } from './env';
import { createLogLeases } from './log-lease';
import { LOG_WATCHER_DEFAULTS, startLogWatcher, type LogWatcher } from './log-watcher';
import { trainStep, type MonitorDeps } from './train-step';

/** The monitor app's queues and what runs for them. */
export function monitorBindings(deps: MonitorDeps): StageBinding[] {
  return [
    {
      queue: QUEUES.training,
      handler: (payload, ctx) => trainStep(deps, payload, ctx.logger),
      onGiveUp: (payload, error) => failJob(deps, payload.jobId, jobError('training', error, STAGES.training.giveUp)),
    },
  ];
}

/**
 * What compose reads of the env: worker tuning, timings and the namespace (of the metrics store,
 * beside the runtime's job store). SSH settings go to main's executor.
 */
export type MonitorComposeEnv = Pick<
  MonitorEnv,
  'INNO_NAMESPACE' | 'WORKER_CONCURRENCY' | 'SHUTDOWN_DEADLINE_MS' | 'STEP_LOCK_MS' | 'STEP_STALLED_CHECK_MS'
> &
  Partial<Pick<MonitorEnv, 'LOG_WATCH' | 'LOG_WATCH_MAX_STREAMS'>> &
  TimingOverrides;

/** What a process builds from the outside world and hands in. */
export interface MonitorInfrastructure {
  /** Redis, queues, job store and logger (createWorkerRuntime); shared by every app of a process. */
  runtime: Pick<WorkerRuntime, 'redis' | 'prefix' | 'store' | 'queues' | 'logger'>;
  /** The SSH executor (or the local provider's executor). */
  shell: MonitorDeps['shell'];
  /** Presigning and listing for checkpoint sync. */
  storage: MonitorDeps['storage'];
  identity: MonitorDeps['identity'];
}

export interface MonitorService {
  start(): Promise<void>;
  /** True while its step workers run (for /readyz). */
  running(): boolean;
  /** Stops taking steps and waits up to `deadlineMs` (default SHUTDOWN_DEADLINE_MS) for those in flight. */
  close(deadlineMs?: number): Promise<void>;
}

/**
 * The monitor app: the training worker. Reads no process.env and installs no signal handlers:
 * its main and the all-in-one do that.
 */
export function compose(env: MonitorComposeEnv, infrastructure: MonitorInfrastructure): MonitorService {
  const { runtime, shell, storage, identity } = infrastructure;
  const metrics = createMetricsStore({ redis: runtime.redis, namespace: env.INNO_NAMESPACE });
  const deps: MonitorDeps = {
    store: runtime.store,
    queues: runtime.queues,
    shell,
    storage,
    identity,
    timings: resolveTimings(env),
    metrics,
  };
  let workers: ReturnType<typeof startWorkerSet> | undefined;
  let watcher: LogWatcher | undefined;
  return {
    async start() {
      const bindings = monitorBindings(deps);
      // Logs 'monitor started': tests wait for it (the queue is consumed).
      workers = startAppWorkers('monitor', env, runtime, deps, bindings);
      if (env.LOG_WATCH !== false) watcher = startWatcher(env, infrastructure, deps);
    },
    running() {
      return workers?.running() ?? false;
    },
    async close(deadlineMs = env.SHUTDOWN_DEADLINE_MS) {
      // The tails first: each releases its lease, so another replica takes its job over at once.
      await watcher?.close();
      await workers?.close(deadlineMs);
    },
  };
}

/** The live tail of training logs, when the executor can stream (both of ours can). */
function startWatcher(env: MonitorComposeEnv, infrastructure: MonitorInfrastructure, deps: MonitorDeps): LogWatcher | undefined {
  const { runtime, shell } = infrastructure;
  if (!shell.stream) {
    runtime.logger.info('live log tail off: this host executor cannot stream; training is polled only');
    return undefined;
  }
  const stream = shell.stream.bind(shell);
  // A lease outlives a few missed renewals (every 3 s), and a dead replica's jobs are taken over within 10 s.
  const leases = createLogLeases({ redis: runtime.redis, prefix: runtime.prefix, token: randomUUID(), ttlMs: 10_000 });
  return startLogWatcher(
    {
      store: runtime.store,
      metrics: deps.metrics,
      shell: { stream },
      identity: infrastructure.identity,
      leases,
      wake: (jobId, attempt) => promoteStage(runtime.queues, QUEUES.training, jobId, attempt),
      logger: runtime.logger.child({ component: 'log-watcher' }),
    },
    { maxStreams: env.LOG_WATCH_MAX_STREAMS ?? LOG_WATCHER_DEFAULTS.maxStreams },
  );
}
