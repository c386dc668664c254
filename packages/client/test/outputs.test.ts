import { randomBytes } from 'node:crypto';
import { createClient, InnoTrainError, type Job } from '../src';
import { BUCKET, KEY_A, KEY_LISTER, startApi, submission, tappedFetch, type TestApi } from './api-server';

let api: TestApi;

beforeAll(async () => {
  api = await startApi('outputs');
});

afterAll(async () => {
  await api.close();
});

afterEach(() => {
  api.storage.downloads.length = 0;
  api.storage.linksExpired = false;
  api.storage.slowDowns = 0;
});

async function thrown(promise: Promise<unknown>): Promise<InnoTrainError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InnoTrainError);
  return error as InnoTrainError;
}

/** A job that succeeded with these files under its default outputUri, their bytes in the fake S3. */
async function jobWithOutputs(name: string, files: Record<string, Buffer>): Promise<Job> {
  const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
  const job = await client.jobs.create(submission(name));
  const prefix = `jobs/${job.id}/output/`;
  expect(job.outputUri).toBe(`s3://${BUCKET}/${prefix}`);
  for (const [path, body] of Object.entries(files)) api.storage.objects.set(`${BUCKET}/${prefix}${path}`, body);
  await api.store.update(job.id, (record) => ({
    ...record,
    status: 'succeeded',
    outputs: Object.entries(files).map(([path, body]) => ({ key: `${prefix}${path}`, size: body.length })),
  }));
  return job;
}

describe('jobs.outputs and jobs.listOutputs', () => {
  it('pages the outputs in path order, and the iterator goes on after the last path of each page', async () => {
    const files = Object.fromEntries(
      ['metrics.json', 'model/b.bin', 'model/a.bin', 'logs/train.txt', 'done.txt'].map((p) => [p, randomBytes(8)]),
    );
    const job = await jobWithOutputs('five-outputs', files);
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, validate: true });

    const first = await client.jobs.outputs(job.id, { limit: 2 });
    const all = [];
    for await (const output of client.jobs.listOutputs(job.id, { limit: 2 })) all.push(output);

    const sorted = Object.keys(files).sort();
    expect(first).toEqual({
      data: sorted.slice(0, 2).map((path) => ({ path, uri: `s3://${BUCKET}/jobs/${job.id}/output/${path}`, size: 8 })),
      hasMore: true,
    });
    expect(all.map((o) => o.path)).toEqual(sorted);
    expect(tap.calls.slice(1).map((c) => c.path)).toEqual([
      `/v1/jobs/${job.id}/outputs?limit=2`,
      `/v1/jobs/${job.id}/outputs?after=${encodeURIComponent(sorted[1]!)}&limit=2`,
      `/v1/jobs/${job.id}/outputs?after=${encodeURIComponent(sorted[3]!)}&limit=2`,
    ]);
  });

  it("answers job_not_found for another tenant's job", async () => {
    const job = await jobWithOutputs('not-yours', { 'a.txt': Buffer.from('a') });
    const other = createClient({ baseUrl: api.url, apiKey: KEY_LISTER });
    expect(await thrown(other.jobs.outputs(job.id))).toMatchObject({ code: 'job_not_found', status: 404 });
    expect(await thrown(other.jobs.outputUrl(job.id, 'a.txt'))).toMatchObject({ code: 'job_not_found', status: 404 });
  });
});

describe('jobs.outputUrl and jobs.downloadOutput', () => {
  it('reads the redirect without following it, and downloads the bytes from S3 without the API key', async () => {
    const weights = randomBytes(256 * 1024);
    const job = await jobWithOutputs('download', { 'model/weights.bin': weights });
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch });

    const url = await client.jobs.outputUrl(job.id, 'model/weights.bin');
    const response = await client.jobs.downloadOutput(job.id, 'model/weights.bin');
    const bytes = Buffer.from(await response.arrayBuffer());

    expect(new URL(url).origin).toBe(api.storage.s3Url);
    expect(new URL(url).pathname).toBe(`/${BUCKET}/jobs/${job.id}/output/model/weights.bin`);
    expect(bytes.equals(weights)).toBe(true);
    // Two API calls (each a 302 read, not followed, with the key) and one S3 GET with no key.
    expect(tap.calls.map((c) => [c.path.split('?')[0], c.status, c.redirect ?? 'follow', c.authorization])).toEqual([
      [`/v1/jobs/${job.id}/outputs/model/weights.bin`, 302, 'manual', true],
      [`/v1/jobs/${job.id}/outputs/model/weights.bin`, 302, 'manual', true],
      [`/${BUCKET}/jobs/${job.id}/output/model/weights.bin`, 200, 'follow', false],
    ]);
    expect(tap.calls[1]?.location).toBe(`${api.storage.s3Url}${tap.calls[2]?.path}`);
    expect(api.storage.downloads).toHaveLength(1);
    const sent = api.storage.downloads[0]!.headers;
    expect(sent.authorization).toBeUndefined();
    expect(JSON.stringify(sent)).not.toContain(KEY_A);
  });

  it('encodes each segment of a path with spaces, #, ?, % and non-ASCII, and finds the output', async () => {
    const path = 'reports/run #1?/100% done/é.txt';
    const job = await jobWithOutputs('odd-path', { [path]: Buffer.from('odd') });
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch });

    const response = await client.jobs.downloadOutput(job.id, path);

    expect(await response.text()).toBe('odd');
    expect(tap.calls[0]?.path).toBe(`/v1/jobs/${job.id}/outputs/reports/run%20%231%3F/100%25%20done/%C3%A9.txt`);
  });

  it('throws output_not_found for a path the job has not, and refuses . and .. segments before asking', async () => {
    const job = await jobWithOutputs('missing-output', { 'a.txt': Buffer.from('a') });
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: { baseDelayMs: 5 } });

    expect(await thrown(client.jobs.downloadOutput(job.id, 'b.txt'))).toMatchObject({ code: 'output_not_found', status: 404, attempts: 1 });
    for (const bad of ['', '../a.txt', 'x/./a.txt']) {
      await expect(client.jobs.outputUrl(job.id, bad)).rejects.toThrow(TypeError);
    }
    expect(tap.calls).toHaveLength(1);
    expect(api.storage.downloads).toEqual([]);
  });

  it("throws S3's refusal of an expired link as http_403, without the link's signature in the message", async () => {
    const job = await jobWithOutputs('expired-link', { 'a.txt': Buffer.from('a') });
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, retry: { baseDelayMs: 5 } });
    const url = await client.jobs.outputUrl(job.id, 'a.txt');
    api.storage.linksExpired = true;

    const error = await thrown(client.jobs.downloadOutput(job.id, 'a.txt'));

    expect(error).toMatchObject({ code: 'http_403', status: 403, requestId: 'fake-s3-request', attempts: 1 });
    expect(error.message).toBe(`GET ${api.storage.s3Url}/${BUCKET}/jobs/${job.id}/output/a.txt: 403 AccessDenied: Request has expired`);
    expect(error.message).not.toContain(new URL(url).searchParams.get('X-Amz-Signature'));
  });

  it('tries the same link again after a 503 from S3, without asking the API again', async () => {
    const job = await jobWithOutputs('busy-s3', { 'a.txt': Buffer.from('patience') });
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: { baseDelayMs: 5 } });
    api.storage.slowDowns = 2;

    const response = await client.jobs.downloadOutput(job.id, 'a.txt');

    expect(await response.text()).toBe('patience');
    expect(tap.calls.map((c) => c.status)).toEqual([302, 503, 503, 200]);
    expect(new Set(tap.calls.slice(1).map((c) => c.path)).size).toBe(1);
  });
});
