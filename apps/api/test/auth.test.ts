import { createHash } from 'node:crypto';
import request from 'supertest';
import { ADMIN_KEY, KEY_A, KEY_B, openHarness, uniqueNamespace, type Harness } from './harness';

const TRAIN = 's3://data-bucket/sets/train.jsonl';
const validJob = () => ({
  instance: { type: 'gpu_1x_a10' },
  inputs: { train: TRAIN },
  script: { inline: 'print(1)', filename: 'train.py' },
});

let h: Harness;

beforeAll(() => {
  h = openHarness(uniqueNamespace('auth'));
  h.storage.known.add(TRAIN);
});

afterAll(async () => {
  await h.close();
});

function keyIdOf(key: string): string {
  return `key_${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

describe('API authentication', () => {
  it('answers 401 with a Bearer challenge when no key is sent', async () => {
    const response = await request(h.app).get('/v1/jobs');
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.body.error.code).toBe('unauthorized');
  });

  it('answers 401 with a Bearer challenge for a wrong key, a non-Bearer scheme and an empty Bearer', async () => {
    for (const header of [
      'Bearer wrong-key-wrong-key-wrong',
      `Basic ${KEY_A}`,
      'Bearer ',
      `Bearer ${KEY_A}x`,
      `Bearer ${KEY_A.slice(0, -1)}`,
    ]) {
      const response = await request(h.app).get('/v1/jobs').set('Authorization', header);
      expect({ header, status: response.status }).toEqual({ header, status: 401 });
      expect(response.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it('rejects a submission without a key before looking at the body and creates nothing', async () => {
    const calls = h.storage.calls.length;
    const jobs = (await h.store.list({ limit: 200 })).jobs.length;
    const response = await request(h.app).post('/v1/jobs').send(validJob());
    expect(response.status).toBe(401);
    expect(h.storage.calls).toHaveLength(calls);
    expect((await h.store.list({ limit: 200 })).jobs).toHaveLength(jobs);
  });

  it('accepts every configured key', async () => {
    for (const key of [KEY_A, KEY_B]) {
      const response = await request(h.app).get('/v1/jobs').set('Authorization', `Bearer ${key}`);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ data: expect.any(Array), hasMore: false, nextAfter: null });
    }
  });

  it('records the creating key by its id, never the key itself', async () => {
    const byA = await request(h.app).post('/v1/jobs').set('Authorization', `Bearer ${KEY_A}`).send(validJob());
    const byB = await request(h.app).post('/v1/jobs').set('Authorization', `Bearer ${KEY_B}`).send(validJob());
    expect(byA.status).toBe(202);
    expect(byB.status).toBe(202);

    const recordA = await h.store.mustGet(byA.body.id);
    const recordB = await h.store.mustGet(byB.body.id);
    expect(recordA.createdBy).toMatch(/^key_[0-9a-f]{12}$/);
    expect(recordA.createdBy).toBe(keyIdOf(KEY_A));
    expect(recordB.createdBy).toBe(keyIdOf(KEY_B));
    expect(recordA.createdBy).not.toBe(recordB.createdBy);

    const rawA = (await h.redis.get(`${h.ns}:job:${byA.body.id}`)) ?? '';
    expect(rawA).toContain(recordA.createdBy!);
    expect(rawA).not.toContain(KEY_A);
    expect(JSON.stringify(byA.body)).not.toContain(KEY_A);
    const events = JSON.stringify(await h.store.events(byA.body.id));
    expect(events).not.toContain(KEY_A);
  });

  it('serves /healthz without a key, and answers 503 when Redis does not answer', async () => {
    const healthy = await request(h.app).get('/healthz');
    expect(healthy.status).toBe(200);
    expect(healthy.body).toEqual({ status: 'ok', redis: true });

    h.pingOk.value = false;
    try {
      const down = await request(h.app).get('/healthz');
      expect(down.status).toBe(503);
      expect(down.body).toEqual({ status: 'unavailable', redis: false });
    } finally {
      h.pingOk.value = true;
    }
  });

  it('opens the Bull Board to admin keys only', async () => {
    const anonymous = await request(h.app).get('/admin/queues');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Bearer');

    const wrong = await request(h.app).get('/admin/queues/api/queues').set('Authorization', 'Bearer not-a-key-not-a-key');
    expect(wrong.status).toBe(401);

    const client = await request(h.app).get('/admin/queues/api/queues').set('Authorization', `Bearer ${KEY_A}`);
    expect(client.status).toBe(403);
    expect(client.body.error.code).toBe('admin_only');

    const page = await request(h.app).get('/admin/queues').set('Authorization', `Bearer ${ADMIN_KEY}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
  });

  it('answers 404 not_found for an unknown route behind the key', async () => {
    const response = await request(h.app).get('/v1/nothing-here').set('Authorization', `Bearer ${KEY_A}`);
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('not_found');
  });
});
