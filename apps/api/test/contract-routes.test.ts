/**
 * The routes issue 13 added: list filters, outputs (a page, a redirect to a presigned GET) and
 * retry. Every answer is also checked against the OpenAPI document (contract-setup.ts).
 */
import request from 'supertest';
import { waitFor } from '@inno-train/test-kit';
import { ADMIN_KEY, KEY_A, KEY_B, openHarness, uniqueNamespace, type Harness } from './harness';

const TRAIN = 's3://data-bucket/sets/train.jsonl';
const OTHER = 's3://data-bucket/sets/other.jsonl';
const job = (fields: Record<string, unknown> = {}) => ({
  instance: { type: 'gpu_1x_a10' },
  inputs: { train: TRAIN },
  script: { inline: 'print(1)', filename: 'train.py' },
  env: { WANDB_MODE: 'offline' },
  ...fields,
});

let h: Harness;

beforeAll(() => {
  h = openHarness(uniqueNamespace('contract-routes'));
  h.storage.known.add(TRAIN);
  h.storage.known.add(OTHER);
});

afterAll(async () => {
  await h.close();
});

const as = (key: string) => ({ Authorization: `Bearer ${key}` });
const get = (path: string, key = KEY_A) => request(h.app).get(path).set(as(key));
const post = (path: string, body?: object, key = KEY_A) => {
  const req = request(h.app).post(path).set(as(key));
  return body === undefined ? req : req.send(body);
};

/** Submits and lets the clock pass the creation millisecond, so ids sort in submission order. */
async function submit(fields: Record<string, unknown>, key = KEY_A): Promise<{ id: string; createdAt: string }> {
  const response = await post('/v1/jobs', job(fields), key);
  expect(response.status).toBe(202);
  const at = Date.parse(response.body.createdAt);
  await waitFor(() => Date.now() > at + 1, { timeoutMs: 2000, intervalMs: 1, description: 'the next millisecond' });
  return response.body;
}

const ids = (body: { data: { id: string }[] }) => body.data.map((j) => j.id);

describe('GET /v1/jobs filters', () => {
  let made: { id: string; createdAt: string }[];

  beforeAll(async () => {
    made = [];
    made.push(await submit({ name: 'alpha', metadata: { team: 'vision', run: '1' } }));
    made.push(await submit({ name: 'beta', metadata: { team: 'vision', run: '2' } }));
    made.push(await submit({ name: 'alpha', metadata: { team: 'speech', run: '3' } }));
    made.push(await submit({ name: 'gamma', metadata: { team: 'filters-b' } }, KEY_B));
    await h.store.update(made[1]!.id, (current) => ({ ...current, status: 'failed', finishedAt: new Date().toISOString() }));
  });

  const mine = () => made.slice(0, 3).map((m) => m.id);

  it('takes several statuses, comma-separated', async () => {
    const both = await get('/v1/jobs?status=queued,failed');
    expect(ids(both.body).filter((id) => mine().includes(id))).toEqual([...mine()].reverse());
    const failed = await get('/v1/jobs?status=failed');
    expect(ids(failed.body)).toEqual([made[1]!.id]);
    const bad = await get('/v1/jobs?status=queued,sleeping');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0]).toEqual({ path: 'status', message: expect.stringMatching(/^"sleeping": /) });
  });

  it('filters by name and by metadata, every metadata filter at once', async () => {
    expect(ids((await get('/v1/jobs?name=alpha')).body)).toEqual([made[2]!.id, made[0]!.id]);
    expect(ids((await get('/v1/jobs?metadata.team=vision')).body)).toEqual([made[1]!.id, made[0]!.id]);
    expect(ids((await get('/v1/jobs?metadata.team=vision&metadata.run=2')).body)).toEqual([made[1]!.id]);
    expect(ids((await get('/v1/jobs?name=alpha&metadata.team=speech')).body)).toEqual([made[2]!.id]);
    // Another tenant's job matches none of this key's filters, but its own key finds it.
    expect(ids((await get('/v1/jobs?metadata.team=filters-b')).body)).toEqual([]);
    expect(ids((await get('/v1/jobs?metadata.team=filters-b', KEY_B)).body)).toEqual([made[3]!.id]);
    const bad = await get('/v1/jobs?metadata.bad%20key=x');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('metadata.bad key');
  });

  it('filters by creation time: createdAfter inclusive, createdBefore exclusive', async () => {
    const second = encodeURIComponent(made[1]!.createdAt);
    expect(ids((await get(`/v1/jobs?createdAfter=${second}`)).body)).toEqual([made[2]!.id, made[1]!.id]);
    expect(ids((await get(`/v1/jobs?createdBefore=${second}`)).body).filter((id) => mine().includes(id))).toEqual([made[0]!.id]);
    const bad = await get('/v1/jobs?createdAfter=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('createdAfter');
  });

  it('pages a filtered list with nextAfter, whatever the scan found per page', async () => {
    const first = await get('/v1/jobs?metadata.team=vision&limit=1');
    expect(ids(first.body)).toEqual([made[1]!.id]);
    expect(first.body.hasMore).toBe(true);
    expect(first.body.nextAfter).toBe(made[1]!.id);
    const second = await get(`/v1/jobs?metadata.team=vision&limit=1&after=${first.body.nextAfter}`);
    expect(ids(second.body)).toEqual([made[0]!.id]);
    const unfiltered = await get('/v1/jobs?limit=2');
    expect(unfiltered.body.nextAfter).toBe(unfiltered.body.data[1].id);
  });
});

describe('outputs', () => {
  let id: string;

  beforeAll(async () => {
    id = (await submit({ name: 'with-outputs' })).id;
    const record = await h.store.mustGet(id);
    const prefix = record.spec.outputUri.replace(/^s3:\/\/[^/]+\//, '');
    await h.store.update(id, (current) => ({
      ...current,
      outputs: [
        { key: `${prefix}model/weights.bin`, size: 2048 },
        { key: `${prefix}metrics.json`, size: 12 },
        { key: `${prefix}a b/ü.txt`, size: 3 },
      ],
    }));
  });

  it('lists them in path order with their URIs, a page at a time', async () => {
    const all = await get(`/v1/jobs/${id}/outputs`);
    expect(all.status).toBe(200);
    expect(all.body.data.map((o: { path: string }) => o.path)).toEqual(['a b/ü.txt', 'metrics.json', 'model/weights.bin']);
    expect(all.body.data[2]).toEqual({
      path: 'model/weights.bin',
      uri: expect.stringMatching(/^s3:\/\/.+\/model\/weights\.bin$/),
      size: 2048,
    });
    const first = await get(`/v1/jobs/${id}/outputs?limit=2`);
    expect(first.body.hasMore).toBe(true);
    const rest = await get(`/v1/jobs/${id}/outputs?limit=2&after=${encodeURIComponent(first.body.data[1].path)}`);
    expect(rest.body).toEqual({ data: [all.body.data[2]], hasMore: false });
  });

  it('redirects a download to a presigned GET that no cache keeps', async () => {
    const answer = await get(`/v1/jobs/${id}/outputs/model/weights.bin`);
    expect(answer.status).toBe(302);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.headers.location).toMatch(/^http:\/\/s3\.test\.invalid\/.+\/model\/weights\.bin\?X-Amz-Expires=300$/);
    const encoded = await get(`/v1/jobs/${id}/outputs/a%20b/%C3%BC.txt`);
    expect(encoded.status).toBe(302);
  });

  it('answers 404 for a path the job did not write, and for another tenant', async () => {
    const missing = await get(`/v1/jobs/${id}/outputs/nope.bin`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('output_not_found');
    const other = await get(`/v1/jobs/${id}/outputs/metrics.json`, KEY_B);
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('job_not_found');
    expect((await get(`/v1/jobs/${id}/outputs`, KEY_B)).status).toBe(404);
  });

  it('takes only GET on its paths', async () => {
    const put = await request(h.app).put(`/v1/jobs/${id}/outputs/metrics.json`).set(as(KEY_A));
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe('GET, HEAD');
  });
});

describe('POST /v1/jobs/:id/retry', () => {
  let original: { id: string; createdAt: string };

  beforeAll(async () => {
    original = await submit({ name: 'to-retry', metadata: { run: '1' }, maxRuntimeSeconds: 600 });
  });

  it('makes a new job from the stored request, with retryOf, Location and its own output location', async () => {
    const answer = await post(`/v1/jobs/${original.id}/retry`);
    expect(answer.status).toBe(202);
    expect(answer.headers.location).toBe(`/v1/jobs/${answer.body.id}`);
    expect(answer.body.retryOf).toBe(original.id);
    expect(answer.body.id).not.toBe(original.id);
    expect(answer.body.request.maxRuntimeSeconds).toBe(600);
    expect(answer.body.request.envKeys).toEqual(['WANDB_MODE']);
    expect(answer.body.outputUri).toContain(`/jobs/${answer.body.id}/output/`);
    const stored = await h.store.mustGet(answer.body.id);
    expect(stored.spec.env).toEqual({ WANDB_MODE: 'offline' });
    expect(stored.spec.script).toEqual({ inline: 'print(1)', filename: 'train.py' });
  });

  it('replaces whole fields with overrides and keeps the rest', async () => {
    const answer = await post(`/v1/jobs/${original.id}/retry`, { overrides: { name: 'retried', inputs: { train: OTHER } } });
    expect(answer.status).toBe(202);
    expect(answer.body.name).toBe('retried');
    expect(answer.body.request.inputs).toEqual({ train: OTHER });
    expect(answer.body.metadata).toEqual({ run: '1' });
  });

  it('checks overrides like a submission', async () => {
    const unknown = await post(`/v1/jobs/${original.id}/retry`, { overrides: { colour: 'red' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details[0].path).toBe('overrides.colour');
    const outside = await post(`/v1/jobs/${original.id}/retry`, { overrides: { outputUri: 's3://elsewhere/out/' } });
    expect(outside.status).toBe(403);
    expect(outside.body.error.code).toBe('forbidden_location');
    const top = await post(`/v1/jobs/${original.id}/retry`, { name: 'not-under-overrides' });
    expect(top.status).toBe(400);
  });

  it('replays with the same Idempotency-Key', async () => {
    const key = `retry-${Date.now()}`;
    const first = await post(`/v1/jobs/${original.id}/retry`, { overrides: { name: 'idem' } }).set('Idempotency-Key', key);
    const again = await post(`/v1/jobs/${original.id}/retry`, { overrides: { name: 'idem' } }).set('Idempotency-Key', key);
    expect(again.status).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.id).toBe(first.body.id);
  });

  it("is another tenant's 404, and an admin's own job", async () => {
    const other = await post(`/v1/jobs/${original.id}/retry`, undefined, KEY_B);
    expect(other.status).toBe(404);
    const admin = await post(`/v1/jobs/${original.id}/retry`, undefined, ADMIN_KEY);
    expect(admin.status).toBe(202);
    expect(admin.body.retryOf).toBe(original.id);
  });
});
