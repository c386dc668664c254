import request from 'supertest';
import { newJobId } from '@inno-train/job-store';
import { waitFor } from '@inno-train/test-kit';
import { KEY_A, openHarness, pendingJobs, uniqueNamespace, type Harness } from './harness';

const TRAIN = 's3://data-bucket/sets/train.jsonl';
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$/;
const validJob = (name?: string) => ({
  ...(name ? { name } : {}),
  instance: { type: 'gpu_1x_a10' },
  inputs: { train: TRAIN },
  script: { inline: 'print(1)', filename: 'train.py' },
});

let h: Harness;

beforeAll(() => {
  h = openHarness(uniqueNamespace('jobs'));
  h.storage.known.add(TRAIN);
});

afterAll(async () => {
  await h.close();
});

const auth = { Authorization: `Bearer ${KEY_A}` };
const get = (path: string) => request(h.app).get(path).set(auth);
const post = (path: string, body?: object) => {
  const req = request(h.app).post(path).set(auth);
  return body === undefined ? req : req.send(body);
};

/**
 * Submits a job and waits until the clock has moved past its creation millisecond, so the next
 * job's id (a millisecond clock, then randomness) sorts strictly after this one.
 */
async function submitInOrder(name: string): Promise<string> {
  const response = await post('/v1/jobs', validJob(name));
  expect(response.status).toBe(202);
  const created = Date.parse(response.body.createdAt);
  await waitFor(() => Date.now() > created + 1, {
    timeoutMs: 2000,
    intervalMs: 1,
    description: 'the clock to pass the creation millisecond',
  });
  return response.body.id as string;
}

const ids = (body: { data: { id: string }[] }) => body.data.map((job) => job.id);

describe('GET /v1/jobs', () => {
  let lister: Harness;
  let created: string[];

  beforeAll(async () => {
    // Its own namespace so other tests' jobs do not show up in these listings.
    lister = openHarness(uniqueNamespace('list'));
    lister.storage.known.add(TRAIN);
    created = [];
    for (let n = 1; n <= 5; n++) {
      const response = await request(lister.app)
        .post('/v1/jobs')
        .set(auth)
        .send(validJob(`job-${n}`));
      expect(response.status).toBe(202);
      created.push(response.body.id);
      const at = Date.parse(response.body.createdAt);
      await waitFor(() => Date.now() > at + 1, {
        timeoutMs: 2000,
        intervalMs: 1,
        description: 'the clock to pass the creation millisecond',
      });
    }
  });

  afterAll(async () => {
    await lister.close();
  });

  const list = (query: string) => request(lister.app).get(`/v1/jobs${query}`).set(auth);

  it('lists every job newest first', async () => {
    const response = await list('');
    expect(response.status).toBe(200);
    expect(ids(response.body)).toEqual([...created].reverse());
    expect(response.body.hasMore).toBe(false);
    expect(response.body.data.map((j: { name: string }) => j.name)).toEqual(['job-5', 'job-4', 'job-3', 'job-2', 'job-1']);
  });

  it('pages with limit and the after cursor without gaps or repeats', async () => {
    const [j1, j2, j3, j4, j5] = created;
    const first = await list('?limit=2');
    expect(first.status).toBe(200);
    expect(ids(first.body)).toEqual([j5, j4]);
    expect(first.body.hasMore).toBe(true);

    const second = await list(`?limit=2&after=${j4}`);
    expect(ids(second.body)).toEqual([j3, j2]);
    expect(second.body.hasMore).toBe(true);

    const third = await list(`?limit=2&after=${j2}`);
    expect(ids(third.body)).toEqual([j1]);
    expect(third.body.hasMore).toBe(false);

    const exact = await list('?limit=5');
    expect(ids(exact.body)).toHaveLength(5);
    expect(exact.body.hasMore).toBe(false);

    const pastTheEnd = await list(`?after=${j1}`);
    expect(pastTheEnd.body).toEqual({ data: [], hasMore: false, nextAfter: null });
  });

  it('filters by status, also with paging', async () => {
    const [j1, j2, j3, j4, j5] = created;
    for (const id of [j2, j4]) expect((await request(lister.app).post(`/v1/jobs/${id}/cancel`).set(auth)).status).toBe(200);

    const cancelled = await list('?status=cancelled');
    expect(ids(cancelled.body)).toEqual([j4, j2]);
    expect(cancelled.body.data.every((j: { status: string }) => j.status === 'cancelled')).toBe(true);

    const queued = await list('?status=queued&limit=2');
    expect(ids(queued.body)).toEqual([j5, j3]);
    expect(queued.body.hasMore).toBe(true);
    const rest = await list(`?status=queued&limit=2&after=${j3}`);
    expect(ids(rest.body)).toEqual([j1]);
    expect(rest.body.hasMore).toBe(false);

    expect((await list('?status=failed')).body).toEqual({ data: [], hasMore: false, nextAfter: null });
  });

  it('answers 400 naming the parameter for a bad query', async () => {
    const cases: [string, string][] = [
      ['?limit=0', 'limit'],
      ['?limit=201', 'limit'],
      ['?limit=abc', 'limit'],
      ['?limit=1.5', 'limit'],
      ['?status=nope', 'status'],
      ['?after=not-a-job-id', 'after'],
      ['?colour=blue', 'colour'],
    ];
    for (const [query, field] of cases) {
      const response = await list(query);
      expect({ query, status: response.status }).toEqual({ query, status: 400 });
      expect(response.body.error.code).toBe('invalid_request');
      expect(response.body.error.details.map((d: { path: string }) => d.path)).toContain(field);
    }
  });
});

describe('GET /v1/jobs/:id and its events and logs', () => {
  it('answers 404 job_not_found for an unknown id and for malformed ids', async () => {
    for (const id of [newJobId(), 'nope', `j${'A'.repeat(22)}`, `${newJobId()}x`, 'j123']) {
      const response = await get(`/v1/jobs/${encodeURIComponent(id)}`);
      expect({ id, status: response.status }).toEqual({ id, status: 404 });
      expect(response.body.error.code).toBe('job_not_found');
    }
  });

  it('answers 404 job_not_found on the events, logs and cancel routes of an unknown job', async () => {
    const id = newJobId();
    for (const response of [await get(`/v1/jobs/${id}/events`), await get(`/v1/jobs/${id}/logs`), await post(`/v1/jobs/${id}/cancel`)]) {
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('job_not_found');
    }
  });

  it('starts the event list with the submit event', async () => {
    const id = await submitInOrder('events-job');
    const response = await get(`/v1/jobs/${id}/events`);
    expect(response.status).toBe(200);
    expect(response.body.data).toHaveLength(1);
    expect(response.body.hasMore).toBe(false);
    expect(response.body.data[0]).toEqual({
      id: 1,
      at: expect.stringMatching(ISO_WITH_OFFSET),
      type: 'status',
      stage: 'submit',
      message: 'Job submitted',
      data: { status: 'queued' },
    });
  });

  it('shows no transfer until one reports, then the figures the stage stored', async () => {
    const id = await submitInOrder('transfer-job');
    expect((await get(`/v1/jobs/${id}`)).body.transfer).toBeNull();
    const transfer = {
      stage: 'staging_in',
      bytesDone: 3 * 1024 ** 3,
      bytesTotal: 5 * 1024 ** 3,
      bytesPerSecond: 187_500_000.5,
      filesDone: 2,
      files: 7,
      updatedAt: new Date().toISOString(),
    } as const;
    await h.store.update(id, (job) => ({ ...job, status: 'staging_in', transfer }));
    // The contract setup also checks this answer against the OpenAPI document's Job.
    expect((await get(`/v1/jobs/${id}`)).body).toMatchObject({ status: 'staging_in', transfer });
  });

  it('serves the stored log as plain text', async () => {
    const id = await submitInOrder('log-job');
    const empty = await get(`/v1/jobs/${id}/logs`);
    expect(empty.status).toBe(200);
    expect(empty.headers['content-type']).toMatch(/^text\/plain/);
    expect(empty.text).toBe('');

    await h.store.appendLog(id, 'step 1 loss 0.9\n');
    await h.store.appendLog(id, '{"step": 2, "loss": 0.5}\n');
    const logs = await get(`/v1/jobs/${id}/logs`);
    expect(logs.headers['content-type']).toMatch(/^text\/plain/);
    expect(logs.text).toBe('step 1 loss 0.9\n{"step": 2, "loss": 0.5}\n');
  });

  it('pages the events by id: after and limit, with hasMore', async () => {
    const id = await submitInOrder('events-paged');
    for (let n = 2; n <= 7; n++) await h.store.appendEvent(id, { type: 'training', stage: 'training', message: `event ${n}` });
    const first = await get(`/v1/jobs/${id}/events?limit=3`);
    expect(first.body.data.map((e: { id: number }) => e.id)).toEqual([1, 2, 3]);
    expect(first.body.hasMore).toBe(true);
    const rest = await get(`/v1/jobs/${id}/events?after=3&limit=3`);
    expect(rest.body.data.map((e: { id: number; message: string }) => [e.id, e.message])).toEqual([
      [4, 'event 4'],
      [5, 'event 5'],
      [6, 'event 6'],
    ]);
    expect(rest.body.hasMore).toBe(true);
    const last = await get(`/v1/jobs/${id}/events?after=6`);
    expect(last.body).toEqual({ data: [expect.objectContaining({ id: 7, message: 'event 7' })], hasMore: false });
    expect((await get(`/v1/jobs/${id}/events?after=7`)).body).toEqual({ data: [], hasMore: false });
    expect((await get(`/v1/jobs/${id}/events?limit=0`)).status).toBe(400);
    expect((await get(`/v1/jobs/${id}/events?after=-1`)).status).toBe(400);
  });

  it('serves the log from an offset or a Range, saying where it starts, its size and whether it was cut', async () => {
    const id = await submitInOrder('log-offsets');
    await h.store.appendLog(id, 'hello ');
    await h.store.appendLog(id, 'world\n');
    const all = await get(`/v1/jobs/${id}/logs`);
    expect([all.text, all.headers['x-log-size'], all.headers['x-log-offset'], all.headers['x-log-truncated']]).toEqual([
      'hello world\n',
      '12',
      '0',
      'false',
    ]);
    const tail = await get(`/v1/jobs/${id}/logs?offset=6`);
    expect([tail.status, tail.text, tail.headers['x-log-offset']]).toEqual([200, 'world\n', '6']);
    const ranged = await get(`/v1/jobs/${id}/logs`).set('Range', 'bytes=6-');
    expect([ranged.status, ranged.text, ranged.headers['content-range']]).toEqual([206, 'world\n', 'bytes 6-11/12']);
    const past = await get(`/v1/jobs/${id}/logs`).set('Range', 'bytes=12-');
    expect([past.status, past.body.error.code, past.headers['content-range']]).toEqual([416, 'range_not_satisfiable', 'bytes */12']);
    expect((await get(`/v1/jobs/${id}/logs?offset=12`)).text).toBe('');
    expect((await get(`/v1/jobs/${id}/logs`).set('Range', 'bytes=0-3')).status).toBe(400);
  });

  it('counts offsets over everything printed when the stored log keeps only its tail', async () => {
    const { createJobStore } = await import('@inno-train/job-store');
    const small = createJobStore({ redis: h.redis, namespace: h.ns, maxLogBytes: 8 });
    const id = await submitInOrder('log-cut');
    await small.appendLog(id, '0123456789');
    await small.appendLog(id, 'abcdef');
    // 16 bytes printed, the last 8 kept: "89abcdef".
    const fromStart = await get(`/v1/jobs/${id}/logs?offset=0`);
    expect([
      fromStart.text,
      fromStart.headers['x-log-offset'],
      fromStart.headers['x-log-size'],
      fromStart.headers['x-log-truncated'],
    ]).toEqual(['89abcdef', '8', '16', 'true']);
    const later = await get(`/v1/jobs/${id}/logs?offset=12`);
    expect([later.text, later.headers['x-log-offset']]).toEqual(['cdef', '12']);
  });

  it('once the log is archived, redirects what the stored tail cannot answer in full to a presigned GET of the archive', async () => {
    const { createJobStore } = await import('@inno-train/job-store');
    const small = createJobStore({ redis: h.redis, namespace: h.ns, maxLogBytes: 8 });
    const id = await submitInOrder('log-archived');
    await small.appendLog(id, '0123456789abcdef');
    const uri = `s3://inno-service/jobs/${id}/logs/train.log`;
    // Planned, not yet archived (stage-out still running): the stored tail answers, cut as before.
    await h.store.update(id, (job) => ({ ...job, logArchive: { uri, size: 16, uploadId: 'u-1', archivedAt: null } }));
    expect((await get(`/v1/jobs/${id}/logs`)).headers['x-log-truncated']).toBe('true');
    await h.store.update(id, (job) => ({ ...job, logArchive: { uri, size: 16, archivedAt: new Date().toISOString() } }));
    const calls = h.storage.calls.length;
    for (const asked of [
      get(`/v1/jobs/${id}/logs`),
      get(`/v1/jobs/${id}/logs?offset=3`),
      get(`/v1/jobs/${id}/logs`).set('Range', 'bytes=0-'),
    ]) {
      const redirected = await asked;
      expect([
        redirected.status,
        redirected.headers.location,
        redirected.headers['cache-control'],
        redirected.headers['x-log-size'],
      ]).toEqual([302, `http://s3.test.invalid/inno-service/jobs/${id}/logs/train.log?X-Amz-Expires=300`, 'no-store', '16']);
      // No body: nothing repeats the link where logs and proxies keep bodies.
      expect(redirected.text).toBe('');
    }
    expect(h.storage.calls.slice(calls)).toEqual(Array(3).fill(`presign ${uri}`));
    // Bytes the stored tail still holds are answered from it, as before (a tailer's last polls).
    const tail = await get(`/v1/jobs/${id}/logs?offset=12`);
    expect([tail.status, tail.text, tail.headers['x-log-offset']]).toEqual([200, 'cdef', '12']);
    const ranged = await get(`/v1/jobs/${id}/logs`).set('Range', 'bytes=8-');
    expect([ranged.status, ranged.text]).toEqual([206, '89abcdef']);
    expect((await get(`/v1/jobs/${id}/logs?offset=16`)).text).toBe('');
    expect((await get(`/v1/jobs/${id}/logs`).set('Range', 'bytes=16-')).status).toBe(416);
    // An archive that holds more than the stored copy ever saw is the authority, even from an offset kept in Redis.
    await h.store.update(id, (job) => ({ ...job, logArchive: { uri, size: 20, archivedAt: new Date().toISOString() } }));
    expect((await get(`/v1/jobs/${id}/logs?offset=12`)).status).toBe(302);
    // After a restart on a new host the archive is that host's log alone: its offsets are not these.
    await h.store.update(id, (job) => ({ ...job, hostRestarts: 1 }));
    const restarted = await get(`/v1/jobs/${id}/logs`);
    expect([restarted.status, restarted.text, restarted.headers['x-log-truncated']]).toEqual([200, '89abcdef', 'true']);
  });

  it('serves a small archived log from the stored copy while it holds it all', async () => {
    const id = await submitInOrder('log-archived-small');
    await h.store.appendLog(id, 'all of it\n');
    const uri = `s3://inno-service/jobs/${id}/logs/train.log`;
    await h.store.update(id, (job) => ({ ...job, logArchive: { uri, size: 10, archivedAt: new Date().toISOString() } }));
    const all = await get(`/v1/jobs/${id}/logs`);
    expect([all.status, all.text, all.headers['x-log-truncated']]).toEqual([200, 'all of it\n', 'false']);
  });
});

describe('POST /v1/jobs/:id/cancel', () => {
  it('cancels a queued job, records the event and enqueues teardown', async () => {
    const id = await submitInOrder('cancel-me');
    const response = await post(`/v1/jobs/${id}/cancel`);
    expect(response.status).toBe(200);
    expect(response.body.id).toBe(id);
    expect(response.body.status).toBe('cancelled');
    expect(response.body.finishedAt).toMatch(ISO_WITH_OFFSET);

    const stored = await h.store.mustGet(id);
    expect(stored.status).toBe('cancelled');
    expect(stored.cancelRequested).toBe(true);
    expect(stored.finishedAt).toBe(response.body.finishedAt);

    const events = (await get(`/v1/jobs/${id}/events`)).body.data as { stage: string; type: string; data?: Record<string, unknown> }[];
    expect(events[0]!.stage).toBe('submit');
    const cancelEvents = events.filter((e) => e.stage === 'cancel');
    expect(cancelEvents).toHaveLength(1);
    expect(cancelEvents[0]!.data).toEqual({ status: 'cancelled', from: 'queued', transition: 'cancel' });

    const teardowns = (await pendingJobs(h.queues, 'teardown')).filter((job) => job.data.jobId === id);
    expect(teardowns).toHaveLength(1);
    expect(teardowns[0]!.data).toEqual({ jobId: id, step: { reason: 'cancelled' } });

    const fetched = await get(`/v1/jobs/${id}`);
    expect(fetched.body.status).toBe('cancelled');
  });

  it('answers a second cancel 200 with the cancelled job, and changes nothing', async () => {
    const id = await submitInOrder('cancel-twice');
    expect((await post(`/v1/jobs/${id}/cancel`)).status).toBe(200);
    const before = await h.store.mustGet(id);
    const eventsBefore = (await h.store.events(id)).length;

    const again = await post(`/v1/jobs/${id}/cancel`);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id, status: 'cancelled', updatedAt: before.updatedAt });
    expect(await h.store.mustGet(id)).toEqual(before);
    expect(await h.store.events(id)).toHaveLength(eventsBefore);
  });

  it('answers 409 job_finished for a job that already failed', async () => {
    const id = await submitInOrder('already-failed');
    await h.store.update(id, (job) => ({ ...job, status: 'failed', finishedAt: new Date().toISOString() }));
    const response = await post(`/v1/jobs/${id}/cancel`);
    expect(response.status).toBe(409);
    expect(response.body.error.code).toBe('job_finished');
    expect((await h.store.mustGet(id)).cancelRequested).toBe(false);
  });
});

describe('request bodies', () => {
  it('answers 413 payload_too_large to a body over the JSON limit', async () => {
    const body = { ...validJob(), script: { inline: 'x'.repeat(2 * 1024 * 1024 + 10), filename: 'train.py' } };
    const before = (await h.store.list({ limit: 200 })).jobs.length;
    const response = await post('/v1/jobs', body);
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe('payload_too_large');
    expect((await h.store.list({ limit: 200 })).jobs.length).toBe(before);
  });

  it('answers 400 invalid_json to malformed JSON', async () => {
    const response = await request(h.app).post('/v1/jobs').set(auth).set('Content-Type', 'application/json').send('{"instance": {"type": ');
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_json');
  });

  it('answers 400 naming script.inline for an inline script over 512 KiB that fits the body limit', async () => {
    const body = { ...validJob(), script: { inline: 'x'.repeat(512 * 1024 + 1), filename: 'train.py' } };
    const response = await post('/v1/jobs', body);
    expect(response.status).toBe(400);
    expect(response.body.error.details.map((d: { path: string }) => d.path)).toEqual(['script.inline']);
  });
});

describe('conventions', () => {
  it('answers a wrong method on a known path 405 with Allow, and an unknown path 404', async () => {
    const id = await submitInOrder('method-check');
    const cases: [string, string, string][] = [
      ['put', '/v1/jobs', 'GET, POST, HEAD'],
      ['patch', `/v1/jobs/${id}`, 'GET, DELETE, HEAD'],
      ['get', `/v1/jobs/${id}/cancel`, 'POST'],
      ['post', `/v1/jobs/${id}/events`, 'GET, HEAD'],
      ['delete', `/v1/jobs/${id}/logs`, 'GET, HEAD'],
      ['post', '/v1/usage', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const response = await (request(h.app) as unknown as Record<string, (p: string) => request.Test>)[method]!(path).set(
        'Authorization',
        `Bearer ${KEY_A}`,
      );
      expect({ method, path, status: response.status, allow: response.headers.allow, code: response.body.error?.code }).toEqual({
        method,
        path,
        status: 405,
        allow,
        code: 'method_not_allowed',
      });
    }
    expect((await request(h.app).get('/v1/nothing').set('Authorization', `Bearer ${KEY_A}`)).status).toBe(404);
  });

  it('gives a 202 the Location of the new job', async () => {
    const response = await request(h.app).post('/v1/jobs').set('Authorization', `Bearer ${KEY_A}`).send(validJob('location-check'));
    expect(response.status).toBe(202);
    expect(response.headers.location).toBe(`/v1/jobs/${response.body.id}`);
  });
});
