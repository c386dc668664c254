import { Redis } from 'ioredis';

/**
 * Redis clients for the two roles. Workers wait out outages (BullMQ needs
 * `maxRetriesPerRequest: null`); the API fails fast so it can answer 503 instead of hanging.
 */
export function createRedis(url: string, role: 'worker' | 'api', name: string): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on('error', () => undefined);
  return redis;
}

/** True when a Redis answers PING at `url` within a second; never throws, never retries. */
export async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}
