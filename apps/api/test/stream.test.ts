/**
 * GET /v1/jobs/:id/stream on real Redis: a client follows a job to `end`, woken by the store's
 * notifications (the hub's timer is set to a minute, so only a wake-up can deliver within the
 * deadlines here); a client resuming with Last-Event-ID after any message gets exactly the rest;
 * log text arrives byte-exact; tenancy and bad ids answer as the other job routes do. Answers that
 * end (supertest) are also checked against the OpenAPI document (contract-setup.ts).
 */
import request from 'supertest';
import { stageEvent } from '@inno-train/job-store';
import { sseParser, waitFor, type SseMessage } from '@inno-train/test-kit';
import { ADMIN_KEY, KEY_A, KEY_B, openHarness, uniqueNamespace, type Harness } from './harness';
import { auth, expectWholeStream, follow, ofKind, serve, settle, submit, TRAIN, type Served } from './stream-harness';

let h: Harness;
let served: Served;

beforeAll(async () => {
  h = openHarness(uniqueNamespace('stream'));
  h.storage.known.add(TRAIN);
  served = await serve(h);
});

afterAll(async () => {
  await served.close();
  await h.close();
});

/** The whole stream of a job that has ended, through supertest (so the contract check sees it). */
async function wholeStream(id: string, lastEventId?: string): Promise<{ status: number; messages: Omit<SseMessage, 'at'>[] }> {
  const req = request(served.app).get(`/v1/jobs/${id}/stream`).set(auth(KEY_A)).buffer(true);
  const answer = await (lastEventId === undefined ? req : req.set('Last-Event-ID', lastEventId));
  const parser = sseParser();
  parser.push(answer.text ?? '');
  return { status: answer.status, messages: parser.messages.map(({ at: _at, ...message }) => message) };
}

const within = (description: string, check: () => unknown) => waitFor(check, { timeoutMs: 3000, intervalMs: 10, description });

describe('following a job', () => {
  it('sends status, progress, every event and all the log as they are written, then end, and closes', async () => {
    const id = await submit(served);
    const stream = await follow(served, id);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream.headers['x-accel-buffering']).toBe('no');
    await within('the first status', () => ofKind(stream.messages, 'status').some((s) => s.status === 'queued'));

    await h.store.update(id, (job) => ({ ...job, status: 'provisioning' }), [stageEvent('provisioning', 'status', 'Provisioning')]);
    await within('status provisioning', () => ofKind(stream.messages, 'status').some((s) => s.status === 'provisioning'));
    for (let i = 0; i < 20; i++) await h.store.appendLog(id, `line ${i}\n`);
    await within('the twentieth line', () => ofKind(stream.messages, 'log').some((l) => String(l.text).includes('line 19\n')));
    await h.store.update(id, (job) => ({ ...job, progress: { step: 3, totalSteps: 10, loss: 0.5 } }));
    await within('progress', () => ofKind(stream.messages, 'progress').some((p) => p.step === 3));
    await h.store.appendEvent(id, stageEvent('training', 'training', 'Started: python3 train.py'));
    await settle(h, id);
    await within('the server to end the stream', () => stream.isEnded());

    await expectWholeStream(h, id, stream.messages);
    expect(ofKind(stream.messages, 'status').map((s) => s.status)).toEqual(['queued', 'provisioning', 'succeeded']);
    expect(ofKind(stream.messages, 'progress')).toEqual([{ step: 3, totalSteps: 10, loss: 0.5 }]);
    const job = await h.store.mustGet(id);
    expect(ofKind(stream.messages, 'end')).toEqual([{ status: 'succeeded', settledAt: job.settledAt }]);
    expect(served.hub.openStreams()).toBe(0);
  });

  it('resumes after any message with Last-Event-ID: exactly the rest, and 204 after end', async () => {
    const id = await submit(served);
    await h.store.update(id, (job) => ({ ...job, status: 'training', progress: { step: 1 } }), [
      stageEvent('training', 'status', 'Training'),
    ]);
    for (let i = 0; i < 5; i++) {
      await h.store.appendLog(id, `step ${i} ü\r`);
      await h.store.appendEvent(id, stageEvent('training', 'training', `checkpoint ${i}`));
    }
    await settle(h, id);
    const whole = await wholeStream(id);
    expect(whole.status).toBe(200);
    await expectWholeStream(
      h,
      id,
      whole.messages.map((m) => ({ ...m, at: 0 })),
    );

    for (const [k, message] of whole.messages.entries()) {
      const rest = await wholeStream(id, message.id);
      if (message.event === 'end') {
        expect(rest.status).toBe(204);
        expect(rest.messages).toEqual([]);
      } else {
        expect({ after: k, messages: rest.messages }).toEqual({ after: k, messages: whole.messages.slice(k + 1) });
      }
    }
  });

  it('resumes a live stream dropped mid-way: what was written meanwhile comes once, in order', async () => {
    const id = await submit(served);
    const first = await follow(served, id);
    await h.store.appendLog(id, 'before the drop\n');
    await within('the first line', () => ofKind(first.messages, 'log').length > 0);
    first.close();
    await first.ended;
    await h.store.appendLog(id, 'while away\n');
    await h.store.appendEvent(id, stageEvent('training', 'training', 'while away'));
    const second = await follow(served, id, { lastEventId: first.messages.at(-1)!.id });
    await h.store.appendLog(id, 'after the return\n');
    await settle(h, id);
    await within('the end', () => second.isEnded());
    const text = await expectWholeStream(h, id, [...first.messages, ...second.messages]);
    expect(text).toBe('before the drop\nwhile away\nafter the return\n');
  });

  it('sends the log byte-exact (CR, multi-byte characters) in messages of at most 64 KiB', async () => {
    const id = await submit(served);
    // A 4-byte character across every 64 KiB boundary, and carriage returns as progress bars print them.
    const block = `${'x'.repeat(65_534)}😀\r${'y'.repeat(1000)}\r\n`;
    await h.store.appendLog(id, block.repeat(3));
    await settle(h, id);
    const whole = await wholeStream(id);
    const pieces = ofKind(
      whole.messages.map((m) => ({ ...m, at: 0 })),
      'log',
    );
    expect(pieces.length).toBeGreaterThan(3);
    for (const piece of pieces) expect(Buffer.byteLength(piece.text as string)).toBeLessThanOrEqual(64 * 1024);
    expect(
      await expectWholeStream(
        h,
        id,
        whole.messages.map((m) => ({ ...m, at: 0 })),
      ),
    ).toBe(block.repeat(3));
  });
});

describe('who may follow, and what is refused', () => {
  let id: string;

  beforeAll(async () => {
    id = await submit(served);
    await settle(h, id);
  });

  it("answers another tenant's job exactly like a missing one, and no key with 401", async () => {
    const other = await request(served.app).get(`/v1/jobs/${id}/stream`).set(auth(KEY_B));
    const missing = await request(served.app).get('/v1/jobs/j0000000000000000000000/stream').set(auth(KEY_B));
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('job_not_found');
    expect(missing.status).toBe(404);
    expect({ ...other.body.error, message: '', requestId: '' }).toEqual({ ...missing.body.error, message: '', requestId: '' });
    expect((await request(served.app).get(`/v1/jobs/${id}/stream`)).status).toBe(401);
    expect((await request(served.app).get(`/v1/jobs/${id}/stream`).set(auth(ADMIN_KEY)).buffer(true)).status).toBe(200);
  });

  it('refuses a Last-Event-ID it did not send, or one past what the job has, naming the header', async () => {
    for (const lastEventId of ['banana', '1.2.sleeping.-', '999.0.queued.-', '0.99999.queued.-']) {
      const answer = await request(served.app).get(`/v1/jobs/${id}/stream`).set(auth(KEY_A)).set('Last-Event-ID', lastEventId);
      expect({ lastEventId, status: answer.status, code: answer.body.error?.code }).toEqual({
        lastEventId,
        status: 400,
        code: 'invalid_request',
      });
      expect(answer.body.error.details[0].path).toBe('Last-Event-ID');
    }
  });

  it('answers HEAD with the headers only, and other methods with 405', async () => {
    const head = await request(served.app).head(`/v1/jobs/${id}/stream`).set(auth(KEY_A));
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const post = await request(served.app).post(`/v1/jobs/${id}/stream`).set(auth(KEY_A));
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(served.hub.openStreams()).toBe(0);
  });
});
