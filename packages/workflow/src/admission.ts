/**
 * A tenant's concurrency limit (`maxConcurrentJobs`): the job store admits a job past `queued`
 * only while its owner runs fewer than the limit, oldest queued first, in the same atomic write as
 * the status change. Slots are the owner's status index itself, so no crash can lose or double one.
 * Here: what a job that must wait tells its owner, and the wake-up of waiting jobs when one ends.
 */
import type { JobRecord } from '@inno-train/schemas';
import { QUEUES } from '@inno-train/workflow-constants';
import { promoteStage } from './queues';
import type { WorkflowDeps } from './transitions';

/** Where a waiting job stands: 1 = it starts when the next of its owner's jobs ends. */
export function placeInLine(waiting: { running: number; place: number }, limit: number): number {
  return waiting.place - Math.max(0, limit - waiting.running) + 1;
}

export function waitingMessage(job: Pick<JobRecord, 'createdBy' | 'limits'>, running: number, place: number): string {
  const limit = job.limits.maxConcurrentJobs;
  return `Waiting for a slot: ${job.createdBy ?? 'this key'} runs ${running} of ${limit} concurrent jobs; place ${place} in line`;
}

/**
 * A job of `job`'s owner ended: its waiting jobs look again now rather than at their next poll
 * (their delayed provisioning steps are promoted; the store decides who starts). Teardown calls
 * this after every end, so a crash before it only delays the wake-up to the next poll.
 */
export async function wakeWaitingJobs(deps: WorkflowDeps, job: Pick<JobRecord, 'createdBy' | 'limits'>): Promise<number> {
  const limit = job.limits.maxConcurrentJobs;
  if (limit === null) return 0;
  const ids = await deps.store.oldestQueued(job.createdBy, limit);
  let woken = 0;
  for (const id of ids) if (await promoteStage(deps.queues, QUEUES.provisioning, id)) woken++;
  return woken;
}
