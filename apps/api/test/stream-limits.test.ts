/**
 * The stream's housekeeping on real Redis: limits per key and per process (released when a client
 * leaves), the heartbeat, the timer that delivers without wake-ups, and shutdown: compose's close()
 * ends open streams at once instead of waiting out its deadline.
 */
import { createLogger } from '@inno-train/core';
import { openSse, waitFor } from '@inno-train/test-kit';
import { compose, type ApiService } from '../src/compose';
import { parseApiEnv } from '../src/env';
import { ADMIN_KEY, DEFAULT_BUCKET, KEY_A, KEY_B, openHarness, REDIS_URL, uniqueNamespace, type Harness } from './harness';
import { follow, ofKind, serve, settle, submit, TRAIN, type Served } from './stream-harness';

let h: Harness;
const opened: Served[] = [];

beforeAll(() => {
  h = openHarness(uniqueNamespace('stream-limits'));
  h.storage.known.add(TRAIN);
});

afterAll(async () => {
  for (const served of opened) await served.close();
  await h.close();
});

async function served(options: Parameters<typeof serve>[1]): Promise<Served> {
  const s = await serve(h, options);
  opened.push(s);
  return s;
}

const within = (description: string, check: () => unknown, timeoutMs = 3000) => waitFor(check, { timeoutMs, intervalMs: 10, description });

describe('limits', () => {
  it('refuses a key past its streams with 429 too_many_streams, the process past its own with 503, and frees a place when a client leaves', async () => {
    const s = await served({ limits: { perTenant: 2, perProcess: 3 } });
    const id = await submit(s);
    const a1 = await follow(s, id);
    const a2 = await follow(s, id);
    const a3 = await follow(s, id);
    expect([a1.status, a2.status, a3.status]).toEqual([200, 200, 429]);
    expect(JSON.parse(a3.text()).error.code).toBe('too_many_streams');
    expect(a3.headers['retry-after']).toBe('5');
    const b1 = await follow(s, id, { key: KEY_B });
    // KEY_B does not own the job: a 404 takes no place.
    expect(b1.status).toBe(404);
    const admin1 = await follow(s, id, { key: ADMIN_KEY });
    const admin2 = await follow(s, id, { key: ADMIN_KEY });
    expect([admin1.status, admin2.status]).toEqual([200, 503]);
    expect(JSON.parse(admin2.text()).error.code).toBe('unavailable');
    expect(s.hub.openStreams()).toBe(3);

    a1.close();
    await within('the place to be given back', () => s.hub.openStreams() === 2);
    const a4 = await follow(s, id);
    expect(a4.status).toBe(200);
    for (const stream of [a2, a4, admin1]) stream.close();
    await within('every place to be given back', () => s.hub.openStreams() === 0);
  });
});

describe('timers', () => {
  it('writes a `: ping` comment every heartbeat while nothing happens', async () => {
    const s = await served({ timings: { heartbeatMs: 50 } });
    const id = await submit(s);
    const stream = await follow(s, id);
    await within('three pings', () => stream.comments.filter((c) => c === 'ping').length >= 3);
    stream.close();
  });

  it('delivers on its timer alone when there are no wake-ups (a lost notification only delays)', async () => {
    const s = await served({ wakeups: false, timings: { pollMs: 100 } });
    const id = await submit(s);
    const stream = await follow(s, id);
    await h.store.appendLog(id, 'read by the timer\n');
    await within('the line', () => ofKind(stream.messages, 'log').some((l) => l.text === 'read by the timer\n'));
    await settle(h, id);
    await within('the end', () => stream.isEnded());
    expect(stream.messages.at(-1)?.event).toBe('end');
  });

  it('never delivers without a wake-up before the timer when the timer is long (the wake-ups are what is fast)', async () => {
    const s = await served({ wakeups: false, timings: { pollMs: 60_000 } });
    const id = await submit(s);
    await h.store.appendLog(id, 'there before\n');
    const stream = await follow(s, id);
    // The log is the last thing the first read sends: once this line is in, that read is over.
    await within('the first read', () => ofKind(stream.messages, 'log').length === 1);
    await h.store.appendLog(id, 'nobody tells\n');
    // The control for the wake-up tests: the same write, a fast deadline, no notification path.
    await expect(within('the second line', () => ofKind(stream.messages, 'log').length > 1, 500)).rejects.toThrow(/the second line/);
    stream.close();
  });
});

describe('shutdown', () => {
  let api: ApiService | undefined;

  afterAll(async () => {
    await api?.close(1000);
  });

  it("compose's close() ends open streams at once (no `end`: the client resumes elsewhere), well inside its deadline", async () => {
    const env = parseApiEnv({
      REDIS_URL,
      INNO_NAMESPACE: h.ns,
      API_PORT: '0',
      API_HOST: '127.0.0.1',
      API_KEYS: KEY_A,
      S3_BUCKET: DEFAULT_BUCKET,
      API_RATE_LIMIT_PER_MINUTE: '0',
      LOG_LEVEL: 'silent',
    });
    api = compose(env, { redis: h.redis, storage: h.storage, logger: createLogger({ name: 'api-stream-close', level: 'silent' }) });
    await api.start();
    const base = `http://127.0.0.1:${api.port()}`;
    const s = await served({});
    const id = await submit(s);
    const stream = await openSse(`${base}/v1/jobs/${id}/stream`, { authorization: `Bearer ${KEY_A}` });
    expect(stream.status).toBe(200);
    // Through compose's own subscriber: the line comes long before the 3 s timer could bring it.
    await within('the first status', () => ofKind(stream.messages, 'status').length === 1);
    await h.store.appendLog(id, 'woken through compose\n');
    await within('the line', () => ofKind(stream.messages, 'log').length === 1, 1000);

    const started = Date.now();
    const closing = api.close(10_000);
    api = undefined;
    await closing;
    expect(Date.now() - started).toBeLessThan(2000);
    await within('the stream to end', () => stream.isEnded());
    expect(stream.messages.filter((m) => m.event === 'end')).toEqual([]);
  });
});
