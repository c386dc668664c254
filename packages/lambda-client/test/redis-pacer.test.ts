import { Redis } from 'ioredis';
import { createRedisPacer, type PacerKind, type RedisPacer, type RedisPacerOptions } from '../src';
import { maxInWindow, minGap } from './helpers';

const redisUrl = 'redis://127.0.0.1:6379';

describe('redis pacer (real Redis, two connections acting as two replicas)', () => {
  const a = new Redis(redisUrl);
  const b = new Redis(redisUrl);
  const prefixes: string[] = [];

  function pacers(opts: Omit<RedisPacerOptions, 'prefix'>): [RedisPacer, RedisPacer] {
    const prefix = `test-lambda-pacer:${process.pid}:${Date.now()}:${prefixes.length}`;
    prefixes.push(prefix);
    return [createRedisPacer(a, { ...opts, prefix }), createRedisPacer(b, { ...opts, prefix })];
  }

  afterAll(async () => {
    for (const prefix of prefixes) {
      const keys = await a.keys(`{${prefix}}:*`);
      if (keys.length) await a.del(...keys);
    }
    await Promise.all([a.quit(), b.quit()]);
  });

  /** Runs the acquirers concurrently, alternating between the two pacers; returns the reserved slots. */
  async function race(pair: [RedisPacer, RedisPacer], kinds: PacerKind[]) {
    const slots: { kind: PacerKind; slot: number }[] = [];
    await Promise.all(
      kinds.map(async (kind, i) => {
        slots.push({ kind, slot: (await pair[i % 2]!.reserve(kind)).slot });
      }),
    );
    return { slots };
  }

  it('never lets concurrent acquirers from two clients exceed the general rate in any window', async () => {
    const pair = pacers({ generalPerSecond: 2, generalWindowMs: 50, marginMs: 0 });
    const { slots } = await race(pair, Array<PacerKind>(30).fill('general'));
    const times = slots.map((s) => s.slot);
    expect(maxInWindow(times, 50)).toBeLessThanOrEqual(2);
    // 30 requests at 2 per 50 ms need at least 14 full windows.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(14 * 50);
  });

  it('acquire() returns no earlier than the slot it reserved', async () => {
    const [first, second] = pacers({ generalPerSecond: 1, generalWindowMs: 60, marginMs: 0 });
    const started = Date.now();
    await Promise.all([first.acquire('general'), second.acquire('general'), first.acquire('general')]);
    // Three requests, one per 60 ms: the last may go 120 ms after the first (1 ms for clock rounding).
    expect(Date.now() - started).toBeGreaterThanOrEqual(119);
  });

  it('gives up a slot it woke up too late for and reserves another, so a late sender never crowds the next', async () => {
    const prefix = `test-lambda-pacer:${process.pid}:${Date.now()}:late`;
    prefixes.push(prefix);
    let oversleeps = 1;
    const sleeps: number[] = [];
    // The first wait oversleeps by 200 ms (a stalled event loop); the next ones are on time.
    const sleepy = async (ms: number) => {
      sleeps.push(ms);
      const extra = oversleeps-- > 0 ? 200 : 0;
      await new Promise((resolve) => setTimeout(resolve, ms + extra));
    };
    const late = createRedisPacer(a, { prefix, launchMinIntervalMs: 100, launchPerMinute: 100, marginMs: 40, sleep: sleepy });
    const other = createRedisPacer(b, { prefix, launchMinIntervalMs: 100, launchPerMinute: 100, marginMs: 40 });
    await other.acquire('launch');
    await late.acquire('launch');
    // The late one reserved twice: its first slot (taken late) was left unused.
    expect(sleeps).toHaveLength(2);
    const launches = (await a.zrange(`{${prefix}}:launch`, 0, -1, 'WITHSCORES')).filter((_, i) => i % 2 === 1).map(Number);
    expect(launches).toHaveLength(3);
    expect(minGap(launches)).toBeGreaterThanOrEqual(140);
  });

  it('keeps launches apart by the minimum interval and within the per-window count, sharing general slots', async () => {
    const pair = pacers({
      generalPerSecond: 4,
      generalWindowMs: 50,
      launchMinIntervalMs: 50,
      launchPerMinute: 3,
      launchWindowMs: 300,
      marginMs: 0,
    });
    const kinds: PacerKind[] = Array.from({ length: 36 }, (_, i) => (i % 4 === 0 ? 'launch' : 'general'));
    const { slots } = await race(pair, kinds);
    const launches = slots.filter((s) => s.kind === 'launch').map((s) => s.slot);
    expect(launches).toHaveLength(9);
    expect(minGap(launches)).toBeGreaterThanOrEqual(50);
    expect(maxInWindow(launches, 300)).toBeLessThanOrEqual(3);
    expect(
      maxInWindow(
        slots.map((s) => s.slot),
        50,
      ),
    ).toBeLessThanOrEqual(4);
  });

  it('serves general requests in the gaps instead of behind launches queued far ahead', async () => {
    const [first, second] = pacers({ generalPerSecond: 1, generalWindowMs: 50, launchMinIntervalMs: 5_000, marginMs: 0 });
    const launch1 = await first.reserve('launch');
    const launch2 = await second.reserve('launch');
    expect(launch2.slot - launch1.slot).toBeGreaterThanOrEqual(5_000);
    const general = await second.reserve('general');
    expect(general.waitMs).toBeLessThan(200);
  });

  it('refuses, without reserving, a slot further away than maxWaitMs', async () => {
    const [pacer] = pacers({ launchMinIntervalMs: 10_000, marginMs: 0, maxWaitMs: 1_000 });
    await pacer.reserve('launch');
    await expect(pacer.reserve('launch')).rejects.toMatchObject({ code: 'lambda/pacer-busy', retryable: true });
    expect(await a.zcard(pacer.keys.launch)).toBe(1);
  });

  it('lets its keys expire once idle', async () => {
    const [pacer] = pacers({ generalWindowMs: 50, marginMs: 0 });
    await pacer.acquire('general');
    const ttl = await a.pttl(pacer.keys.general);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1_050);
  });

  it('reports an unreachable Redis as a retryable pacer error', async () => {
    // Never connected and no offline queue: every command fails at once, as when Redis is down.
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false });
    const pacer = createRedisPacer(dead, { prefix: 'never-used' });
    await expect(pacer.acquire('general')).rejects.toMatchObject({ code: 'lambda/pacer-unavailable', retryable: true });
    dead.disconnect();
  });
});
