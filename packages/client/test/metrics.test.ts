/**
 * jobs.metrics and jobs.listMetrics against the real API over real Redis: the series is written
 * through the job store's metrics store, as the monitor writes it.
 */
import { createClient, InnoTrainError } from '../src';
import { KEY_A, KEY_LISTER, startApi, submission, tappedFetch, type TestApi } from './api-server';

let api: TestApi;

beforeAll(async () => {
  api = await startApi('metrics');
});

afterAll(async () => {
  await api.close();
});

const AT = '2026-03-01T10:00:00.000Z';

describe('jobs.metrics', () => {
  it('answers one page by step, with hasMore, stride and total as the API sends them', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, validate: true });
    const { id } = await client.jobs.create(submission('metrics-page'));
    await api.metrics.append(
      id,
      [1, 2, 3, 4, 5].map((step) => ({ step, values: { loss: 1 / step } })),
      AT,
    );

    const first = await client.jobs.metrics(id, { limit: 2 });
    const rest = await client.jobs.metrics(id, { after: 2, limit: 10 });

    expect(first).toEqual({
      data: [
        { step: 1, at: AT, values: { loss: 1 } },
        { step: 2, at: AT, values: { loss: 0.5 } },
      ],
      hasMore: true,
      stride: 1,
      total: 5,
    });
    expect(rest).toMatchObject({ hasMore: false, total: 5 });
    expect(rest.data.map((p) => p.step)).toEqual([3, 4, 5]);
  });

  it("is 404 job_not_found for another tenant's job", async () => {
    const owner = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const { id } = await owner.jobs.create(submission('metrics-other-tenant'));
    const stranger = createClient({ baseUrl: api.url, apiKey: KEY_LISTER });

    const error = await stranger.jobs.metrics(id).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(InnoTrainError);
    expect(error).toMatchObject({ code: 'job_not_found', status: 404 });
  });
});

describe('jobs.listMetrics', () => {
  it('iterates every point once, in step order, asking each next page after the last step seen', async () => {
    const setup = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const { id } = await setup.jobs.create(submission('metrics-all'));
    const steps = Array.from({ length: 7 }, (_, i) => (i + 1) * 10);
    await api.metrics.append(
      id,
      steps.map((step) => ({ step, values: { loss: step / 100 } })),
      AT,
    );
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch });

    const seen: number[] = [];
    for await (const point of client.jobs.listMetrics(id, { limit: 3 })) seen.push(point.step);

    expect(seen).toEqual(steps);
    expect(tap.calls.map((c) => c.path)).toEqual([
      `/v1/jobs/${id}/metrics?limit=3`,
      `/v1/jobs/${id}/metrics?after=30&limit=3`,
      `/v1/jobs/${id}/metrics?after=60&limit=3`,
    ]);
  });

  it('ends at once for a job with no metrics yet', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const { id } = await client.jobs.create(submission('metrics-none'));
    const seen: unknown[] = [];
    for await (const point of client.jobs.listMetrics(id)) seen.push(point);
    expect(seen).toEqual([]);
  });
});
