import { createHash } from 'node:crypto';
import request from 'supertest';
import { createLogger } from '@inno-train/core';
import { createJobStore } from '@inno-train/job-store';
import { closeStageQueues, openStageQueues } from '@inno-train/workflow';
import { Redis } from 'ioredis';
import { createApp } from '../src/app';
import { loadKeyEntries } from '../src/keys';
import { redisRateCounter } from '../src/guard';
import { ALLOWED_PREFIXES, DEFAULT_BUCKET, FakeStorage, KEY_A, openHarness, uniqueNamespace, type Harness } from './harness';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const validJob = () => ({
  instance: { type: 'gpu_1x_a10' },
  inputs: { train: 's3://data-bucket/sets/train.jsonl' },
  script: { inline: 'print(1)' },
});

describe('S3 locations a client may name', () => {
  let h: Harness;
  beforeAll(() => {
    h = openHarness(uniqueNamespace('guard'));
  });
  afterAll(async () => {
    await h.close();
  });
  const submit = (body: unknown) =>
    request(h.app)
      .post('/v1/jobs')
      .set('Authorization', `Bearer ${KEY_A}`)
      .send(body as object);

  it('refuses inputs, script and outputs outside the allowed prefixes with 403, naming each', async () => {
    const response = await submit({
      ...validJob(),
      inputs: { train: 's3://data-bucket/sets/train.jsonl', secret: 's3://payroll/2026.csv' },
      script: { uri: 's3://elsewhere/train.py' },
      outputUri: 's3://someone-else/out/',
    });
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe('forbidden_location');
    expect(response.body.error.details.map((d: { path: string }) => d.path)).toEqual(['inputs.secret', 'script.uri', 'outputUri']);
    expect(h.storage.calls.some((uri: string) => uri.includes('payroll'))).toBe(false);
  });

  it('refuses a malformed output URI with 400', async () => {
    const response = await submit({ ...validJob(), outputUri: `s3://${DEFAULT_BUCKET}/a/../b/` });
    expect(response.status).toBe(400);
    expect(response.body.error.details[0].path).toBe('outputUri');
  });

  it('sends a request id and security headers on every answer', async () => {
    const response = await request(h.app).get('/v1/jobs').set('Authorization', `Bearer ${KEY_A}`).set('X-Request-Id', 'client-req-12345');
    expect(response.headers['x-request-id']).toBe('client-req-12345');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.headers['content-security-policy']).toContain("default-src 'none'");
    const generated = await request(h.app).get('/healthz').set('X-Request-Id', 'bad id with spaces');
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('API keys given as digests, and per-key rate limits', () => {
  const ns = uniqueNamespace('rate');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const queues = openStageQueues({ connection: redis, prefix: `{${ns}}` });
  const plain = 'a-client-key-that-is-long-enough';
  const app = createApp({
    store: createJobStore({ redis, namespace: ns }),
    queues,
    storage: new FakeStorage(),
    defaultBucket: DEFAULT_BUCKET,
    keys: loadKeyEntries({ keys: [`sha256:${createHash('sha256').update(plain).digest('hex')}`], defaultPrefixes: ALLOWED_PREFIXES }),
    logger: createLogger({ name: 't', level: 'silent' }),
    ping: async () => true,
    // A counter whose window never rolls over, so the limit is checked deterministically.
    rateLimitPerMinute: 5,
    rateCounter: { hit: async (keyId) => (counts[keyId] = (counts[keyId] ?? 0) + 1) },
  });
  const counts: Record<string, number> = {};
  afterAll(async () => {
    await closeStageQueues(queues);
    const keys = [...(await redis.keys(`${ns}:*`)), ...(await redis.keys(`{${ns}}:*`))];
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  it('accepts the key whose SHA-256 is configured, and limits each key per minute with 429', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await request(app).get('/v1/jobs').set('Authorization', `Bearer ${plain}`)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const limited = await request(app).get('/v1/jobs').set('Authorization', `Bearer ${plain}`);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // The digest itself is not a key.
    expect(
      (
        await request(app)
          .get('/v1/jobs')
          .set('Authorization', `Bearer sha256:${createHash('sha256').update(plain).digest('hex')}`)
      ).status,
    ).toBe(401);
  });

  it('counts requests per key and window in Redis, expiring with the window', async () => {
    const counter = redisRateCounter(redis, ns);
    expect(await counter.hit('key_x', 60)).toBe(1);
    expect(await counter.hit('key_x', 60)).toBe(2);
    expect(await counter.hit('key_y', 60)).toBe(1);
    const [key] = await redis.keys(`${ns}:ratelimit:key_x:*`);
    expect(await redis.ttl(key!)).toBeGreaterThan(0);
  });
});

describe('when Redis is down', () => {
  it('answers 503 promptly instead of hanging', async () => {
    // Nothing listens on port 1: the client fails fast, as the API's own client is configured to.
    const dead = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: true,
      retryStrategy: () => 1000,
    });
    dead.on('error', () => undefined);
    const queues = openStageQueues({ connection: dead, prefix: '{t-dead}' });
    const app = createApp({
      store: createJobStore({ redis: dead, namespace: 't-dead' }),
      queues,
      storage: new FakeStorage(),
      defaultBucket: DEFAULT_BUCKET,
      keys: loadKeyEntries({ keys: [KEY_A], defaultPrefixes: ALLOWED_PREFIXES }),
      logger: createLogger({ name: 't', level: 'silent' }),
      ping: async () => (await dead.ping()) === 'PONG',
      rateLimitPerMinute: 0,
      rateCounter: { hit: async () => 1 },
    });
    const started = Date.now();
    const list = await request(app).get('/v1/jobs').set('Authorization', `Bearer ${KEY_A}`);
    expect(list.status).toBe(503);
    expect(list.body.error.code).toBe('unavailable');
    expect(list.headers['retry-after']).toBe('5');
    expect((await request(app).get('/healthz')).status).toBe(503);
    expect(Date.now() - started).toBeLessThan(3000);
    dead.disconnect();
    await closeStageQueues(queues).catch(() => undefined);
  });
});

describe('malformed requests', () => {
  let h: Harness;
  beforeAll(() => {
    h = openHarness(uniqueNamespace('malformed'));
  });
  afterAll(async () => {
    await h.close();
  });

  it.each(['/v1/jobs/%u0041', '/v1/jobs/%zz/events', '/v1/jobs/%E0%A4%A/cancel'])(
    'answers 400, not 500, for broken percent-encoding in %s',
    async (path) => {
      const response = await request(h.app).get(path).set('Authorization', `Bearer ${KEY_A}`);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('bad_request');
    },
  );

  it('answers 415 for a body encoding or charset it does not take', async () => {
    const gzip = await request(h.app)
      .post('/v1/jobs')
      .set('Authorization', `Bearer ${KEY_A}`)
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'compress')
      .send('{}');
    expect(gzip.status).toBe(415);
    const latin1 = await request(h.app)
      .post('/v1/jobs')
      .set('Authorization', `Bearer ${KEY_A}`)
      .set('Content-Type', 'application/json; charset=latin1')
      .send('{}');
    expect(latin1.status).toBe(415);
    expect(latin1.body.error.code).toBe('unsupported_media_type');
  });
});
