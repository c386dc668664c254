import type { ConnectionOptions, Worker } from 'bullmq';
import type { Logger } from '@inno-train/core';
import { defaultTimings, stageOfQueue, type QueueName, type StageName, type WorkflowTimings } from '@inno-train/workflow-constants';
import { closeWorkerWithDeadline, startStepWorker, type GiveUpHandler, type StepHandler } from './step-worker';
import type { WorkflowDeps } from './transitions';

/** Env-provided overrides of the default timings (tests and local runs poll faster). */
export type TimingOverrides = Partial<
  Record<
    | 'BOOT_POLL_MS'
    | 'TRANSFER_POLL_MS'
    | 'TRAIN_POLL_MS'
    | 'TERMINATE_POLL_MS'
    | 'BOOT_DEADLINE_MS'
    | 'BOOT_DEADLINE_MULTI_GPU_MS'
    | 'UNREACHABLE_GRACE_MS'
    | 'CAPACITY_POLL_MS'
    | 'SLOT_POLL_MS'
    | 'MAX_LAUNCH_ATTEMPTS'
    | 'HOST_RECHECK_MS',
    number | undefined
  >
>;

export function resolveTimings(overrides: TimingOverrides): WorkflowTimings {
  const timings = defaultTimings();
  return {
    ...timings,
    bootPollMs: overrides.BOOT_POLL_MS ?? timings.bootPollMs,
    transferPollMs: overrides.TRANSFER_POLL_MS ?? timings.transferPollMs,
    trainPollMs: overrides.TRAIN_POLL_MS ?? timings.trainPollMs,
    terminatePollMs: overrides.TERMINATE_POLL_MS ?? timings.terminatePollMs,
    bootDeadlineMs: overrides.BOOT_DEADLINE_MS ?? timings.bootDeadlineMs,
    bootDeadlineMultiGpuMs: overrides.BOOT_DEADLINE_MULTI_GPU_MS ?? timings.bootDeadlineMultiGpuMs,
    capacityPollMs: overrides.CAPACITY_POLL_MS ?? timings.capacityPollMs,
    slotPollMs: overrides.SLOT_POLL_MS ?? timings.slotPollMs,
    maxLaunchAttempts: overrides.MAX_LAUNCH_ATTEMPTS ?? timings.maxLaunchAttempts,
    unreachableGraceMs: overrides.UNREACHABLE_GRACE_MS ?? timings.unreachableGraceMs,
    hostRecheckMs: overrides.HOST_RECHECK_MS ?? timings.hostRecheckMs,
  };
}

export interface StageBinding {
  queue: QueueName;
  handler: StepHandler;
  onGiveUp: GiveUpHandler;
}

export interface WorkerSetOptions {
  connection: ConnectionOptions;
  prefix: string;
  concurrency: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  logger: Logger;
  deps: WorkflowDeps;
}

/** Starts one step worker per binding and returns a closer with a deadline. */
export function startWorkerSet(options: WorkerSetOptions, bindings: StageBinding[]) {
  const workers: Worker[] = bindings.map((binding) =>
    startStepWorker({
      queue: binding.queue,
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDurationMs: options.lockDurationMs,
      stalledIntervalMs: options.stalledIntervalMs,
      logger: options.logger,
      handler: binding.handler,
      onGiveUp: binding.onGiveUp,
      onRetry: async (payload, error, attempt) => {
        await options.deps.store.appendEvent(payload.jobId, {
          type: 'retry',
          stage: stageOf(binding.queue),
          message: `Retrying after an error (attempt ${attempt}): ${error.message}`,
          data: { code: (error as { code?: unknown }).code ?? null, attempt },
        });
      },
    }),
  );
  return {
    workers,
    /** True while every worker is running (for /readyz): false before start, after close or a fatal error. */
    running: () => workers.every((worker) => worker.isRunning()),
    close: (deadlineMs: number) => Promise.all(workers.map((worker) => closeWorkerWithDeadline(worker, deadlineMs))).then(() => undefined),
  };
}

/** The stage a queue belongs to (the catalog's one spelling). */
export function stageOf(queue: QueueName): StageName {
  return stageOfQueue(queue);
}

/** What every worker app's env says about its workers. */
export interface WorkerTuning {
  WORKER_CONCURRENCY: number;
  STEP_LOCK_MS: number;
  STEP_STALLED_CHECK_MS: number;
}

/**
 * Starts a worker app's stage workers on its runtime and logs "<app> started" once its queues are
 * consumed (tests and operators wait for that line). Every app's compose() uses this one.
 */
export function startAppWorkers(
  app: string,
  env: WorkerTuning,
  runtime: { redis: ConnectionOptions; prefix: string; logger: Logger },
  deps: WorkflowDeps,
  bindings: StageBinding[],
) {
  const workers = startWorkerSet(
    {
      connection: runtime.redis,
      prefix: runtime.prefix,
      concurrency: env.WORKER_CONCURRENCY,
      logger: runtime.logger,
      deps,
      lockDurationMs: env.STEP_LOCK_MS,
      stalledIntervalMs: env.STEP_STALLED_CHECK_MS,
    },
    bindings,
  );
  runtime.logger.info({ queues: bindings.map((b) => b.queue), concurrency: env.WORKER_CONCURRENCY }, `${app} started`);
  return workers;
}
