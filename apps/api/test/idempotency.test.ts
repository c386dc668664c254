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

describe('replays are found first, by canonical JSON', () => {
  it('treats the same request with its keys in another order as the same request', async () => {
    const first = await submit(
      { name: 'idem-order', instance: { type: 'gpu_1x_a10' }, script: { filename: 'train.py', inline: 'print(1)' } },
      'key-0101-order',
    );
    const again = await submit(
      { script: { inline: 'print(1)', filename: 'train.py' }, instance: { type: 'gpu_1x_a10' }, name: 'idem-order' },
      'key-0101-order',
    );
    expect([first.status, again.status]).toEqual([202, 202]);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers['idempotent-replayed']).toBe('true');
  });

  it('answers a replay with its job even when the checks would now fail (S3 down, input gone)', async () => {
    const input = 's3://data-bucket/sets/replay.jsonl';
    h.storage.known.add(input);
    const body = { ...job('idem-checks'), inputs: { train: input } };
    const first = await submit(body, 'key-0102-checks');
    expect(first.status).toBe(202);
    h.storage.known.delete(input);
    h.storage.failWith = { code: 'storage_unavailable', message: 'S3 is down' };
    try {
      const calls = h.storage.calls.length;
      const again = await submit(body, 'key-0102-checks');
      expect(again.status).toBe(202);
      expect(again.body.id).toBe(first.body.id);
      expect(h.storage.calls).toHaveLength(calls);
    } finally {
      h.storage.failWith = null;
    }
  });

  it('answers a body nested deeper than any valid one with a 400, not a crash, even with a key used before', async () => {
    expect((await submit(job('idem-deep-first'), 'key-0103-deep')).status).toBe(202);
    // As JSON text: building the object would itself be the deep recursion this guards against.
    const deep = `{"name":"idem-deep","instance":{"type":"gpu_1x_a10"},"script":{"inline":"print(1)"},"config":{"a":${'['.repeat(20000)}1${']'.repeat(20000)}}}`;
    const response = await request(h.app)
      .post('/v1/jobs')
      .set('Authorization', `Bearer ${KEY_A}`)
      .set('Idempotency-Key', 'key-0103-deep')
      .set('content-type', 'application/json')
      .send(deep);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_request');
  });
});
