import type { Redis } from 'ioredis';
import { JOB_TAG, NAMESPACE_TAG, tagOf, type CloudInstance } from '@inno-train/cloud-port';
import { storeKeys } from '@inno-train/job-store';
import { JOB_STATUSES } from '@inno-train/workflow-constants';
import { QUEUE_STATES } from './definitions';
import type { StoreReaders } from './gauges';

/** A BullMQ Queue as far as the gauge needs it. */
export interface CountableQueue {
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

export interface RedisReadersOptions {
  redis: Redis;
  /** The installation's namespace (INNO_NAMESPACE). */
  namespace: string;
  /** Queues to count, by name (the API's stage queues). */
  queues: Record<string, CountableQueue>;
}

/**
 * The key of the provisioner's shared cloud listing (apps/provisioner/src/cloud-view.ts: a hash of
 * instance id -> instance JSON, replaced on every listing, expiring 10 minutes after the last one).
 */
export function cloudListingKey(namespace: string): string {
  return `{${namespace}}:cloud:instances`;
}

/**
 * Readers over the installation's Redis. Each is a handful of O(1) commands, never a scan of job
 * records: job counts are ZCARDs of the store's status indexes, queue counts BullMQ's getJobCounts.
 * The instance count reads the listing the provisioner already keeps (no call to the cloud).
 */
export function redisStoreReaders(options: RedisReadersOptions): StoreReaders {
  const { redis, namespace } = options;
  const keys = storeKeys(namespace);
  return {
    async jobCounts() {
      const pipeline = redis.pipeline();
      for (const status of JOB_STATUSES) pipeline.zcard(keys.byStatus(status));
      const results = (await pipeline.exec()) ?? [];
      const counts: Record<string, number> = {};
      JOB_STATUSES.forEach((status, i) => {
        const [err, value] = results[i] ?? [new Error('no reply'), null];
        if (err) throw err;
        counts[status] = Number(value);
      });
      return counts;
    },
    async queueCounts() {
      const entries = await Promise.all(
        Object.entries(options.queues).map(async ([name, queue]) => [name, await queue.getJobCounts(...QUEUE_STATES)] as const),
      );
      return Object.fromEntries(entries);
    },
    async instanceCounts() {
      const values = await redis.hvals(cloudListingKey(namespace));
      return countOurInstances(values, namespace);
    },
  };
}

/** Instances of the listing tagged with a job and this namespace, by cloud status. */
export function countOurInstances(listing: string[], namespace: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const raw of listing) {
    let instance: CloudInstance;
    try {
      instance = JSON.parse(raw) as CloudInstance;
    } catch {
      continue;
    }
    if (typeof instance?.status !== 'string' || tagOf(instance, NAMESPACE_TAG) !== namespace || !tagOf(instance, JOB_TAG)) continue;
    counts[instance.status] = (counts[instance.status] ?? 0) + 1;
  }
  return counts;
}
