/**
 * When to try a call again and how long to wait first. Pure functions (the randomness is a
 * parameter), so the policy is table-tested without a server.
 */

export interface RetryPolicy {
  /**
   * Tries per call, the first one included (1: never retry).
   * @defaultValue 4
   */
  attempts: number;
  /**
   * The wait before the second try, in ms; each later wait doubles, up to `maxDelayMs`. Half of
   * each wait is random, so clients that failed together do not all come back at the same instant.
   * @defaultValue 500
   */
  baseDelayMs: number;
  /**
   * The longest single wait, in ms. A `Retry-After` asking for longer is not waited for: the error
   * is thrown at once, carrying `retryAfterMs`, so the caller decides.
   * @defaultValue 30000
   */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY = { attempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 } satisfies RetryPolicy;

/** What a failed try tells the policy: its HTTP status (null: no answer) and Retry-After. */
export interface TryFailure {
  status: number | null;
  retryAfterMs: number | null;
}

/** Answers that say "not now" rather than "not this": no answer, too many requests, a server fault. */
export function isRetryable(failure: TryFailure): boolean {
  return failure.status === null || failure.status === 429 || failure.status >= 500;
}

/**
 * How long to wait before try `attempt + 1`, or null to give up: the failure is not retryable, the
 * tries are spent, or the server asks for a longer wait than `maxDelayMs`. A Retry-After is waited
 * for in full (never less than the backoff).
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, failure: TryFailure, random: () => number = Math.random): number | null {
  if (attempt >= policy.attempts || !isRetryable(failure)) return null;
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const jittered = backoff / 2 + (random() * backoff) / 2;
  if (failure.retryAfterMs === null) return jittered;
  if (failure.retryAfterMs > policy.maxDelayMs) return null;
  return Math.max(failure.retryAfterMs, jittered);
}

/** Retry-After as delay-seconds or an HTTP date, in ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP date names its weekday and month; Date.parse alone would take "-1" for a year.
  if (!/[a-z]{3}/i.test(trimmed)) return null;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
