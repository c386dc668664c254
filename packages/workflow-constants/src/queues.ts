import { z } from 'zod';
import { STAGE_NAMES_IN_ORDER, STAGES, type StageDefinition, type StageName } from './catalog';

/**
 * Every queue of the workflow. They share one prefix with a hash tag so that a Redis Cluster keeps
 * a job's queues in one slot.
 */
export const QUEUE_PREFIX = '{inno}';

/** Each stage's queue, by stage name (the catalog declares them). */
export const QUEUES = {
  provisioning: STAGES.provisioning.queue,
  staging_in: STAGES.staging_in.queue,
  training: STAGES.training.queue,
  staging_out: STAGES.staging_out.queue,
  teardown: STAGES.teardown.queue,
} as const satisfies Record<StageName, string>;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Which app consumes which queue, from the catalog. */
export const APP_QUEUES = {
  provisioner: STAGE_NAMES_IN_ORDER.filter((stage) => STAGES[stage].app === 'provisioner').map((stage) => QUEUES[stage]),
  transfer: STAGE_NAMES_IN_ORDER.filter((stage) => STAGES[stage].app === 'transfer').map((stage) => QUEUES[stage]),
  monitor: STAGE_NAMES_IN_ORDER.filter((stage) => STAGES[stage].app === 'monitor').map((stage) => QUEUES[stage]),
} satisfies Record<StageDefinition['app'], QueueName[]>;

/**
 * The payload of every stage job: an id and the step's own bookkeeping. Never secrets, never
 * copies of the job record (the record in the job store is the source of truth).
 */
export const stagePayloadSchema = z.object({
  jobId: z.string().regex(/^[a-z0-9_]{8,64}$/),
  /** Per-step counters (poll number, log offset, ...) kept between delayed re-checks. */
  step: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).default({}),
});

export type StagePayload = z.infer<typeof stagePayloadSchema>;

/** BullMQ job ids (no ':' allowed) that make enqueueing a stage twice a no-op. */
export function stageJobId(queue: QueueName, jobId: string, attempt = 0): string {
  return `${jobId}.${queue}.${attempt}`;
}

/** Retention for BullMQ's own bookkeeping; the job record lives in our store. */
export const DEFAULT_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 24 * 3600, count: 10000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10000 },
} as const;
