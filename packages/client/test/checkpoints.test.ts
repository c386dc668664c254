import { createClient, InnoTrainError, type Job } from '../src';
import { BUCKET, KEY_A, KEY_LISTER, startApi, submission, tappedFetch, type TestApi } from './api-server';

let api: TestApi;

beforeAll(async () => {
  api = await startApi('checkpoints');
});

afterAll(async () => {
  await api.close();
});

async function thrown(promise: Promise<unknown>): Promise<InnoTrainError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InnoTrainError);
  return error as InnoTrainError;
}

/** A job that synced checkpoint `step-100/` with these files, their bytes in the fake S3. */
async function jobWithCheckpoint(name: string, files: Record<string, string>): Promise<Job> {
  const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
  const job = await client.jobs.create(submission(name));
  const prefix = `jobs/${job.id}/output/checkpoints/step-100/`;
  for (const [path, body] of Object.entries(files)) api.storage.objects.set(`${BUCKET}/${prefix}${path}`, Buffer.from(body));
  const bytes = Object.values(files).reduce((sum, body) => sum + body.length, 0);
  await api.store.update(job.id, (record) => ({
    ...record,
    checkpoints: [
      {
        name: 'step-100',
        step: 100,
        at: '2025-03-01T10:00:00.000Z',
        uri: `s3://${BUCKET}/${prefix}`,
        bytes,
        files: Object.keys(files).length,
        signature: 'sig',
      },
    ],
  }));
  return job;
}

describe('jobs.checkpoints and jobs.checkpointDownload', () => {
  it("lists the checkpoints, then gives one's files with links that fetch the bytes from S3 without the key", async () => {
    const job = await jobWithCheckpoint('with-checkpoint', { 'model.bin': 'weights', 'opt/state.pt': 'adam' });
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, validate: true });

    const listed = await client.jobs.checkpoints(job.id);
    expect(listed.data).toEqual([
      expect.objectContaining({ name: 'step-100', step: 100, bytes: 11, files: 2, uri: expect.stringContaining('/step-100/') }),
    ]);
    const download = await client.jobs.checkpointDownload(job.id, 'step-100');
    expect(download).toEqual({
      name: 'step-100',
      kind: 'dir',
      files: [
        { path: 'model.bin', size: 7, url: expect.stringContaining(`${api.storage.s3Url}/`) },
        { path: 'opt/state.pt', size: 4, url: expect.stringContaining(`${api.storage.s3Url}/`) },
      ],
      expiresAt: expect.any(String),
    });
    expect(Date.parse(download.expiresAt)).toBeGreaterThan(Date.now());
    expect(tap.calls.map((call) => `${call.method} ${call.path}`)).toEqual([
      `GET /v1/jobs/${job.id}/checkpoints`,
      `GET /v1/jobs/${job.id}/checkpoints/step-100/download`,
    ]);

    const bodies = await Promise.all(download.files.map(async (file) => (await fetch(file.url)).text()));
    expect(bodies).toEqual(['weights', 'adam']);
    expect(api.storage.downloads.every((d) => d.headers.authorization === undefined)).toBe(true);
  });

  it("throws checkpoint_not_found for a name the job has not synced, and job_not_found for another tenant's job", async () => {
    const job = await jobWithCheckpoint('checkpoint-errors', { 'model.bin': 'w' });
    const owner = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const missing = await thrown(owner.jobs.checkpointDownload(job.id, 'step-7'));
    expect({ code: missing.code, status: missing.status }).toEqual({ code: 'checkpoint_not_found', status: 404 });
    const other = createClient({ baseUrl: api.url, apiKey: KEY_LISTER });
    const foreign = await thrown(other.jobs.checkpointDownload(job.id, 'step-100'));
    expect({ code: foreign.code, status: foreign.status }).toEqual({ code: 'job_not_found', status: 404 });
    expect((await thrown(other.jobs.checkpoints(job.id))).code).toBe('job_not_found');
  });

  it('refuses a name that is not one path segment before sending anything', async () => {
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch });
    for (const name of ['', '.', '..', 'a/b']) {
      await expect(client.jobs.checkpointDownload('j0000000000000000000000', name)).rejects.toThrow(TypeError);
    }
    expect(tap.calls).toEqual([]);
  });
});
