/**
 * jobs.follow against the real API's stream route over real Redis: the test moves the job through
 * the job store (record, events, log) as the workers would, and the client follows it to `end`.
 * The app's own stream hub re-reads a job every 3 s (no wake-ups here), so waits are conditions
 * with deadlines, never sleeps.
 */
import { stageEvent } from '@inno-train/job-store';
import { waitFor } from '@inno-train/test-kit';
import { createClient, InnoTrainError, type StreamMessage } from '../src';
import { KEY_A, KEY_LISTER, startApi, submission, tappedFetch, type TestApi } from './api-server';

let api: TestApi;

beforeAll(async () => {
  api = await startApi('follow');
});

afterAll(async () => {
  await api.close();
});

const within = (description: string, check: () => unknown) => waitFor(check, { timeoutMs: 15_000, intervalMs: 10, description });

/** Ends the job the way teardown leaves it: succeeded, settled. */
async function settle(id: string): Promise<void> {
  const now = new Date().toISOString();
  await api.store.update(id, (job) => ({ ...job, status: 'succeeded', finishedAt: now, settledAt: now }), [
    stageEvent('staging_out', 'status', 'Succeeded', { status: 'succeeded' }),
    stageEvent('teardown', 'settled', 'Every instance is terminated'),
  ]);
}

/** Every message of a follow, collected in the background. */
function collect(iterator: AsyncIterable<StreamMessage>, onMessage: (message: StreamMessage) => void = () => undefined) {
  const messages: StreamMessage[] = [];
  const done = (async () => {
    for await (const message of iterator) {
      messages.push(message);
      onMessage(message);
    }
  })();
  return { messages, done };
}

const ofType = <T extends StreamMessage['type']>(messages: StreamMessage[], type: T) =>
  messages.filter((m): m is Extract<StreamMessage, { type: T }> => m.type === type);

/**
 * What a whole stream must hold, however its connections were cut: every event of the job once,
 * in order; the log from byte 0, each piece starting where the previous ended; no id twice; `end`
 * once, last. Answers the log text.
 */
async function expectWholeStream(id: string, messages: StreamMessage[]): Promise<string> {
  expect(new Set(messages.map((m) => m.id)).size).toBe(messages.length);
  expect(ofType(messages, 'event').map((m) => m.event)).toEqual((await api.store.eventPage(id, 0, 10_000)).events);
  let offset = 0;
  for (const piece of ofType(messages, 'log')) {
    expect(piece.offset).toBe(offset);
    offset += Buffer.byteLength(piece.text);
  }
  const text = ofType(messages, 'log')
    .map((m) => m.text)
    .join('');
  expect(text).toBe(await api.store.log(id));
  expect(ofType(messages, 'end')).toHaveLength(1);
  expect(messages.at(-1)?.type).toBe('end');
  return text;
}

describe('jobs.follow', () => {
  it('follows a job from submission to end: status, progress, every event, all the log, then end, on one connection', async () => {
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch, userAgent: 'follow-test/1' });
    const { id } = await client.jobs.create(submission('follow'));
    const follow = collect(client.jobs.follow(id));

    await within('the first status', () => follow.messages.some((m) => m.type === 'status' && m.status === 'queued'));
    await api.store.update(id, (job) => ({ ...job, status: 'provisioning' }), [stageEvent('provisioning', 'status', 'Provisioning')]);
    await within('status provisioning', () => follow.messages.some((m) => m.type === 'status' && m.status === 'provisioning'));
    for (let i = 0; i < 5; i++) await api.store.appendLog(id, `line ${i} ü\r\n`);
    await api.store.update(id, (job) => ({ ...job, status: 'training', progress: { step: 3, totalSteps: 10, loss: 0.5 } }));
    await api.store.appendEvent(id, stageEvent('training', 'training', 'Started: python3 train.py'));
    await within('progress', () => follow.messages.some((m) => m.type === 'progress'));
    await settle(id);
    await follow.done;

    expect(await expectWholeStream(id, follow.messages)).toBe(Array.from({ length: 5 }, (_, i) => `line ${i} ü\r\n`).join(''));
    expect(ofType(follow.messages, 'status').map((m) => m.status)).toEqual(['queued', 'provisioning', 'training', 'succeeded']);
    expect(ofType(follow.messages, 'progress').map((m) => m.progress)).toEqual([{ step: 3, totalSteps: 10, loss: 0.5 }]);
    const job = await api.store.mustGet(id);
    expect(follow.messages.at(-1)).toEqual({
      type: 'end',
      id: expect.stringMatching(/\.end$/),
      status: 'succeeded',
      settledAt: job.settledAt,
    });
    const streams = tap.calls.filter((c) => c.path.endsWith('/stream'));
    expect(streams).toEqual([expect.objectContaining({ status: 200, authorization: true, lastEventId: null })]);
  });

  it('resumes a connection cut mid-stream with Last-Event-ID: every message once, in order, nothing lost', async () => {
    const tap = tappedFetch();
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: tap.fetch });
    const { id } = await client.jobs.create(submission('follow-cut'));
    // Several 64 KiB log messages and events queued before the follow starts, so the cut falls inside them.
    for (let i = 0; i < 3; i++) {
      await api.store.appendLog(id, `${String(i).repeat(100_000)}\n`);
      await api.store.appendEvent(id, stageEvent('training', 'training', `checkpoint ${i}`));
    }
    /** How many requests had been made when each message reached the caller. */
    const connectionOf: number[] = [];
    let cutAt = 0;
    const follow = collect(client.jobs.follow(id), (message) => {
      connectionOf.push(tap.calls.length);
      if (!cutAt && message.type === 'log') {
        cutAt = Date.now();
        api.dropConnections();
      }
    });
    await within('a second connection', () => tap.calls.length >= 3);
    await api.store.appendLog(id, 'after the cut\n');
    await api.store.appendEvent(id, stageEvent('training', 'training', 'after the cut'));
    await settle(id);
    await follow.done;

    const text = await expectWholeStream(id, follow.messages);
    expect(text.endsWith('after the cut\n')).toBe(true);
    const streams = tap.calls.filter((c) => c.path.endsWith('/stream'));
    expect(streams.length).toBeGreaterThanOrEqual(2);
    // The reconnect named the last message handed out before it.
    const firstAfter = connectionOf.findIndex((n) => n >= 3);
    expect(firstAfter).toBeGreaterThan(0);
    expect(streams[1]!.lastEventId).toBe(follow.messages[firstAfter - 1]!.id);
    // The stream's `retry: 1000` is honoured (the policy's first backoff is shorter).
    expect(streams[1]!.sentAt - cutAt).toBeGreaterThanOrEqual(1000 - 20);
  });

  it('tries a refused connection again (503 from an API process with no room) and then follows to end', async () => {
    const tap = tappedFetch();
    let refusals = 1;
    const refusing: typeof fetch = async (input, init) => {
      if (String(input).endsWith('/stream') && refusals-- > 0) {
        const body = { error: { code: 'unavailable', message: 'This API process has no room for another stream' } };
        return new Response(JSON.stringify(body), { status: 503, headers: { 'content-type': 'application/json', 'retry-after': '0' } });
      }
      return tap.fetch(input, init);
    };
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: refusing, retry: { baseDelayMs: 5 } });
    const { id } = await client.jobs.create(submission('follow-refused'));
    await api.store.appendLog(id, 'hello\n');
    await settle(id);

    const follow = collect(client.jobs.follow(id));
    await follow.done;

    expect(await expectWholeStream(id, follow.messages)).toBe('hello\n');
    expect(tap.calls.filter((c) => c.path.endsWith('/stream')).map((c) => c.status)).toEqual([200]);
  });

  it('throws invalid_response for a 200 that is not an event stream (a proxy page), without retrying', async () => {
    let calls = 0;
    const proxy: typeof fetch = async () => {
      calls += 1;
      return new Response('<html>login</html>', { status: 200, headers: { 'content-type': 'text/html' } });
    };
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A, fetch: proxy });

    const error = await collect(client.jobs.follow('job-x')).done.catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'invalid_response', status: 200 });
    expect(calls).toBe(1);
  });

  it('stops when its signal aborts, and a new follow from the last id seen gets exactly the rest', async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const { id } = await client.jobs.create(submission('follow-abort'));
    await api.store.appendLog(id, 'before\n');
    await api.store.appendEvent(id, stageEvent('training', 'training', 'before'));
    const controller = new AbortController();
    const first: StreamMessage[] = [];
    const stopped = (async () => {
      for await (const message of client.jobs.follow(id, { signal: controller.signal })) {
        first.push(message);
        if (message.type === 'log') controller.abort(new Error('the caller stopped'));
      }
    })().catch((e: unknown) => e);
    expect(await stopped).toEqual(new Error('the caller stopped'));

    await api.store.appendLog(id, 'while away\n');
    await settle(id);
    const rest = collect(client.jobs.follow(id, { lastEventId: first.at(-1)!.id }));
    await rest.done;

    expect(await expectWholeStream(id, [...first, ...rest.messages])).toBe('before\nwhile away\n');
    // After end, the API answers 204: the iterator ends with nothing.
    const after = collect(client.jobs.follow(id, { lastEventId: rest.messages.at(-1)!.id }));
    await after.done;
    expect(after.messages).toEqual([]);
  });

  it("throws the API's errors: 404 job_not_found for another tenant's job, 400 for a Last-Event-ID it never sent", async () => {
    const client = createClient({ baseUrl: api.url, apiKey: KEY_A });
    const { id } = await client.jobs.create(submission('follow-errors'));
    const stranger = createClient({ baseUrl: api.url, apiKey: KEY_LISTER });

    const notFound = await collect(stranger.jobs.follow(id)).done.catch((e: unknown) => e);
    const badId = await collect(client.jobs.follow(id, { lastEventId: 'not-a-cursor' })).done.catch((e: unknown) => e);

    expect(notFound).toBeInstanceOf(InnoTrainError);
    expect(notFound).toMatchObject({ code: 'job_not_found', status: 404, attempts: 1 });
    expect(badId).toMatchObject({ code: 'invalid_request', status: 400, details: [{ path: 'Last-Event-ID' }] });
    expect(String((notFound as Error).message)).not.toContain(KEY_LISTER);
  });
});
