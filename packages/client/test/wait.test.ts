import { isoNow } from '@inno-train/core';
import { waitFor } from '@inno-train/test-kit';
import { createClient, InnoTrainWaitTimeoutError, type Job } from '../src';
import { instance, KEY_A, startApi, submission, type TestApi } from './api-server';

let api: TestApi;

beforeAll(async () => {
  api = await startApi('wait');
});

afterAll(async () => {
  await api.close();
});

describe('jobs.waitUntilSettled', () => {
  it("keeps waiting while a finished job's instance is not confirmed terminated, and returns once it is", async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const { id } = await client.jobs.create(submission('settle'));
    await api.store.update(id, (job) => ({
      ...job,
      status: 'succeeded',
      startedAt: isoNow(),
      finishedAt: isoNow(),
      instance: instance(null),
    }));
    const polled: Job[] = [];
    let returned: Job | null = null;

    const waiting = client.jobs
      .waitUntilSettled(id, { intervalMs: 20, timeoutMs: 30_000, onUpdate: (job) => void polled.push(job) })
      .then((job) => (returned = job));
    await waitFor(() => polled.length >= 3, { timeoutMs: 10_000, description: 'three polls of the finished job' });

    expect(returned).toBeNull();
    expect(polled.every((job) => job.status === 'succeeded' && job.settledAt === null && !job.cost.final)).toBe(true);
    const terminatedAt = isoNow();
    // What teardown writes once the cloud confirms the instance gone.
    await api.store.update(id, (job) => ({
      ...job,
      instance: { ...job.instance!, status: 'terminated', terminatedAt },
      settledAt: terminatedAt,
    }));

    const settled = await waiting;
    expect(settled).toMatchObject({ id, status: 'succeeded', settledAt: terminatedAt, cost: { final: true } });
    expect(polled.at(-1)).toEqual(settled);
  });

  it('returns at the first poll for a job that ended without an instance', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const cancelled = await client.jobs.cancel((await client.jobs.create(submission('no-instance'))).id);
    let polls = 0;

    const settled = await client.jobs.waitUntilSettled(cancelled.id, { intervalMs: 20, onUpdate: () => void (polls += 1) });

    expect(polls).toBe(1);
    expect(settled).toMatchObject({ status: 'cancelled', settledAt: cancelled.finishedAt, cost: { final: true } });
  });

  it('gives up after timeoutMs with the last job it saw', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const { id } = await client.jobs.create(submission('never-settles'));

    const error = await client.jobs.waitUntilSettled(id, { intervalMs: 20, timeoutMs: 100 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(InnoTrainWaitTimeoutError);
    expect(error).toMatchObject({ code: 'wait_timeout', status: null, job: { id, status: 'queued' } });
  });

  it('stops when its signal aborts', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const { id } = await client.jobs.create(submission('aborted-wait'));
    const controller = new AbortController();
    let polls = 0;

    const waiting = client.jobs.waitUntilSettled(id, {
      intervalMs: 20,
      signal: controller.signal,
      onUpdate: () => {
        polls += 1;
        if (polls === 2) controller.abort(new Error('no longer interested'));
      },
    });

    await expect(waiting).rejects.toThrow('no longer interested');
    expect(polls).toBe(2);
  });
});
