import { parseRetryAfter, retryDelayMs, type RetryPolicy } from '../src/retry';

const policy: RetryPolicy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 1000 };
const lowest = () => 0;
const highest = () => 1;

describe('retryDelayMs', () => {
  it.each([
    ['no answer', null],
    ['429', 429],
    ['500', 500],
    ['503', 503],
  ])('retries %s', (_label, status) => {
    expect(retryDelayMs(policy, 1, { status, retryAfterMs: null }, highest)).toBe(100);
  });

  it.each([400, 401, 403, 404, 409, 422])('does not retry %i', (status) => {
    expect(retryDelayMs(policy, 1, { status, retryAfterMs: null })).toBeNull();
  });

  it('doubles the wait per try, half of it random, capped at maxDelayMs, and stops after the last try', () => {
    const failure = { status: 503, retryAfterMs: null };
    expect([1, 2, 3].map((attempt) => retryDelayMs(policy, attempt, failure, lowest))).toEqual([50, 100, 200]);
    expect([1, 2, 3].map((attempt) => retryDelayMs(policy, attempt, failure, highest))).toEqual([100, 200, 400]);
    expect(retryDelayMs({ ...policy, attempts: 10 }, 8, failure, highest)).toBe(1000);
    expect(retryDelayMs(policy, 4, failure)).toBeNull();
  });

  it('waits at least Retry-After, and gives up when it asks for more than maxDelayMs', () => {
    expect(retryDelayMs(policy, 1, { status: 429, retryAfterMs: 800 }, highest)).toBe(800);
    expect(retryDelayMs(policy, 3, { status: 429, retryAfterMs: 10 }, highest)).toBe(400);
    expect(retryDelayMs(policy, 1, { status: 429, retryAfterMs: 2000 })).toBeNull();
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T10:00:00Z');
  it.each([
    [null, null],
    ['5', 5000],
    [' 0 ', 0],
    ['Wed, 01 Jan 2025 10:00:03 GMT', 3000],
    ['Wed, 01 Jan 2025 09:59:00 GMT', 0],
    ['soon', null],
    ['-1', null],
  ])('reads %p as %p ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});
