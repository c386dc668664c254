import { createHash } from 'node:crypto';
import request from 'supertest';
import { createLogger } from '@inno-train/core';
import { createMetricsStore } from '@inno-train/job-store';
import { createApp } from '../src/app';
import type { RateCounter } from '../src/guard';
import { loadKeyEntries } from '../src/keys';
import { redisSessionStore } from '../src/session';
import { ADMIN_KEY, ALLOWED_PREFIXES, DEFAULT_BUCKET, KEY_A, KEY_B, openHarness, uniqueNamespace, type Harness } from './harness';

/**
 * The job console (/console): any key logs in, the session carries its tenant, and the console's data
 * is /v1's job routes behind that session, so tenancy is /v1's: another tenant's job is the same 404.
 */
const HOST = 'inno.test';
const ORIGIN = `http://${HOST}`;
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const CONSOLE_COOKIE = /^itk_console=([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43}); Path=\/console; Max-Age=(\d+); HttpOnly; SameSite=Strict$/;

const unlimited: RateCounter = { take: async () => ({ allowed: true, remaining: 99, resetSeconds: 0, retryAfterSeconds: 0 }) };

type App = ReturnType<typeof createApp>;

function appWithSessions(h: Harness, clientKeys = [KEY_A, KEY_B]): App {
  return createApp({
    store: h.store,
    queues: h.queues,
    storage: h.storage,
    defaultBucket: DEFAULT_BUCKET,
    keys: loadKeyEntries({ keys: clientKeys, adminKeys: [ADMIN_KEY], defaultPrefixes: ALLOWED_PREFIXES }),
    logger: createLogger({ name: 'api-test', level: 'silent' }),
    ping: async () => true,
    rateLimitPerMinute: 0,
    rateCounter: unlimited,
    sessions: redisSessionStore({ redis: h.redis, namespace: h.ns, ttlMinutes: 480 }),
    metrics: createMetricsStore({ redis: h.redis, namespace: h.ns }),
  });
}

const postLogin = (app: App, key: string) =>
  request(app).post('/console/login').set('Host', HOST).set('Origin', ORIGIN).type('form').send({ key });

/** Logs in at the console; returns the cookie pair to send back (`itk_console=...`). */
async function consoleLogin(app: App, key: string): Promise<string> {
  const response = await postLogin(app, key);
  expect(response.status).toBe(303);
  expect(response.headers.location).toBe('/console');
  const setCookie = ([] as string[]).concat(response.headers['set-cookie'] ?? []);
  expect(setCookie).toHaveLength(1);
  expect(setCookie[0]).toMatch(CONSOLE_COOKIE);
  return setCookie[0]!.split(';')[0]!;
}

const sessionKey = (h: Harness, cookie: string) =>
  `${h.ns}:session:${createHash('sha256').update(cookie.split('=')[1]!.split('.')[0]!).digest('hex')}`;

async function submitAs(app: App, key: string, name: string): Promise<string> {
  const response = await request(app)
    .post('/v1/jobs')
    .set('Authorization', `Bearer ${key}`)
    .send({ name, instance: { type: 'gpu_1x_a10' }, script: { inline: 'print("hi")', filename: 'train.py' } });
  expect(response.status).toBe(202);
  return response.body.id as string;
}

const cancelThroughConsole = (app: App, cookie: string, jobId: string) =>
  request(app).post(`/console/api/jobs/${jobId}/cancel`).set('Host', HOST).set('Origin', ORIGIN).set('Cookie', cookie);

/** An error body without its per-request id, to compare two answers. */
const errorWithoutId = (body: { error: Record<string, unknown> }) => ({ ...body.error, requestId: undefined });

describe('the job console', () => {
  let h: Harness;
  let app: App;
  let cookieA: string;
  let cookieB: string;
  let cookieAdmin: string;
  let jobOfA: string;

  beforeAll(async () => {
    h = openHarness(uniqueNamespace('console'));
    app = appWithSessions(h);
    jobOfA = await submitAs(app, KEY_A, 'console-a');
    cookieA = await consoleLogin(app, KEY_A);
    cookieB = await consoleLogin(app, KEY_B);
    cookieAdmin = await consoleLogin(app, ADMIN_KEY);
  });
  afterAll(async () => {
    await h.close();
  });

  it('takes a client key at /console/login and keeps its tenant in the session, never the key', async () => {
    const stored = await h.redis.get(sessionKey(h, cookieA));
    expect(JSON.parse(stored ?? 'null')).toEqual({ name: expect.stringMatching(/^key_[0-9a-f]{12}$/), role: 'client', scope: 'console' });
    expect(stored).not.toContain(KEY_A);
    const page = await request(app).get('/console/login');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<form method="post" action="/console/login">');
    expect(page.text).not.toMatch(/<script/i);
  });

  it('refuses a wrong key without showing it, and sends a browser without a session to the login page', async () => {
    const wrong = await postLogin(app, 'not-a-key-<b>marker</b>-123456');
    expect(wrong.status).toBe(401);
    expect(wrong.text).not.toContain('marker');
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const browser = await request(app).get('/console').set('Accept', BROWSER_ACCEPT);
    expect({ status: browser.status, location: browser.headers.location }).toEqual({ status: 303, location: '/console/login' });
    expect((await request(app).get('/console/api/jobs')).status).toBe(401);
  });

  it('serves its page with a CSP that allows scripts and styles from this origin only, and no inline script', async () => {
    const page = await request(app).get('/console').set('Accept', BROWSER_ACCEPT).set('Cookie', cookieA);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(page.text).not.toMatch(/https?:\/\//); // nothing from a CDN
    expect(page.headers['cache-control']).toBe('no-store');
    const jobPage = await request(app).get(`/console/jobs/${jobOfA}`).set('Accept', BROWSER_ACCEPT).set('Cookie', cookieA);
    expect(jobPage.status).toBe(200);
    expect(jobPage.headers['content-security-policy']).toBe(csp);
  });

  it('serves its scripts and uPlot from this origin, and nothing else from the assets folder', async () => {
    const appScript = await request(app).get('/console/assets/app.js');
    expect(appScript.status).toBe(200);
    expect(appScript.headers['content-type']).toMatch(/^text\/javascript/);
    const uplot = await request(app).get('/console/assets/uPlot.iife.min.js');
    expect(uplot.status).toBe(200);
    expect(uplot.text).toContain('uPlot');
    expect((await request(app).get('/console/assets/uPlot.min.css')).headers['content-type']).toMatch(/^text\/css/);
    for (const path of ['/console/assets/nope.js', '/console/assets/..%2F..%2Fpackage.json', '/console/assets/index.html']) {
      expect({ path, status: (await request(app).get(path)).status }).toEqual({ path, status: 404 });
    }
  });

  it("shows a client its own jobs, and another tenant's job is the same 404 as on /v1", async () => {
    const own = await request(app).get(`/console/api/jobs/${jobOfA}`).set('Cookie', cookieA);
    expect(own.status).toBe(200);
    expect(own.body.id).toBe(jobOfA);
    const listA = await request(app).get('/console/api/jobs?status=queued').set('Cookie', cookieA);
    expect(listA.body.data.map((job: { id: string }) => job.id)).toContain(jobOfA);
    const listB = await request(app).get('/console/api/jobs').set('Cookie', cookieB);
    expect(listB.status).toBe(200);
    expect(listB.body.data.map((job: { id: string }) => job.id)).not.toContain(jobOfA);

    const viaV1 = await request(app).get(`/v1/jobs/${jobOfA}`).set('Authorization', `Bearer ${KEY_B}`);
    expect(viaV1.status).toBe(404);
    const suffixes = ['', '/events', '/logs', '/metrics', '/outputs', '/checkpoints', '/stream', '/outputs/model.bin'];
    for (const suffix of [...suffixes, '/checkpoints/step-1/download']) {
      const viaConsole = await request(app).get(`/console/api/jobs/${jobOfA}${suffix}`).set('Cookie', cookieB);
      expect({ suffix, status: viaConsole.status, error: errorWithoutId(viaConsole.body) }).toEqual({
        suffix,
        status: 404,
        error: errorWithoutId(viaV1.body),
      });
    }
    const admin = await request(app).get(`/console/api/jobs/${jobOfA}/events`).set('Cookie', cookieAdmin);
    expect(admin.status).toBe(200);
    const adminList = await request(app).get('/console/api/jobs').set('Cookie', cookieAdmin);
    expect(adminList.body.data.map((job: { id: string }) => job.id)).toContain(jobOfA);
  });

  it("gives a checkpoint's download links through the session, and opens no other path under checkpoints", async () => {
    const jobId = await submitAs(app, KEY_A, 'console-checkpoint');
    const uri = `s3://inno-service/jobs/${jobId}/output/checkpoints/step-1/`;
    await h.store.update(jobId, (job) => ({
      ...job,
      checkpoints: [{ name: 'step-1', step: 1, at: '2025-03-01T10:00:00.000Z', uri, bytes: 4, files: 1, signature: 's' }],
    }));
    h.storage.objects.set(`${uri}model.bin`, 4);
    const own = await request(app).get(`/console/api/jobs/${jobId}/checkpoints/step-1/download`).set('Cookie', cookieA);
    expect(own.status).toBe(200);
    expect(own.headers['cache-control']).toBe('no-store');
    expect(own.body.files).toEqual([
      { path: 'model.bin', size: 4, url: expect.stringContaining(`/jobs/${jobId}/output/checkpoints/step-1/model.bin`) },
    ]);
    const otherTenant = await request(app).get(`/console/api/jobs/${jobId}/checkpoints/step-1/download`).set('Cookie', cookieB);
    expect({ status: otherTenant.status, code: otherTenant.body.error?.code }).toEqual({ status: 404, code: 'job_not_found' });
    const missing = await request(app).get(`/console/api/jobs/${jobId}/checkpoints/step-2/download`).set('Cookie', cookieA);
    expect({ status: missing.status, code: missing.body.error?.code }).toEqual({ status: 404, code: 'checkpoint_not_found' });
    for (const attempt of [
      request(app).get(`/console/api/jobs/${jobId}/checkpoints/step-1`),
      request(app).get(`/console/api/jobs/${jobId}/checkpoints/step-1/download/more`),
      request(app).get(`/console/api/jobs/${jobId}/events/1`),
      request(app).post(`/console/api/jobs/${jobId}/checkpoints/step-1/download`).set('X-Inno-Console', '1'),
    ]) {
      const response = await attempt.set('Cookie', cookieA).set('Host', HOST).set('Origin', ORIGIN);
      expect({ status: response.status, code: response.body.error?.code }).toEqual({ status: 404, code: 'not_found' });
    }
  });

  it('says who is logged in by tenant name and role only', async () => {
    const who = await request(app).get('/console/api/session').set('Cookie', cookieA);
    expect(who.body).toEqual({ name: expect.stringMatching(/^key_[0-9a-f]{12}$/), role: 'client' });
    expect(JSON.stringify(who.body)).not.toContain(KEY_A);
    expect((await request(app).get('/console/api/session').set('Cookie', cookieAdmin)).body.role).toBe('admin');
  });

  it("refuses a cancel without the console's header or from another origin, and cancels with both", async () => {
    const jobId = await submitAs(app, KEY_A, 'console-cancel');
    const noHeader = await cancelThroughConsole(app, cookieA, jobId);
    expect({ status: noHeader.status, code: noHeader.body.error?.code }).toEqual({ status: 403, code: 'cross_origin' });
    const crossSite = await cancelThroughConsole(app, cookieA, jobId).set('Origin', 'https://evil.example').set('X-Inno-Console', '1');
    expect({ status: crossSite.status, code: crossSite.body.error?.code }).toEqual({ status: 403, code: 'cross_origin' });
    expect((await h.store.get(jobId))?.status).toBe('queued');

    const otherTenant = await cancelThroughConsole(app, cookieB, jobId).set('X-Inno-Console', '1');
    expect({ status: otherTenant.status, code: otherTenant.body.error?.code }).toEqual({ status: 404, code: 'job_not_found' });
    const cancelled = await cancelThroughConsole(app, cookieA, jobId).set('X-Inno-Console', '1');
    expect({ status: cancelled.status, jobStatus: cancelled.body.status }).toEqual({ status: 200, jobStatus: 'cancelled' });
  });

  it('is read-only except cancel: submit, delete, retry and webhooks stay on /v1', async () => {
    const attempts = [
      request(app).post('/console/api/jobs').set('X-Inno-Console', '1').send({}),
      request(app).delete(`/console/api/jobs/${jobOfA}`).set('X-Inno-Console', '1'),
      request(app).post(`/console/api/jobs/${jobOfA}/retry`).set('X-Inno-Console', '1'),
      request(app).get('/console/api/webhooks'),
      request(app).get('/console/api/usage'),
    ];
    for (const attempt of attempts) {
      const response = await attempt.set('Cookie', cookieA).set('Host', HOST).set('Origin', ORIGIN);
      expect({ status: response.status, code: response.body.error?.code }).toEqual({ status: 404, code: 'not_found' });
    }
    expect((await h.store.get(jobOfA))?.status).toBe('queued');
  });

  it('keeps its cookie and bearer keys apart: no cookie on /v1 or Bull Board, no bearer key on the console', async () => {
    expect((await request(app).get('/v1/jobs').set('Cookie', cookieA)).status).toBe(401);
    expect((await request(app).get('/console/api/jobs').set('Authorization', `Bearer ${KEY_A}`)).status).toBe(401);
    // An admin's console session, renamed to the operator cookie by hand, does not open the board.
    const renamed = `itk_session=${cookieAdmin.slice('itk_console='.length)}`;
    expect((await request(app).get('/admin/queues/api/queues').set('Cookie', renamed)).status).toBe(401);
    // Bull Board still refuses client keys at its own login page.
    const board = await request(app).post('/admin/login').set('Host', HOST).set('Origin', ORIGIN).type('form').send({ key: KEY_A });
    expect(board.status).toBe(403);
  });

  it('ends sessions whose key is no longer configured', async () => {
    const withoutB = appWithSessions(h, [KEY_A]);
    expect((await request(withoutB).get('/console/api/jobs').set('Cookie', cookieA)).status).toBe(200);
    const refused = await request(withoutB).get('/console/api/jobs').set('Cookie', cookieB);
    expect(refused.status).toBe(401);
    expect(refused.headers['set-cookie']).toEqual(['itk_console=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict']);
  });

  it('logs out: the session is gone and the cookie opens nothing', async () => {
    const cookie = await consoleLogin(app, KEY_A);
    const logout = await request(app).post('/console/logout').set('Host', HOST).set('Origin', ORIGIN).set('Cookie', cookie);
    expect({ status: logout.status, location: logout.headers.location }).toEqual({ status: 303, location: '/console/login?out=1' });
    expect(logout.headers['set-cookie']).toEqual(['itk_console=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict']);
    expect(await h.redis.exists(sessionKey(h, cookie))).toBe(0);
    expect((await request(app).get('/console/api/jobs').set('Cookie', cookie)).status).toBe(401);
  });
});
