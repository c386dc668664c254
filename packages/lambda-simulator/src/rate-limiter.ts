import type { SimRateLimits } from './types';

export const DOCUMENTED_RATE_LIMITS: SimRateLimits = { generalPerSecond: 1, launchMinIntervalMs: 12_000, launchPerMinute: 5 };

const SECOND_MS = 1_000;
const MINUTE_MS = 60_000;

export type RateDecision = { ok: true } | { ok: false; retryAfterMs: number };

/**
 * Sliding windows over ACCEPTED requests. A rejected request does not use up budget: otherwise a
 * client that retries too eagerly would lock itself out for ever, which hides pacing bugs instead
 * of counting them.
 */
export function createRateLimiter(limits: SimRateLimits) {
  let general: number[] = [];
  let launches: number[] = [];

  function check(now: number, isLaunch: boolean): RateDecision {
    general = general.filter((t) => t > now - SECOND_MS);
    launches = launches.filter((t) => t > now - Math.max(MINUTE_MS, limits.launchMinIntervalMs));
    const waits: number[] = [];
    if (general.length >= limits.generalPerSecond) {
      waits.push(general[general.length - limits.generalPerSecond]! + SECOND_MS - now);
    }
    if (isLaunch) {
      const last = launches[launches.length - 1];
      if (last !== undefined && now - last < limits.launchMinIntervalMs) waits.push(last + limits.launchMinIntervalMs - now);
      const inMinute = launches.filter((t) => t > now - MINUTE_MS);
      if (inMinute.length >= limits.launchPerMinute) {
        waits.push(inMinute[inMinute.length - limits.launchPerMinute]! + MINUTE_MS - now);
      }
    }
    if (waits.length > 0) return { ok: false, retryAfterMs: Math.max(1, ...waits) };
    general.push(now);
    if (isLaunch) launches.push(now);
    return { ok: true };
  }

  return { check };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
