/**
 * Request pacing. Lambda limits the ACCOUNT (about 1 request/s, launches 1 per 12 s and 5 per
 * minute), so every process that calls the API must draw from one budget: production uses the
 * Redis pacer; the local pacer is for a single process and tests.
 */
import { sleep } from '@inno-train/core';

export type PacerKind = 'general' | 'launch';

export interface Pacer {
  /** Resolves when a request of this kind may be sent. A launch also uses a general slot. */
  acquire(kind: PacerKind): Promise<void>;
}

export interface PacerLimits {
  /** Requests (launches included) per general window. @defaultValue 1 */
  generalPerSecond: number;
  /** Minimum gap between two launches. @defaultValue 12000 */
  launchMinIntervalMs: number;
  /** Launches per launch window. @defaultValue 5 */
  launchPerMinute: number;
  /**
   * Added to every window and interval: requests paced exactly at the limit reach the API with
   * network jitter, and one that arrives a few ms early is a 429. @defaultValue 100
   */
  marginMs: number;
  /** The documented limit is per second; shrink only to run fast tests. @defaultValue 1000 */
  generalWindowMs: number;
  /** The documented limit is per minute; shrink only to run fast tests. @defaultValue 60000 */
  launchWindowMs: number;
}

export const DOCUMENTED_PACER_LIMITS: PacerLimits = {
  generalPerSecond: 1,
  launchMinIntervalMs: 12_000,
  launchPerMinute: 5,
  marginMs: 100,
  generalWindowMs: 1_000,
  launchWindowMs: 60_000,
};

/** The documented limits, overridden by the options that are set (undefined ones are ignored). */
export function resolvePacerLimits(overrides: Partial<PacerLimits>): PacerLimits {
  const limits = { ...DOCUMENTED_PACER_LIMITS };
  for (const key of Object.keys(limits) as (keyof PacerLimits)[]) {
    const value = overrides[key];
    if (value !== undefined) limits[key] = value;
  }
  return limits;
}

export const noPacer: Pacer = { acquire: async () => undefined };

/**
 * True when `slot` can join the sorted reservations `points` with at most `limit` of them in any
 * window shorter than `windowMs`, i.e. no `limit + 1` consecutive points span less than it. Only
 * the spans that include the new point are checked, so an old, denser history (limits changed
 * between deployments) cannot block every slot for ever.
 */
export function fitsWindow(points: readonly number[], slot: number, limit: number, windowMs: number): boolean {
  const merged = [...points];
  let index = merged.findIndex((point) => point > slot);
  if (index === -1) index = merged.length;
  merged.splice(index, 0, slot);
  for (let first = Math.max(0, index - limit); first <= index; first += 1) {
    const last = merged[first + limit];
    if (last !== undefined && last - merged[first]! < windowMs) return false;
  }
  return true;
}

/**
 * The earliest time >= now that keeps every window within its limit, given the reservations
 * already made (in any order, future ones included). The earliest free time is `now`, an existing
 * reservation, or the moment one of them leaves a window, so only those candidates are tried.
 * The Lua script in redis-pacer.ts implements the same search; keep the two in step.
 */
export function findSlot(
  now: number,
  general: readonly number[],
  launches: readonly number[],
  kind: PacerKind,
  limits: PacerLimits,
): number {
  const generalWindow = limits.generalWindowMs + limits.marginMs;
  const minGap = limits.launchMinIntervalMs + limits.marginMs;
  const launchWindow = limits.launchWindowMs + limits.marginMs;
  const candidates = [now, ...general, ...general.map((t) => t + generalWindow)];
  if (kind === 'launch') candidates.push(...launches, ...launches.map((t) => t + minGap), ...launches.map((t) => t + launchWindow));
  // Always valid: past every reservation by the longest window.
  candidates.push(Math.max(now, ...general, ...launches) + Math.max(generalWindow, minGap, launchWindow));
  const sorted = [...new Set(candidates.filter((t) => t >= now))].sort((a, b) => a - b);
  const fits = (slot: number): boolean =>
    fitsWindow(general, slot, limits.generalPerSecond, generalWindow) &&
    (kind === 'general' || (fitsWindow(launches, slot, 1, minGap) && fitsWindow(launches, slot, limits.launchPerMinute, launchWindow)));
  return sorted.find(fits) ?? sorted[sorted.length - 1]!;
}

export interface LocalPacer extends Pacer {
  /** Reserves a slot and returns when it is (epoch ms), without waiting for it. */
  reserve(kind: PacerKind): number;
}

/** In-process pacing with the same slot search as the Redis pacer. */
export function createLocalPacer(limits: Partial<PacerLimits> = {}, now: () => number = Date.now): LocalPacer {
  const resolved = resolvePacerLimits(limits);
  let general: number[] = [];
  let launches: number[] = [];

  function reserve(kind: PacerKind): number {
    const at = now();
    general = general.filter((t) => t > at - resolved.generalWindowMs - resolved.marginMs);
    const launchHorizon = Math.max(resolved.launchMinIntervalMs, resolved.launchWindowMs) + resolved.marginMs;
    launches = launches.filter((t) => t > at - launchHorizon);
    const slot = findSlot(at, general, launches, kind, resolved);
    general = [...general, slot].sort((a, b) => a - b);
    if (kind === 'launch') launches = [...launches, slot].sort((a, b) => a - b);
    return slot;
  }

  return {
    reserve,
    async acquire(kind) {
      const wait = reserve(kind) - now();
      if (wait > 0) await sleep(wait);
    },
  };
}
