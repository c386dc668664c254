import { Queue, type ConnectionOptions } from 'bullmq';
import {
  DEFAULT_JOB_OPTIONS,
  QUEUE_PREFIX,
  QUEUES,
  stageJobId,
  stageOfQueue,
  STAGES,
  type QueueName,
} from '@inno-train/workflow-constants';

export type StageQueues = Record<QueueName, Queue>;

export interface QueueSetOptions {
  connection: ConnectionOptions;
  /** Overrides the queue prefix; tests give each run its own. */
  prefix?: string;
}

/** Opens one BullMQ Queue per stage. Queues share the caller's connection. */
export function openStageQueues(options: QueueSetOptions): StageQueues {
  const prefix = options.prefix ?? QUEUE_PREFIX;
  const entries = Object.values(QUEUES).map((name) => {
    const queue = new Queue(name, { connection: options.connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
    // A Queue without an error listener crashes the process on a Redis blip.
    queue.on('error', () => undefined);
    return [name, queue] as const;
  });
  return Object.fromEntries(entries) as StageQueues;
}

export async function closeStageQueues(queues: StageQueues): Promise<void> {
  await Promise.all(Object.values(queues).map((queue) => queue.close()));
}

/**
 * Enqueues a stage for a job. The BullMQ job id makes a second enqueue of the same stage (a worker
 * that died after enqueueing, then ran again) a no-op while the first one exists.
 */
export async function enqueueStage(queues: StageQueues, queue: QueueName, jobId: string, attempt = 0): Promise<void> {
  const stage = STAGES[stageOfQueue(queue)];
  await queues[queue].add(
    queue,
    { jobId, step: {} },
    {
      jobId: stageJobId(queue, jobId, attempt),
      attempts: stage.attempts,
      backoff: { type: 'exponential', delay: stage.backoffMs },
    },
  );
}

/** The BullMQ id of a teardown: one per instance that prompted it, or `final` for the job's end. */
export function teardownJobId(jobId: string, instanceId?: string): string {
  return `${jobId}.teardown.${instanceId ?? 'final'}`;
}

/**
 * Teardown may be asked for more than once (cancel, failure, a sweep, a late launch answer). Each
 * request names what prompted it: the job's end (`final`), or one instance (a retired one while the
 * job runs, a late launch after it ended). A request already queued, running or done under that id
 * adds nothing; teardown itself handles every unconfirmed instance of the job, whichever prompted it.
 */
export async function enqueueTeardown(queues: StageQueues, jobId: string, reason: string, instanceId?: string): Promise<void> {
  await queues[QUEUES.teardown].add(
    QUEUES.teardown,
    { jobId, step: { reason } },
    {
      jobId: teardownJobId(jobId, instanceId),
      attempts: STAGES.teardown.attempts,
      backoff: { type: 'exponential', delay: STAGES.teardown.backoffMs },
    },
  );
}

/**
 * Runs a stage's parked (delayed) step now, so it acts on news (its host reported down) instead of
 * at its next re-check. False when there is no such step or it is not parked (it runs or waits in line).
 */
export async function promoteStage(queues: StageQueues, queue: QueueName, jobId: string, attempt = 0): Promise<boolean> {
  const job = await queues[queue].getJob(stageJobId(queue, jobId, attempt));
  if (!job) return false;
  try {
    await job.promote();
    return true;
  } catch {
    return false;
  }
}
