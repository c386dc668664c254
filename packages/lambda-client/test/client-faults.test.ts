import { Redis } from 'ioredis';
import { createLambdaClient, createLocalPacer, createRedisPacer, isRateLimited, LambdaApiError, noPacer, type LambdaClient } from '../src';
import { API_KEY, memoryLogger, PUBLIC_KEY, recordingFetch, startSim, type LambdaSimulator } from './sim';

const LAUNCH = {
  regionName: 'us-west-1',
  instanceTypeName: 'gpu_1x_a10',
  sshKeyNames: ['inno'] as [string],
  tags: [{ key: 'job-id', value: 'j' }],
};
/** Repeats the given values in order, for a simulator whose random faults must be predictable. */
const cycle = (values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};
const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

describe('lambda client: retries, timeouts and ambiguous launches', () => {
  let sim: LambdaSimulator;
  let recorder: ReturnType<typeof recordingFetch>;
  let logger: ReturnType<typeof memoryLogger>;
  let client: LambdaClient;

  beforeEach(async () => {
    sim = await startSim();
    recorder = recordingFetch();
    logger = memoryLogger();
    client = createLambdaClient({
      baseUrl: sim.url,
      apiKey: API_KEY,
      pacer: noPacer,
      fetch: recorder.fetch,
      retryBaseMs: 5,
      retryCapMs: 20,
      logger,
    });
    await client.addSshKey('inno', PUBLIC_KEY);
  });
  afterEach(async () => {
    await sim.close();
  });

  it('retries 500, 503 provider/internal-unavailable and a 502 HTML page on reads, logging each retry', async () => {
    const cycling = await startSim({ random: cycle([0, 0.1, 0, 0.5, 0, 0.9, 0.99]) });
    try {
      cycling.state.faults.failRate = 0.95;
      const retried = createLambdaClient({ baseUrl: cycling.url, apiKey: API_KEY, pacer: noPacer, retryBaseMs: 5, retryCapMs: 20, logger });
      expect(await retried.listInstances()).toEqual([]);
      const warnings = logger.lines.filter((line) => line.level === 'warn');
      expect(warnings.map((line) => (line.obj as { code: string }).code)).toEqual([
        'global/internal-error',
        'provider/internal-unavailable',
        'http/502',
      ]);
      expect(warnings[0]?.msg).toMatch(/listInstances failed with global\/internal-error \(attempt 1 of 5\); retrying in \d+ ms/);
    } finally {
      await cycling.close();
    }
  });

  it('gives up after maxRetries with the last error, retryable and coded', async () => {
    sim.state.faults.failRate = 1;
    const err = await client.listSshKeys().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LambdaApiError);
    expect((err as LambdaApiError).retryable).toBe(true);
    expect(['global/internal-error', 'provider/internal-unavailable', 'http/502']).toContain((err as LambdaApiError).code);
    expect(recorder.count('GET', '/ssh-keys')).toBe(5);
  });

  it('does not retry a launch that answered 500 after creating the instance; the caller finds it by tag', async () => {
    sim.state.faults.launchButFail = true;
    const err = await client.launch(LAUNCH).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'global/internal-error', status: 500, retryable: true, outcomeUnknown: true });
    expect(recorder.count('POST', '/instance-operations/launch')).toBe(1);
    const found = (await client.listInstances()).filter((i) => i.tags.some((t) => t.key === 'job-id' && t.value === 'j'));
    expect(found).toHaveLength(1);
  });

  it('does not retry a launch that timed out after reaching the API', async () => {
    const slow = recordingFetch(async (url, init, real) => {
      const res = await real(url, { ...init, signal: null });
      if (url.endsWith('/launch')) throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
      return res;
    });
    const timed = createLambdaClient({
      baseUrl: sim.url,
      apiKey: API_KEY,
      pacer: noPacer,
      fetch: slow.fetch,
      retryBaseMs: 5,
      timeoutMs: 50,
    });
    const err = await timed.launch(LAUNCH).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'lambda/timeout', retryable: true, outcomeUnknown: true });
    expect(slow.count('POST', '/instance-operations/launch')).toBe(1);
    expect(sim.state.aliveInstances()).toHaveLength(1);
  });

  it('retries a launch answered 429 (not carried out), and launches exactly once', async () => {
    sim.state.faults.rateLimitNext = 2;
    const { instanceIds } = await client.launch(LAUNCH);
    expect(instanceIds).toHaveLength(1);
    expect(recorder.count('POST', '/instance-operations/launch')).toBe(3);
    expect(sim.state.ledger()).toHaveLength(1);
  });

  it('honours Retry-After from the rate limiter before retrying', async () => {
    const limited = await startSim({ rateLimits: { generalPerSecond: 1, launchMinIntervalMs: 1000, launchPerMinute: 5 } });
    try {
      const eager = createLambdaClient({ baseUrl: limited.url, apiKey: API_KEY, pacer: noPacer, retryBaseMs: 5, retryCapMs: 20 });
      await eager.listInstances();
      const started = Date.now();
      await eager.listInstances();
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(limited.state.counters().tooManyRequests).toBe(1);
    } finally {
      await limited.close();
    }
  });

  it('names a 429 without a known body lambda/rate-limited and reads a Retry-After date', async () => {
    const fake = recordingFetch(
      async () => new Response('slow down', { status: 429, headers: { 'retry-after': new Date(Date.now() + 2000).toUTCString() } }),
    );
    const faked = createLambdaClient({ baseUrl: sim.url, apiKey: API_KEY, pacer: noPacer, fetch: fake.fetch, maxRetries: 0 });
    const err = await faked.listInstances().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'lambda/rate-limited', status: 429, retryable: true });
    expect(isRateLimited(err)).toBe(true);
    expect((err as LambdaApiError).retryAfterMs).toBeGreaterThan(0);
  });

  it('times out a hung terminate, retries it (terminate is idempotent) and confirms the instance is gone', async () => {
    const id = (await client.launch(LAUNCH)).instanceIds[0]!;
    sim.state.faults.hangTerminate = 5_000;
    const hung = createLambdaClient({
      baseUrl: sim.url,
      apiKey: API_KEY,
      pacer: noPacer,
      fetch: recorder.fetch,
      timeoutMs: 300,
      retryBaseMs: 5,
      retryCapMs: 20,
      logger: {
        info: () => undefined,
        warn: () => {
          sim.state.faults.hangTerminate = 0;
        },
      },
    });
    const result = await hung.terminate([id]);
    expect(result.terminated.map((i) => i.id).concat(result.alreadyGone)).toEqual([id]);
    expect(recorder.count('POST', '/instance-operations/terminate')).toBe(2);
    expect((await client.getInstance(id))?.status).toBe('terminated');
  });

  it('retries a launch refused before connecting, but calls a mid-request failure ambiguous', async () => {
    const refused = recordingFetch(async () => {
      throw Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      });
    });
    const offline = createLambdaClient({
      baseUrl: sim.url,
      apiKey: API_KEY,
      pacer: noPacer,
      fetch: refused.fetch,
      maxRetries: 2,
      retryBaseMs: 5,
    });
    const err = await offline.launch(LAUNCH).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'lambda/network', retryable: true, outcomeUnknown: false });
    expect(refused.calls).toHaveLength(3);

    const reset = recordingFetch(async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
    });
    const flaky = createLambdaClient({
      baseUrl: sim.url,
      apiKey: API_KEY,
      pacer: noPacer,
      fetch: reset.fetch,
      maxRetries: 2,
      retryBaseMs: 5,
    });
    expect(await flaky.launch(LAUNCH).catch((e: unknown) => e)).toMatchObject({ code: 'lambda/network', outcomeUnknown: true });
    expect(reset.calls).toHaveLength(1);
  });

  it('reaches a closed port as a retryable network error', async () => {
    const closed = await startSim();
    const url = closed.url;
    await closed.close();
    const gone = createLambdaClient({ baseUrl: url, apiKey: API_KEY, pacer: noPacer, maxRetries: 1, retryBaseMs: 5 });
    expect(await gone.listInstances().catch((e: unknown) => e)).toMatchObject({ code: 'lambda/network', retryable: true });
  });

  it('parses leniently: extra fields, missing ip, null private_ip, unknown status', async () => {
    const instance = {
      id: 'a'.repeat(32),
      status: 'hibernating',
      private_ip: null,
      ssh_key_names: ['k'],
      region: { name: 'us-west-1' },
      new_field: { x: 1 },
    };
    const fake = recordingFetch(async () => json(200, { data: [instance], extra: true }));
    const lenient = createLambdaClient({ baseUrl: sim.url, apiKey: API_KEY, pacer: noPacer, fetch: fake.fetch });
    const [parsed] = await lenient.listInstances();
    expect(parsed).toMatchObject({ id: instance.id, status: 'hibernating', tags: [], file_system_names: [], new_field: { x: 1 } });
  });

  it('rejects a success body of the wrong shape as lambda/invalid-response, not retried', async () => {
    const fake = recordingFetch(async () => json(200, { data: { instance_ids: 'not-a-list' } }));
    const strict = createLambdaClient({ baseUrl: sim.url, apiKey: API_KEY, pacer: noPacer, fetch: fake.fetch });
    expect(await strict.launch(LAUNCH).catch((e: unknown) => e)).toMatchObject({ code: 'lambda/invalid-response', retryable: false });
    expect(fake.calls).toHaveLength(1);
  });

  it('scrubs the API key from messages even when the API echoes it', async () => {
    const fake = recordingFetch(async (_url, init) => {
      const auth = (init?.headers as Record<string, string>).authorization;
      return json(400, {
        error: { code: 'global/invalid-parameters', message: `bad header ${auth} (key ${API_KEY})`, suggestion: `not ${API_KEY}` },
      });
    });
    const echo = createLambdaClient({ baseUrl: sim.url, apiKey: API_KEY, pacer: noPacer, fetch: fake.fetch });
    const err = (await echo.listInstances().catch((e: unknown) => e)) as LambdaApiError;
    expect(err.message).not.toContain(API_KEY);
    expect(err.suggestion).not.toContain(API_KEY);
    expect(err.message).toContain('[REDACTED]');
  });

  it('returns the key an ambiguous addSshKey created instead of failing on the duplicate name', async () => {
    const lossy = recordingFetch(async (url, init, real) => {
      const res = await real(url, init);
      if (init?.method === 'POST' && url.endsWith('/ssh-keys')) throw new DOMException('timeout', 'TimeoutError');
      return res;
    });
    const keys = createLambdaClient({ baseUrl: sim.url, apiKey: API_KEY, pacer: noPacer, fetch: lossy.fetch, retryBaseMs: 5 });
    const key = await keys.addSshKey('second', PUBLIC_KEY);
    expect(key).toMatchObject({ name: 'second', public_key: PUBLIC_KEY });
    expect(lossy.count('POST', '/ssh-keys')).toBe(1);
  });
});

describe('lambda client: pacing keeps a rate-limited simulator from ever answering 429', () => {
  // The simulator runs in this process, so a busy event loop delays arrivals: the margin covers that.
  const limits = { generalPerSecond: 10, launchMinIntervalMs: 150, launchPerMinute: 5, marginMs: 250 };
  let sim: LambdaSimulator;

  beforeEach(async () => {
    sim = await startSim({ rateLimits: { generalPerSecond: 10, launchMinIntervalMs: 150, launchPerMinute: 5 } });
  });
  afterEach(async () => {
    await sim.close();
  });

  /** Every call, the ssh key setup included, goes through the clients under test and their pacer. */
  async function burst(clients: LambdaClient[]): Promise<void> {
    await clients[0]!.addSshKey('inno', PUBLIC_KEY);
    await Promise.all(
      Array.from({ length: 24 }, (_, i) => {
        const client = clients[i % clients.length]!;
        return i % 8 === 0 ? client.launch(LAUNCH) : client.listInstances();
      }),
    );
  }

  it('with one local pacer', async () => {
    const client = createLambdaClient({ baseUrl: sim.url, apiKey: API_KEY, pacer: createLocalPacer(limits), maxRetries: 0 });
    await burst([client]);
    expect(sim.state.counters()).toMatchObject({ tooManyRequests: 0, rateLimitViolations: 0, launches: 3 });
  });

  it('with two clients on separate Redis connections sharing one Redis pacer', async () => {
    const a = new Redis('redis://127.0.0.1:6379');
    const b = new Redis('redis://127.0.0.1:6379');
    const prefix = `test-lambda-client:${process.pid}:${Date.now()}`;
    try {
      const clients = [a, b].map((redis) =>
        createLambdaClient({ baseUrl: sim.url, apiKey: API_KEY, pacer: createRedisPacer(redis, { prefix, ...limits }), maxRetries: 0 }),
      );
      await burst(clients);
      expect(sim.state.counters()).toMatchObject({ tooManyRequests: 0, rateLimitViolations: 0, launches: 3 });
    } finally {
      const keys = await a.keys(`{${prefix}}:*`);
      if (keys.length) await a.del(...keys);
      await Promise.all([a.quit(), b.quit()]);
    }
  });
});
