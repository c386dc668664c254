/**
 * One Redis namespace per test file (or stack), on the machine's Redis: a connection, a name no
 * other run uses, and a clean-up that removes every key of it, the job store's (`<ns>:*`) and
 * BullMQ's (`{<ns>}:*`) alike, so tests never see each other's data nor leave any behind.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

export interface RedisNamespace {
  redis: Redis;
  /** The job store's namespace. */
  namespace: string;
  /** BullMQ's queue prefix for the same namespace. */
  prefix: string;
  /** Deletes every key of the namespace and closes the connection. */
  close(): Promise<void>;
}

export function redisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** Removes every key of `namespace` (store and queues) through `redis`, in batches. */
export async function deleteNamespace(redis: Redis, namespace: string): Promise<void> {
  for (const pattern of [`${namespace}:*`, `{${namespace}}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  }
}

/** Opens a fresh namespace named after `label` (letters, digits and dashes). */
export function openRedisNamespace(label: string, options: { url?: string; redis?: RedisOptions } = {}): RedisNamespace {
  const namespace = `t-${label}-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(options.url ?? redisUrl(), { maxRetriesPerRequest: null, ...options.redis });
  return {
    redis,
    namespace,
    prefix: `{${namespace}}`,
    async close() {
      await deleteNamespace(redis, namespace);
      await redis.quit();
    },
  };
}
