import { crashPoint, errorCode, isoNow, scrubSecrets } from '@inno-train/core';
import type { JobStore } from '@inno-train/job-store';
import { isJobErrorCode, type JobError, type JobErrorCode, type JobRecord } from '@inno-train/schemas';
import { isTerminal, QUEUES, type JobStatus, type Stage } from '@inno-train/workflow-constants';
import { enqueueStage, enqueueTeardown, type StageQueues } from './queues';
import type { QueueName } from '@inno-train/workflow-constants';

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
 * Moves a job from one of `from` to `to`, records the event, and enqueues the next stage's queue.
 * Returns false if the job was no longer in `from` (another worker moved it first).
 */
export async function advance(
  deps: WorkflowDeps,
  jobId: string,
  move: { from: JobStatus[]; to: JobStatus; stage: Stage; message: string; next?: QueueName; patch?: (job: JobRecord) => void },
): Promise<boolean> {
  const { changed, job } = await deps.store.update(jobId, (current) => {
    if (!move.from.includes(current.status) || current.cancelRequested) return null;
    current.status = move.to;
    move.patch?.(current);
    if (isTerminal(move.to)) current.finishedAt = isoNow();
    return current;
  }, [{ type: 'status', stage: move.stage, message: move.message, data: { status: move.to } }]);
  // The most dangerous line of the workflow: the job moved on but its next stage is not queued.
  // Whoever runs next for this job (this step redelivered, or the reconciler) queues it: see
  // ensureStageQueued. Enqueueing here even when another worker moved it first is deduplicated.
  crashPoint(`advance:${move.to}:after-write`);
  if (job.status === move.to && move.next) await enqueueStage(deps.queues, move.next, jobId, job.hostRestarts);
  if (isTerminal(job.status)) await enqueueTeardown(deps.queues, jobId, move.message);
  return changed;
}

/** Fails a job (unless it already ended) and hands it to teardown. */
export async function failJob(deps: WorkflowDeps, jobId: string, error: JobError): Promise<void> {
  await deps.store.update(jobId, (job) => {
    if (isTerminal(job.status)) return null;
    job.status = 'failed';
    job.error = error;
    job.finishedAt = isoNow();
    return job;
  }, [
    { type: 'error', stage: error.stage, message: `${error.code}: ${error.message}`, data: { code: error.code } },
    { type: 'status', stage: error.stage, message: 'Job failed', data: { status: 'failed' } },
  ]);
  crashPoint('fail:after-write');
  await enqueueTeardown(deps.queues, jobId, `failed: ${error.code}`);
}

/**
 * The host died under the job and the job allows it: give the instance back (it becomes a retired
 * instance, torn down and billed like any other) and start over from provisioning on a new one.
 * Returns false when the job has no restarts left.
 */
export async function restartOnNewHost(deps: WorkflowDeps, jobId: string, reason: string, stage: Stage = 'training'): Promise<boolean> {
  const { changed, job } = await deps.store.update(jobId, (current) => {
    const allowed = current.spec.retry?.onHostLost ?? 0;
    if (isTerminal(current.status) || current.cancelRequested || current.hostRestarts >= allowed || !current.instance) return null;
    current.retiredInstances = [...current.retiredInstances, { ...current.instance, retiredReason: reason }];
    current.instance = null;
    current.hostRestarts = current.hostRestarts + 1;
    current.status = 'provisioning';
    current.training = { startedAt: null, exitCode: null };
    current.progress = null;
    current.pendingError = null;
    delete current.stageOutPlan;
    return current;
  }, (next) => [{ type: 'retry', stage, message: `Host lost (${reason}); starting over on a new instance (restart ${next.hostRestarts} of ${next.spec.retry?.onHostLost})`, data: { status: 'provisioning' } }]);
  if (!changed) return false;
  // Teardown gives the lost instance back now (the job is not terminal: it handles retired ones too).
  const lost = job.retiredInstances?.at(-1);
  await enqueueTeardown(deps.queues, jobId, 'host lost', lost?.id);
  await enqueueStage(deps.queues, 'provision', jobId, job.hostRestarts);
  return true;
}

/** The queue that carries a job in each running status. */
export const QUEUE_OF_STATUS: Partial<Record<JobStatus, QueueName>> = {
  queued: QUEUES.provision,
  provisioning: QUEUES.provision,
  staging_in: QUEUES.stageIn,
  training: QUEUES.train,
  staging_out: QUEUES.stageOut,
};

/**
 * Called by a step that finds its job no longer in its own status. The writer that moved the job
 * (an advance, a failure, a cancel in the API) may have died before queueing what comes next, and
 * this redelivered step may be the last thing that will ever run for the job: so a stopped job
 * gets its teardown and a running one its current stage (a no-op when that stage is queued).
 */
export async function ensureStageQueued(deps: WorkflowDeps, job: JobRecord): Promise<void> {
  const stopped = isStopped(job);
  const unconfirmed = [...job.retiredInstances, ...(stopped && job.instance ? [job.instance] : [])].filter((instance) => !instance.terminatedAt);
  if (stopped && unconfirmed.length > 0) await enqueueTeardown(deps.queues, job.id, 'job stopped');
  else for (const instance of unconfirmed) await enqueueTeardown(deps.queues, job.id, 'retired instance', instance.id);
  const queue = stopped ? undefined : QUEUE_OF_STATUS[job.status];
  if (queue) await enqueueStage(deps.queues, queue, job.id, job.hostRestarts);
}
