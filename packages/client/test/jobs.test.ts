import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isoNow } from '@inno-train/core';
import { waitFor } from '@inno-train/test-kit';
import { createClient, InnoTrainConnectionError, InnoTrainError, type ListParams } from '../src';
import { KEY_A, KEY_LISTER, startApi, submission, TENANT_A, tappedFetch, type TestApi } from './api-server';

let api: TestApi;

beforeAll(async () => {
  api = await startApi('jobs');
});

afterAll(async () => {
  await api.close();
});

const FAST_RETRY = { baseDelayMs: 5 };

async function thrown(promise: Promise<unknown>): Promise<InnoTrainError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InnoTrainError);
  return error as InnoTrainError;
}

describe('jobs.list', () => {
  it('iterates every page: 7 jobs at 3 a page are 7 distinct jobs, newest first, in 3 requests', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_LISTER });
    const created: string[] = [];
    for (let i = 0; i < 7; i++) created.push((await client.jobs.create(submission(`page-${i}`))).id);
    const tap = tappedFetch();
    const listing = createClient({ baseUrl: api.url, apiKey: KEY_LISTER, fetch: tap.fetch });

    const seen: string[] = [];
    for await (const job of listing.jobs.list({ limit: 3 })) seen.push(job.id);

    expect(seen).toEqual([...created].sort().reverse());
    expect(tap.calls.map((c) => c.path)).toEqual([
      '/v1/jobs?limit=3',
      `/v1/jobs?limit=3&after=${seen[2]}`,
      `/v1/jobs?limit=3&after=${seen[5]}`,
    ]);
    const first = await listing.jobs.listPage({ limit: 3 });
    expect(first.hasMore).toBe(true);
    expect(first.data.map((j) => j.id)).toEqual(seen.slice(0, 3));
  });

  it('passes the status filter and stops early when the caller breaks out', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_LISTER });
    const cancelled = await client.jobs.cancel((await client.jobs.create(submission('to-filter'))).id);
    const statuses: string[] = [];
    for await (const job of client.jobs.list({ status: 'cancelled', limit: 1 })) {
      statuses.push(job.status);
      if (statuses.length === 1) break;
    }
    expect(statuses).toEqual(['cancelled']);
    const all = [];
    for await (const job of client.jobs.list({ status: 'cancelled' })) all.push(job.id);
    expect(all).toEqual([cancelled.id]);
  });
});

describe('jobs.list filters', () => {
  it('sends statuses, name, metadata and creation times as the API reads them, and each narrows the list', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_LISTER });
    const suite = `filters-${Date.now()}`;
    const a = await client.jobs.create(submission('alpha', { metadata: { suite, kind: 'x' } }));
    // After a was made (its id's time is at most its createdAt), before b is.
    const betweenAB = new Date(Date.parse(a.createdAt) + 1);
    await waitFor(() => Date.now() > betweenAB.getTime(), { timeoutMs: 1000, description: 'the clock to pass a' });
    const b = await client.jobs.create(submission('beta', { metadata: { suite, kind: 'y' } }));
    const c = await client.jobs.cancel((await client.jobs.create(submission('alpha', { metadata: { suite, kind: 'y' } }))).id);
    const tap = tappedFetch();
    const listing = createClient({ baseUrl: api.url, apiKey: KEY_LISTER, fetch: tap.fetch, validate: true });
    const names = async (params: ListParams) => {
      const found: string[] = [];
      for await (const job of listing.jobs.list({ ...params, metadata: { suite, ...params.metadata } })) found.push(job.id);
      return found.map((id) => ({ [a.id]: 'a', [b.id]: 'b', [c.id]: 'c' })[id] ?? id);
    };

    expect(await names({})).toEqual(['c', 'b', 'a']);
    expect(await names({ status: ['cancelled', 'queued'] })).toEqual(['c', 'b', 'a']);
    expect(await names({ status: 'cancelled' })).toEqual(['c']);
    expect(await names({ status: ['failed', 'succeeded'] })).toEqual([]);
    expect(await names({ name: 'alpha' })).toEqual(['c', 'a']);
    expect(await names({ metadata: { kind: 'y' } })).toEqual(['c', 'b']);
    expect(await names({ createdAfter: betweenAB })).toEqual(['c', 'b']);
    expect(await names({ createdBefore: betweenAB.toISOString() })).toEqual(['a']);
    expect(await names({ createdAfter: betweenAB, status: 'queued', name: 'beta', limit: 1 })).toEqual(['b']);
    const query = new URL(`http://x${tap.calls.at(-1)?.path}`).searchParams;
    expect([...query]).toEqual([
      ['status', 'queued'],
      ['name', 'beta'],
      ['metadata.suite', suite],
      ['createdAfter', betweenAB.toISOString()],
      ['limit', '1'],
    ]);
    expect(tap.calls[1]?.path).toContain('status=cancelled%2Cqueued&');
  });

  it('follows nextAfter past short and empty pages until hasMore is false', async () => {
    const job = await createClient({ baseUrl: api.url, apiKey: KEY_LISTER }).jobs.create(submission('paged'));
    const pages = [
      { data: [job], hasMore: true, nextAfter: 'j00000000000000000000c3' },
      { data: [], hasMore: true, nextAfter: 'j00000000000000000000b2' },
      { data: [job], hasMore: false, nextAfter: null },
    ];
    const asked: (string | null)[] = [];
    const paging: typeof fetch = async (input) => {
      asked.push(new URL(String(input)).searchParams.get('after'));
      return Response.json(pages[asked.length - 1]);
    };
    const client = createClient({ baseUrl: api.url, apiKey: KEY_LISTER, fetch: paging });

    const seen = [];
    for await (const found of client.jobs.list({ name: 'paged' })) seen.push(found.id);

    expect(seen).toEqual([job.id, job.id]);
    expect(asked).toEqual([null, 'j00000000000000000000c3', 'j00000000000000000000b2']);
  });

  it('throws invalid_response rather than ask for the same page forever when hasMore comes without a way on', async () => {
    let asked = 0;
    const stuck: typeof fetch = async () => {
      asked += 1;
      return Response.json({ data: [], hasMore: true, nextAfter: null });
    };
    const client = createClient({ baseUrl: api.url, apiKey: KEY_LISTER, fetch: stuck });

    const error = await thrown(client.jobs.list({ name: 'x' }).next());

    expect(error).toMatchObject({ code: 'invalid_response' });
    expect(error.message).toBe('GET /v1/jobs: answered hasMore with no nextAfter past this page');
    expect(asked).toBe(1);
  });
});

describe('jobs.cancel and jobs.delete', () => {
  it('cancels a job, and cancelling it again answers the same cancelled job', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const job = await client.jobs.create(submission('cancel-twice'));

    const first = await client.jobs.cancel(job.id);
    const second = await client.jobs.cancel(job.id);

    expect(first).toMatchObject({ id: job.id, status: 'cancelled', cancelRequested: true });
    expect(second).toMatchObject({ id: job.id, status: 'cancelled', finishedAt: first.finishedAt });
  });

  it('answers 409 job_finished, untried again, when cancelling a job that succeeded', async () => {
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: FAST_RETRY });
    const job = await client.jobs.create(submission('finished'));
    await api.store.update(job.id, (record) => ({ ...record, status: 'succeeded', finishedAt: isoNow() }));

    const error = await thrown(client.jobs.cancel(job.id));

    expect(error).toMatchObject({ code: 'job_finished', status: 409 });
    expect(tap.calls.filter((c) => c.path.endsWith('/cancel'))).toHaveLength(1);
  });

  it("deletes a job; a delete whose answer was lost counts the retry's 404 as done", async () => {
    const tap = tappedFetch((call) => (call.method === 'DELETE' && call.status === 204 ? 'lose' : undefined));
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: FAST_RETRY });
    const job = await client.jobs.cancel((await client.jobs.create(submission('to-delete'))).id);

    await client.jobs.delete(job.id);

    expect(tap.calls.filter((c) => c.method === 'DELETE').map((c) => [c.status, c.lost])).toEqual([
      [204, true],
      [404, false],
    ]);
    expect(await api.store.get(job.id)).toBeNull();
    // Without a lost answer first, a 404 is an error as usual.
    expect(await thrown(client.jobs.delete(job.id))).toMatchObject({ code: 'job_not_found', status: 404 });
  });
});

describe('errors', () => {
  it('throws a typed 404 with code, status and the request id of the answer, without the key', async () => {
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, retry: FAST_RETRY });

    const error = await thrown(client.jobs.retrieve('j0000000000000000000000'));

    expect(error).toMatchObject({ code: 'job_not_found', status: 404, attempts: 1 });
    expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(error.requestId).toBe(tap.calls[0]?.requestId);
    expect(error.message).toBe(
      `GET /v1/jobs/j0000000000000000000000: 404 job_not_found: Job "j0000000000000000000000" does not exist (request ${error.requestId})`,
    );
    expect(tap.calls).toHaveLength(1);
  });

  it("gives status and request id for an error page that is not the API's JSON, after retrying it", async () => {
    let tries = 0;
    const proxy: typeof fetch = async () => {
      tries += 1;
      return new Response(`<html>502 Bad Gateway ${KEY_A}</html>`, {
        status: 502,
        headers: { 'content-type': 'text/html', 'x-request-id': 'proxy-request-1' },
      });
    };
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: proxy, retry: { attempts: 3, baseDelayMs: 5 } });

    const error = await thrown(client.jobs.retrieve('j0000000000000000000000'));

    expect(error).toMatchObject({ code: 'http_502', status: 502, requestId: 'proxy-request-1', attempts: 3 });
    expect(tries).toBe(3);
    expect(error.message).toContain('502 Bad Gateway');
    expect(error.message).not.toContain(KEY_A);
  });

  it('throws a connection error, with no status, once every try found nothing listening', async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const client = createClient({ baseUrl: `http://127.0.0.1:${port}/`, apiKey: KEY_A, retry: { attempts: 2, baseDelayMs: 5 } });

    const error = await thrown(client.usage());

    expect(error).toBeInstanceOf(InnoTrainConnectionError);
    expect(error).toMatchObject({ code: 'connection_failed', status: null, requestId: null, attempts: 2 });
    expect(error.message).toContain(`GET /v1/usage: no answer from http://127.0.0.1:${port}`);
    expect(error.message).not.toContain(KEY_A);
    expect(() => createClient({ baseUrl: `http://user:pw@127.0.0.1:${port}`, apiKey: KEY_A })).toThrow(/must not contain credentials/);
  });

  it("stops at once, with the signal's reason, when the caller aborts", async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const controller = new AbortController();
    controller.abort(new Error('caller gave up'));
    await expect(client.jobs.retrieve('j0000000000000000000000', { signal: controller.signal })).rejects.toThrow('caller gave up');
  });
});

describe("reading a job's archived log", () => {
  it('follows the 302 to S3 without the API key, from the offset with a Range, and reads the whole log', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const job = await client.jobs.create(submission('archived-log'));
    const whole = Buffer.from(Array.from({ length: 2000 }, (_, i) => `line ${i}\n`).join(''));
    // The stored copy holds less than the archive (as when Redis kept only a tail): the API redirects.
    await api.store.appendLog(job.id, whole.subarray(0, 100).toString());
    await api.store.update(job.id, (record) => ({
      ...record,
      logArchive: { uri: `s3://inno-service/jobs/${job.id}/logs/train.log`, size: whole.length, archivedAt: isoNow() },
    }));
    api.storage.objects.set(`inno-service/jobs/${job.id}/logs/train.log`, whole);
    api.storage.downloads.length = 0;
    expect(await client.jobs.logs(job.id)).toBe(whole.toString());
    expect(await client.jobs.logs(job.id, { offset: 7 })).toBe(whole.subarray(7).toString());
    // At the end of the log, S3's 416 is an empty answer, as the API's own for such an offset.
    expect(await client.jobs.logs(job.id, { offset: whole.length })).toBe('');
    const path = `inno-service/jobs/${job.id}/logs/train.log`;
    expect(api.storage.downloads.map((d) => [d.path, d.headers.range])).toEqual([
      [path, undefined],
      [path, 'bytes=7-'],
      [path, `bytes=${whole.length}-`],
    ]);
    for (const { headers } of api.storage.downloads) {
      expect(headers.authorization).toBeUndefined();
      expect(JSON.stringify(headers)).not.toContain(KEY_A);
    }
  });
});

describe('reading a job', () => {
  it('answers the job, its events, its log and the usage, and the answers match the schemas', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, validate: true });
    const job = await client.jobs.create(submission('read-me'));
    await api.store.appendLog(job.id, 'epoch 1\nepoch 2\n');

    expect(await client.jobs.retrieve(job.id)).toEqual(job);
    expect((await client.jobs.events(job.id)).data[0]).toMatchObject({ type: 'status', stage: 'submit', data: { status: 'queued' } });
    expect(await client.jobs.logs(job.id)).toBe('epoch 1\nepoch 2\n');
    expect(await client.jobs.logs(job.id, { offset: 8 })).toBe('epoch 2\n');
    await api.store.appendEvent(job.id, { type: 'training', stage: 'training', message: 'second' });
    expect(await client.jobs.events(job.id, { after: 1, limit: 1 })).toEqual({
      data: [expect.objectContaining({ id: 2, message: 'second' })],
      hasMore: false,
    });
    expect(await client.usage()).toMatchObject({ name: TENANT_A, role: 'client' });
    const lister = createClient({ baseUrl: api.url, apiKey: KEY_LISTER, validate: true });
    expect(await thrown(lister.jobs.retrieve(job.id))).toMatchObject({ code: 'job_not_found' });
  });

  it('with validate, refuses an answer that does not match the schema', async () => {
    const odd: typeof fetch = async () => new Response(JSON.stringify({ id: 42 }), { status: 200, headers: { 'x-request-id': 'odd-1' } });
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: odd, validate: true });

    const error = await thrown(client.jobs.retrieve('j0000000000000000000000'));

    expect(error).toMatchObject({ code: 'invalid_response', status: 200, requestId: 'odd-1' });
    expect(error.details?.map((d) => d.path)).toContain('id');
    // Unvalidated, the same answer passes through as sent.
    const lenient = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: odd });
    expect(await lenient.jobs.retrieve('j0000000000000000000000')).toEqual({ id: 42 });
  });
});
