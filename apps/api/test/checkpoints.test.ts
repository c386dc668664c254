/**
 * GET /v1/jobs/:id/checkpoints: the checkpoints synced while the job trained, and their summary in
 * the job view. Every answer is also checked against the OpenAPI document (contract-setup.ts).
 */
import request from 'supertest';
import { ADMIN_KEY, KEY_A, KEY_B, openHarness, uniqueNamespace, type Harness } from './harness';

const TRAIN = 's3://data-bucket/sets/train.jsonl';

let h: Harness;

beforeAll(() => {
  h = openHarness(uniqueNamespace('checkpoints'));
  h.storage.known.add(TRAIN);
});

afterAll(async () => {
  await h.close();
});

const as = (key: string) => ({ Authorization: `Bearer ${key}` });
const get = (path: string, key = KEY_A) => request(h.app).get(path).set(as(key));

describe('GET /v1/jobs/:id/checkpoints', () => {
  let id: string;

  beforeAll(async () => {
    const response = await request(h.app)
      .post('/v1/jobs')
      .set(as(KEY_A))
      .send({
        instance: { type: 'gpu_1x_a10' },
        inputs: { train: TRAIN },
        script: { inline: 'print(1)', filename: 'train.py' },
        checkpoint: { syncSeconds: 60 },
      });
    expect(response.status).toBe(202);
    id = response.body.id;
  });

  it('is empty for a job with no checkpoint synced, and the view says so', async () => {
    expect((await get(`/v1/jobs/${id}/checkpoints`)).body).toEqual({ data: [] });
    expect((await get(`/v1/jobs/${id}`)).body.checkpoints).toEqual({ count: 0, latest: null });
  });

  it('lists the synced ones with their step when the name ends in a number, and summarizes them in the view', async () => {
    const uri = (name: string) => `s3://inno-service/jobs/${id}/output/checkpoints/${name}/`;
    await h.store.update(id, (job) => ({
      ...job,
      checkpoints: [
        { name: 'step-500', step: 500, at: '2025-03-01T10:00:00.000Z', uri: uri('step-500'), bytes: 1000, files: 2, signature: 's1' },
        { name: 'best', step: null, at: '2025-03-01T10:05:00.000Z', uri: uri('best'), bytes: 10, files: 1, signature: 's2' },
      ],
    }));
    const answer = await get(`/v1/jobs/${id}/checkpoints`);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      data: [
        { name: 'step-500', step: 500, at: '2025-03-01T10:00:00.000Z', uri: uri('step-500'), bytes: 1000, files: 2 },
        { name: 'best', at: '2025-03-01T10:05:00.000Z', uri: uri('best'), bytes: 10, files: 1 },
      ],
    });
    expect((await get(`/v1/jobs/${id}`)).body.checkpoints).toEqual({
      count: 2,
      latest: { name: 'best', step: null, at: '2025-03-01T10:05:00.000Z' },
    });
  });

  it("is another tenant's 404, an admin's to read, and answers only GET", async () => {
    const other = await get(`/v1/jobs/${id}/checkpoints`, KEY_B);
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('job_not_found');
    expect((await get('/v1/jobs/j0000000000000000000000/checkpoints')).status).toBe(404);
    expect((await get(`/v1/jobs/${id}/checkpoints`, ADMIN_KEY)).body.data).toHaveLength(2);
    expect((await request(h.app).post(`/v1/jobs/${id}/checkpoints`).set(as(KEY_A))).status).toBe(405);
  });
});
