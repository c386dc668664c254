import request from 'supertest';
import { createLogger } from '@inno-train/core';
import { createApp } from '../src/app';
import { redisRateCounter } from '../src/guard';
import { loadKeyEntries } from '../src/keys';
import { redisSessionStore } from '../src/session';
import { ADMIN_KEY, ALLOWED_PREFIXES, DEFAULT_BUCKET, KEY_A, openHarness, uniqueNamespace, type Harness } from './harness';

const ALLOWED = 'https://app.example';
const OTHER = 'https://evil.example';

let h: Harness;
let app: ReturnType<typeof createApp>;

beforeAll(() => {
  h = openHarness(uniqueNamespace('cors'));
  app = createApp({
    store: h.store,
    queues: h.queues,
    storage: h.storage,
    defaultBucket: DEFAULT_BUCKET,
    keys: loadKeyEntries({ keys: [KEY_A], adminKeys: [ADMIN_KEY], defaultPrefixes: ALLOWED_PREFIXES }),
    logger: createLogger({ name: 'api-test', level: 'silent' }),
    ping: async () => true,
    rateLimitPerMinute: 100,
    rateCounter: redisRateCounter(h.redis, h.ns),
    // Written by hand: upper case and the default port, which browsers never send.
    corsOrigins: ['HTTPS://App.Example:443', 'http://localhost:5173'],
    sessions: redisSessionStore({ redis: h.redis, namespace: h.ns, ttlMinutes: 60 }),
  });
});

afterAll(async () => {
  await h.close();
});

const preflight = (target: ReturnType<typeof createApp>, origin: string, path = '/v1/jobs') =>
  request(target)
    .options(path)
    .set('Origin', origin)
    .set('Access-Control-Request-Method', 'POST')
    .set('Access-Control-Request-Headers', 'authorization, content-type, idempotency-key');

const corsHeaders = (headers: Record<string, string>) => Object.keys(headers).filter((name) => name.startsWith('access-control-'));

describe('CORS', () => {
  it("answers an allowed origin's preflight without a key", async () => {
    const response = await preflight(app, ALLOWED);
    expect(response.status).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(response.headers['access-control-allow-methods']).toBe('GET, POST, DELETE');
    expect(response.headers['access-control-allow-headers']).toBe('authorization, content-type, idempotency-key, x-request-id');
    expect(response.headers['access-control-max-age']).toBe('600');
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
    expect(response.headers.vary).toMatch(/\bOrigin\b/);
    expect(response.headers['ratelimit-limit']).toBeUndefined(); // nobody's bucket was touched
  });

  it('lets an allowed page read answers (still with a key) and the rate limit and request id headers', async () => {
    const listed = await request(app).get('/v1/jobs').set('Origin', 'http://localhost:5173').set('Authorization', `Bearer ${KEY_A}`);
    expect(listed.status).toBe(200);
    expect(listed.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    const exposed = (listed.headers['access-control-expose-headers'] ?? '').split(/,\s*/);
    expect(exposed).toEqual(
      expect.arrayContaining(['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Retry-After', 'X-Request-Id']),
    );
    expect(listed.headers['ratelimit-reset']).toBeDefined();

    const keyless = await request(app).get('/v1/jobs').set('Origin', ALLOWED);
    expect(keyless.status).toBe(401);
    expect(keyless.headers['access-control-allow-origin']).toBe(ALLOWED);
  });

  it('gives any other origin no CORS headers, and leaves its preflight to authentication', async () => {
    const listed = await request(app).get('/v1/jobs').set('Origin', OTHER).set('Authorization', `Bearer ${KEY_A}`);
    expect(listed.status).toBe(200);
    expect(corsHeaders(listed.headers)).toEqual([]);
    const refused = await preflight(app, OTHER);
    expect(refused.status).toBe(401);
    expect(corsHeaders(refused.headers)).toEqual([]);
    // A look-alike of an allowed origin is another origin.
    expect(corsHeaders((await preflight(app, 'https://app.example.evil.example')).headers)).toEqual([]);
  });

  it('does not open the operator pages to other origins', async () => {
    const response = await preflight(app, ALLOWED, '/admin/login');
    expect(corsHeaders(response.headers)).toEqual([]);
    const board = await request(app).get('/admin/queues/api/queues').set('Origin', ALLOWED).set('Authorization', `Bearer ${ADMIN_KEY}`);
    expect(board.status).toBe(200);
    expect(corsHeaders(board.headers)).toEqual([]);
  });

  it('changes nothing when CORS_ORIGINS is unset: no headers, and a preflight needs a key like anything else', async () => {
    const response = await preflight(h.app, ALLOWED);
    expect(response.status).toBe(401);
    expect(corsHeaders(response.headers)).toEqual([]);
    const listed = await request(h.app).get('/v1/jobs').set('Origin', ALLOWED).set('Authorization', `Bearer ${KEY_A}`);
    expect(listed.status).toBe(200);
    expect(corsHeaders(listed.headers)).toEqual([]);
    expect(listed.headers.vary ?? '').not.toMatch(/Origin/);
  });
});
