import {
  failJob,
  jobError,
  resolveTimings,
  startAppWorkers,
  startWorkerSet,
  type StageBinding,
  type TimingOverrides,
  type WorkerRuntime,
} from '@inno-train/workflow';
import { QUEUES, STAGES, TRANSFER } from '@inno-train/workflow-constants';
import type { TransferEnv } from './env';
import { stageInStep, type TransferDeps } from './stage-in';
import { stageOutStep } from './stage-out';

/** The transfer app's queues and what runs for them. */
export function transferBindings(deps: TransferDeps): StageBinding[] {
  return [
    {
      queue: QUEUES.staging_in,
      handler: (payload, ctx) => stageInStep(deps, payload, ctx.logger),
      onGiveUp: (payload, error) => failJob(deps, payload.jobId, jobError('staging_in', error, STAGES.staging_in.giveUp)),
    },
    {
      queue: QUEUES.staging_out,
      handler: (payload, ctx) => stageOutStep(deps, payload, ctx.logger),
      onGiveUp: (payload, error) => failJob(deps, payload.jobId, jobError('staging_out', error, STAGES.staging_out.giveUp)),
    },
  ];
}

/** What compose reads of the env: worker tuning and timings. S3 and SSH settings go to main's clients. */
export type TransferComposeEnv = Pick<
  TransferEnv,
  'WORKER_CONCURRENCY' | 'SHUTDOWN_DEADLINE_MS' | 'STEP_LOCK_MS' | 'STEP_STALLED_CHECK_MS'
> &
  Partial<Pick<TransferEnv, 'TRANSFER_CONNECTIONS'>> &
  /** Where stage-out archives each job's train.log; unset (an embedded S3 without a named bucket): not archived. */
  Partial<Pick<TransferEnv, 'S3_BUCKET'>> &
  TimingOverrides;

/** What a process builds from the outside world and hands in. */
export interface TransferInfrastructure {
  /** Redis, queues, job store and logger (createWorkerRuntime); shared by every app of a process. */
  runtime: Pick<WorkerRuntime, 'redis' | 'prefix' | 'store' | 'queues' | 'logger'>;
  /** S3 metadata and presigning (createS3Storage). */
  storage: TransferDeps['storage'];
  /** The SSH executor (or the local provider's executor). */
  shell: TransferDeps['shell'];
  identity: TransferDeps['identity'];
}

export interface TransferService {
  start(): Promise<void>;
  /** True while its step workers run (for /readyz). */
  running(): boolean;
  /** Stops taking steps and waits up to `deadlineMs` (default SHUTDOWN_DEADLINE_MS) for those in flight. */
  close(deadlineMs?: number): Promise<void>;
}

/**
 * The transfer app: the stage-in and stage-out workers. Reads no process.env and installs no
 * signal handlers: its main and the all-in-one do that.
 */
export function compose(env: TransferComposeEnv, infrastructure: TransferInfrastructure): TransferService {
  const { runtime, storage, shell, identity } = infrastructure;
  const deps: TransferDeps = {
    store: runtime.store,
    queues: runtime.queues,
    storage,
    shell,
    identity,
    timings: resolveTimings(env),
    connections: env.TRANSFER_CONNECTIONS ?? TRANSFER.connections,
    ...(env.S3_BUCKET ? { logBucket: env.S3_BUCKET } : {}),
  };
  let workers: ReturnType<typeof startWorkerSet> | undefined;
  return {
    async start() {
      const bindings = transferBindings(deps);
      // Logs 'transfer started': tests wait for it (the queues are consumed).
      workers = startAppWorkers('transfer', env, runtime, deps, bindings);
    },
    running() {
      return workers?.running() ?? false;
    },
    async close(deadlineMs = env.SHUTDOWN_DEADLINE_MS) {
      await workers?.close(deadlineMs);
    },
  };
}
