import { InnoError } from '@inno-train/core';
import { createClient, InnoTrainError, type CreateJobBody } from '../src';
import { BUCKET, KEY_A, startApi, submission, TENANT_A, tappedFetch, type TestApi } from './api-server';

let api: TestApi;

beforeAll(async () => {
  api = await startApi('create');
});

afterAll(async () => {
  await api.close();
});

afterEach(() => {
  api.storage.failWith = null;
});

async function jobsNamed(name: string) {
  const page = await api.store.list({ createdBy: TENANT_A, limit: 200 });
  return page.jobs.filter((job) => job.name === name);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('jobs.create', () => {
  it('retries a submission whose answer was lost with the same key and answers the one job it made', async () => {
    const tap = tappedFetch((_call, index) => (index === 0 ? 'lose' : undefined));
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: { baseDelayMs: 5 } });

    const job = await client.jobs.create(submission('lost-answer'));

    expect(tap.calls.map((c) => [c.method, c.status, c.lost, c.replayed])).toEqual([
      ['POST', 202, true, false],
      ['POST', 202, false, true],
    ]);
    expect(tap.calls[0]?.idempotencyKey).toMatch(UUID);
    expect(tap.calls[1]?.idempotencyKey).toBe(tap.calls[0]?.idempotencyKey);
    expect(job).toMatchObject({ name: 'lost-answer', status: 'queued', createdBy: TENANT_A, settledAt: null });
    expect((await jobsNamed('lost-answer')).map((j) => j.id)).toEqual([job.id]);
  });

  it('tries again after the Retry-After of a 503 (S3 down), with the same key, and makes one job', async () => {
    api.storage.failWith = new InnoError('storage_unavailable', 'S3 is down', { retryable: true });
    const tap = tappedFetch(() => {
      api.storage.failWith = null; // S3 is back for the next try
    });
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: { baseDelayMs: 5 } });

    const job = await client.jobs.create(submission('after-503', { inputs: { train: `s3://${BUCKET}/data/train.csv` } }));

    const [first, second] = tap.calls;
    expect(tap.calls.map((c) => c.status)).toEqual([503, 202]);
    expect(second?.idempotencyKey).toBe(first?.idempotencyKey);
    // The API's 503 says Retry-After: 5; the client's own backoff (5 ms) would not have waited that long.
    expect(second!.sentAt - first!.answeredAt!).toBeGreaterThanOrEqual(5000 - 20);
    expect((await jobsNamed('after-503')).map((j) => j.id)).toEqual([job.id]);
  });

  it('does not retry a refused submission and throws the API error with its code, details and request id', async () => {
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: { baseDelayMs: 5 } });
    const bad = { ...submission('refused'), instance: { type: 'Not A Type' } } satisfies CreateJobBody;

    const error = await client.jobs.create(bad).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(InnoTrainError);
    const refused = error as InnoTrainError;
    expect(refused).toMatchObject({ name: 'InnoTrainError', code: 'invalid_request', status: 400, attempts: 1 });
    expect(refused.details?.map((d) => d.path)).toContain('instance.type');
    expect(refused.requestId).toBe(tap.calls[0]?.requestId);
    expect(refused.message).toContain(`(request ${refused.requestId})`);
    expect(refused.message).not.toContain(KEY_A);
    expect(tap.calls).toHaveLength(1);
    expect(await jobsNamed('refused')).toEqual([]);
  });

  it("uses the caller's idempotency key, so creating again with it answers the same job", async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const idempotencyKey = `order-${Date.now()}`;

    const first = await client.jobs.create(submission('own-key'), { idempotencyKey });
    const again = await client.jobs.create(submission('own-key'), { idempotencyKey });

    expect(again.id).toBe(first.id);
    expect(await jobsNamed('own-key')).toHaveLength(1);
  });

  it('createWithResponse tells a new job from a replayed one, after a lost answer too, and gives the request id', async () => {
    const tap = tappedFetch((_call, index) => (index === 1 ? 'lose' : undefined));
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: { baseDelayMs: 5 } });

    const made = await client.jobs.createWithResponse(submission('with-response'));
    const lostThenReplayed = await client.jobs.createWithResponse(submission('with-response-2'));

    expect(made).toMatchObject({ replayed: false, requestId: tap.calls[0]?.requestId, job: { name: 'with-response' } });
    expect(made.requestId).toMatch(UUID);
    expect(lostThenReplayed).toMatchObject({ replayed: true, requestId: tap.calls[2]?.requestId, job: { name: 'with-response-2' } });
    expect(tap.calls.map((c) => [c.status, c.lost, c.replayed])).toEqual([
      [202, false, false],
      [202, true, false],
      [202, false, true],
    ]);
    expect((await jobsNamed('with-response-2')).map((j) => j.id)).toEqual([lostThenReplayed.job.id]);
  });
});
