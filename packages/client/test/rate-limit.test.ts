import { createClient, InnoTrainError } from '../src';
import { KEY_A, startApi, TENANT_A, tappedFetch, type TestApi } from './api-server';

/** 30 a minute: one token every 2 s, so a refused request is told Retry-After: 1 or 2. */
const PER_MINUTE = 30;
let api: TestApi;

beforeAll(async () => {
  api = await startApi('rate', { rateLimitPerMinute: PER_MINUTE });
});

afterAll(async () => {
  await api.close();
});

/** Spends the key's tokens until the API refuses: a loop of requests, each answered, not a sleep. */
async function spendEveryToken(): Promise<void> {
  for (let i = 0; i <= PER_MINUTE + 5; i++) {
    const response = await fetch(`${api.url}/v1/usage`, { headers: { authorization: `Bearer ${KEY_A}` } });
    await response.arrayBuffer();
    if (response.status === 429) return;
  }
  throw new Error(`The API never answered 429 after ${PER_MINUTE + 5} requests`);
}

describe('a rate-limited key', () => {
  it('waits out each 429 for its Retry-After and then gets its answers', async () => {
    await spendEveryToken();
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: { baseDelayMs: 5 } });

    // The bucket is empty: of three calls in a row, at least one is refused first (no token can come back in between).
    for (let i = 0; i < 3; i++) expect(await client.usage()).toMatchObject({ name: TENANT_A });

    const refused = tap.calls.flatMap((call, index) => (call.status === 429 ? [index] : []));
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const index of refused) {
      const call = tap.calls[index]!;
      const next = tap.calls[index + 1]!;
      const retryAfterMs = Number(call.retryAfter) * 1000;
      expect(retryAfterMs).toBeGreaterThanOrEqual(1000);
      expect(next.sentAt - call.answeredAt!).toBeGreaterThanOrEqual(retryAfterMs - 20);
    }
    expect(tap.calls.at(-1)?.status).toBe(200);
  });

  it('without retries, throws rate_limited with the Retry-After it was given', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, retry: { attempts: 1 } });
    let error: unknown = null;
    // Each success spends a token, so this ends at the first refusal (within a minute's tokens).
    for (let i = 0; i <= PER_MINUTE && error === null; i++)
      error = await client.usage().then(
        () => null,
        (e: unknown) => e,
      );

    expect(error).toBeInstanceOf(InnoTrainError);
    expect(error).toMatchObject({ code: 'rate_limited', status: 429, attempts: 1 });
    expect((error as InnoTrainError).retryAfterMs).toBeGreaterThanOrEqual(1000);
  });

  it('gives up at once when Retry-After is longer than maxDelayMs, rather than wait that long', async () => {
    await spendEveryToken();
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: { maxDelayMs: 500 } });
    let error: unknown = null;
    for (let i = 0; i <= PER_MINUTE && error === null; i++)
      error = await client.usage().then(
        () => null,
        (e: unknown) => e,
      );

    expect(error).toMatchObject({ code: 'rate_limited', attempts: 1 });
    expect(tap.calls.at(-1)?.status).toBe(429);
  });
});
