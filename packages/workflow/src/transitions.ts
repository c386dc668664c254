import { crashPoint, errorCode, isoNow, scrubSecrets } from '@inno-train/core';
import type { JobStore, UpdateResult } from '@inno-train/job-store';
import { isJobErrorCode, type JobError, type JobErrorCode, type JobRecord } from '@inno-train/schemas';
import {
  isTerminal,
  QUEUES,
  stageOfStatus,
  TRANSITIONS,
  type JobStatus,
  type QueueName,
  type Stage,
  type TransitionName,
} from '@inno-train/workflow-constants';
import { enqueueStage, enqueueTeardown, type StageQueues } from './queues';

/** True when `status` is one of a transition's `from` statuses. */
function includes(from: readonly JobStatus[], status: JobStatus): boolean {
  return from.includes(status);
}

export interface WorkflowDeps {
  store: JobStore;
  queues: StageQueues;
}

/** True when a stage must not do anything more for this job. */
export function isStopped(job: JobRecord): boolean {
  return isTerminal(job.status) || job.cancelRequested;
}

/**
 * The job error for a stage that gives up on `error`: its own code when it already is a job error
 * code, else the stage's give-up code with the underlying code (`ssh_auth_failed`, ...) in the message.
 */
export function jobError(stage: Stage, error: unknown, giveUpCode: JobErrorCode = 'internal_error'): JobError {
  const message = scrubSecrets(error instanceof Error ? error.message : String(error));
  const code = errorCode(error, '');
  if (isJobErrorCode(code)) return { code, message: message.slice(0, 4000), stage };
  return { code: giveUpCode, message: `${code ? `${code}: ` : ''}${message}`.slice(0, 4000), stage };
}

/**
 * Makes a declared transition (the catalog's TRANSITIONS): moves the job from one of the
 * transition's `from` statuses to its `to`, records the event in the same write, and queues the
 * stage of the new status (or teardown once the job ended). Returns false if the job was no longer
 * in `from` (another worker moved it first), or was cancelled.
 */
export async function advance(deps: WorkflowDeps, jobId: string, move: Move): Promise<boolean> {
  return (await advanceJob(deps, jobId, move)).changed;
}

export interface Move {
  transition: TransitionName;
  stage: Stage;
  message: string;
  patch?: (job: JobRecord) => void;
}

/**
 * `advance`, answering the store's whole result: for `start`, `waiting` says the job's tenant
 * has all its concurrency slots taken (the store admits a job only under its limit).
 */
export async function advanceJob(deps: WorkflowDeps, jobId: string, move: Move): Promise<UpdateResult> {
  const { from, to } = TRANSITIONS[move.transition] as { from: readonly JobStatus[]; to: JobStatus };
  const result = await deps.store.update(
    jobId,
    (current) => {
      if (!from.includes(current.status) || current.cancelRequested) return null;
      current.status = to;
      move.patch?.(current);
      if (isTerminal(to)) current.finishedAt = isoNow();
      return current;
    },
    [{ type: 'status', stage: move.stage, message: move.message, data: { status: to, transition: move.transition } }],
  );
  // The most dangerous line of the workflow: the job moved on but its next stage is not queued.
  // Whoever runs next for this job (this step redelivered, or the reconciler) queues it: see
  // ensureStageQueued. Enqueueing here even when another worker moved it first is deduplicated.
  crashPoint(`advance:${to}:after-write`);
  const nextStage = stageOfStatus(to);
  const { job } = result;
  if (job.status === to && nextStage && !isTerminal(to)) await enqueueStage(deps.queues, QUEUES[nextStage], jobId, job.hostRestarts);
  if (isTerminal(job.status)) await enqueueTeardown(deps.queues, jobId, move.message);
  return result;
}

/** Fails a job (unless it already ended) and hands it to teardown. */
export async function failJob(deps: WorkflowDeps, jobId: string, error: JobError): Promise<void> {
  const { from, to } = TRANSITIONS.fail;
  await deps.store.update(
    jobId,
    (job) => {
      if (!includes(from, job.status)) return null;
      job.status = to;
      job.error = error;
      job.finishedAt = isoNow();
      return job;
    },
    [
      { type: 'error', stage: error.stage, message: `${error.code}: ${error.message}`, data: { code: error.code } },
      { type: 'status', stage: error.stage, message: 'Job failed', data: { status: to, transition: 'fail' } },
    ],
  );
  crashPoint('fail:after-write');
  await enqueueTeardown(deps.queues, jobId, `failed: ${error.code}`);
}

/**
 * Cancels a running job (the API's POST cancel): the job ends `cancelled` at once, its event in
 * the same write, and teardown stops the training process and gives the instance back. Returns the
 * job as it is after the call, and whether this call cancelled it (false: it had already ended).
 */
export async function cancelJob(deps: WorkflowDeps, jobId: string): Promise<{ job: JobRecord; changed: boolean }> {
  const { from, to } = TRANSITIONS.cancel;
  const before = await deps.store.mustGet(jobId);
  const result = await deps.store.update(
    jobId,
    (current) => {
      if (!includes(from, current.status)) return null;
      current.cancelRequested = true;
      current.status = to;
      current.finishedAt = isoNow();
      return current;
    },
    [
      {
        type: 'status',
        stage: 'cancel',
        message: `Cancelled while ${before.status}`,
        data: { status: to, from: before.status, transition: 'cancel' },
      },
    ],
  );
  if (!result.changed) return result;
  // A crash here is covered too: the job's own stage step finds it stopped and queues teardown.
  crashPoint('cancel:after-write');
  // Teardown kills the training process and gives the instance back.
  await enqueueTeardown(deps.queues, jobId, 'cancelled');
  return result;
}

/** Why a job lost its host: the cloud reclaimed the instance (`preempted`), or anything else. */
export type HostLossCause = 'host_lost' | 'preempted';

/**
 * Restarts left for a loss of this cause: `retry.onPreempted` counts preemptions, `retry.onHostLost`
 * every other loss (each budget is spent only by its own cause).
 */
export function restartsLeft(job: Pick<JobRecord, 'spec' | 'hostRestarts' | 'preemptions'>, cause: HostLossCause): number {
  const preemptions = job.preemptions ?? 0;
  if (cause === 'preempted') return (job.spec.retry?.onPreempted ?? 0) - preemptions;
  return (job.spec.retry?.onHostLost ?? 0) - (job.hostRestarts - preemptions);
}

/**
 * The host died under the job (or the cloud took it back) and the job allows it: give the instance
 * back (it becomes a retired instance, torn down and billed like any other) and start over from
 * provisioning on a new one. The status goes back, so besides the `retry` event (the reason) the
 * same write records a `status` event with `from`: a client following status events sees the job
 * leave its running status. Returns false when the job has no restarts left for this cause.
 */
export async function restartOnNewHost(
  deps: WorkflowDeps,
  jobId: string,
  reason: string,
  stage: Stage = 'training',
  cause: HostLossCause = 'host_lost',
): Promise<boolean> {
  const { from, to } = TRANSITIONS.host_lost_restart;
  let left: JobStatus = to;
  const { changed, job } = await deps.store.update(
    jobId,
    (current) => {
      if (!includes(from, current.status) || current.cancelRequested || restartsLeft(current, cause) <= 0 || !current.instance) return null;
      left = current.status;
      current.retiredInstances = [...current.retiredInstances, { ...current.instance, retiredReason: reason }];
      current.instance = null;
      current.hostRestarts = current.hostRestarts + 1;
      if (cause === 'preempted') current.preemptions = (current.preemptions ?? 0) + 1;
      current.status = to;
      current.training = { startedAt: null, exitCode: null };
      current.progress = null;
      current.pendingError = null;
      // The old host's listings and upload in flight mean nothing on the new one; what was synced
      // (checkpoints) stays, and stage-in restores the latest of it there.
      current.checkpointSync = null;
      delete current.stageOutPlan;
      return current;
    },
    (next) => {
      const preempted = cause === 'preempted';
      const restart = preempted ? next.preemptions : next.hostRestarts - next.preemptions;
      const of = preempted ? next.spec.retry?.onPreempted : next.spec.retry?.onHostLost;
      const what = preempted ? 'Instance preempted' : 'Host lost';
      const at = isoNow();
      return [
        {
          at,
          type: 'retry',
          stage,
          message: `${what} (${reason}); starting over on a new instance (restart ${restart} of ${of})`,
          data: { reason, cause, restart, of },
        },
        {
          at,
          type: 'status',
          stage,
          message: `Back to provisioning: ${what.toLowerCase()} during ${left}, restart ${restart} of ${of}`,
          data: { status: to, from: left, transition: 'host_lost_restart', cause, restart },
        },
      ];
    },
  );
  if (!changed) return false;
  // Teardown gives the lost instance back now (the job is not terminal: it handles retired ones too).
  const lost = job.retiredInstances?.at(-1);
  await enqueueTeardown(deps.queues, jobId, 'host lost', lost?.id);
  await enqueueStage(deps.queues, QUEUES.provisioning, jobId, job.hostRestarts);
  return true;
}

/** The queue that carries a job in a running status, from the catalog. */
export function queueOfStatus(status: JobStatus): QueueName | undefined {
  const stage = isTerminal(status) ? null : stageOfStatus(status);
  return stage ? QUEUES[stage] : undefined;
}

/**
 * Called by a step that finds its job no longer in its own status. The writer that moved the job
 * (an advance, a failure, a cancel in the API) may have died before queueing what comes next, and
 * this redelivered step may be the last thing that will ever run for the job: so a stopped job
 * gets its teardown and a running one its current stage (a no-op when that stage is queued).
 */
export async function ensureStageQueued(deps: WorkflowDeps, job: JobRecord): Promise<void> {
  const stopped = isStopped(job);
  const unconfirmed = [...job.retiredInstances, ...(stopped && job.instance ? [job.instance] : [])].filter(
    (instance) => !instance.terminatedAt,
  );
  if (stopped && unconfirmed.length > 0) await enqueueTeardown(deps.queues, job.id, 'job stopped');
  else for (const instance of unconfirmed) await enqueueTeardown(deps.queues, job.id, 'retired instance', instance.id);
  const queue = stopped ? undefined : queueOfStatus(job.status);
  if (queue) await enqueueStage(deps.queues, queue, job.id, job.hostRestarts);
}
