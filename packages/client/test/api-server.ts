/**
 * The real API (apps/api's createApp) over real Redis, listening on a free port, for the client to
 * call over HTTP. Only S3 is faked (as apps/api/test/harness.ts does): inputs always exist unless
 * `storage.failWith` simulates an outage. Nothing runs the jobs; tests move them through the store.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createApp, redisRateCounter } from '@inno-train/api';
import { createLogger, isoNow } from '@inno-train/core';
import { createJobStore, type JobStore } from '@inno-train/job-store';
import type { CreateJobBody } from '../src';
import { openRedisNamespace } from '@inno-train/test-kit';
import { closeStageQueues, openStageQueues } from '@inno-train/workflow';

type KeyEntry = Parameters<typeof createApp>[0]['keys'][number];

export const BUCKET = 'client-test';
export const KEY_A = 'client-test-key-aaaaaaaaaaaa-1';
export const KEY_LISTER = 'client-test-key-llllllllllll-2';
export const TENANT_A = 'tenant-a';
export const TENANT_LISTER = 'tenant-lister';

function clientKey(name: string, key: string): KeyEntry {
  return {
    name,
    role: 'client',
    allowedPrefixes: [`s3://${BUCKET}/`],
    maxConcurrentJobs: null,
    monthlyBudgetUsd: null,
    digest: createHash('sha256').update(key).digest(),
  };
}

export class FakeStorage {
  failWith: unknown = null;

  async checkInput(uri: string): Promise<unknown> {
    if (this.failWith) throw this.failWith;
    return { uri };
  }
}

export interface TestApi {
  url: string;
  store: JobStore;
  storage: FakeStorage;
  close(): Promise<void>;
}

export async function startApi(label: string, options: { rateLimitPerMinute?: number } = {}): Promise<TestApi> {
  const ns = openRedisNamespace(`client-${label}`);
  const store = createJobStore({ redis: ns.redis, namespace: ns.namespace });
  const queues = openStageQueues({ connection: ns.redis, prefix: ns.prefix });
  const storage = new FakeStorage();
  const app = createApp({
    store,
    queues,
    storage,
    defaultBucket: BUCKET,
    keys: [clientKey(TENANT_A, KEY_A), clientKey(TENANT_LISTER, KEY_LISTER)],
    logger: createLogger({ name: 'client-test', level: 'silent' }),
    ping: async () => (await ns.redis.ping()) === 'PONG',
    rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
    rateCounter: redisRateCounter(ns.redis, ns.namespace),
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    store,
    storage,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await closeStageQueues(queues);
      await ns.close();
    },
  };
}

/** A valid submission; `name` tells the tests' jobs apart. */
export function submission(name: string, extra: Partial<CreateJobBody> = {}): CreateJobBody {
  return { name, instance: { type: 'gpu_1x_a10' }, script: { inline: 'print("hi")', filename: 'train.py' }, ...extra };
}

/** An instance as the provisioner records it; `terminatedAt` null while the cloud has not confirmed it gone. */
export function instance(terminatedAt: string | null) {
  return {
    id: 'i-client-test',
    type: 'gpu_1x_a10',
    region: 'us-west-1',
    ip: null,
    status: terminatedAt ? 'terminated' : 'active',
    launchedAt: isoNow(),
    terminatedAt,
    priceCentsPerHour: 75,
  };
}

/** What one request through `tappedFetch` looked like. */
export interface TappedCall {
  method: string;
  /** Path and query. */
  path: string;
  idempotencyKey: string | null;
  sentAt: number;
  status: number | null;
  answeredAt: number | null;
  requestId: string | null;
  retryAfter: string | null;
  replayed: boolean;
  /** The test threw away the answer after the server had sent it. */
  lost: boolean;
}

/**
 * The global fetch, recording every call. `tap` sees each answer before the client does and may
 * return `'lose'`: the request reached the server and was answered, but the client gets a
 * connection error instead, as when a connection drops on the way back.
 */
export function tappedFetch(tap: (call: TappedCall, index: number) => 'lose' | void = () => undefined) {
  const calls: TappedCall[] = [];
  const tapped: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const call: TappedCall = {
      method: init?.method ?? 'GET',
      path: `${url.pathname}${url.search}`,
      idempotencyKey: new Headers(init?.headers).get('idempotency-key'),
      sentAt: Date.now(),
      status: null,
      answeredAt: null,
      requestId: null,
      retryAfter: null,
      replayed: false,
      lost: false,
    };
    calls.push(call);
    const response = await fetch(input, init);
    Object.assign(call, {
      status: response.status,
      answeredAt: Date.now(),
      requestId: response.headers.get('x-request-id'),
      retryAfter: response.headers.get('retry-after'),
      replayed: response.headers.get('idempotent-replayed') === 'true',
    });
    if (tap(call, calls.length - 1) !== 'lose') return response;
    await response.arrayBuffer();
    call.lost = true;
    throw new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
  };
  return { fetch: tapped, calls };
}
