import { Redis } from 'ioredis';
import type { Job } from 'bullmq';
import { createLogger } from '@inno-train/core';
import { deleteNamespace } from '@inno-train/test-kit';
import { createJobStore, createMetricsStore, type JobStore } from '@inno-train/job-store';
import { parseS3Uri } from '@inno-train/storage';
import { closeStageQueues, openStageQueues, type StageQueues } from '@inno-train/workflow';
import type { QueueName } from '@inno-train/workflow-constants';
import { createApp } from '../src/app';
import { redisRateCounter } from '../src/guard';
import { loadKeyEntries, type KeyEntry } from '../src/keys';
import { createWebhookStore, type UrlGuardOptions } from '@inno-train/webhooks';

/** Webhook URL checks without DNS: `*.private.example` resolves to 10.0.0.7, any other name to a public address. */
export const TEST_WEBHOOK_GUARD: UrlGuardOptions = {
  allowHttp: false,
  allowPrivateNetworks: false,
  resolve: async (host) => [{ address: host.endsWith('.private.example') ? '10.0.0.7' : '93.184.216.34', family: 4 }],
};

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const DEFAULT_BUCKET = 'inno-default';
export const KEY_A = 'test-key-aaaaaaaaaaaaaaaa-1';
export const KEY_B = 'test-key-bbbbbbbbbbbbbbbb-2';
export const ADMIN_KEY = 'test-key-admin-admin-admin-3';

/** A fake S3 input checker: known URIs exist, anything else is missing; `failWith` simulates an outage. */
export class FakeStorage {
  readonly known = new Set<string>();
  readonly calls: string[] = [];
  failWith: unknown = null;

  async checkInput(uri: string): Promise<unknown> {
    this.calls.push(uri);
    if (this.failWith) throw this.failWith;
    const location = parseS3Uri(uri); // malformed: InnoError invalid_s3_uri, as the real storage does
    if (!this.known.has(uri)) throw { code: 'input_not_found', message: `No object at ${uri}` };
    return location;
  }

  /** Objects a listing finds (a checkpoint's files): size by `s3://bucket/key`. */
  readonly objects = new Map<string, number>();

  async listPrefix(bucket: string, prefix: string): Promise<{ key: string; size: number }[]> {
    this.calls.push(`list s3://${bucket}/${prefix}`);
    if (this.failWith) throw this.failWith;
    const under = `s3://${bucket}/${prefix}`;
    return [...this.objects]
      .filter(([uri]) => uri.startsWith(under))
      .map(([uri, size]) => ({ key: uri.slice(`s3://${bucket}/`.length), size }));
  }

  /** Not a real signature: the tests only follow where the API points. */
  async presignGet(bucket: string, key: string, expiresSeconds = 3600): Promise<string> {
    this.calls.push(`presign s3://${bucket}/${key}`);
    return `http://s3.test.invalid/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}?X-Amz-Expires=${expiresSeconds}`;
  }
}

export interface Harness {
  ns: string;
  redis: Redis;
  store: JobStore;
  queues: StageQueues;
  storage: FakeStorage;
  app: ReturnType<typeof createApp>;
  pingOk: { value: boolean };
  close(): Promise<void>;
}

export function uniqueNamespace(label: string): string {
  return `t-api-${label}-${process.pid}-${Date.now()}`;
}

/** The buckets the tests use; anything else is outside the allowed prefixes. */
export const ALLOWED_PREFIXES = [`s3://${DEFAULT_BUCKET}/`, 's3://code-bucket/', 's3://data-bucket/', 's3://out-bucket/'];

export function openHarness(ns: string, options: { rateLimitPerMinute?: number; keys?: KeyEntry[] } = {}): Harness {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const store = createJobStore({ redis, namespace: ns });
  const queues = openStageQueues({ connection: redis, prefix: `{${ns}}` });
  const storage = new FakeStorage();
  const pingOk = { value: true };
  const app = createApp({
    store,
    queues,
    storage,
    defaultBucket: DEFAULT_BUCKET,
    keys: options.keys ?? loadKeyEntries({ keys: [KEY_A, KEY_B], adminKeys: [ADMIN_KEY], defaultPrefixes: ALLOWED_PREFIXES }),
    logger: createLogger({ name: 'api-test', level: 'silent' }),
    ping: async () => pingOk.value && (await redis.ping()) === 'PONG',
    rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
    rateCounter: redisRateCounter(redis, ns),
    metrics: createMetricsStore({ redis, namespace: ns }),
    webhooks: { store: createWebhookStore({ redis, namespace: ns }), guard: TEST_WEBHOOK_GUARD },
  });
  return {
    ns,
    redis,
    store,
    queues,
    storage,
    app,
    pingOk,
    async close() {
      await closeStageQueues(queues);
      await deleteNamespace(redis, ns);
      await redis.quit();
    },
  };
}

/** Every BullMQ job of a queue that has not run yet, whatever its state. */
export async function pendingJobs(queues: StageQueues, queue: QueueName): Promise<Job[]> {
  return queues[queue].getJobs(['waiting', 'delayed', 'prioritized', 'active', 'wait']);
}
