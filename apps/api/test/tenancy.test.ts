import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { newJobId } from '@inno-train/job-store';
import type { InstanceInfo } from '@inno-train/schemas';
import { monthOf } from '@inno-train/workflow';
import { ALLOWED_PREFIXES, DEFAULT_BUCKET, openHarness, pendingJobs, uniqueNamespace, type Harness } from './harness';
import { loadKeyEntries, type KeyEntry } from '../src/keys';

/**
 * The tenancy matrix at the HTTP level: two client tenants with their own prefixes, a tenant with a
 * budget, a tenant that may write to the service's bucket, and an admin.
 */
const TEAM_A_KEY = 'tenancy-team-a-key-00000000001';
const TEAM_B_KEY = 'tenancy-team-b-key-00000000002';
const TEAM_C_KEY = 'tenancy-team-c-key-00000000003';
const TEAM_S_KEY = 'tenancy-team-s-key-00000000004';
const ADMIN_KEY = 'tenancy-admin-key-000000000005';

const A_PREFIX = 's3://data-bucket/team-a/';
const B_PREFIX = 's3://data-bucket/team-b/';
const C_PREFIX = 's3://data-bucket/team-c/';
const S_PREFIX = 's3://data-bucket/team-s/';
const A_TRAIN = `${A_PREFIX}sets/train.jsonl`;
const A_SCRIPT = `${A_PREFIX}code/train.py`;
const B_TRAIN = `${B_PREFIX}sets/train.jsonl`;
const B_SCRIPT = `${B_PREFIX}code/train.py`;
const C_TRAIN = `${C_PREFIX}sets/train.jsonl`;
const S_TRAIN = `${S_PREFIX}sets/train.jsonl`;
const KNOWN = [A_TRAIN, A_SCRIPT, B_TRAIN, B_SCRIPT, C_TRAIN, S_TRAIN];

const TENANTS = ['team-a', 'team-b', 'team-c', 'team-s', 'ops'];

let keysDir: string;
let keys: KeyEntry[];

beforeAll(() => {
  keysDir = mkdtempSync(join(tmpdir(), 'inno-tenancy-'));
  const file = join(keysDir, 'keys.json');
  writeFileSync(
    file,
    JSON.stringify({
      keys: [
        { name: 'team-a', key: TEAM_A_KEY, allowedPrefixes: [A_PREFIX], maxConcurrentJobs: 3, monthlyBudgetUsd: 100 },
        { name: 'team-b', key: TEAM_B_KEY, allowedPrefixes: [B_PREFIX] },
        { name: 'team-c', key: TEAM_C_KEY, allowedPrefixes: [C_PREFIX], monthlyBudgetUsd: 5 },
        // The service's bucket second: the default output still goes there.
        { name: 'team-s', key: TEAM_S_KEY, allowedPrefixes: [S_PREFIX, `s3://${DEFAULT_BUCKET}/`] },
        { name: 'ops', key: ADMIN_KEY, role: 'admin' },
      ],
    }),
  );
  keys = loadKeyEntries({ file, defaultPrefixes: ALLOWED_PREFIXES });
});

afterAll(() => {
  rmSync(keysDir, { recursive: true, force: true });
});

/** Opens a harness over its own namespace with the tenancy keys and every known object. */
function openTenancyHarness(label: string): Harness {
  const harness = openHarness(uniqueNamespace(label), { keys });
  for (const uri of KNOWN) harness.storage.known.add(uri);
  return harness;
}

const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

const jobBody = (train: string, extra: object = {}) => ({
  instance: { type: 'gpu_1x_a10' },
  inputs: { train },
  script: { inline: 'print(1)', filename: 'train.py' },
  ...extra,
});

const OWN_INPUT: Record<string, string> = {
  [TEAM_A_KEY]: A_TRAIN,
  [TEAM_B_KEY]: B_TRAIN,
  [TEAM_C_KEY]: C_TRAIN,
  [TEAM_S_KEY]: S_TRAIN,
  [ADMIN_KEY]: A_TRAIN,
};

function submitTo(harness: Harness, key: string, body: object = jobBody(OWN_INPUT[key]!), idempotencyKey?: string) {
  const call = request(harness.app).post('/v1/jobs').set(bearer(key));
  return (idempotencyKey === undefined ? call : call.set('Idempotency-Key', idempotencyKey)).send(body);
}

async function createdIn(harness: Harness, key: string, body?: object): Promise<string> {
  const response = await submitTo(harness, key, body);
  expect(response.status).toBe(202);
  return response.body.id as string;
}

const terminatedInstance = (overrides: Partial<InstanceInfo> = {}): InstanceInfo => ({
  id: `i-${Math.random().toString(36).slice(2, 10)}`,
  type: 'gpu_1x_a10',
  region: 'us-east-1',
  ip: '10.0.0.1',
  status: 'terminated',
  launchedAt: new Date(Date.now() - 3_600_000).toISOString(),
  terminatedAt: new Date().toISOString(),
  priceCentsPerHour: 75,
  ...overrides,
});

/** Moves a job to a terminal state the way a stage would (the store's indexes follow). */
async function finishIn(harness: Harness, id: string, patch: { instance?: InstanceInfo | null; retiredInstances?: InstanceInfo[] } = {}) {
  const { changed } = await harness.store.update(id, (j) => ({
    ...j,
    status: 'succeeded',
    finishedAt: new Date().toISOString(),
    ...patch,
  }));
  expect(changed).toBe(true);
}

type Detail = { path: string; message: string };
const paths = (details: Detail[] | undefined) => (details ?? []).map((d) => d.path);

describe('tenancy over HTTP', () => {
  let h: Harness;

  beforeAll(() => {
    h = openTenancyHarness('tenancy');
  });

  afterAll(async () => {
    await h.close();
  });

  const submit = (key: string, body?: object, idempotencyKey?: string) => submitTo(h, key, body, idempotencyKey);
  const created = (key: string, body?: object) => createdIn(h, key, body);
  const finish = (id: string, patch?: Parameters<typeof finishIn>[2]) => finishIn(h, id, patch);
  const jobCount = async () => (await h.store.list({ limit: 200 })).jobs.length;
  const provisionCount = async () => (await pendingJobs(h.queues, 'provision')).length;

  describe('who may reach a job: its owner and admins; anyone else gets the answer for a missing job', () => {
    type Call = (key: string, id: string) => request.Test;
    const endpoints: [string, Call, number, boolean][] = [
      ['GET /v1/jobs/:id', (key, id) => request(h.app).get(`/v1/jobs/${id}`).set(bearer(key)), 200, false],
      ['GET /v1/jobs/:id/events', (key, id) => request(h.app).get(`/v1/jobs/${id}/events`).set(bearer(key)), 200, false],
      ['GET /v1/jobs/:id/logs', (key, id) => request(h.app).get(`/v1/jobs/${id}/logs`).set(bearer(key)), 200, false],
      ['POST /v1/jobs/:id/cancel', (key, id) => request(h.app).post(`/v1/jobs/${id}/cancel`).set(bearer(key)), 200, false],
      ['DELETE /v1/jobs/:id', (key, id) => request(h.app).delete(`/v1/jobs/${id}`).set(bearer(key)), 204, true],
    ];

    it.each(endpoints)('%s', async (_name, call, okStatus, finished) => {
      const ownersJob = await created(TEAM_A_KEY);
      const adminsJob = await created(TEAM_A_KEY);
      await h.store.appendLog(ownersJob, 'epoch 1 loss 0.5 team-a-log-marker\n');
      await h.store.appendLog(adminsJob, 'epoch 1 loss 0.5 team-a-log-marker\n');
      if (finished) {
        await finish(ownersJob, { instance: terminatedInstance() });
        await finish(adminsJob, { instance: terminatedInstance() });
      }
      const before = await h.redis.get(`${h.ns}:job:${ownersJob}`);
      const eventsBefore = await h.store.events(ownersJob);
      const teardownsBefore = (await pendingJobs(h.queues, 'teardown')).length;

      // Another client: exactly the answer for an id that does not exist, and nothing changes.
      const missingId = newJobId();
      const missing = await call(TEAM_B_KEY, missingId);
      const foreign = await call(TEAM_B_KEY, ownersJob);
      expect(missing.status).toBe(404);
      expect(foreign.status).toBe(404);
      expect(foreign.body.error.code).toBe('job_not_found');
      // Equal but for the id asked about and each answer's own request id.
      const comparable = (body: { error: Record<string, unknown> }, id: string) =>
        JSON.stringify({ error: { ...body.error, requestId: '<request>' } })
          .split(id)
          .join('<id>');
      expect(comparable(foreign.body, ownersJob)).toBe(comparable(missing.body, missingId));
      expect(foreign.headers['content-type']).toBe(missing.headers['content-type']);
      expect(foreign.text).not.toContain('team-a-log-marker');
      expect(await h.redis.get(`${h.ns}:job:${ownersJob}`)).toBe(before);
      expect(await h.store.events(ownersJob)).toEqual(eventsBefore);
      expect((await pendingJobs(h.queues, 'teardown')).length).toBe(teardownsBefore);

      // Its owner.
      const owner = await call(TEAM_A_KEY, ownersJob);
      expect(owner.status).toBe(okStatus);

      // An admin, on another job of the same tenant.
      const admin = await call(ADMIN_KEY, adminsJob);
      expect(admin.status).toBe(okStatus);

      // An admin asking for a missing id gets the same 404 as everyone.
      const adminMissing = await call(ADMIN_KEY, missingId);
      expect(adminMissing.status).toBe(404);
      expect(comparable(adminMissing.body, missingId)).toBe(comparable(missing.body, missingId));
    });

    it('shows the owner and an admin the job, its events and its log', async () => {
      const id = await created(TEAM_A_KEY);
      await h.store.appendLog(id, 'hello from team-a\n');
      for (const key of [TEAM_A_KEY, ADMIN_KEY]) {
        const job = await request(h.app).get(`/v1/jobs/${id}`).set(bearer(key));
        expect(job.body.id).toBe(id);
        expect(job.body.request.inputs).toEqual({ train: A_TRAIN });
        const events = await request(h.app).get(`/v1/jobs/${id}/events`).set(bearer(key));
        expect(events.body.data.map((e: { message: string }) => e.message)).toEqual(['Job submitted']);
        const log = await request(h.app).get(`/v1/jobs/${id}/logs`).set(bearer(key));
        expect(log.text).toBe('hello from team-a\n');
      }
    });

    it('lets the owner and an admin cancel, and another client not', async () => {
      const id = await created(TEAM_A_KEY);
      expect((await request(h.app).post(`/v1/jobs/${id}/cancel`).set(bearer(TEAM_B_KEY))).status).toBe(404);
      expect((await h.store.mustGet(id)).status).toBe('queued');
      const cancelled = await request(h.app).post(`/v1/jobs/${id}/cancel`).set(bearer(ADMIN_KEY));
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.status).toBe('cancelled');
      // Once ended, the other client still gets the missing-job answer, never job_finished.
      const after = await request(h.app).post(`/v1/jobs/${id}/cancel`).set(bearer(TEAM_B_KEY));
      expect(after.status).toBe(404);
      expect(after.body.error.code).toBe('job_not_found');
      // The owner cancelling again gets the cancelled job (cancel is idempotent).
      const again = await request(h.app).post(`/v1/jobs/${id}/cancel`).set(bearer(TEAM_A_KEY));
      expect(again.status).toBe(200);
      expect(again.body.status).toBe('cancelled');
    });
  });

  describe('where a job may read and write: only under its key’s prefixes', () => {
    it('refuses other tenants’ inputs, script and output with 403 forbidden_location naming each field', async () => {
      const jobs = await jobCount();
      const provisions = await provisionCount();
      const calls = h.storage.calls.length;
      const response = await submit(TEAM_A_KEY, {
        ...jobBody(A_TRAIN),
        inputs: { own: A_TRAIN, theirs: B_TRAIN },
        script: { uri: B_SCRIPT },
        outputUri: `${B_PREFIX}runs/stolen/`,
      });
      expect(response.status).toBe(403);
      expect(response.body.error.code).toBe('forbidden_location');
      expect(paths(response.body.error.details)).toEqual(['inputs.theirs', 'script.uri', 'outputUri']);
      for (const field of ['inputs.theirs', 'script.uri', 'outputUri']) expect(response.body.error.message).toContain(field);
      expect(response.body.error.message).not.toContain('inputs.own');
      expect(await jobCount()).toBe(jobs);
      expect(await provisionCount()).toBe(provisions);
      // The other tenant's objects are not even probed.
      expect(h.storage.calls.slice(calls)).toEqual([]);
    });

    it.each([
      ['inputs.train', { inputs: { train: B_TRAIN } }],
      ['script.uri', { script: { uri: B_SCRIPT } }],
      ['outputUri', { outputUri: `${B_PREFIX}out/` }],
      ['inputs.train', { inputs: { train: 's3://data-bucket/team-a-other/sets/train.jsonl' } }],
      ['inputs.train', { inputs: { train: 's3://data-bucket/team-a' } }],
      ['inputs.train', { inputs: { train: 's3://data-bucket-2/team-a/sets/train.jsonl' } }],
      ['outputUri', { outputUri: `s3://${DEFAULT_BUCKET}/jobs/x/output/` }],
    ])('refuses %s outside the key’s prefixes (%j)', async (field, extra) => {
      const jobs = await jobCount();
      const response = await submit(TEAM_A_KEY, { ...jobBody(A_TRAIN), ...extra });
      expect(response.status).toBe(403);
      expect(response.body.error.code).toBe('forbidden_location');
      expect(paths(response.body.error.details)).toEqual([field]);
      expect(await jobCount()).toBe(jobs);
    });

    it('refuses a path that climbs out of the key’s prefix', async () => {
      const jobs = await jobCount();
      const response = await submit(TEAM_A_KEY, jobBody(`${A_PREFIX}../team-b/sets/train.jsonl`));
      expect(response.status).toBe(400);
      expect(paths(response.body.error.details)).toEqual(['inputs.train']);
      expect(await jobCount()).toBe(jobs);
    });

    it('accepts the same locations from their own tenant, and from an admin with the default prefixes', async () => {
      const own = await submit(TEAM_B_KEY, { ...jobBody(B_TRAIN), script: { uri: B_SCRIPT }, outputUri: `${B_PREFIX}runs/mine/` });
      expect(own.status).toBe(202);
      expect(own.body.outputUri).toBe(`${B_PREFIX}runs/mine/`);
      const admin = await submit(ADMIN_KEY, { ...jobBody(B_TRAIN), script: { uri: B_SCRIPT } });
      expect(admin.status).toBe(202);
    });

    it('puts the default output under the tenant’s own prefix when the service bucket is not allowed', async () => {
      const response = await submit(TEAM_A_KEY);
      expect(response.status).toBe(202);
      const id = response.body.id as string;
      expect(response.body.outputUri).toBe(`${A_PREFIX}jobs/${id}/output/`);
      expect((await h.store.mustGet(id)).spec.outputUri).toBe(`${A_PREFIX}jobs/${id}/output/`);
    });

    it('puts the default output in the service bucket when the key may write there', async () => {
      const response = await submit(TEAM_S_KEY);
      expect(response.status).toBe(202);
      expect(response.body.outputUri).toBe(`s3://${DEFAULT_BUCKET}/jobs/${response.body.id}/output/`);
    });

    it('records the tenant and a snapshot of its limits on the job', async () => {
      const id = await created(TEAM_A_KEY);
      const record = await h.store.mustGet(id);
      expect(record.createdBy).toBe('team-a');
      expect(record.limits).toEqual({ maxConcurrentJobs: 3, monthlyBudgetUsd: 100 });
      const other = await h.store.mustGet(await created(TEAM_B_KEY));
      expect(other.createdBy).toBe('team-b');
      expect(other.limits).toEqual({ maxConcurrentJobs: null, monthlyBudgetUsd: null });
    });
  });

  describe('Idempotency-Key per tenant', () => {
    const shared = () => ({ instance: { type: 'gpu_1x_a10' }, script: { inline: 'print("same")', filename: 'train.py' } });

    it('makes one job per tenant for the same key and body, and replays each tenant its own', async () => {
      const a = await submit(TEAM_A_KEY, shared(), 'tenancy-shared-key-1');
      const b = await submit(TEAM_B_KEY, shared(), 'tenancy-shared-key-1');
      expect([a.status, b.status]).toEqual([202, 202]);
      expect(a.headers['idempotent-replayed']).toBeUndefined();
      expect(b.headers['idempotent-replayed']).toBeUndefined();
      expect(b.body.id).not.toBe(a.body.id);
      expect((await h.store.mustGet(a.body.id)).createdBy).toBe('team-a');
      expect((await h.store.mustGet(b.body.id)).createdBy).toBe('team-b');

      const againA = await submit(TEAM_A_KEY, shared(), 'tenancy-shared-key-1');
      const againB = await submit(TEAM_B_KEY, shared(), 'tenancy-shared-key-1');
      expect(againA.headers['idempotent-replayed']).toBe('true');
      expect(againB.headers['idempotent-replayed']).toBe('true');
      expect(againA.body.id).toBe(a.body.id);
      expect(againB.body.id).toBe(b.body.id);
    });

    it('does not refuse a tenant’s key because another tenant used it with another body', async () => {
      const a = await submit(TEAM_A_KEY, jobBody(A_TRAIN), 'tenancy-shared-key-2');
      const b = await submit(TEAM_B_KEY, jobBody(B_TRAIN), 'tenancy-shared-key-2');
      expect([a.status, b.status]).toEqual([202, 202]);
      expect(b.body.id).not.toBe(a.body.id);
    });
  });

  describe('reserved JSON keys', () => {
    const valid = JSON.stringify(jobBody(A_TRAIN)).slice(1, -1);
    it.each([
      ['__proto__ at the top level', `{"__proto__":{"role":"admin"},${valid}}`, '__proto__'],
      ['constructor at the top level', `{"constructor":{"prototype":{}},${valid}}`, 'constructor'],
      ['prototype at the top level', `{${valid},"prototype":1}`, 'prototype'],
      ['__proto__ in metadata', `{${valid},"metadata":{"team":"a","__proto__":"x"}}`, 'metadata.__proto__'],
      ['constructor in metadata', `{${valid},"metadata":{"constructor":"x"}}`, 'metadata.constructor'],
      ['prototype in metadata', `{${valid},"metadata":{"prototype":"x"}}`, 'metadata.prototype'],
      ['__proto__ in env', `{${valid},"env":{"__proto__":"x"}}`, 'env.__proto__'],
      ['constructor in env', `{${valid},"env":{"OK":"1","constructor":"x"}}`, 'env.constructor'],
      ['prototype in env', `{${valid},"env":{"prototype":"x"}}`, 'env.prototype'],
      ['__proto__ deep in config', `{${valid},"config":{"a":{"b":[{"__proto__":{"x":1}}]}}}`, 'config.a.b.0.__proto__'],
      [
        'constructor in inputs',
        `{"instance":{"type":"gpu_1x_a10"},"script":{"inline":"x"},"inputs":{"constructor":"${A_TRAIN}"}}`,
        'inputs.constructor',
      ],
    ])('refuses %s with 400 naming its path, and creates nothing', async (_name, raw, path) => {
      const jobs = await jobCount();
      const provisions = await provisionCount();
      const calls = h.storage.calls.length;
      const response = await request(h.app).post('/v1/jobs').set(bearer(TEAM_A_KEY)).set('Content-Type', 'application/json').send(raw);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('invalid_request');
      expect(response.body.error.details).toEqual([{ path, message: expect.stringContaining('reserved') }]);
      expect(response.body.error.message).toContain(path);
      expect(await jobCount()).toBe(jobs);
      expect(await provisionCount()).toBe(provisions);
      expect(h.storage.calls.length).toBe(calls);
    });

    it('still accepts such words as values', async () => {
      const response = await submit(TEAM_A_KEY, jobBody(A_TRAIN, { metadata: { kind: '__proto__', other: 'constructor' } }));
      expect(response.status).toBe(202);
    });
  });

  describe('DELETE /v1/jobs/:id', () => {
    const del = (key: string, id: string) => request(h.app).delete(`/v1/jobs/${id}`).set(bearer(key));

    it('refuses a queued job with 409 job_not_finished and keeps it', async () => {
      const id = await created(TEAM_A_KEY);
      const response = await del(TEAM_A_KEY, id);
      expect(response.status).toBe(409);
      expect(response.body.error.code).toBe('job_not_finished');
      expect(response.body.error.message).toContain('queued');
      expect(await h.store.get(id)).not.toBeNull();
    });

    it('refuses an ended job whose instance is not confirmed terminated', async () => {
      const id = await created(TEAM_A_KEY);
      await finish(id, { instance: terminatedInstance({ status: 'active', terminatedAt: null }) });
      const response = await del(TEAM_A_KEY, id);
      expect(response.status).toBe(409);
      expect(response.body.error.code).toBe('job_not_finished');
      expect(await h.store.get(id)).not.toBeNull();
      // The admin is refused the same way.
      expect((await del(ADMIN_KEY, id)).status).toBe(409);
    });

    it('refuses an ended job with a retired instance not confirmed terminated', async () => {
      const id = await created(TEAM_A_KEY);
      await finish(id, {
        instance: terminatedInstance(),
        retiredInstances: [terminatedInstance({ status: 'terminating', terminatedAt: null })],
      });
      const response = await del(TEAM_A_KEY, id);
      expect(response.status).toBe(409);
      expect(response.body.error.code).toBe('job_not_finished');
    });

    it('deletes a finished job: 204, then 404, and its record, events, log and index entries are gone', async () => {
      const id = await created(TEAM_A_KEY);
      await h.store.appendLog(id, 'some log\n');
      await finish(id, { instance: terminatedInstance() });
      const jobKeys = [`${h.ns}:job:${id}`, `${h.ns}:job:${id}:events`, `${h.ns}:job:${id}:log`];
      expect(await h.redis.exists(...jobKeys)).toBe(3);
      expect(await h.redis.zscore(`${h.ns}:jobs:finished`, id)).not.toBeNull();

      const response = await del(TEAM_A_KEY, id);
      expect(response.status).toBe(204);
      expect(response.text).toBe('');
      expect(await h.redis.exists(...jobKeys)).toBe(0);
      for (const index of [
        `${h.ns}:jobs`,
        `${h.ns}:jobs:status:succeeded`,
        `${h.ns}:jobs:owner:team-a`,
        `${h.ns}:jobs:owner:team-a:status:succeeded`,
        `${h.ns}:jobs:finished`,
      ]) {
        expect({ index, score: await h.redis.zscore(index, id) }).toEqual({ index, score: null });
      }

      const get = await request(h.app).get(`/v1/jobs/${id}`).set(bearer(TEAM_A_KEY));
      expect(get.status).toBe(404);
      expect(get.body.error.code).toBe('job_not_found');
      const again = await del(TEAM_A_KEY, id);
      expect(again.status).toBe(404);
      expect(again.body.error.code).toBe('job_not_found');
      const listed = await request(h.app).get('/v1/jobs?limit=200').set(bearer(TEAM_A_KEY));
      expect(listed.body.data.map((j: { id: string }) => j.id)).not.toContain(id);
    });

    it('answers another tenant 404 for a finished job and keeps it', async () => {
      const id = await created(TEAM_A_KEY);
      await finish(id, { instance: terminatedInstance() });
      const response = await del(TEAM_B_KEY, id);
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('job_not_found');
      expect(await h.store.get(id)).not.toBeNull();
    });

    it('never brings a deleted job’s id back for a retry with its Idempotency-Key', async () => {
      const body = jobBody(A_TRAIN, { name: 'deleted-then-retried' });
      const first = await submit(TEAM_A_KEY, body, 'tenancy-delete-retry-1');
      expect(first.status).toBe(202);
      const id = first.body.id as string;
      await finish(id, { instance: terminatedInstance() });
      expect((await del(TEAM_A_KEY, id)).status).toBe(204);

      const retry = await submit(TEAM_A_KEY, body, 'tenancy-delete-retry-1');
      // Whatever the answer, the deleted job's id (its spend ledger entry, its BullMQ step ids) is not reused.
      expect(retry.status === 202 ? retry.body.id : null).not.toBe(id);
      expect(await h.store.get(id)).toBeNull();
    });
  });
});

describe('listing jobs per tenant', () => {
  let h: Harness;
  const mine: Record<string, string[]> = {};

  beforeAll(async () => {
    h = openTenancyHarness('tenancy-list');
    for (const [name, key, count] of [
      ['team-a', TEAM_A_KEY, 3],
      ['team-b', TEAM_B_KEY, 2],
      ['ops', ADMIN_KEY, 1],
    ] as const) {
      mine[name] = [];
      for (let n = 0; n < count; n++) mine[name].push(await createdIn(h, key));
    }
    // One of each client's jobs ends.
    await finishIn(h, mine['team-a']![0]!);
    await finishIn(h, mine['team-b']![0]!);
  });

  afterAll(async () => {
    await h.close();
  });

  const list = (key: string, query = '') => request(h.app).get(`/v1/jobs?limit=200${query}`).set(bearer(key));
  const idsOf = (body: { data: { id: string }[] }) => body.data.map((j) => j.id).sort();
  const sorted = (ids: string[]) => [...ids].sort();

  it('shows each client only its own jobs', async () => {
    const a = await list(TEAM_A_KEY);
    expect(a.status).toBe(200);
    expect(idsOf(a.body)).toEqual(sorted(mine['team-a']!));
    const b = await list(TEAM_B_KEY);
    expect(idsOf(b.body)).toEqual(sorted(mine['team-b']!));
    const c = await list(TEAM_C_KEY);
    expect(c.body).toEqual({ data: [], hasMore: false, nextAfter: null });
  });

  it('filters a client’s own jobs by status', async () => {
    const queued = await list(TEAM_A_KEY, '&status=queued');
    expect(idsOf(queued.body)).toEqual(sorted(mine['team-a']!.slice(1)));
    const succeeded = await list(TEAM_B_KEY, '&status=succeeded');
    expect(idsOf(succeeded.body)).toEqual([mine['team-b']![0]]);
  });

  it('pages within a client’s own jobs', async () => {
    const first = await request(h.app).get('/v1/jobs?limit=2').set(bearer(TEAM_B_KEY));
    expect(first.body.data).toHaveLength(2);
    expect(first.body.hasMore).toBe(false);
    const one = await request(h.app).get('/v1/jobs?limit=1').set(bearer(TEAM_B_KEY));
    expect(one.body.hasMore).toBe(true);
    const rest = await request(h.app).get(`/v1/jobs?limit=5&after=${one.body.data[0].id}`).set(bearer(TEAM_B_KEY));
    expect([...one.body.data, ...rest.body.data].map((j: { id: string }) => j.id).sort()).toEqual(sorted(mine['team-b']!));
  });

  it('shows an admin every tenant’s jobs, and one tenant’s with createdBy (with status too)', async () => {
    const all = await list(ADMIN_KEY);
    expect(idsOf(all.body)).toEqual(sorted([...mine['team-a']!, ...mine['team-b']!, ...mine['ops']!]));
    const a = await list(ADMIN_KEY, '&createdBy=team-a');
    expect(idsOf(a.body)).toEqual(sorted(mine['team-a']!));
    const own = await list(ADMIN_KEY, '&createdBy=ops');
    expect(idsOf(own.body)).toEqual(sorted(mine['ops']!));
    const bQueued = await list(ADMIN_KEY, '&createdBy=team-b&status=queued');
    expect(idsOf(bQueued.body)).toEqual(sorted(mine['team-b']!.slice(1)));
    const nobody = await list(ADMIN_KEY, '&createdBy=nobody');
    expect(nobody.body).toEqual({ data: [], hasMore: false, nextAfter: null });
  });

  it('answers 400 to a client using createdBy, even with its own name', async () => {
    for (const [key, name] of [
      [TEAM_A_KEY, 'team-b'],
      [TEAM_A_KEY, 'team-a'],
    ]) {
      const response = await list(key!, `&createdBy=${name}`);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('invalid_request');
      expect(paths(response.body.error.details)).toEqual(['createdBy']);
      expect(response.body.data).toBeUndefined();
    }
  });

  it('answers 400 to an admin with a malformed createdBy', async () => {
    const response = await list(ADMIN_KEY, '&createdBy=bad%20name');
    expect(response.status).toBe(400);
    expect(paths(response.body.error.details)).toEqual(['createdBy']);
  });
});

describe('usage and budgets', () => {
  let h: Harness;
  const month = monthOf(Date.now());
  const aJobs: string[] = [];
  let bJob: string;

  beforeAll(async () => {
    h = openTenancyHarness('tenancy-usage');
    aJobs.push(await createdIn(h, TEAM_A_KEY), await createdIn(h, TEAM_A_KEY));
    bJob = await createdIn(h, TEAM_B_KEY);
    // team-a's oldest job runs, on an instance up for an hour at $1.20/h.
    const started = await h.store.update(aJobs[0]!, (j) => ({
      ...j,
      status: 'training',
      startedAt: new Date().toISOString(),
      instance: terminatedInstance({
        status: 'active',
        terminatedAt: null,
        priceCentsPerHour: 120,
        launchedAt: new Date(Date.now() - 3_600_000).toISOString(),
      }),
    }));
    expect(started.changed).toBe(true);
    await h.store.recordSpend('team-a', month, newJobId(), 2);
    await h.store.recordSpend('team-b', month, bJob, 7);
  });

  afterAll(async () => {
    await h.close();
  });

  const usage = (key: string) => request(h.app).get('/v1/usage').set(bearer(key));

  it('shows a client its own usage only', async () => {
    const response = await usage(TEAM_A_KEY);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      name: 'team-a',
      role: 'client',
      month,
      spendUsd: expect.any(Number),
      jobs: { queued: 1, running: 1 },
      limits: { maxConcurrentJobs: 3, monthlyBudgetUsd: 100, budgetRemainingUsd: expect.any(Number) },
      allowedPrefixes: [A_PREFIX],
    });
    // Its ledger ($2) and its running job priced live (~$1.20); never team-b's $7.
    expect(response.body.spendUsd).toBeCloseTo(3.2, 2);
    expect(response.body.limits.budgetRemainingUsd).toBeCloseTo(96.8, 2);
    expect(JSON.stringify(response.body)).not.toContain('team-b');

    const b = await usage(TEAM_B_KEY);
    expect(b.body).toMatchObject({ name: 'team-b', spendUsd: 7, jobs: { queued: 1, running: 0 } });
    expect(b.body.limits).toEqual({ maxConcurrentJobs: null, monthlyBudgetUsd: null, budgetRemainingUsd: null });
  });

  it('shows an admin every tenant, as a data array', async () => {
    const response = await usage(ADMIN_KEY);
    expect(response.status).toBe(200);
    expect(Object.keys(response.body)).toEqual(['data']);
    const byName = new Map<string, Record<string, unknown>>(response.body.data.map((u: { name: string }) => [u.name, u]));
    expect(response.body.data.map((u: { name: string }) => u.name)).toEqual(TENANTS);
    expect(byName.get('team-a')).toMatchObject({ role: 'client', month, jobs: { queued: 1, running: 1 } });
    expect(byName.get('team-a')!.spendUsd as number).toBeCloseTo(3.2, 2);
    expect(byName.get('team-b')).toMatchObject({ spendUsd: 7, jobs: { queued: 1, running: 0 } });
    expect(byName.get('team-c')).toMatchObject({ spendUsd: 0, jobs: { queued: 0, running: 0 } });
    expect(byName.get('ops')).toMatchObject({ role: 'admin', allowedPrefixes: ALLOWED_PREFIXES });
  });

  it('refuses a submission with 402 budget_exhausted once the month’s spend reaches the budget, and creates nothing', async () => {
    // Another month's spend and another tenant's do not count against team-c's $5.
    await h.store.recordSpend('team-c', monthOf(Date.now() - 40 * 24 * 3600 * 1000), newJobId(), 500);
    await h.store.recordSpend('team-c', month, newJobId(), 3);
    const under = await submitTo(h, TEAM_C_KEY);
    expect(under.status).toBe(202);

    await h.store.recordSpend('team-c', month, newJobId(), 2);
    const jobs = (await h.store.list({ limit: 200 })).jobs.length;
    const provisions = (await pendingJobs(h.queues, 'provision')).length;
    const refused = await submitTo(h, TEAM_C_KEY);
    expect(refused.status).toBe(402);
    expect(refused.body.error.code).toBe('budget_exhausted');
    expect(refused.body.error.message).toContain('5 USD');
    expect((await h.store.list({ limit: 200 })).jobs.length).toBe(jobs);
    expect((await h.store.list({ createdBy: 'team-c', limit: 200 })).jobs.map((j) => j.id)).toEqual([under.body.id]);
    expect((await pendingJobs(h.queues, 'provision')).length).toBe(provisions);

    const usageC = await usage(TEAM_C_KEY);
    expect(usageC.body.spendUsd).toBe(5);
    expect(usageC.body.limits.budgetRemainingUsd).toBe(0);

    // Other tenants still submit.
    expect((await submitTo(h, TEAM_B_KEY)).status).toBe(202);
  });
});
