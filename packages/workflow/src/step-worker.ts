import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { coerceError, crashPoint, InnoError, scrubSecrets, type Logger } from '@inno-train/core';
import {
  parseStepState,
  QUEUE_PREFIX,
  stageOfQueue,
  stagePayloadSchema,
  type QueueName,
  type StagePayload,
} from '@inno-train/workflow-constants';

/** What one step of a stage decided. */
export type StepOutcome = { kind: 'done' } | { kind: 'wait'; delayMs: number; step: StagePayload['step'] };

export interface StepContext {
  logger: Logger;
  /** 1 for the first run of this BullMQ job, more after failures (not after delays). */
  attempt: number;
  maxAttempts: number;
}

export type StepHandler = (payload: StagePayload, ctx: StepContext) => Promise<StepOutcome>;

/** Called when a step fails for good (not retryable, or out of attempts). */
export type GiveUpHandler = (payload: StagePayload, error: Error) => Promise<void>;

/** Called when a step fails and will be retried. */
export type RetryHandler = (payload: StagePayload, error: Error, attempt: number) => Promise<void>;

export interface StepWorkerOptions {
  queue: QueueName;
  connection: ConnectionOptions;
  prefix?: string;
  concurrency: number;
  handler: StepHandler;
  onGiveUp: GiveUpHandler;
  onRetry?: RetryHandler;
  logger: Logger;
  /** How long a job's lock lasts without renewal; see the note in README on stalled jobs. */
  lockDurationMs?: number;
  /** How often this worker looks for active jobs whose lock expired (their worker died). */
  stalledIntervalMs?: number;
}

/**
 * A BullMQ worker that runs one short step per delivery. A step that must wait (an instance
 * booting, training running) parks the job as delayed and frees the slot, so one process can watch
 * thousands of jobs; a step that failed for good hands the job to `onGiveUp`.
 */
export function startStepWorker(options: StepWorkerOptions): Worker {
  const worker = new Worker(options.queue, async (job: Job, token?: string) => processStep(job, token, options), {
    connection: options.connection,
    prefix: options.prefix ?? QUEUE_PREFIX,
    concurrency: options.concurrency,
    // Steps are short (SSH calls time out within a minute) and the lock is renewed every half
    // duration, so 20 s is ample; checking for stalled jobs every 10 s means a job whose worker
    // was killed is picked up again within ~30 s instead of BullMQ's default ~60 s.
    lockDuration: options.lockDurationMs ?? 20_000,
    stalledInterval: options.stalledIntervalMs ?? 10_000,
    maxStalledCount: 100,
  });
  worker.on('error', (err) => options.logger.error({ err, queue: options.queue }, 'worker error'));
  return worker;
}

async function processStep(job: Job, token: string | undefined, options: StepWorkerOptions): Promise<void> {
  // Re-parsed at dequeue: an old or foreign payload fails here, not halfway through a step.
  const parsed = stagePayloadSchema.parse(job.data);
  const payload = { ...parsed, step: parseStepState(stageOfQueue(options.queue), parsed.step) as StagePayload['step'] };
  const maxAttempts = job.opts.attempts ?? 1;
  const attempt = job.attemptsMade + 1;
  const logger = options.logger.child({ jobId: payload.jobId, queue: options.queue, attempt });
  const started = Date.now();
  let outcome: StepOutcome;
  try {
    outcome = await options.handler(payload, { logger, attempt, maxAttempts });
    // The step's work is done but BullMQ does not know yet (nor, for a wait, the step's new state).
    crashPoint(`step:${options.queue}:after-handler`);
  } catch (value) {
    const error = coerceError(value);
    const retryable = error instanceof InnoError ? error.retryable : true;
    const message = scrubSecrets(error.message);
    if (!retryable || attempt >= maxAttempts) {
      logger.error(
        { err: error, ms: Date.now() - started },
        `Step of ${options.queue} failed for good (attempt ${attempt} of ${maxAttempts}): ${message}`,
      );
      await options.onGiveUp(payload, error);
      return;
    }
    logger.warn(
      { err: error, ms: Date.now() - started },
      `Step of ${options.queue} failed (attempt ${attempt} of ${maxAttempts}), will retry: ${message}`,
    );
    await options.onRetry?.(payload, error, attempt);
    throw error;
  }
  if (outcome.kind === 'wait') {
    // Order matters: save the step state first, then park the job, then tell BullMQ we did.
    await job.updateData({ ...payload, step: outcome.step });
    await job.moveToDelayed(Date.now() + outcome.delayMs, token);
    throw new DelayedError();
  }
}

export async function closeWorkerWithDeadline(worker: Worker, deadlineMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), deadlineMs);
  });
  const result = await Promise.race([worker.close().then(() => 'closed' as const), deadline]);
  clearTimeout(timer);
  if (result === 'timeout') await worker.close(true);
}
