/**
 * GET /v1/jobs/:id/metrics: the job's metric series, paged by step. Every answer is also checked
 * against the OpenAPI document (contract-setup.ts).
 */
import request from 'supertest';
import { createMetricsStore } from '@inno-train/job-store';
import { ADMIN_KEY, KEY_A, KEY_B, openHarness, uniqueNamespace, type Harness } from './harness';

const TRAIN = 's3://data-bucket/sets/train.jsonl';
const AT = '2025-03-01T10:00:00.000Z';

let h: Harness;

beforeAll(() => {
  h = openHarness(uniqueNamespace('metrics'));
  h.storage.known.add(TRAIN);
});

afterAll(async () => {
  await h.close();
});

const as = (key: string) => ({ Authorization: `Bearer ${key}` });
const get = (path: string, key = KEY_A) => request(h.app).get(path).set(as(key));

async function submit(key = KEY_A): Promise<string> {
  const response = await request(h.app)
    .post('/v1/jobs')
    .set(as(key))
    .send({ instance: { type: 'gpu_1x_a10' }, inputs: { train: TRAIN }, script: { inline: 'print(1)', filename: 'train.py' } });
  expect(response.status).toBe(202);
  return response.body.id;
}

describe('GET /v1/jobs/:id/metrics', () => {
  let id: string;
  const metrics = () => createMetricsStore({ redis: h.redis, namespace: h.ns });

  beforeAll(async () => {
    id = await submit();
    const records = Array.from({ length: 25 }, (_, i) => ({ step: (i + 1) * 10, values: { loss: 1 / (i + 1), lr: 0.0002 } }));
    await metrics().append(id, records, AT);
    await metrics().append(id, [{ step: 250, values: { eval_loss: 0.5 } }], '2025-03-01T11:00:00.000Z');
  });

  it('answers the whole series from the first step, with the bound fields', async () => {
    const answer = await get(`/v1/jobs/${id}/metrics`);
    expect(answer.status).toBe(200);
    expect(answer.body.data).toHaveLength(25);
    expect(answer.body).toMatchObject({ hasMore: false, stride: 1, total: 25 });
    expect(answer.body.data[0]).toEqual({ step: 10, at: AT, values: { loss: 1, lr: 0.0002 } });
    // A second record of step 250 merged into its point; the first read time stays.
    expect(answer.body.data[24]).toEqual({ step: 250, at: AT, values: { loss: 1 / 25, lr: 0.0002, eval_loss: 0.5 } });
  });

  it('pages by step: after is the last step seen, and it need not be a stored one', async () => {
    const steps: number[] = [];
    let after: number | undefined;
    for (;;) {
      const answer = await get(`/v1/jobs/${id}/metrics?limit=4${after === undefined ? '' : `&after=${after}`}`);
      expect(answer.status).toBe(200);
      steps.push(...answer.body.data.map((p: { step: number }) => p.step));
      if (!answer.body.hasMore) break;
      after = steps.at(-1);
    }
    expect(steps).toEqual(Array.from({ length: 25 }, (_, i) => (i + 1) * 10));
    const between = await get(`/v1/jobs/${id}/metrics?after=95.5&limit=2`);
    expect(between.body.data.map((p: { step: number }) => p.step)).toEqual([100, 110]);
    expect(between.body.hasMore).toBe(true);
    expect((await get(`/v1/jobs/${id}/metrics?after=-1e9&limit=1`)).body.data[0].step).toBe(10);
    expect((await get(`/v1/jobs/${id}/metrics?after=250`)).body).toEqual({ data: [], hasMore: false, stride: 1, total: 25 });
  });

  it("is another tenant's 404, an admin's to read", async () => {
    const other = await get(`/v1/jobs/${id}/metrics`, KEY_B);
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('job_not_found');
    expect((await get('/v1/jobs/j0000000000000000000000/metrics')).status).toBe(404);
    expect((await get('/v1/jobs/not-an-id/metrics')).status).toBe(404);
    expect((await get(`/v1/jobs/${id}/metrics?limit=1`, ADMIN_KEY)).body.data).toHaveLength(1);
  });

  it('answers an empty series for a job that printed no metrics yet', async () => {
    const fresh = await submit();
    expect((await get(`/v1/jobs/${fresh}/metrics`)).body).toEqual({ data: [], hasMore: false, stride: 1, total: 0 });
  });

  it('refuses a bad query naming the parameter', async () => {
    for (const [query, path] of [
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['limit=2.5', 'limit'],
      ['after=soon', 'after'],
      ['after=Infinity', 'after'],
      ['step=3', 'step'],
    ] as const) {
      const answer = await get(`/v1/jobs/${id}/metrics?${query}`);
      expect({ query, status: answer.status, code: answer.body.error.code }).toEqual({ query, status: 400, code: 'invalid_request' });
      expect(answer.body.error.details.map((d: { path: string }) => d.path)).toEqual([path]);
    }
  });

  it('says how far a series past its bound was thinned', async () => {
    const thinned = await submit();
    const bounded = createMetricsStore({ redis: h.redis, namespace: h.ns, maxPoints: 8 });
    await bounded.append(
      thinned,
      Array.from({ length: 40 }, (_, i) => ({ step: i, values: { loss: i } })),
      AT,
    );
    const answer = await get(`/v1/jobs/${thinned}/metrics`);
    expect(answer.body.stride).toBe(8);
    expect(answer.body.data.map((p: { step: number }) => p.step)).toEqual([0, 8, 16, 24, 32]);
    expect(answer.body.total).toBe(5);
    const events = await get(`/v1/jobs/${thinned}/events`);
    expect(events.body.data.filter((e: { type: string; message: string }) => /metric series/.test(e.message))).toHaveLength(3);
  });

  it('takes only GET', async () => {
    const post = await request(h.app).post(`/v1/jobs/${id}/metrics`).set(as(KEY_A)).send({});
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });
});
