/**
 * client.webhooks against the real API and the real webhook store over Redis: create, list, delete,
 * deliveries; the signing secret appears in create's answer and nowhere else; a create is tried
 * again on 429 but never after a lost answer (POST /v1/webhooks takes no Idempotency-Key).
 */
import { createClient, InnoTrainConnectionError, InnoTrainError, type WebhookDelivery } from '../src';
import { KEY_A, KEY_LISTER, startApi, TENANT_A, tappedFetch, type TestApi } from './api-server';

let api: TestApi;

beforeAll(async () => {
  api = await startApi('webhooks');
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

describe('webhooks', () => {
  it('creates, lists, shows deliveries of and deletes an endpoint; the secret is in create’s answer only', async () => {
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, validate: true });

    const created = await client.webhooks.create({ url: 'https://hooks.example/inno', events: ['job.succeeded', 'job.failed'] });

    expect(created).toEqual({
      id: expect.stringMatching(/^wh_[0-9a-z]{24}$/),
      url: 'https://hooks.example/inno',
      events: ['job.succeeded', 'job.failed'],
      createdAt: expect.any(String),
      secret: expect.stringMatching(/^whsec_/),
    });
    const listed = await client.webhooks.list();
    expect(listed.data).toContainEqual({ id: created.id, url: created.url, events: created.events, createdAt: created.createdAt });
    expect(JSON.stringify(listed)).not.toContain(created.secret);

    const delivery: WebhookDelivery = {
      eventId: 'msg_1',
      type: 'job.succeeded',
      jobId: 'job-1',
      attempt: 1,
      statusCode: 500,
      error: 'the receiver answered 500',
      at: '2026-03-01T10:00:00.000Z',
      nextAttemptAt: '2026-03-01T10:00:05.000Z',
    };
    await api.webhooks.recordAttempt(created.id, delivery);
    await api.webhooks.recordAttempt(created.id, { ...delivery, attempt: 2, statusCode: 200, error: null, nextAttemptAt: null });
    const deliveries = await client.webhooks.deliveries(created.id);
    expect(deliveries.data.map((d) => [d.attempt, d.statusCode])).toEqual([
      [2, 200],
      [1, 500],
    ]);
    expect(JSON.stringify(deliveries)).not.toContain(created.secret);

    await client.webhooks.delete(created.id);
    expect((await client.webhooks.list()).data.map((w) => w.id)).not.toContain(created.id);
    const gone = await thrown(client.webhooks.deliveries(created.id));
    expect(gone).toMatchObject({ code: 'webhook_not_found', status: 404 });
    expect(gone.message).not.toContain(created.secret);
    expect(tap.calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual([
      'POST /v1/webhooks 201',
      'GET /v1/webhooks 200',
      `GET /v1/webhooks/${created.id}/deliveries 200`,
      `DELETE /v1/webhooks/${created.id} 204`,
      'GET /v1/webhooks 200',
      `GET /v1/webhooks/${created.id}/deliveries 404`,
    ]);
  });

  it('keeps tenants apart: another tenant lists none of it and its delete is 404 webhook_not_found', async () => {
    const owner = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const stranger = createClient({ baseUrl: api.url, apiKey: KEY_LISTER });
    const { id } = await owner.webhooks.create({ url: 'https://hooks.example/tenancy' });

    expect((await stranger.webhooks.list()).data.map((w) => w.id)).not.toContain(id);
    expect(await thrown(stranger.webhooks.delete(id))).toMatchObject({ code: 'webhook_not_found', status: 404 });
    expect((await api.webhooks.get(TENANT_A, id))?.id).toBe(id);
  });

  it('refuses a URL the API refuses, with the API’s code and the field', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const error = await thrown(client.webhooks.create({ url: 'https://internal.private.example/hook' }));
    expect(error).toMatchObject({ code: 'invalid_request', status: 400, attempts: 1 });
    expect(error.details?.map((d) => d.path)).toEqual(['url']);
  });

  it('does not try a create again after a lost answer: one POST, one endpoint, a connection error', async () => {
    const before = (await api.webhooks.list(TENANT_A)).length;
    const tap = tappedFetch((call) => (call.method === 'POST' ? 'lose' : undefined));
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: { baseDelayMs: 5 } });

    const error = await thrown(client.webhooks.create({ url: 'https://hooks.example/lost' }));

    expect(error).toBeInstanceOf(InnoTrainConnectionError);
    expect(tap.calls.filter((c) => c.method === 'POST')).toHaveLength(1);
    expect((await api.webhooks.list(TENANT_A)).length).toBe(before + 1);
  });

  it('tries a create again on 429 (refused before any work), after its Retry-After, and makes one endpoint', async () => {
    // 30 a minute: a token every 2 s, so the refused POST is told to wait 1 or 2 s.
    const limited = await startApi('webhooks-429', { rateLimitPerMinute: 30 });
    try {
      for (let refused = false, i = 0; !refused && i < 40; i++) {
        const response = await fetch(`${limited.url}/v1/webhooks`, { headers: { authorization: `Bearer ${KEY_A}` } });
        await response.arrayBuffer();
        refused = response.status === 429;
      }
      const tap = tappedFetch();
      const client = createClient({ baseUrl: limited.url, apiKey: KEY_A, fetch: tap.fetch, retry: { baseDelayMs: 5 } });

      const created = await client.webhooks.create({ url: 'https://hooks.example/limited' });

      expect(tap.calls.map((c) => c.status)).toEqual([429, 201]);
      expect(tap.calls[1]!.sentAt - tap.calls[0]!.answeredAt!).toBeGreaterThanOrEqual(Number(tap.calls[0]!.retryAfter) * 1000 - 20);
      expect((await limited.webhooks.list(TENANT_A)).map((w) => w.id)).toEqual([created.id]);
    } finally {
      await limited.close();
    }
  });
});
