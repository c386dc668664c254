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
import type { CloudInstance, CloudInstanceTypeEntry, CloudProvider } from '@inno-train/cloud-port';

/** The account's instances, and when (ms since the epoch) the listing was asked for. */
export interface CloudListing {
  at: number;
  instances: CloudInstance[];
}

export type InstanceTypes = Record<string, CloudInstanceTypeEntry>;

/**
 * How old an answer of where each type has capacity a launch still takes. The cloud watch keeps
 * one younger than that (INSTANCE_TYPES_REFRESH_MS), so a launch spends no request on it: at
 * Lambda's one request a second, asking first would hold every launch back a second. Capacity that
 * went in the meantime costs one refused launch, and the next candidate is tried, as with a fresh answer.
 */
export const INSTANCE_TYPES_MAX_AGE_MS = 30_000;
/** The cloud watch asks again once the stored answer is this old: two requests a minute, whatever the load. */
export const INSTANCE_TYPES_REFRESH_MS = 25_000;

export interface CloudView {
  /** A listing of the account's instances asked for after `notBefore` (ms since the epoch). */
  list(notBefore: number): Promise<CloudListing>;
  /** One instance as listed after `notBefore`; null when that listing does not have it. */
  get(id: string, notBefore: number): Promise<CloudInstance | null>;
  /**
   * The instance types and where each had capacity, as asked after `notBefore`: launches read
   * capacity a few seconds old rather than each spending a request on it (a launch where the
   * capacity has just gone is refused, and the next candidate is tried, as with a fresh answer).
   */
  instanceTypes(notBefore: number): Promise<InstanceTypes>;
}

/** Straight to the cloud on every read (no sharing): the local provider, and unit tests of the stages. */
export function directCloudView(cloud: Pick<CloudProvider, 'listInstances' | 'getInstance' | 'listInstanceTypes'>): CloudView {
  return {
    list: async () => {
      const at = Date.now();
      return { at, instances: await cloud.listInstances() };
    },
    get: (id) => cloud.getInstance(id),
    instanceTypes: () => cloud.listInstanceTypes(),
  };
}

export interface SharedCloudViewOptions {
  cloud: Pick<CloudProvider, 'listInstances' | 'listInstanceTypes'>;
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
  const keys = {
    instances: `${prefix}:cloud:instances`,
    at: `${prefix}:cloud:listed-at`,
    lock: `${prefix}:cloud:listing`,
    types: `${prefix}:cloud:instance-types`,
  };
  const pacing = {
    redis,
    minIntervalMs: options.minIntervalMs ?? 1000,
    waitTimeoutMs: options.waitTimeoutMs ?? 30_000,
    pollMs: options.pollMs ?? 100,
  };

  /** Lists now and stores the answer; the time is taken before the request, so it never overstates. */
  async function listNow(): Promise<CloudListing> {
    const at = Date.now();
    const instances = await cloud.listInstances();
    const fields = instances.flatMap((instance) => [instance.id, JSON.stringify(instance)]);
    await redis.eval(WRITE_LISTING, 2, keys.instances, keys.at, String(at), String(LISTING_TTL_MS), ...fields);
    return { at, instances };
  }
  const listings = pacedReading(pacing, { atKey: keys.at, lockKey: keys.lock, what: "listing of the cloud's instances" }, listNow);

  /** The types now, stored as one value with its time (written only over an older one). */
  async function typesNow(): Promise<{ at: number; types: InstanceTypes }> {
    const at = Date.now();
    const types = await cloud.listInstanceTypes();
    await redis.eval(WRITE_TYPES, 2, keys.types, `${keys.types}:at`, String(at), String(LISTING_TTL_MS), JSON.stringify(types));
    return { at, types };
  }
  const typeReads = pacedReading(
    pacing,
    { atKey: `${keys.types}:at`, lockKey: `${keys.types}:lock`, what: "answer of the cloud's instance types" },
    typesNow,
  );

  return {
    async list(notBefore) {
      const fresh = await listings(notBefore);
      if (fresh) return fresh;
      // The time first: a listing replaced in between is newer than this time, never older.
      const at = Number((await redis.get(keys.at)) ?? 0);
      const stored = await redis.hvals(keys.instances);
      return { at, instances: stored.map((json) => instanceSchema.parse(JSON.parse(json))) };
    },
    async get(id, notBefore) {
      const fresh = await listings(notBefore);
      if (fresh) return fresh.instances.find((instance) => instance.id === id) ?? null;
      const json = await redis.hget(keys.instances, id);
      return json === null ? null : instanceSchema.parse(JSON.parse(json));
    },
    async instanceTypes(notBefore) {
      const fresh = await typeReads(notBefore);
      if (fresh) return fresh.types;
      const json = await redis.get(keys.types);
      // Expired between the two reads (10 minutes on): ask again rather than answer nothing.
      return json === null ? (await typesNow()).types : typesSchema.parse(JSON.parse(json));
    },
  };
}

/** Replaces the stored types only with a newer answer: KEYS = value, time key; ARGV = at, ttl ms, json. */
const WRITE_TYPES = `
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) <= current then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
`;

const typesSchema = z.record(z.string(), z.unknown()).transform((types) => types as InstanceTypes);

interface Pacing {
  redis: Redis;
  minIntervalMs: number;
  waitTimeoutMs: number;
  pollMs: number;
}

/**
 * One paced read shared by every process: `ensure(notBefore)` returns what this call fetched, or
 * null once Redis holds an answer asked for after `notBefore` (fetched by any process), which the
 * caller then reads. At most one fetch per `minIntervalMs` across every replica (a Redis lock);
 * the others wait for its answer, up to `waitTimeoutMs`, then fail (never an older answer).
 */
function pacedReading<T>(pacing: Pacing, keys: { atKey: string; lockKey: string; what: string }, fetchNow: () => Promise<T>) {
  const { redis, minIntervalMs, waitTimeoutMs, pollMs } = pacing;
  return async function ensure(notBefore: number): Promise<T | null> {
    const deadline = Date.now() + waitTimeoutMs;
    for (;;) {
      // Strictly after: an answer started in the same millisecond as the caller's terminate or
      // launch may have been read by the cloud before it. (One this call makes is sent after it.)
      if (Number((await redis.get(keys.atKey)) ?? 0) > notBefore) return null;
      const token = randomBytes(8).toString('hex');
      if ((await redis.set(keys.lockKey, token, 'PX', minIntervalMs, 'NX')) === 'OK') return fetchNow();
      if (Date.now() >= deadline) {
        throw new InfrastructureError(
          'cloud_view_stale',
          `No ${keys.what} newer than ${new Date(notBefore).toISOString()} within ${waitTimeoutMs} ms`,
          { retryable: true },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  };
}
