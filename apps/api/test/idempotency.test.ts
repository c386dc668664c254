import request from 'supertest';
import { newJobId } from '@inno-train/job-store';
import { createHash } from 'node:crypto';
import { KEY_A, KEY_B, openHarness, pendingJobs, uniqueNamespace, type Harness } from './harness';

const job = (name: string) => ({ name, instance: { type: 'gpu_1x_a10' }, script: { inline: 'print(1)', filename: 'train.py' } });

let h: Harness;

beforeAll(() => {
  h = openHarness(uniqueNamespace('idem'));
});

afterAll(async () => {
  await h.close();
});

function submit(body: object, idempotencyKey?: string, apiKey = KEY_A) {
  const call = request(h.app).post('/v1/jobs').set('Authorization', `Bearer ${apiKey}`);
  return (idempotencyKey === undefined ? call : call.set('Idempotency-Key', idempotencyKey)).send(body);
}

const provisionIds = async () => (await pendingJobs(h.queues, 'provision')).map((j) => j.data.jobId as string);

describe('POST /v1/jobs with an Idempotency-Key', () => {
  it('answers a retry of the same request with the job it made, without making another', async () => {
    const first = await submit(job('idem-a'), 'key-0001-retry');
    const again = await submit(job('idem-a'), 'key-0001-retry');
    expect(first.status).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(again.status).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    expect((await h.store.list({ limit: 200 })).jobs.filter((j) => j.name === 'idem-a')).toHaveLength(1);
    expect((await provisionIds()).filter((id) => id === first.body.id)).toHaveLength(1);
  });

  it('refuses the same key with a different request (422), and makes nothing', async () => {
    await submit(job('idem-b'), 'key-0002-reused');
    const other = await submit(job('idem-b-changed'), 'key-0002-reused');
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_reused');
    expect((await h.store.list({ limit: 200 })).jobs.some((j) => j.name === 'idem-b-changed')).toBe(false);
  });

  it('keeps keys apart per API key', async () => {
    const a = await submit(job('idem-c'), 'key-0003-shared', KEY_A);
    const b = await submit(job('idem-c'), 'key-0003-shared', KEY_B);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(b.body.id).not.toBe(a.body.id);
  });

  it('creates the job under the reserved id when the first request died between reserving and creating', async () => {
    const body = job('idem-d');
    const reservedId = newJobId();
    const keyId = `key_${createHash('sha256').update(KEY_A).digest('hex').slice(0, 12)}`;
    const fingerprint = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    await h.store.reserveSubmission(keyId, 'key-0004-crashed', { jobId: reservedId, fingerprint });
    const retry = await submit(body, 'key-0004-crashed');
    expect(retry.status).toBe(202);
    expect(retry.body.id).toBe(reservedId);
    expect(await provisionIds()).toContain(reservedId);
  });

  it('refuses a malformed key with 400 naming the header', async () => {
    for (const bad of ['has space', 'x'.repeat(256), 'tab\there']) {
      const response = await submit(job('idem-e'), bad);
      expect(response.status).toBe(400);
      expect(response.body.error.details).toEqual([{ path: 'Idempotency-Key', message: 'invalid' }]);
    }
    expect((await h.store.list({ limit: 200 })).jobs.some((j) => j.name === 'idem-e')).toBe(false);
  });
});
