/**
 * The real API (apps/api's createApp) over real Redis, listening on a free port, for the client to
 * call over HTTP. Only S3 is faked (as apps/api/test/harness.ts does): inputs always exist unless
 * `storage.failWith` simulates an outage, and outputs are served by a small HTTP server of its own
 * that answers the links `presignGet` hands out and records what each download sent. Nothing runs
 * the jobs; tests move them through the store.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, redisRateCounter } from '@inno-train/api';
import { createLogger, isoNow } from '@inno-train/core';
import { createJobStore, createMetricsStore, type JobStore, type MetricsStore } from '@inno-train/job-store';
import type { CreateJobBody } from '../src';
import { openRedisNamespace } from '@inno-train/test-kit';
import { createWebhookStore, type UrlGuardOptions, type WebhookStore } from '@inno-train/webhooks';
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

/** One GET the fake S3 answered: the object's path and every header the client sent. */
export interface S3Download {
  path: string;
  headers: IncomingHttpHeaders;
}

export class FakeStorage {
  failWith: unknown = null;
  /** Object bodies by `bucket/key`. */
  readonly objects = new Map<string, Buffer>();
  readonly downloads: S3Download[] = [];
  /** Signatures handed out; S3 answers 403 to any other, or to every one while `linksExpired`. */
  private readonly signatures = new Set<string>();
  linksExpired = false;
  /** The next this many GETs answer 503 SlowDown, as a busy S3 does. */
  slowDowns = 0;

  /** Where the fake S3 listens (set once it does). */
  s3Url = '';

  async checkInput(uri: string): Promise<unknown> {
    if (this.failWith) throw this.failWith;
    return { uri };
  }

  /** The objects under a prefix (a checkpoint's files), as the real storage lists them. */
  async listPrefix(bucket: string, prefix: string): Promise<{ key: string; size: number }[]> {
    const under = `${bucket}/${prefix}`;
    return [...this.objects]
      .filter(([path]) => path.startsWith(under))
      .map(([path, body]) => ({ key: path.slice(bucket.length + 1), size: body.length }));
  }

  /** A link to the fake S3, path-style as the real storage makes it against a custom endpoint. */
  async presignGet(bucket: string, key: string, expiresSeconds = 3600): Promise<string> {
    const signature = randomBytes(16).toString('hex');
    this.signatures.add(signature);
    const path = [bucket, ...key.split('/')].map(encodeURIComponent).join('/');
    return `${this.s3Url}/${path}?X-Amz-Expires=${expiresSeconds}&X-Amz-Signature=${signature}`;
  }

  /** Answers GET /bucket/key?X-Amz-Signature=… as S3 would: the bytes, or S3's XML errors. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://s3.test');
    const path = decodeURIComponent(url.pathname.slice(1));
    this.downloads.push({ path, headers: req.headers });
    const error = (status: number, code: string, message: string) => {
      res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': 'fake-s3-request' });
      res.end(`<?xml version="1.0"?><Error><Code>${code}</Code><Message>${message}</Message><Signature>${url.search}</Signature></Error>`);
    };
    if (this.slowDowns > 0) {
      this.slowDowns -= 1;
      return error(503, 'SlowDown', 'Please reduce your request rate.');
    }
    if (this.linksExpired || !this.signatures.has(url.searchParams.get('X-Amz-Signature') ?? '')) {
      return error(403, 'AccessDenied', 'Request has expired');
    }
    const body = this.objects.get(path);
    if (!body) return error(404, 'NoSuchKey', 'The specified key does not exist.');
    // `Range: bytes=N-` as S3 answers it (206 from byte N; 416 at or past the end).
    const from = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1];
    if (from !== undefined) {
      const start = Number(from);
      if (start >= body.length) return error(416, 'InvalidRange', 'The requested range is not satisfiable');
      res.writeHead(206, {
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
        'content-length': String(body.length - start),
      });
      return void res.end(body.subarray(start));
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
    res.end(body);
  }
}

/** Webhook URL checks without DNS (as apps/api/test/harness.ts): `*.private.example` is 10.0.0.7, any other name public. */
export const TEST_WEBHOOK_GUARD: UrlGuardOptions = {
  allowHttp: false,
  allowPrivateNetworks: false,
  resolve: async (host) => [{ address: host.endsWith('.private.example') ? '10.0.0.7' : '93.184.216.34', family: 4 }],
};

export interface TestApi {
  url: string;
  store: JobStore;
  metrics: MetricsStore;
  webhooks: WebhookStore;
  storage: FakeStorage;
  /** Destroys every open connection to the API (a stream dropped by the network); the API keeps listening. */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startApi(label: string, options: { rateLimitPerMinute?: number } = {}): Promise<TestApi> {
  const ns = openRedisNamespace(`client-${label}`);
  const store = createJobStore({ redis: ns.redis, namespace: ns.namespace });
  const queues = openStageQueues({ connection: ns.redis, prefix: ns.prefix });
  const metrics = createMetricsStore({ redis: ns.redis, namespace: ns.namespace });
  const webhooks = createWebhookStore({ redis: ns.redis, namespace: ns.namespace });
  const storage = new FakeStorage();
  const s3 = createServer((req, res) => storage.handle(req, res)).listen(0, '127.0.0.1');
  await once(s3, 'listening');
  storage.s3Url = `http://127.0.0.1:${(s3.address() as AddressInfo).port}`;
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
    metrics,
    webhooks: { store: webhooks, guard: TEST_WEBHOOK_GUARD },
    // No `streams`: the app's own hub, which re-reads a followed job every 3 s (no Redis wake-ups).
  });
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    store,
    metrics,
    webhooks,
    storage,
    dropConnections: () => server.closeAllConnections(),
    async close() {
      for (const listening of [server, s3]) {
        listening.closeAllConnections();
        await new Promise((resolve) => listening.close(resolve));
      }
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
  lastEventId: string | null;
  /** Whether the request carried an Authorization header (any at all). */
  authorization: boolean;
  /** fetch's `redirect` option as the client set it (undefined: fetch's default, follow). */
  redirect: RequestInit['redirect'];
  sentAt: number;
  status: number | null;
  answeredAt: number | null;
  requestId: string | null;
  retryAfter: string | null;
  replayed: boolean;
  location: string | null;
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
      lastEventId: new Headers(init?.headers).get('last-event-id'),
      authorization: new Headers(init?.headers).has('authorization'),
      redirect: init?.redirect,
      sentAt: Date.now(),
      status: null,
      answeredAt: null,
      requestId: null,
      retryAfter: null,
      replayed: false,
      location: null,
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
      location: response.headers.get('location'),
    });
    if (tap(call, calls.length - 1) !== 'lose') return response;
    await response.arrayBuffer();
    call.lost = true;
    throw new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
  };
  return { fetch: tapped, calls };
}
