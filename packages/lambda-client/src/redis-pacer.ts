import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { InfrastructureError, sleep } from '@inno-train/core';
import { LAMBDA_ERROR_CODES } from './errors';
import { resolvePacerLimits, type Pacer, type PacerKind, type PacerLimits } from './pacer';

/**
 * One atomic reservation, shared by every replica: finds the earliest slot >= now that keeps all
 * windows within their limits (same search as `findSlot` in pacer.ts), records it, and returns it.
 * Time comes from the Redis server, so replicas with skewed clocks still agree on the schedule;
 * callers sleep `slot - now` locally. Reservations are sorted-set members scored by slot time.
 *
 * KEYS: general, launch. ARGV: kind, generalLimit, generalWindow, minGap, launchLimit, launchWindow,
 * member, maxWaitMs (-1 = no limit). Returns {slot, now, reserved (1/0)}.
 */
const RESERVE_SCRIPT = `
local kind = ARGV[1]
local gLimit, gWindow = tonumber(ARGV[2]), tonumber(ARGV[3])
local minGap, lLimit, lWindow = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local member, maxWait = ARGV[7], tonumber(ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lHorizon = math.max(minGap, lWindow)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - gWindow)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - lHorizon)

local function scores(key)
  local raw = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  local out = {}
  for i = 2, #raw, 2 do out[#out + 1] = tonumber(raw[i]) end
  return out
end

local function fits(points, slot, limit, window)
  local merged, index = {}, nil
  for i = 1, #points do
    if index == nil and points[i] > slot then merged[#merged + 1] = slot; index = #merged end
    merged[#merged + 1] = points[i]
  end
  if index == nil then merged[#merged + 1] = slot; index = #merged end
  for first = math.max(1, index - limit), index do
    local last = merged[first + limit]
    if last ~= nil and last - merged[first] < window then return false end
  end
  return true
end

local general, launches = scores(KEYS[1]), scores(KEYS[2])
local candidates, latest = { now }, now
for _, p in ipairs(general) do
  candidates[#candidates + 1] = p; candidates[#candidates + 1] = p + gWindow; latest = math.max(latest, p)
end
if kind == 'launch' then
  for _, q in ipairs(launches) do
    candidates[#candidates + 1] = q; candidates[#candidates + 1] = q + minGap
    candidates[#candidates + 1] = q + lWindow; latest = math.max(latest, q)
  end
end
candidates[#candidates + 1] = latest + math.max(gWindow, lHorizon)
table.sort(candidates)

local slot = candidates[#candidates]
for _, c in ipairs(candidates) do
  if c >= now and fits(general, c, gLimit, gWindow)
    and (kind ~= 'launch' or (fits(launches, c, 1, minGap) and fits(launches, c, lLimit, lWindow))) then
    slot = c
    break
  end
end
if maxWait >= 0 and slot - now > maxWait then return { slot, now, 0 } end

redis.call('ZADD', KEYS[1], slot, member)
if kind == 'launch' then redis.call('ZADD', KEYS[2], slot, member) end
for i, key in ipairs(KEYS) do
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] ~= nil then redis.call('PEXPIRE', key, math.ceil(tonumber(last[2]) - now + (i == 1 and gWindow or lHorizon) + 1000)) end
end
return { slot, now, 1 }
`;

const SCRIPT_SHA = createHash('sha1').update(RESERVE_SCRIPT).digest('hex');

export interface RedisPacerOptions extends Partial<PacerLimits> {
  /** Key prefix shared by every replica that uses the same Lambda account. */
  prefix: string;
  /**
   * Longest wait acquire() accepts. A slot further away is not reserved: acquire() throws a
   * retryable `lambda/pacer-busy` error carrying `details.retryAfterMs`, so a step job can
   * re-schedule itself instead of holding a worker. @defaultValue no limit
   */
  maxWaitMs?: number;
  /** How acquire() waits for its slot (tests make it oversleep). @defaultValue core's sleep */
  sleep?: (ms: number) => Promise<void>;
}

/** A late wake-up gives its slot up and takes a new one at most this many times. */
const MAX_LATE_RETRIES = 3;

export interface Reservation {
  /** Slot time, Redis clock (epoch ms). */
  slot: number;
  /** Redis clock when the slot was reserved. */
  now: number;
  waitMs: number;
}

export interface RedisPacer extends Pacer {
  /** Reserves a slot without waiting for it. */
  reserve(kind: PacerKind): Promise<Reservation>;
  /** The keys this pacer writes (they expire on their own once idle). */
  keys: { general: string; launch: string };
}

export function createRedisPacer(redis: Redis, opts: RedisPacerOptions): RedisPacer {
  const limits = resolvePacerLimits(opts);
  // The hash tag keeps both keys in one cluster slot, as a multi-key script requires.
  const keys = { general: `{${opts.prefix}}:general`, launch: `{${opts.prefix}}:launch` };

  async function run(kind: PacerKind): Promise<[number, number, number]> {
    const args = [
      kind,
      limits.generalPerSecond,
      limits.generalWindowMs + limits.marginMs,
      limits.launchMinIntervalMs + limits.marginMs,
      limits.launchPerMinute,
      limits.launchWindowMs + limits.marginMs,
      randomUUID(),
      opts.maxWaitMs ?? -1,
    ].map(String);
    try {
      return (await redis.evalsha(SCRIPT_SHA, 2, keys.general, keys.launch, ...args)) as [number, number, number];
    } catch (err) {
      if (!String((err as { message?: unknown } | null)?.message ?? '').startsWith('NOSCRIPT')) throw err;
      return (await redis.eval(RESERVE_SCRIPT, 2, keys.general, keys.launch, ...args)) as [number, number, number];
    }
  }

  async function reserve(kind: PacerKind): Promise<Reservation> {
    let reply: [number, number, number];
    try {
      reply = await run(kind);
    } catch (cause) {
      throw new InfrastructureError(LAMBDA_ERROR_CODES.pacerUnavailable, 'The Lambda API pacer could not reach Redis', {
        retryable: true,
        cause,
      });
    }
    const [slot, now, reserved] = reply;
    if (reserved !== 1) {
      throw new InfrastructureError(
        LAMBDA_ERROR_CODES.pacerBusy,
        `The next Lambda API ${kind} slot is ${slot - now} ms away, beyond the ${opts.maxWaitMs} ms this pacer may wait`,
        { retryable: true, details: { retryAfterMs: slot - now } },
      );
    }
    return { slot, now, waitMs: Math.max(0, slot - now) };
  }

  return {
    keys,
    reserve,
    /**
     * Waits for a reserved slot. A process that wakes up late (a busy event loop on a loaded host)
     * would send its request near the next caller's slot and break the window both were spaced
     * for: past half the margin, it leaves its slot unused and reserves a new one behind the others.
     */
    async acquire(kind) {
      const wait = opts.sleep ?? sleep;
      for (let attempt = 0; ; attempt++) {
        const asked = performance.now();
        const { waitMs } = await reserve(kind);
        if (waitMs > 0) await wait(waitMs);
        const lateMs = performance.now() - asked - waitMs;
        if (lateMs <= limits.marginMs / 2 || attempt >= MAX_LATE_RETRIES) return;
      }
    },
  };
}
