/**
 * What the stream tests share: an app with a stream hub of the test's choosing, listening on a free
 * port (a stream is long-lived: supertest only serves answers that end), jobs made through the API,
 * and the check that a whole stream holds every event and every log byte once, in order.
 */
import type { Server } from 'node:http';
import request from 'supertest';
import { Redis } from 'ioredis';
import { createLogger } from '@inno-train/core';
import { stageEvent } from '@inno-train/job-store';
import { createApp } from '../src/app';
import { redisRateCounter } from '../src/guard';
import { loadKeyEntries } from '../src/keys';
import { createStreamHub, type StreamHub, type StreamHubOptions } from '../src/stream-hub';
import { ADMIN_KEY, ALLOWED_PREFIXES, DEFAULT_BUCKET, KEY_A, KEY_B, REDIS_URL, type Harness } from './harness';
import { openSse, type SseMessage } from '@inno-train/test-kit';

export const TRAIN = 's3://data-bucket/sets/stream-train.jsonl';

export interface Served {
  app: ReturnType<typeof createApp>;
  hub: StreamHub;
  base: string;
  close(): Promise<void>;
}

/**
 * The app over the harness's store, with a hub of its own; `wakeups: true` gives it a subscriber
 * connection, as compose does. Timings default to a poll so slow (60 s) that only a wake-up can
 * deliver a change within a test's deadlines.
 */
export async function serve(h: Harness, options: Omit<StreamHubOptions, 'wakeups'> & { wakeups?: boolean } = {}): Promise<Served> {
  const subscriber = options.wakeups === false ? undefined : new Redis(REDIS_URL);
  subscriber?.on('error', () => undefined);
  const hub = createStreamHub({
    ...options,
    timings: { pollMs: 60_000, ...options.timings },
    wakeups: subscriber ? { subscriber, namespace: h.ns } : undefined,
  });
  const app = createApp({
    store: h.store,
    queues: h.queues,
    storage: h.storage,
    defaultBucket: DEFAULT_BUCKET,
    keys: loadKeyEntries({ keys: [KEY_A, KEY_B], adminKeys: [ADMIN_KEY], defaultPrefixes: ALLOWED_PREFIXES }),
    logger: createLogger({ name: 'api-stream-test', level: 'silent' }),
    ping: async () => true,
    rateLimitPerMinute: 0,
    rateCounter: redisRateCounter(h.redis, h.ns),
    streams: hub,
  });
  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    app,
    hub,
    base: `http://127.0.0.1:${port}`,
    async close() {
      hub.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      subscriber?.disconnect();
    },
  };
}

export const auth = (key: string) => ({ Authorization: `Bearer ${key}` });

export async function submit(served: Served, key = KEY_A): Promise<string> {
  const answer = await request(served.app)
    .post('/v1/jobs')
    .set(auth(key))
    .send({ instance: { type: 'gpu_1x_a10' }, inputs: { train: TRAIN }, script: { inline: 'print(1)', filename: 'train.py' } });
  if (answer.status !== 202) throw new Error(`submit answered ${answer.status}: ${answer.text}`);
  return answer.body.id as string;
}

export function follow(served: Served, id: string, options: { key?: string; lastEventId?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${options.key ?? KEY_A}` };
  if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
  return openSse(`${served.base}/v1/jobs/${id}/stream`, headers);
}

/** Ends the job the way teardown leaves it: succeeded, with no instance left, settled. */
export async function settle(h: Harness, id: string): Promise<void> {
  const now = new Date().toISOString();
  await h.store.update(id, (job) => ({ ...job, status: 'succeeded', finishedAt: now, settledAt: now }), [
    stageEvent('staging_out', 'status', 'Succeeded', { status: 'succeeded' }),
    stageEvent('teardown', 'settled', 'Every instance is terminated'),
  ]);
}

export const dataOf = (message: SseMessage) => JSON.parse(message.data) as Record<string, unknown>;
export const ofKind = (messages: SseMessage[], event: string) => messages.filter((m) => m.event === event).map(dataOf);

/**
 * What a whole stream must hold, however its messages were cut: every event of the job once, in
 * order; the log from byte 0, each text starting where the previous ended, all of it; every
 * message with an id; `end` once, last. Answers the log text for further checks.
 */
export async function expectWholeStream(h: Harness, id: string, messages: SseMessage[]): Promise<string> {
  expect(messages.filter((m) => m.id === undefined)).toEqual([]);
  const events = ofKind(messages, 'event');
  expect(events).toEqual((await h.store.eventPage(id, 0, 10_000)).events);
  let offset = 0;
  for (const piece of ofKind(messages, 'log')) {
    expect(piece.offset).toBe(offset);
    offset += Buffer.byteLength(piece.text as string);
  }
  const text = ofKind(messages, 'log')
    .map((piece) => piece.text as string)
    .join('');
  expect(text).toBe(await h.store.log(id));
  expect(messages.filter((m) => m.event === 'end')).toHaveLength(1);
  expect(messages.at(-1)?.event).toBe('end');
  return text;
}
