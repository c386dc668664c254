import request from 'supertest';
import { ADMIN_KEY, KEY_A, KEY_B, openHarness, uniqueNamespace, type Harness } from './harness';

let h: Harness;
beforeAll(() => {
  h = openHarness(uniqueNamespace('webhooks'));
});
afterAll(async () => {
  await h.close();
});

const as = (key: string) => ({ Authorization: `Bearer ${key}` });
const register = (key: string, body: unknown) =>
  request(h.app)
    .post('/v1/webhooks')
    .set(as(key))
    .send(body as object);

describe('webhook endpoints', () => {
  it('registers an https endpoint with every event type by default and shows its secret once', async () => {
    const created = await register(KEY_A, { url: 'https://hooks.example.com/inno' });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/v1/webhooks/${created.body.id}`);
    expect(created.body).toMatchObject({
      url: 'https://hooks.example.com/inno',
      events: ['job.status_changed', 'job.succeeded', 'job.failed', 'job.cancelled', 'job.settled'],
    });
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const list = await request(h.app).get('/v1/webhooks').set(as(KEY_A));
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([
      { id: created.body.id, url: created.body.url, events: created.body.events, createdAt: created.body.createdAt },
    ]);
    expect(list.text).not.toContain(created.body.secret.slice(6));
    expect(list.text).not.toContain('secret');
  });

  it('keeps the event types asked for', async () => {
    const created = await register(KEY_A, { url: 'https://hooks.example.com/ends', events: ['job.succeeded', 'job.failed'] });
    expect(created.status).toBe(201);
    expect(created.body.events).toEqual(['job.succeeded', 'job.failed']);
  });

  it.each([
    [{ url: 'http://hooks.example.com/' }, 'https'],
    [{ url: 'https://user:pw@hooks.example.com/' }, 'credentials'],
    [{ url: 'https://127.0.0.1/' }, 'refused address'],
    [{ url: 'https://[::ffff:169.254.169.254]/' }, 'refused address'],
    [{ url: 'https://169.254.169.254/latest/meta-data/' }, 'refused address'],
    [{ url: 'https://svc.private.example/' }, 'refused address'],
    [{ url: `https://hooks.example.com/${'x'.repeat(2100)}` }, ''],
    [{ url: 'https://hooks.example.com/', events: ['job.exploded'] }, ''],
    [{ url: 'https://hooks.example.com/', extra: 1 }, 'unknown field'],
    [{}, ''],
  ])('refuses %j with a 400 naming the field', async (body, why) => {
    const answer = await register(KEY_A, body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('invalid_request');
    const detail = answer.body.error.details.find((d: { path: string }) => d.path === '' || /^(url|events|extra)/.test(d.path));
    expect(detail).toBeDefined();
    expect(detail.message).toContain(why);
  });

  it("keeps tenants apart: B neither lists, reads the deliveries of, nor deletes A's endpoint (404 as for a missing one)", async () => {
    const created = await register(KEY_A, { url: 'https://hooks.example.com/a-only' });
    const id = created.body.id as string;
    const listB = await request(h.app).get('/v1/webhooks').set(as(KEY_B));
    expect(listB.body.data.map((w: { id: string }) => w.id)).not.toContain(id);
    const listAdmin = await request(h.app).get('/v1/webhooks').set(as(ADMIN_KEY));
    expect(listAdmin.body.data.map((w: { id: string }) => w.id)).not.toContain(id);

    const deleteB = await request(h.app).delete(`/v1/webhooks/${id}`).set(as(KEY_B));
    const missing = await request(h.app).delete('/v1/webhooks/wh_000000000000000000000000').set(as(KEY_B));
    expect(deleteB.status).toBe(404);
    expect(deleteB.body.error.code).toBe('webhook_not_found');
    expect(missing.status).toBe(404);
    const deliveriesB = await request(h.app).get(`/v1/webhooks/${id}/deliveries`).set(as(KEY_B));
    expect(deliveriesB.status).toBe(404);

    const deliveriesA = await request(h.app).get(`/v1/webhooks/${id}/deliveries`).set(as(KEY_A));
    expect(deliveriesA.status).toBe(200);
    expect(deliveriesA.body).toEqual({ data: [] });
    const deleteA = await request(h.app).delete(`/v1/webhooks/${id}`).set(as(KEY_A));
    expect(deleteA.status).toBe(204);
    expect((await request(h.app).get(`/v1/webhooks/${id}/deliveries`).set(as(KEY_A))).status).toBe(404);
  });

  it('answers 405 naming the methods a webhook path takes', async () => {
    const answer = await request(h.app).put('/v1/webhooks').set(as(KEY_A)).send({});
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe('GET, POST, HEAD');
  });

  it('answers 401 without a key', async () => {
    expect((await request(h.app).get('/v1/webhooks')).status).toBe(401);
  });
});
