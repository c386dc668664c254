import { createHash } from 'node:crypto';
import request from 'supertest';
import { createLogger } from '@inno-train/core';
import { createApp } from '../src/app';
import { redisRateCounter, type RateCounter } from '../src/guard';
import { loadKeyEntries } from '../src/keys';
import { LOGIN_ATTEMPTS_PER_MINUTE } from '../src/login-page';
import { redisSessionStore } from '../src/session';
import { ADMIN_KEY, ALLOWED_PREFIXES, DEFAULT_BUCKET, KEY_A, KEY_B, openHarness, uniqueNamespace, type Harness } from './harness';

const HOST = 'inno.test';
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const COOKIE = /^itk_session=([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43}); Path=\/admin; Max-Age=(\d+); HttpOnly; SameSite=Strict(; Secure)?$/;
const QUEUES = ['provision', 'stage-in', 'train', 'stage-out', 'teardown'];

/** Lets every login attempt through, so the tests below are not limited by each other's attempts. */
const unlimited: RateCounter = { take: async () => ({ allowed: true, remaining: 99, resetSeconds: 0, retryAfterSeconds: 0 }) };

/** The harness's app again, with operator sessions over the harness's Redis namespace. */
function appWithSessions(h: Harness, options: { rateCounter?: RateCounter; adminKeys?: string[] } = {}) {
  return createApp({
    store: h.store,
    queues: h.queues,
    storage: h.storage,
    defaultBucket: DEFAULT_BUCKET,
    keys: loadKeyEntries({ keys: [KEY_A, KEY_B], adminKeys: options.adminKeys ?? [ADMIN_KEY], defaultPrefixes: ALLOWED_PREFIXES }),
    logger: createLogger({ name: 'api-test', level: 'silent' }),
    ping: async () => true,
    rateLimitPerMinute: 0,
    rateCounter: options.rateCounter ?? unlimited,
    sessions: redisSessionStore({ redis: h.redis, namespace: h.ns, ttlMinutes: 480 }),
  });
}

type App = ReturnType<typeof createApp>;

function postLogin(app: App, key: string, origin: string | null = `http://${HOST}`) {
  const post = request(app).post('/admin/login').set('Host', HOST).type('form');
  if (origin !== null) post.set('Origin', origin);
  return post.send({ key });
}

/** Logs in with the admin key; returns the cookie pair to send back (`itk_session=...`). */
async function loginAsAdmin(app: App): Promise<string> {
  const response = await postLogin(app, ADMIN_KEY);
  expect(response.status).toBe(303);
  const setCookie = ([] as string[]).concat(response.headers['set-cookie'] ?? [])[0] ?? '';
  expect(setCookie).toMatch(COOKIE);
  return setCookie.split(';')[0]!;
}

const sessionKey = (h: Harness, cookie: string) =>
  `${h.ns}:session:${createHash('sha256').update(cookie.split('=')[1]!.split('.')[0]!).digest('hex')}`;

describe('operators in a browser', () => {
  let h: Harness;
  let app: App;
  beforeAll(() => {
    h = openHarness(uniqueNamespace('session'));
    app = appWithSessions(h);
  });
  afterAll(async () => {
    await h.close();
  });

  it('serves the login page as plain HTML: no script, a strict CSP, never cached', async () => {
    const page = await request(app).get('/admin/login').set('Accept', BROWSER_ACCEPT);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('<form method="post" action="/admin/login">');
    expect(page.text).toContain('type="password"');
    expect(page.text).not.toMatch(/<script/i);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['content-security-policy']).toContain("form-action 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['cache-control']).toBe('no-store');
    // Not `no-referrer`: with it, Chromium posts the form with `Origin: null`, which is refused.
    expect(page.headers['referrer-policy']).toBe('same-origin');
  });

  it('sends a browser without a session to the login page; scripts still get 401, client keys 403', async () => {
    const browser = await request(app).get('/admin/queues').set('Accept', BROWSER_ACCEPT);
    expect(browser.status).toBe(303);
    expect(browser.headers.location).toBe('/admin/login');

    const script = await request(app).get('/admin/queues/api/queues');
    expect(script.status).toBe(401);
    expect(script.headers['www-authenticate']).toBe('Bearer');

    const client = await request(app).get('/admin/queues').set('Accept', BROWSER_ACCEPT).set('Authorization', `Bearer ${KEY_A}`);
    expect(client.status).toBe(403);
    expect(client.body.error.code).toBe('admin_only');
  });

  it('exchanges an admin key for a signed, expiring, HttpOnly, SameSite=Strict cookie that opens the board', async () => {
    const response = await postLogin(app, ADMIN_KEY);
    expect(response.status).toBe(303);
    expect(response.headers.location).toBe('/admin/queues');
    const setCookie = ([] as string[]).concat(response.headers['set-cookie'] ?? []);
    expect(setCookie).toHaveLength(1);
    const [, , , maxAge, secure] = COOKIE.exec(setCookie[0]!) ?? [];
    expect(maxAge).toBe(String(480 * 60));
    expect(secure).toBeUndefined(); // posted from an http page

    const cookie = setCookie[0]!.split(';')[0]!;
    const stored = await h.redis.get(sessionKey(h, cookie));
    expect(JSON.parse(stored ?? 'null')).toEqual({ name: expect.stringMatching(/^key_[0-9a-f]{12}$/), role: 'admin' });
    expect(stored).not.toContain(ADMIN_KEY);
    const ttl = await h.redis.ttl(sessionKey(h, cookie));
    expect(ttl).toBeGreaterThan(480 * 60 - 10);
    expect(ttl).toBeLessThanOrEqual(480 * 60);

    const board = await request(app).get('/admin/queues').set('Accept', BROWSER_ACCEPT).set('Cookie', cookie);
    expect(board.status).toBe(200);
    expect(board.text).toContain('/admin/logout'); // the board's own "Log out" link
    const queues = await request(app).get('/admin/queues/api/queues').set('Cookie', cookie);
    expect(queues.status).toBe(200);
    expect((queues.body.queues as { name: string }[]).map((q) => q.name).sort()).toEqual([...QUEUES].sort());
  });

  it('marks the cookie Secure when the login was posted from an https page', async () => {
    const response = await postLogin(app, ADMIN_KEY, `https://${HOST}`);
    expect(response.status).toBe(303);
    expect(([] as string[]).concat(response.headers['set-cookie'] ?? [])[0]).toMatch(/; Secure$/);
  });

  it('refuses a client key with a fixed message that never shows the key, and starts no session', async () => {
    const before = await h.redis.keys(`${h.ns}:session:*`);
    const response = await postLogin(app, KEY_A);
    expect(response.status).toBe(403);
    expect(response.text).toContain('This key cannot open the operator pages.');
    expect(response.text).not.toContain(KEY_A);
    expect(JSON.stringify(response.headers)).not.toContain(KEY_A);
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(await h.redis.keys(`${h.ns}:session:*`)).toEqual(before);
  });

  it('refuses a wrong key and an empty one without showing them', async () => {
    const wrongKey = 'not-a-key-<b>marker</b>-123456';
    const wrong = await postLogin(app, wrongKey);
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('That key was not accepted.');
    expect(wrong.text).not.toContain('marker');
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect((await postLogin(app, '')).status).toBe(401);
  });

  it('refuses a login or logout posted from another origin', async () => {
    const cookie = await loginAsAdmin(app);
    for (const origin of ['https://evil.example', 'null', `http://${HOST}.evil.example`]) {
      const login = await postLogin(app, ADMIN_KEY, origin);
      expect({ origin, status: login.status, code: login.body.error?.code }).toEqual({ origin, status: 403, code: 'cross_origin' });
      expect(login.headers['set-cookie']).toBeUndefined();
    }
    const logout = await request(app).post('/admin/logout').set('Host', HOST).set('Origin', 'https://evil.example').set('Cookie', cookie);
    expect(logout.status).toBe(403);
    expect(await h.redis.exists(sessionKey(h, cookie))).toBe(1);
  });

  it('logs out: the session is gone from Redis, the cookie is cleared, and the old cookie opens nothing', async () => {
    const cookie = await loginAsAdmin(app);
    const page = await request(app).get('/admin/logout').set('Cookie', cookie);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<form method="post" action="/admin/logout">');

    const logout = await request(app).post('/admin/logout').set('Host', HOST).set('Origin', `http://${HOST}`).set('Cookie', cookie);
    expect(logout.status).toBe(303);
    expect(logout.headers.location).toBe('/admin/login?out=1');
    expect(logout.headers['set-cookie']).toEqual(['itk_session=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict']);
    expect(await h.redis.exists(sessionKey(h, cookie))).toBe(0);

    const browser = await request(app).get('/admin/queues').set('Accept', BROWSER_ACCEPT).set('Cookie', cookie);
    expect(browser.status).toBe(303);
    expect(browser.headers.location).toBe('/admin/login');
    expect((await request(app).get('/admin/queues/api/queues').set('Cookie', cookie)).status).toBe(401);
    expect((await request(app).get('/admin/login?out=1')).text).toContain('You have logged out.');
  });

  it('refuses a session that has expired in Redis', async () => {
    const cookie = await loginAsAdmin(app);
    expect((await request(app).get('/admin/queues/api/queues').set('Cookie', cookie)).status).toBe(200);
    await h.redis.del(sessionKey(h, cookie)); // what its EX does at the end of API_SESSION_TTL_MINUTES
    expect((await request(app).get('/admin/queues/api/queues').set('Cookie', cookie)).status).toBe(401);
  });

  it('refuses a cookie whose signature or id was tampered with, even when the session exists', async () => {
    const cookie = await loginAsAdmin(app);
    const [id, signature] = cookie.slice('itk_session='.length).split('.') as [string, string];
    const flip = (text: string) => text.slice(0, -2) + (text.at(-2) === 'A' ? 'B' : 'A') + text.at(-1);
    for (const forged of [`${id}.${flip(signature)}`, `${flip(id)}.${signature}`, id, `${id}.${signature}x`, `${id}.${id}`]) {
      const response = await request(app).get('/admin/queues/api/queues').set('Cookie', `itk_session=${forged}`);
      expect({ forged, status: response.status }).toEqual({ forged, status: 401 });
    }
    expect(await h.redis.exists(sessionKey(h, cookie))).toBe(1);
  });

  it('still takes bearer keys, and judges a request that sends one by its key alone', async () => {
    const bearer = await request(app).get('/admin/queues').set('Authorization', `Bearer ${ADMIN_KEY}`);
    expect(bearer.status).toBe(200);
    const cookie = await loginAsAdmin(app);
    const clientWithCookie = await request(app)
      .get('/admin/queues/api/queues')
      .set('Authorization', `Bearer ${KEY_B}`)
      .set('Cookie', cookie);
    expect(clientWithCookie.status).toBe(403);
    expect((await request(app).get('/v1/jobs').set('Cookie', cookie)).status).toBe(401); // a session is not an API key
  });

  it('shares sessions between replicas, and ends them once the key is no longer an admin', async () => {
    const cookie = await loginAsAdmin(app);
    const replica = appWithSessions(h);
    expect((await request(replica).get('/admin/queues/api/queues').set('Cookie', cookie)).status).toBe(200);
    const demoted = appWithSessions(h, { adminKeys: ['another-admin-key-0123456789'] });
    expect((await request(demoted).get('/admin/queues/api/queues').set('Cookie', cookie)).status).toBe(401);
  });
});

describe('login attempts', () => {
  let h: Harness;
  beforeAll(() => {
    h = openHarness(uniqueNamespace('login-limit'));
  });
  afterAll(async () => {
    await h.close();
  });

  it('are limited per client address with 429 and Retry-After, before the key is even looked at', async () => {
    const app = appWithSessions(h, { rateCounter: redisRateCounter(h.redis, h.ns) });
    const statuses: number[] = [];
    for (let i = 0; i < LOGIN_ATTEMPTS_PER_MINUTE; i++) statuses.push((await postLogin(app, `wrong-key-number-${i}-abcdefgh`)).status);
    expect(statuses).toEqual(Array(LOGIN_ATTEMPTS_PER_MINUTE).fill(401));
    const limited = await postLogin(app, ADMIN_KEY);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.text).toContain('Too many login attempts');
    expect(limited.headers['set-cookie']).toBeUndefined();
    // Bull Board itself is not limited by failed logins.
    expect((await request(app).get('/admin/queues').set('Authorization', `Bearer ${ADMIN_KEY}`)).status).toBe(200);
  });
});
