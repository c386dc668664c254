/**
 * Tenants on the whole stack: two client keys and one admin from an API_KEYS_FILE. Every job
 * endpoint answers a client for its own jobs only (another's is a 404 like a missing one), S3
 * locations stay within each key's prefixes, a concurrency limit holds (also across a killed
 * worker), a budget stops a running job and refuses the next, and finished jobs expire.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { waitFor } from '@inno-train/test-kit';
import { BUCKET, ENDLESS_SCRIPT, putObject, startStack, testS3Client, tinyJob, waitForJobEnd, type Stack } from '../src';

jest.setTimeout(240_000);

const PREFIX_A = `s3://${BUCKET}/team-a/`;
const PREFIX_B = `s3://${BUCKET}/team-b/`;
const TERMINAL = ['succeeded', 'failed', 'cancelled'];

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    ipBase: 10,
    ipPrefix: '127.0.3.',
    tenants: [
      { name: 'team-a', allowedPrefixes: [PREFIX_A] },
      { name: 'team-b', allowedPrefixes: [PREFIX_B] },
      { name: 'ops', role: 'admin' },
      { name: 'team-slots', allowedPrefixes: [`s3://${BUCKET}/team-slots/`], maxConcurrentJobs: 2 },
      // 75 cents/hour: about ten seconds of one instance.
      { name: 'team-budget', allowedPrefixes: [`s3://${BUCKET}/team-budget/`], monthlyBudgetUsd: 0.002 },
    ],
    extraEnv: { SLOT_POLL_MS: '1000' },
  });
  const s3 = testS3Client(stack.s3);
  await putObject(s3, BUCKET, 'team-a/data/train.jsonl', '{"x": 1}\n');
  await putObject(s3, BUCKET, 'team-b/data/train.jsonl', '{"x": 2}\n');
  s3.destroy();
});

afterAll(async () => {
  await stack?.stop();
});

const key = (name: string) => stack.secrets.tenantKeys[name]!;
const as = (name: string, path: string, init: { method?: string; body?: unknown } = {}) => stack.api(path, { ...init, key: key(name) });

async function submitAs(name: string, body: Record<string, unknown>): Promise<string> {
  const response = await as(name, '/v1/jobs', { body });
  if (response.status !== 202) throw new Error(`submit as ${name} answered ${response.status}: ${response.text}`);
  return response.json.id as string;
}

/** What each role gets from each endpoint for a job of team-a: the status code. */
async function matrixRow(endpoint: string, jobId: string, method = 'GET') {
  const row: Record<string, number> = {};
  for (const caller of ['team-b', 'ops', 'team-a']) row[caller] = (await as(caller, endpoint.replace(':id', jobId), { method })).status;
  return row;
}

describe('isolation between tenants', () => {
  let jobA: string;
  let jobB: string;

  beforeAll(async () => {
    jobA = await submitAs('team-a', tinyJob(undefined, { inputs: { train: `${PREFIX_A}data/train.jsonl` } }));
    jobB = await submitAs('team-b', tinyJob(undefined, { inputs: { train: `${PREFIX_B}data/train.jsonl` } }));
    expect((await waitForJobEnd(stack, jobA)).status).toBe('succeeded');
    expect((await waitForJobEnd(stack, jobB)).status).toBe('succeeded');
  });

  it('answers every job endpoint for the owner and admins only; another client gets the 404 of a missing job', async () => {
    const matrix: Record<string, Record<string, number>> = {};
    for (const endpoint of ['/v1/jobs/:id', '/v1/jobs/:id/events', '/v1/jobs/:id/logs'])
      matrix[`GET ${endpoint}`] = await matrixRow(endpoint, jobA);
    // Cancel on a finished job: 409 for those who may see it, 404 for the other client.
    matrix['POST /v1/jobs/:id/cancel'] = await matrixRow('/v1/jobs/:id/cancel', jobA, 'POST');
    expect(matrix).toEqual({
      'GET /v1/jobs/:id': { 'team-b': 404, ops: 200, 'team-a': 200 },
      'GET /v1/jobs/:id/events': { 'team-b': 404, ops: 200, 'team-a': 200 },
      'GET /v1/jobs/:id/logs': { 'team-b': 404, ops: 200, 'team-a': 200 },
      'POST /v1/jobs/:id/cancel': { 'team-b': 404, ops: 409, 'team-a': 409 },
    });
    const foreign = await as('team-b', `/v1/jobs/${jobA}`);
    const missingId = `${jobA.slice(0, -4)}zzzz`;
    const missing = await as('team-b', `/v1/jobs/${missingId}`);
    // The same answer but for the id asked about and each answer's own request id.
    const comparable = (text: string, id: string) => ({
      error: { ...JSON.parse(text.replaceAll(id, '<id>')).error, requestId: '<request>' },
    });
    expect(comparable(foreign.text, jobA)).toEqual(comparable(missing.text, missingId));
    // The log itself: the owner reads the training output, the other client reads nothing.
    expect((await as('team-a', `/v1/jobs/${jobA}/logs`)).text).toContain('"step": 3');
    expect((await as('team-b', `/v1/jobs/${jobA}/logs`)).text).not.toContain('step');
  });

  it('lists each client its own jobs; admins see all and filter by tenant', async () => {
    const ids = async (name: string, query = '') =>
      (await as(name, `/v1/jobs?limit=200${query}`)).json.data.map((j: { id: string }) => j.id);
    expect(await ids('team-a')).toEqual([jobA]);
    expect(await ids('team-b')).toEqual([jobB]);
    expect(await ids('ops')).toEqual(expect.arrayContaining([jobA, jobB]));
    expect(await ids('ops', '&createdBy=team-a')).toEqual([jobA]);
    expect(await ids('ops', '&createdBy=team-b&status=succeeded')).toEqual([jobB]);
    expect((await as('team-a', '/v1/jobs?createdBy=team-b')).status).toBe(400);
  });

  it("refuses a job naming another tenant's S3 data or output prefix", async () => {
    const cases: [string, Record<string, unknown>][] = [
      ['inputs.train', tinyJob(undefined, { inputs: { train: `${PREFIX_A}data/train.jsonl` } })],
      ['outputUri', tinyJob(undefined, { outputUri: `${PREFIX_A}stolen/` })],
      ['script.uri', { instance: { type: 'gpu_1x_a10' }, script: { uri: `${PREFIX_A}code/train.py` } }],
    ];
    for (const [path, body] of cases) {
      const response = await as('team-b', '/v1/jobs', { body });
      expect({ path, status: response.status, code: response.json.error.code }).toEqual({ path, status: 403, code: 'forbidden_location' });
      expect(response.json.error.details.map((d: { path: string }) => d.path)).toEqual([path]);
    }
    expect((await as('team-b', '/v1/jobs?limit=200')).json.data).toHaveLength(1);
  });

  it('writes outputs under the tenant’s own prefix by default', async () => {
    const job = (await as('team-a', `/v1/jobs/${jobA}`)).json;
    expect(job.outputUri).toBe(`${PREFIX_A}jobs/${jobA}/output/`);
    const s3 = testS3Client(stack.s3);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `team-a/jobs/${jobA}/output/` }));
    s3.destroy();
    expect(listed.Contents?.map((o) => o.Key)).toContain(`team-a/jobs/${jobA}/output/done.txt`);
  });

  it('lets the owner or an admin delete a finished job, never another client; a running one is a 409', async () => {
    const running = await submitAs('team-a', {
      instance: { type: 'gpu_1x_a10' },
      script: { inline: ENDLESS_SCRIPT, filename: 'train.py' },
    });
    expect((await as('team-a', `/v1/jobs/${running}`, { method: 'DELETE' })).json.error.code).toBe('job_not_finished');
    expect((await as('team-b', `/v1/jobs/${running}`, { method: 'DELETE' })).status).toBe(404);
    expect((await as('team-b', `/v1/jobs/${running}/cancel`, { method: 'POST' })).status).toBe(404);
    // Cancelled once it trains: a launch still in flight could record its instance after teardown
    // settled the job, which would unsettle it again (a known gap of settledAt).
    await waitFor(async () => (await as('team-a', `/v1/jobs/${running}`)).json.status === 'training', {
      timeoutMs: 60_000,
      description: 'the job to train',
    });
    expect((await as('team-a', `/v1/jobs/${running}/cancel`, { method: 'POST' })).status).toBe(200);
    await waitForJobEnd(stack, running);
    expect((await as('team-b', `/v1/jobs/${running}`, { method: 'DELETE' })).status).toBe(404);
    expect((await as('ops', `/v1/jobs/${running}`, { method: 'DELETE' })).status).toBe(204);
    expect((await as('team-a', `/v1/jobs/${running}`)).status).toBe(404);
    expect((await as('ops', `/v1/jobs/${running}`, { method: 'DELETE' })).status).toBe(404);
  });
});

/** When each job held a slot: from its `start` event to the event of its end. */
async function slotIntervals(ids: string[]) {
  const intervals: { id: string; start: number; end: number }[] = [];
  for (const id of ids) {
    const events: { at: string; data?: { status?: string; transition?: string } }[] = (await as('ops', `/v1/jobs/${id}/events`)).json.data;
    const start = events.find((e) => e.data?.transition === 'start');
    const end = events.find((e) => TERMINAL.includes(e.data?.status ?? ''));
    if (!start || !end) throw new Error(`job ${id} has no start or end event`);
    intervals.push({ id, start: Date.parse(start.at), end: Date.parse(end.at) });
  }
  return intervals;
}

/** The most slots held at once, over the intervals. */
function maxOverlap(intervals: { start: number; end: number }[]): number {
  const points = intervals.flatMap((i) => [
    { at: i.start, delta: 1 },
    { at: i.end, delta: -1 },
  ]);
  // An end and a start at the same millisecond: the end came first (the start waited for it).
  points.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let held = 0;
  let most = 0;
  for (const point of points) most = Math.max(most, (held += point.delta));
  return most;
}

async function runFiveUnderLimit(during?: (ids: string[]) => Promise<void>) {
  const slotJob = () => tinyJob(undefined, { metadata: { batch: String(Date.now()) } });
  const ids: string[] = [];
  // Submitted one after another (ids are time-ordered), as fast as the API answers.
  for (let i = 0; i < 5; i++) ids.push(await submitAs('team-slots', slotJob()));
  let mostSeen = 0;
  const seen = waitFor(
    async () => {
      const jobs = await Promise.all(ids.map(async (id) => (await as('team-slots', `/v1/jobs/${id}`)).json.status as string));
      mostSeen = Math.max(mostSeen, jobs.filter((s) => s !== 'queued' && !TERMINAL.includes(s)).length);
      return jobs.every((s) => TERMINAL.includes(s));
    },
    { timeoutMs: 180_000, intervalMs: 100, description: 'the five jobs to end' },
  );
  await during?.(ids);
  await seen;
  const ends = await Promise.all(ids.map((id) => waitForJobEnd(stack, id)));
  expect(ends.map((j) => j.status)).toEqual(Array(5).fill('succeeded'));
  const intervals = await slotIntervals(ids);
  const startOrder = [...intervals].sort((a, b) => a.start - b.start).map((i) => i.id);
  return { ids, mostSeen, overlap: maxOverlap(intervals), startOrder };
}

describe('a concurrency limit of 2', () => {
  it('runs five jobs submitted at once two at a time, in submission order, each waiting job told its place', async () => {
    const run = await runFiveUnderLimit();
    expect(run.mostSeen).toBeLessThanOrEqual(2);
    expect(run.overlap).toBe(2);
    expect(run.startOrder).toEqual(run.ids);
    const waiting = (await as('team-slots', `/v1/jobs/${run.ids[4]}/events`)).json.data.filter(
      (e: { type: string }) => e.type === 'waiting',
    );
    expect(waiting.length).toBeGreaterThan(0);
    expect(waiting[0].message).toMatch(/^Waiting for a slot: team-slots runs [0-2] of 2 concurrent jobs; place 3 in line$/);
    // Announced again only when the place moves, and it only moves forward.
    const places: number[] = waiting.map((e: { data: { place: number } }) => e.data.place);
    expect(places).toEqual([...new Set(places)].sort((a, b) => b - a));
  });

  it('loses and doubles no slot when the provisioner and the monitor are killed mid-run', async () => {
    const run = await runFiveUnderLimit(async (ids) => {
      // Kill the provisioner while the first two run and the others wait, then the monitor.
      await waitFor(async () => (await as('team-slots', `/v1/jobs/${ids[1]}`)).json.status === 'training', {
        timeoutMs: 60_000,
        description: 'the second job to train',
      });
      await stack.killAndRestart(stack.apps.findIndex((a) => a.app === 'provisioner'));
      await waitFor(async () => (await as('team-slots', `/v1/jobs/${ids[2]}`)).json.status !== 'queued', {
        timeoutMs: 90_000,
        description: 'the third job to start',
      });
      await stack.killAndRestart(stack.apps.findIndex((a) => a.app === 'monitor'));
    });
    expect(run.mostSeen).toBeLessThanOrEqual(2);
    expect(run.overlap).toBe(2);
    expect(run.startOrder).toEqual(run.ids);
  });
});

describe('a monthly budget', () => {
  it('stops a running job with budget_exhausted (partial outputs kept) and refuses the next submission', async () => {
    const partial = String.raw`
import os, time
open(os.path.join(os.environ['OUTPUT_DIR'], 'partial.txt'), 'w').write('half a model')
while True:
    print('training', flush=True)
    time.sleep(0.2)
`;
    const id = await submitAs('team-budget', { instance: { type: 'gpu_1x_a10' }, script: { inline: partial, filename: 'train.py' } });
    const job = await waitForJobEnd(stack, id, 120_000);
    expect(job.status).toBe('failed');
    expect(job.error.code).toBe('budget_exhausted');
    expect(job.outputs.map((o: { key: string }) => o.key)).toContain(`team-budget/jobs/${id}/output/partial.txt`);
    const usage = (await as('team-budget', '/v1/usage')).json;
    expect(usage.spendUsd).toBeGreaterThanOrEqual(0.002);
    expect(usage.limits).toMatchObject({ monthlyBudgetUsd: 0.002, budgetRemainingUsd: 0 });
    const refused = await as('team-budget', '/v1/jobs', { body: tinyJob() });
    expect(refused.status).toBe(402);
    expect(refused.json.error.code).toBe('budget_exhausted');
    // Other tenants are not affected, and an admin sees every tenant's usage.
    expect((await as('team-a', '/v1/usage')).json).toMatchObject({ name: 'team-a', limits: { monthlyBudgetUsd: null } });
    const all = (await as('ops', '/v1/usage')).json.data.map((u: { name: string }) => u.name);
    expect(all).toEqual(expect.arrayContaining(['team-a', 'team-b', 'ops', 'team-slots', 'team-budget']));
  });
});

describe('retention', () => {
  it("deletes finished jobs' records, events and logs once retention passes, never their S3 outputs", async () => {
    const id = await submitAs('team-a', tinyJob());
    expect((await waitForJobEnd(stack, id)).status).toBe('succeeded');
    // Retention of about two seconds, swept every 300 ms.
    await stack.killAndRestart(
      stack.apps.findIndex((a) => a.app === 'provisioner'),
      { JOB_RETENTION_DAYS: '0.00002', RETENTION_EVERY_MS: '300' },
    );
    await waitFor(async () => (await as('team-a', `/v1/jobs/${id}`)).status === 404, {
      timeoutMs: 30_000,
      description: 'the job to expire',
    });
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    try {
      const left = await redis.keys(`${stack.namespace}:job:${id}*`);
      expect(left).toEqual([]);
      expect(await redis.zscore(`${stack.namespace}:jobs`, id)).toBeNull();
    } finally {
      await redis.quit();
    }
    expect((await as('team-a', '/v1/jobs?limit=200')).json.data.map((j: { id: string }) => j.id)).not.toContain(id);
    const s3 = testS3Client(stack.s3);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `team-a/jobs/${id}/output/` }));
    s3.destroy();
    expect(listed.Contents?.map((o) => o.Key)).toContain(`team-a/jobs/${id}/output/done.txt`);
  });
});
