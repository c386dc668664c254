import { isoNow } from '@inno-train/core';
import { createClient, InnoTrainError, type Job } from '../src';
import { BUCKET, KEY_A, KEY_LISTER, startApi, submission, TENANT_A, tappedFetch, type TestApi } from './api-server';

let api: TestApi;

beforeAll(async () => {
  api = await startApi('retry-job');
});

afterAll(async () => {
  await api.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A job of tenant A that failed, as the workers would leave it. */
async function failedJob(name: string, extra: Parameters<typeof submission>[1] = {}): Promise<Job> {
  const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
  const job = await client.jobs.create(submission(name, { metadata: { run: '1' }, ...extra }));
  await api.store.update(job.id, (record) => ({ ...record, status: 'failed', finishedAt: isoNow() }));
  return job;
}

async function retriesOf(id: string) {
  const page = await api.store.list({ createdBy: TENANT_A, limit: 200 });
  return page.jobs.filter((job) => job.retryOf === id);
}

describe('jobs.retry', () => {
  it('makes a new job from the stored request with the overrides, retryOf set and an outputUri of its own', async () => {
    const original = await failedJob('to-retry');
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, validate: true });

    const retried = await client.jobs.retry(original.id, { overrides: { name: 'retried', metadata: { run: '2' } } });

    expect(retried).toMatchObject({
      name: 'retried',
      status: 'queued',
      retryOf: original.id,
      metadata: { run: '2' },
      outputUri: `s3://${BUCKET}/jobs/${retried.id}/output/`,
      request: { instance: original.request.instance },
    });
    expect(retried.id).not.toBe(original.id);
    expect(tap.calls).toHaveLength(1);
    expect(tap.calls[0]).toMatchObject({ method: 'POST', path: `/v1/jobs/${original.id}/retry`, status: 202 });
    expect(tap.calls[0]?.idempotencyKey).toMatch(UUID);
    expect((await retriesOf(original.id)).map((j) => j.id)).toEqual([retried.id]);
    // No body at all is the stored request as it was.
    expect(await client.jobs.retry(original.id)).toMatchObject({ name: 'to-retry', metadata: { run: '1' }, retryOf: original.id });
  });

  it('retries a retry whose answer was lost with the same key, and the answer is the one job, marked replayed', async () => {
    const original = await failedJob('lost-retry');
    const tap = tappedFetch((_call, index) => (index === 0 ? 'lose' : undefined));
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: { baseDelayMs: 5 } });

    const answer = await client.jobs.retryWithResponse(original.id, { overrides: { name: 'lost-retry-2' } });

    expect(tap.calls.map((c) => [c.status, c.lost, c.replayed])).toEqual([
      [202, true, false],
      [202, false, true],
    ]);
    expect(tap.calls[1]?.idempotencyKey).toBe(tap.calls[0]?.idempotencyKey);
    expect(answer).toMatchObject({
      replayed: true,
      requestId: tap.calls[1]?.requestId,
      job: { name: 'lost-retry-2', retryOf: original.id },
    });
    expect((await retriesOf(original.id)).map((j) => j.id)).toEqual([answer.job.id]);
  });

  it("uses the caller's key: the same key again answers the same job, a different retry with it is refused", async () => {
    const original = await failedJob('own-key-retry');
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const idempotencyKey = `retry-${original.id}`;

    const first = await client.jobs.retryWithResponse(original.id, {}, { idempotencyKey });
    const again = await client.jobs.retryWithResponse(original.id, {}, { idempotencyKey });
    const error = await client.jobs.retry(original.id, { overrides: { name: 'other' } }, { idempotencyKey }).catch((e: unknown) => e);

    expect(first.replayed).toBe(false);
    expect(again).toMatchObject({ replayed: true, job: { id: first.job.id } });
    expect(error).toBeInstanceOf(InnoTrainError);
    expect(error).toMatchObject({ code: 'idempotency_key_reused', status: 422, attempts: 1 });
  });

  it("answers job_not_found for another tenant's job and invalid_request for a bad override, each tried once", async () => {
    const original = await failedJob('retry-refused');
    const tap = tappedFetch();
    const other = createClient({ baseUrl: api.url, apiKey: KEY_LISTER, fetch: tap.fetch, retry: { baseDelayMs: 5 } });
    const owner = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: { baseDelayMs: 5 } });

    const foreign = await other.jobs.retry(original.id).catch((e: unknown) => e);
    const invalid = await owner.jobs.retry(original.id, { overrides: { instance: { type: 'Not A Type' } } }).catch((e: unknown) => e);

    expect(foreign).toMatchObject({ code: 'job_not_found', status: 404 });
    expect(invalid).toMatchObject({ code: 'invalid_request', status: 400 });
    expect((invalid as InnoTrainError).details?.map((d) => d.path)).toContain('overrides.instance.type');
    expect(tap.calls.map((c) => c.status)).toEqual([404, 400]);
    expect(await retriesOf(original.id)).toEqual([]);
  });
});
