/**
 * One shared view of the account's instances. Lambda allows about one request a second per
 * account; reading each booting or terminating instance with its own `GET /instances/{id}` spends
 * that budget per job, so at 50 jobs booting each is looked at every ~50 s. Here every reader (boot
 * checks, teardown confirmation, the launch look-up, the cloud watch, the reconciler) asks for a
 * listing taken at or after a time it names; the newest listing lives in Redis, and when it is
 * older than that, one process across every replica lists again (`GET /instances`, at most once
 * per `minIntervalMs`) while the others wait for its answer. Requests per job stay constant as
 * concurrency grows.
 *
 * A listing is never made to say more than it saw: a reader that needs a listing newer than any
 * that could be had (Lambda failing, or slow) gets an error and waits, never an old answer, so a
 * stale view cannot make a live instance look terminated. An instance launched after a listing was
 * taken is not in it; readers ask for a listing newer than the launch before reading absence as gone.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { InfrastructureError } from '@inno-train/core';
import type { CloudInstance, CloudProvider } from '@inno-train/cloud-port';

/** The account's instances, and when (ms since the epoch) the listing was asked for. */
export interface CloudListing {
  at: number;
  instances: CloudInstance[];
}

export interface CloudView {
  /** A listing of the account's instances asked for after `notBefore` (ms since the epoch). */
  list(notBefore: number): Promise<CloudListing>;
  /** One instance as listed after `notBefore`; null when that listing does not have it. */
  get(id: string, notBefore: number): Promise<CloudInstance | null>;
}

/** Straight to the cloud on every read (no sharing): the local provider, and unit tests of the stages. */
export function directCloudView(cloud: Pick<CloudProvider, 'listInstances' | 'getInstance'>): CloudView {
  return {
    list: async () => {
      const at = Date.now();
      return { at, instances: await cloud.listInstances() };
    },
    get: (id) => cloud.getInstance(id),
  };
}

export interface SharedCloudViewOptions {
  cloud: Pick<CloudProvider, 'listInstances'>;
  redis: Redis;
  /** Key prefix of this installation (`{namespace}`). */
  prefix: string;
  /** At most one listing per this many ms across every replica; default 1 s (Lambda's pace). */
  minIntervalMs?: number;
  /** How long a reader waits for a new enough listing before giving up with an error; default 30 s. */
  waitTimeoutMs?: number;
  /** How often a waiting reader looks for the listing another process is making; default 100 ms. */
  pollMs?: number;
}

const instanceSchema = z
  .object({ id: z.string(), status: z.string() })
  .passthrough()
  .transform((instance) => instance as CloudInstance);

/** Replaces the listing only with a newer one: KEYS = instances hash, time key; ARGV = at, ttl ms, id, json, ... */
const WRITE_LISTING = `
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
local at = tonumber(ARGV[1])
if at <= current then return 0 end
redis.call('DEL', KEYS[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if #ARGV > 2 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`;

/** A listing is kept this long: nobody asks for an older one. */
const LISTING_TTL_MS = 10 * 60_000;

export function createSharedCloudView(options: SharedCloudViewOptions): CloudView {
  const { cloud, redis, prefix } = options;
  const minIntervalMs = options.minIntervalMs ?? 1000;
  const waitTimeoutMs = options.waitTimeoutMs ?? 30_000;
  const pollMs = options.pollMs ?? 100;
  const keys = { instances: `${prefix}:cloud:instances`, at: `${prefix}:cloud:listed-at`, lock: `${prefix}:cloud:listing` };

  const listedAt = async () => Number((await redis.get(keys.at)) ?? 0);

  /** Lists now and stores the answer; the time is taken before the request, so it never overstates. */
  async function listNow(): Promise<CloudListing> {
    const at = Date.now();
    const instances = await cloud.listInstances();
    const fields = instances.flatMap((instance) => [instance.id, JSON.stringify(instance)]);
    await redis.eval(WRITE_LISTING, 2, keys.instances, keys.at, String(at), String(LISTING_TTL_MS), ...fields);
    return { at, instances };
  }

  /**
   * A listing made by this call, or null once Redis holds one taken at or after `notBefore` (made
   * by any process): the caller reads that one.
   */
  async function ensure(notBefore: number): Promise<CloudListing | null> {
    const deadline = Date.now() + waitTimeoutMs;
    for (;;) {
      // Strictly after: a listing started in the same millisecond as the caller's terminate or
      // launch may have been read by the cloud before it. (One this call makes is sent after it.)
      if ((await listedAt()) > notBefore) return null;
      const token = randomBytes(8).toString('hex');
      if ((await redis.set(keys.lock, token, 'PX', minIntervalMs, 'NX')) === 'OK') return listNow();
      if (Date.now() >= deadline) {
        throw new InfrastructureError(
          'cloud_view_stale',
          `No listing of the cloud's instances newer than ${new Date(notBefore).toISOString()} within ${waitTimeoutMs} ms`,
          { retryable: true },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  return {
    async list(notBefore) {
      const fresh = await ensure(notBefore);
      if (fresh) return fresh;
      // The time first: a listing replaced in between is newer than this time, never older.
      const at = await listedAt();
      const stored = await redis.hvals(keys.instances);
      return { at, instances: stored.map((json) => instanceSchema.parse(JSON.parse(json))) };
    },
    async get(id, notBefore) {
      const fresh = await ensure(notBefore);
      if (fresh) return fresh.instances.find((instance) => instance.id === id) ?? null;
      const json = await redis.hget(keys.instances, id);
      return json === null ? null : instanceSchema.parse(JSON.parse(json));
    },
  };
}
