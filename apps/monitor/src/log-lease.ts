/**
 * Which replica tails which job: a lease per job in Redis (`<prefix>:log-watch:<jobId>`, the
 * replica's token, a TTL). Taken with SET NX PX, renewed and released only by its owner (compare
 * and pexpire, compare and del), so a replica that lost it (it stalled past the TTL and another took
 * over) can never extend or drop the other's. A replica that dies simply stops renewing: its leases
 * expire and another replica takes its jobs over.
 */
import type { Redis } from 'ioredis';

const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface LeaseOptions {
  redis: Redis;
  /** The key prefix (the runtime's, shared by every replica of this deployment). */
  prefix: string;
  /** This replica's token (unique per process). */
  token: string;
  /** How long a lease lasts unless renewed. */
  ttlMs: number;
}

export type LogLeases = ReturnType<typeof createLogLeases>;

export function createLogLeases(options: LeaseOptions) {
  const { redis, token } = options;
  const key = (jobId: string) => `${options.prefix}:log-watch:${jobId}`;
  const ttl = String(options.ttlMs);

  return {
    key,
    /** True when this replica now holds the job's lease (it was free). */
    async take(jobId: string): Promise<boolean> {
      return (await redis.set(key(jobId), token, 'PX', options.ttlMs, 'NX')) === 'OK';
    },
    /** Renews every lease named, in one round trip; answers the ids whose lease is no longer ours. */
    async renew(jobIds: string[]): Promise<string[]> {
      if (jobIds.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const jobId of jobIds) pipeline.eval(RENEW_SCRIPT, 1, key(jobId), token, ttl);
      const answers = (await pipeline.exec()) ?? [];
      // An error answer counts as lost too: a lease we cannot renew is one we must not rely on.
      return jobIds.filter((_, i) => {
        const [error, value] = answers[i] ?? [new Error('no answer'), 0];
        return error !== null || Number(value) !== 1;
      });
    },
    /** Gives the lease up if it is still ours. */
    async release(jobId: string): Promise<void> {
      await redis.eval(RELEASE_SCRIPT, 1, key(jobId), token);
    },
  };
}
