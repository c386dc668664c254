import type { JobRecord } from '@inno-train/schemas';
import { toPublicJob, type WebhookEventType } from '@inno-train/schemas';
import { z } from 'zod';

/** An entry of the job store's webhook outbox (written by its compare-and-set script). */
export const outboxEntrySchema = z.object({
  job: z.string().regex(/^j[0-9a-z]{22}$/),
  type: z.enum(['status', 'settled']),
  status: z.string(),
  seq: z.coerce.number().int().min(1),
  at: z.string(),
});
export type OutboxEntry = z.infer<typeof outboxEntrySchema>;

const TERMINAL_EVENT: Record<string, WebhookEventType> = {
  succeeded: 'job.succeeded',
  failed: 'job.failed',
  cancelled: 'job.cancelled',
};

/** The webhook events one job event makes: every status change, plus its ending; and settling. */
export function webhookEventsOf(entry: OutboxEntry): WebhookEventType[] {
  if (entry.type === 'settled') return ['job.settled'];
  const ending = TERMINAL_EVENT[entry.status];
  return ending ? ['job.status_changed', ending] : ['job.status_changed'];
}

/**
 * The event's id, the `webhook-id` header: made from the job event it comes from, so a redelivered
 * outbox entry, every retry and every endpoint see the same id (receivers dedupe by it).
 */
export function webhookEventId(entry: OutboxEntry, type: WebhookEventType): string {
  return `evt_${entry.job}_${entry.seq}_${type.slice('job.'.length)}`;
}

/** The body POSTed: the event's type and time, and the job as the API shows it. */
export function webhookBody(type: WebhookEventType, at: string, job: JobRecord): string {
  return JSON.stringify({ type, timestamp: at, data: { job: toPublicJob(job) } });
}
