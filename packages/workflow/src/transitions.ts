import { errorCode, isoNow, scrubSecrets } from '@inno-train/core';
import type { JobStore } from '@inno-train/job-store';
import type { JobError, JobRecord } from '@inno-train/schemas';
import { isTerminal, type JobStatus, type Stage } from '@inno-train/workflow-constants';
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

export function jobError(stage: Stage, error: unknown, fallbackCode = 'internal_error'): JobError {
  const message = error instanceof Error ? error.message : String(error);
  return { code: errorCode(error, fallbackCode), message: scrubSecrets(message).slice(0, 4000), stage };
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
  });
  if (changed) await deps.store.appendEvent(jobId, { type: 'status', stage: move.stage, message: move.message, data: { status: move.to } });
  // Enqueue even when another worker moved it first: the enqueue is deduplicated, and this way a
  // worker that died between the update and the enqueue is covered by whoever runs next.
  if (job.status === move.to && move.next) await enqueueStage(deps.queues, move.next, jobId);
  if (isTerminal(job.status)) await enqueueTeardown(deps.queues, jobId, move.message);
  return changed;
}

/** Fails a job (unless it already ended) and hands it to teardown. */
export async function failJob(deps: WorkflowDeps, jobId: string, error: JobError): Promise<void> {
  const { changed } = await deps.store.update(jobId, (job) => {
    if (isTerminal(job.status)) return null;
    job.status = 'failed';
    job.error = error;
    job.finishedAt = isoNow();
    return job;
  });
  if (changed) {
    await deps.store.appendEvent(jobId, { type: 'error', stage: error.stage, message: `${error.code}: ${error.message}`, data: { code: error.code } });
    await deps.store.appendEvent(jobId, { type: 'status', stage: error.stage, message: 'Job failed', data: { status: 'failed' } });
  }
  await enqueueTeardown(deps.queues, jobId, `failed: ${error.code}`);
}

/** Makes sure a stopped job gets its teardown; stages call this when they find a job stopped. */
export async function ensureTeardown(deps: WorkflowDeps, job: JobRecord): Promise<void> {
  if (job.instance && !job.instance.terminatedAt) await enqueueTeardown(deps.queues, job.id, 'job stopped');
}
