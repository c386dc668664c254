import { createHash } from 'node:crypto';
import request from 'supertest';
import { createLogger } from '@inno-train/core';
import { createJobStore } from '@inno-train/job-store';
import { closeStageQueues, openStageQueues } from '@inno-train/workflow';
import { Redis } from 'ioredis';
import { createApp } from '../src/app';
import { loadKeyEntries } from '../src/keys';
import { redisRateCounter } from '../src/guard';
import { deleteNamespace } from '@inno-train/test-kit';
import { ALLOWED_PREFIXES, DEFAULT_BUCKET, FakeStorage, KEY_A, openHarness, uniqueNamespace, type Harness } from './harness';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** A whole minute of the epoch (30,000,000 minutes), where a fixed window would roll over. */
const MINUTE_EDGE_MS = 1_800_000_000_000;
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

  it('sends no rate limit headers when the limit is off (0 a minute)', async () => {
    const response = await request(h.app).get('/v1/jobs').set('Authorization', `Bearer ${KEY_A}`);
    expect(response.status).toBe(200);
    expect(Object.keys(response.headers).filter((name) => name.startsWith('ratelimit'))).toEqual([]);
  });
});

describe('API keys given as digests, and per-key rate limits', () => {
  const ns = uniqueNamespace('rate');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const queues = openStageQueues({ connection: redis, prefix: `{${ns}}` });
  const plain = 'a-client-key-that-is-long-enough';
  // A clock that stands still unless a test moves it, so the buckets refill only when told to.
  const clock = { now: MINUTE_EDGE_MS - 100 };
  const app = createApp({
    store: createJobStore({ redis, namespace: ns }),
    queues,
    storage: new FakeStorage(),
    defaultBucket: DEFAULT_BUCKET,
    keys: loadKeyEntries({ keys: [`sha256:${createHash('sha256').update(plain).digest('hex')}`], defaultPrefixes: ALLOWED_PREFIXES }),
    logger: createLogger({ name: 't', level: 'silent' }),
    ping: async () => true,
    rateLimitPerMinute: 5,
    rateCounter: redisRateCounter(redis, ns, () => clock.now),
  });
  const list = () => request(app).get('/v1/jobs').set('Authorization', `Bearer ${plain}`);
  afterAll(async () => {
    await closeStageQueues(queues);
    await deleteNamespace(redis, ns);
    await redis.quit();
  });

  it('accepts the key whose SHA-256 is configured, and limits each key with 429 and Retry-After', async () => {
    const answers = [];
    for (let i = 0; i < 7; i++) answers.push(await list());
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 429, 429]);
    expect(answers.map((a) => a.headers['ratelimit-remaining'])).toEqual(['4', '3', '2', '1', '0', '0', '0']);
    expect(answers.every((a) => a.headers['ratelimit-limit'] === '5')).toBe(true);
    // 5 a minute: one token every 12 s; the bucket is full again 12 s after one request, 60 s after five.
    expect(answers.map((a) => a.headers['ratelimit-reset'])).toEqual(['12', '24', '36', '48', '60', '60', '60']);
    expect(answers[5]!.body.error.code).toBe('rate_limited');
    expect(answers[5]!.headers['retry-after']).toBe('12');
    expect(answers[0]!.headers['retry-after']).toBeUndefined();
    // The digest itself is not a key.
    const digest = await request(app)
      .get('/v1/jobs')
      .set('Authorization', `Bearer sha256:${createHash('sha256').update(plain).digest('hex')}`);
    expect(digest.status).toBe(401);
  });

  it('puts the rate limit headers on error answers too', async () => {
    clock.now += 60_000;
    const missing = await request(app).get('/v1/jobs/j0000000000000000000000').set('Authorization', `Bearer ${plain}`);
    expect(missing.status).toBe(404);
    expect(missing.headers['ratelimit-limit']).toBe('5');
    expect(missing.headers['ratelimit-reset']).toBe('12');
  });

  it('keeps one bucket per id in Redis, gone once it would be full again', async () => {
    const counter = redisRateCounter(redis, ns, () => clock.now);
    expect(await counter.take('key:x', 5)).toEqual({ allowed: true, remaining: 4, resetSeconds: 12, retryAfterSeconds: 0 });
    expect((await counter.take('key:x', 5)).remaining).toBe(3);
    expect((await counter.take('key:y', 5)).remaining).toBe(4);
    const ttl = await redis.pttl(`${ns}:ratelimit:key:x`);
    expect(ttl).toBeGreaterThan(24_000);
    expect(ttl).toBeLessThanOrEqual(25_000);
  });
});

describe('a token bucket at a minute boundary', () => {
  const ns = uniqueNamespace('bucket');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  afterAll(async () => {
    await deleteNamespace(redis, ns);
    await redis.quit();
  });

  it('gives no second burst just after the edge, only the tokens the elapsed time earned', async () => {
    const clock = { now: MINUTE_EDGE_MS - 100 };
    const counter = redisRateCounter(redis, ns, () => clock.now);
    const take = async (count: number) => {
      const allowed: boolean[] = [];
      for (let i = 0; i < count; i++) allowed.push((await counter.take('key:edge', 60)).allowed);
      return allowed.filter(Boolean).length;
    };
    expect(await take(60)).toBe(60);
    // A fixed window would start afresh here and let another 60 through within 200 ms.
    clock.now = MINUTE_EDGE_MS + 100;
    expect(await take(60)).toBe(0);
    const refused = await counter.take('key:edge', 60);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1 });
    // 60 a minute is one a second: ten seconds later, ten requests, and no more.
    clock.now += 10_000;
    expect(await take(20)).toBe(10);
  });

  it('refills no more than its capacity however long it was idle', async () => {
    const clock = { now: MINUTE_EDGE_MS };
    const counter = redisRateCounter(redis, ns, () => clock.now);
    expect((await counter.take('key:idle', 3)).remaining).toBe(2);
    clock.now += 3_600_000;
    expect((await counter.take('key:idle', 3)).remaining).toBe(2);
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
      rateCounter: redisRateCounter(dead, 't-dead'),
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
