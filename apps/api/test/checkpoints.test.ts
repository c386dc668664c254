/**
 * GET /v1/jobs/:id/checkpoints: the checkpoints synced while the job trained, and their summary in
 * the job view; GET /v1/jobs/:id/checkpoints/:name/download: one checkpoint's files with presigned links. Every answer is also checked against the OpenAPI document (contract-setup.ts).
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
    expect((await get(`/v1/jobs/${id}`)).body.checkpoints).toEqual({ count: 0, latest: null, resumeFrom: null, restored: null });
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
      resumeFrom: null,
      restored: null,
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

describe('GET /v1/jobs/:id/checkpoints/:name/download', () => {
  let id: string;
  let prefix: string;
  const download = (name: string, key = KEY_A, job = id) => get(`/v1/jobs/${job}/checkpoints/${encodeURIComponent(name)}/download`, key);

  beforeAll(async () => {
    const response = await request(h.app)
      .post('/v1/jobs')
      .set(as(KEY_A))
      .send({ instance: { type: 'gpu_1x_a10' }, inputs: { train: TRAIN }, script: { inline: 'print(1)', filename: 'train.py' } });
    expect(response.status).toBe(202);
    id = response.body.id;
    prefix = `jobs/${id}/output/checkpoints/`;
    const uri = (entry: string) => `s3://inno-service/${prefix}${entry}`;
    await h.store.update(id, (job) => ({
      ...job,
      checkpoints: [
        { name: 'step-500', step: 500, at: '2025-03-01T10:00:00.000Z', uri: uri('step-500/'), bytes: 30, files: 2, signature: 's1' },
        { name: 'final.pt', step: null, at: '2025-03-01T10:05:00.000Z', uri: uri('final.pt'), bytes: 7, files: 1, signature: 's2' },
        { name: 'expired', step: null, at: '2025-03-01T10:06:00.000Z', uri: uri('expired/'), bytes: 1, files: 1, signature: 's3' },
      ],
    }));
    h.storage.objects.set(uri('step-500/weights/model.bin'), 20);
    h.storage.objects.set(uri('step-500/'), 0); // a folder placeholder, not a file
    h.storage.objects.set(uri('step-500/optimizer.pt'), 10);
    h.storage.objects.set(uri('final.pt'), 7);
    h.storage.objects.set(uri('final.pt.bak'), 3); // beside the file entry, not part of it
  });

  it("answers a directory checkpoint's files in path order, each with a presigned GET, never cached", async () => {
    const before = Date.now();
    const answer = await download('step-500');
    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    const link = (key: string) => `http://s3.test.invalid/inno-service/${key}?X-Amz-Expires=300`;
    expect(answer.body).toEqual({
      name: 'step-500',
      kind: 'dir',
      files: [
        { path: 'optimizer.pt', size: 10, url: link(`${prefix}step-500/optimizer.pt`) },
        { path: 'weights/model.bin', size: 20, url: link(`${prefix}step-500/weights/model.bin`) },
      ],
      expiresAt: expect.any(String),
    });
    const expiresAt = Date.parse(answer.body.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 300_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 300_000);
  });

  it('answers a file checkpoint as one file named as the entry', async () => {
    const answer = await download('final.pt');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      name: 'final.pt',
      kind: 'file',
      files: [{ path: 'final.pt', size: 7, url: `http://s3.test.invalid/inno-service/${prefix}final.pt?X-Amz-Expires=300` }],
    });
  });

  it('names a checkpoint the job has not synced, and one whose files are gone from S3, with checkpoint_not_found', async () => {
    const unknown = await download('step-9');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({
      code: 'checkpoint_not_found',
      message: `Job ${id} has synced no checkpoint "step-9" (GET /v1/jobs/${id}/checkpoints lists them)`,
    });
    const gone = await download('expired');
    expect(gone.status).toBe(404);
    expect(gone.body.error).toMatchObject({ code: 'checkpoint_not_found', message: expect.stringContaining('is no longer in S3') });
  });

  it("is another tenant's job_not_found without touching S3, an admin's to read, and answers only GET", async () => {
    const presigned = h.storage.calls.length;
    const other = await download('step-500', KEY_B);
    const missing = await download('step-500', KEY_B, 'j0000000000000000000000');
    for (const answer of [other, missing]) {
      expect(answer.status).toBe(404);
      expect(answer.body.error.code).toBe('job_not_found');
    }
    expect(other.body.error.message).toBe(`Job "${id}" does not exist`);
    expect(h.storage.calls.length).toBe(presigned);
    expect((await download('step-500', ADMIN_KEY)).body.files).toHaveLength(2);
    const post = await request(h.app).post(`/v1/jobs/${id}/checkpoints/step-500/download`).set(as(KEY_A));
    expect({ status: post.status, allow: post.headers.allow }).toEqual({ status: 405, allow: 'GET, HEAD' });
  });
});

describe('POST /v1/jobs with resumeFrom', () => {
  const body = (resumeFrom: unknown) => ({
    instance: { type: 'gpu_1x_a10' },
    script: { inline: 'print(1)', filename: 'train.py' },
    resumeFrom,
  });
  const post = (resumeFrom: unknown, key = KEY_A) => request(h.app).post('/v1/jobs').set(as(key)).send(body(resumeFrom));
  let source: string;
  const uri = (name: string) => `s3://inno-service/jobs/${source}/output/checkpoints/${name}/`;

  beforeAll(async () => {
    source = (await post(undefined)).body.id;
    await h.store.update(source, (job) => ({
      ...job,
      checkpoints: [
        { name: 'step-900', step: 900, at: '2025-03-01T10:00:00.000Z', uri: uri('step-900'), bytes: 9, files: 1, signature: 's9' },
        { name: 'step-1000', step: 1000, at: '2025-03-01T09:00:00.000Z', uri: uri('step-1000'), bytes: 10, files: 1, signature: 's10' },
        { name: 'best', step: null, at: '2025-03-01T11:00:00.000Z', uri: uri('best'), bytes: 1, files: 1, signature: 'sb' },
      ],
    }));
  });

  it("copies the owner's latest checkpoint (highest step) into the new job, or the one named", async () => {
    const latest = await post({ jobId: source });
    expect(latest.status).toBe(202);
    expect((await h.store.mustGet(latest.body.id)).resumeSource).toEqual({
      name: 'step-1000',
      step: 1000,
      at: '2025-03-01T09:00:00.000Z',
      uri: uri('step-1000'),
      bytes: 10,
      files: 1,
      signature: 's10',
      jobId: source,
    });
    const named = await post({ jobId: source, checkpoint: 'best' });
    expect(named.status).toBe(202);
    expect(named.body.checkpoints).toMatchObject({ resumeFrom: { jobId: source, name: 'best', step: null }, restored: null });
    expect((await h.store.mustGet(named.body.id)).resumeSource).toMatchObject({ name: 'best', jobId: source });
  });

  it("refuses another owner's job exactly like a missing one, even for an admin key", async () => {
    const missing = await post({ jobId: 'j0000000000000000000000' }, KEY_B);
    const other = await post({ jobId: source }, KEY_B);
    const admin = await post({ jobId: source }, ADMIN_KEY);
    for (const answer of [other, admin]) {
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({
        code: 'invalid_input',
        message: `resumeFrom: job "${source}" does not exist`,
        details: [{ path: 'resumeFrom.jobId', message: `resumeFrom: job "${source}" does not exist` }],
      });
    }
    expect(missing.body.error.message).toBe('resumeFrom: job "j0000000000000000000000" does not exist');
  });

  it('names the checkpoint that is not there, and a job with none synced', async () => {
    const unknown = await post({ jobId: source, checkpoint: 'step-5' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details).toEqual([
      { path: 'resumeFrom.checkpoint', message: expect.stringContaining(`job ${source} has not synced a checkpoint named "step-5"`) },
    ]);
    const empty = (await post(undefined)).body.id;
    const none = await post({ jobId: empty });
    expect(none.status).toBe(400);
    expect(none.body.error.message).toContain(`job ${empty} has not synced any checkpoint`);
  });

  it.each([
    [{ jobId: 'not-a-job' }, 'resumeFrom.jobId'],
    [{ jobId: 'j0000000000000000000000', checkpoint: '../etc' }, 'resumeFrom.checkpoint'],
    [{ jobId: 'j0000000000000000000000', checkpoint: '.hidden' }, 'resumeFrom.checkpoint'],
    [{ jobId: 'j0000000000000000000000', extra: 1 }, 'resumeFrom.extra'],
  ])('validates %j', async (resumeFrom, path) => {
    const answer = await post(resumeFrom);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('invalid_request');
    expect(answer.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
  });
});
