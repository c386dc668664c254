/**
 * The webhook pipeline of a provisioner process: the dispatcher reads the job store's outbox with a
 * consumer group (several replicas share it; an entry a dead replica had read is claimed again after
 * `claimIdleMs`), turns each entry into one BullMQ delivery per subscribed endpoint (the job id is
 * made from the endpoint and the event, so a redelivered entry adds nothing), then acknowledges and
 * deletes the entry. The delivery worker signs and POSTs, records the attempt, and throws to have
 * BullMQ retry on the schedule (BullMQ keeps delayed retries in Redis: they survive restarts).
 *
 * The body shows the job as read when the dispatcher handles the entry (normally milliseconds
 * after the change; a later change may already show in it). Delivery payloads name the endpoint and
 * the event only: the secret is read from the store at send time.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '@inno-train/core';
import { storeKeys, type JobStore } from '@inno-train/job-store';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '@inno-train/schemas';
import { outboxEntrySchema, webhookBody, webhookEventId, webhookEventsOf, type OutboxEntry } from './events';
import { postSigned } from './send';
import { signWebhook } from './sign';
import type { WebhookStore } from './store';
import { checkWebhookUrl, type UrlGuardOptions } from './url-guard';

export const WEBHOOK_DELIVERY_QUEUE = 'webhook-delivery';
const GROUP = 'webhook-dispatch';

/** 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h: 11 attempts over about 24 h 43 min. */
export const DEFAULT_RETRY_SCHEDULE_MS = [
  5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000, 28_800_000,
];

export interface WebhookServiceOptions {
  /** The shared connection (queues, store); the dispatcher duplicates it for its blocking reads. */
  redis: Redis;
  /** BullMQ prefix (`{namespace}`). */
  prefix: string;
  namespace: string;
  jobs: JobStore;
  webhooks: WebhookStore;
  logger: Logger;
  guard: UrlGuardOptions;
  /** Delay before each retry (ms): attempts = its length + 1. */
  retryScheduleMs: number[];
  /** An attempt fails without a 2xx within this long. */
  timeoutMs?: number;
  /** Deliveries one process sends at once. */
  concurrency?: number;
  /** An outbox entry read but not acknowledged this long (its reader died) is taken over. */
  claimIdleMs?: number;
  /** How long one blocking outbox read waits. */
  blockMs?: number;
  /** BullMQ lock of an active delivery, and how often stalled ones (their worker died) are looked for. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /**
   * Told the result of every delivery attempt, for metrics: `delivered` (2xx), `failed` (will be
   * retried), `gave_up` (the last attempt failed), `skipped` (endpoint deleted or event expired).
   * Must not throw.
   */
  onDelivery?: (result: WebhookDeliveryResult) => void;
}

export type WebhookDeliveryResult = 'delivered' | 'failed' | 'gave_up' | 'skipped';

const deliveryPayloadSchema = z.object({ webhookId: z.string().min(1), eventId: z.string().min(1) });
const eventBodySchema = z.object({ type: z.enum(WEBHOOK_EVENT_TYPES), data: z.object({ job: z.object({ id: z.string() }) }) });

const MAX_RESPONSE_BYTES = 64 * 1024;

export function retryDelay(schedule: number[], attemptsMade: number): number {
  return schedule[Math.min(Math.max(attemptsMade - 1, 0), schedule.length - 1)] ?? 0;
}

export function startWebhookService(options: WebhookServiceOptions) {
  const { redis, logger, webhooks } = options;
  const outbox = storeKeys(options.namespace).webhookOutbox;
  const schedule = options.retryScheduleMs;
  const attempts = schedule.length + 1;
  const eventTtlSeconds = Math.ceil(schedule.reduce((a, b) => a + b, 0) / 1000) + 24 * 3600;
  const consumer = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const timeoutMs = options.timeoutMs ?? 10_000;

  const queue = new Queue(WEBHOOK_DELIVERY_QUEUE, { connection: redis, prefix: options.prefix });
  queue.on('error', () => undefined);

  async function dispatch(entry: OutboxEntry): Promise<number> {
    const types = webhookEventsOf(entry);
    const job = await options.jobs.get(entry.job);
    if (!job || !job.createdBy) return 0;
    let added = 0;
    for (const type of types) {
      const endpoints = await webhooks.subscribers(job.createdBy, type);
      if (endpoints.length === 0) continue;
      const eventId = webhookEventId(entry, type);
      await webhooks.saveEvent(eventId, webhookBody(type, entry.at, job), eventTtlSeconds);
      for (const endpoint of endpoints) {
        await queue.add(
          'deliver',
          { webhookId: endpoint.id, eventId },
          {
            jobId: `${endpoint.id}_${eventId}`,
            attempts,
            backoff: { type: 'webhook' },
            removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
            removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
          },
        );
        added++;
      }
    }
    return added;
  }

  async function handle(entries: [string, string[]][]): Promise<void> {
    for (const [streamId, fields] of entries) {
      const record: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
      const entry = outboxEntrySchema.safeParse(record);
      try {
        if (entry.success) await dispatch(entry.data);
        else logger.warn({ streamId }, 'webhooks: an outbox entry that is not one was dropped');
        await redis.multi().xack(outbox, GROUP, streamId).xdel(outbox, streamId).exec();
      } catch (err) {
        // Left pending: claimed again after claimIdleMs, by this replica or another.
        logger.warn({ err, streamId }, 'webhooks: dispatching an outbox entry failed; it will be tried again');
      }
    }
  }

  let stopped = false;
  const reader = redis.duplicate();
  reader.on('error', () => undefined);
  const claimIdleMs = options.claimIdleMs ?? 30_000;
  const blockMs = options.blockMs ?? 1_000;

  async function loop(): Promise<void> {
    let lastClaim = 0;
    while (!stopped) {
      try {
        if (Date.now() - lastClaim >= Math.min(claimIdleMs, 5_000)) {
          lastClaim = Date.now();
          const claimed = (await redis.xautoclaim(outbox, GROUP, consumer, claimIdleMs, '0', 'COUNT', 100)) as [
            string,
            [string, string[]][],
          ];
          await handle(claimed[1] ?? []);
        }
        const read = (await reader.xreadgroup('GROUP', GROUP, consumer, 'COUNT', 100, 'BLOCK', blockMs, 'STREAMS', outbox, '>')) as
          [string, [string, string[]][]][] | null;
        if (read) for (const [, entries] of read) await handle(entries);
      } catch (err) {
        if (stopped) break;
        if (/NOGROUP/.test(String((err as Error)?.message))) await createGroup().catch(() => undefined);
        else logger.warn({ err }, 'webhooks: reading the outbox failed; trying again');
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  async function createGroup(): Promise<void> {
    try {
      // From the start of the stream: entries written before the first dispatcher ran are sent too.
      await redis.xgroup('CREATE', outbox, GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test(String((err as Error)?.message))) throw err;
    }
  }

  const told = (result: WebhookDeliveryResult) => {
    try {
      options.onDelivery?.(result);
    } catch {
      // Accounting must never break a delivery.
    }
  };

  async function deliver(job: Job): Promise<string> {
    const payload = deliveryPayloadSchema.parse(job.data);
    const endpoint = await webhooks.find(payload.webhookId);
    if (!endpoint) {
      told('skipped');
      return 'endpoint deleted';
    }
    const body = await webhooks.loadEvent(payload.eventId);
    const secret = await webhooks.secretOf(payload.webhookId);
    if (body === null || secret === null) {
      told('skipped');
      return 'event expired';
    }
    const event = eventBodySchema.parse(JSON.parse(body));
    const attempt = job.attemptsMade + 1;
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const target = await checkWebhookUrl(endpoint.url, options.guard);
      const headers = signWebhook(secret, payload.eventId, Date.now() / 1000, body);
      statusCode = (await postSigned(target, { ...headers }, body, { timeoutMs, maxResponseBytes: MAX_RESPONSE_BYTES })).statusCode;
      if (statusCode < 200 || statusCode > 299) {
        error = statusCode >= 300 && statusCode < 400 ? `answered ${statusCode} (redirects are not followed)` : `answered ${statusCode}`;
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    const retrying = error !== null && attempt < attempts;
    await webhooks.recordAttempt(endpoint.id, {
      eventId: payload.eventId,
      type: event.type as WebhookEventType,
      jobId: event.data.job.id,
      attempt,
      statusCode,
      error,
      at: new Date().toISOString(),
      nextAttemptAt: retrying ? new Date(Date.now() + retryDelay(schedule, attempt)).toISOString() : null,
    });
    told(error === null ? 'delivered' : retrying ? 'failed' : 'gave_up');
    if (error !== null) {
      throw new Error(`Webhook ${payload.eventId} to ${endpoint.id} failed (attempt ${attempt} of ${attempts}): ${error}`);
    }
    return `delivered (${statusCode})`;
  }

  let worker: Worker | undefined;
  let looping: Promise<void> | undefined;
  return {
    async start(): Promise<void> {
      await createGroup();
      worker = new Worker(WEBHOOK_DELIVERY_QUEUE, deliver, {
        connection: redis,
        prefix: options.prefix,
        concurrency: options.concurrency ?? 20,
        ...(options.lockDurationMs ? { lockDuration: options.lockDurationMs } : {}),
        ...(options.stalledIntervalMs ? { stalledInterval: options.stalledIntervalMs } : {}),
        settings: { backoffStrategy: (attemptsMade: number) => retryDelay(schedule, attemptsMade) },
      });
      worker.on('error', (err) => logger.error({ err }, 'webhook delivery worker error'));
      worker.on('failed', (job, err) => {
        if (job && job.attemptsMade >= attempts) logger.warn({ err, webhookJob: job.id }, 'webhook delivery gave up');
      });
      looping = loop();
    },
    async close(): Promise<void> {
      stopped = true;
      reader.disconnect();
      await looping;
      await worker?.close();
      await queue.close();
    },
  };
}

/** Event types as stored for an endpoint (all, when none were named). */
export function subscribedTypes(events: readonly WebhookEventType[] | undefined): WebhookEventType[] {
  return events && events.length > 0 ? [...new Set(events)] : [...WEBHOOK_EVENT_TYPES];
}
