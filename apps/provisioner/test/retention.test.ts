import { openRedisNamespace, waitFor } from '@inno-train/test-kit';
import { createJobStore, newJobId } from '@inno-train/job-store';
import { createJobRecord, type InstanceInfo, type JobRecord } from '@inno-train/schemas';
import type { JobStatus } from '@inno-train/workflow-constants';
import { purgeable, purgeExpiredJobs } from '../src/retention';

const spec = {
  instance: { type: 'gpu_1x_a10' },
  inputs: {},
  script: { inline: 'print(1)', filename: 'train.py' },
  command: 'python3 train.py',
  outputUri: 's3://b/o/',
};

const instance = (terminatedAt: string | null, id = `i-${Math.random().toString(36).slice(2, 10)}`): InstanceInfo => ({
  id,
  type: 'gpu_1x_a10',
  region: 'us-east-1',
  ip: '10.0.0.1',
  status: terminatedAt ? 'terminated' : 'active',
  launchedAt: new Date(Date.now() - 3_600_000).toISOString(),
  terminatedAt,
  priceCentsPerHour: 75,
});
const confirmed = () => instance(new Date().toISOString());
const unconfirmed = () => instance(null);

/** Ended records carry their end time, as every writer of a terminal status sets it. */
const record = (patch: Partial<JobRecord> = {}) =>
  createJobRecord(
    { id: newJobId(), spec, createdBy: 'retention' },
    { ...(['succeeded', 'failed', 'cancelled'].includes(patch.status ?? '') ? { finishedAt: new Date().toISOString() } : {}), ...patch },
  );

describe('which ended jobs may be purged (pure)', () => {
  it.each<[string, Partial<JobRecord>, boolean]>([
    ['succeeded, no instance ever', { status: 'succeeded' }, true],
    ['failed, its instance confirmed terminated', { status: 'failed', instance: confirmed() }, true],
    [
      'cancelled, every instance confirmed terminated',
      { status: 'cancelled', instance: confirmed(), retiredInstances: [confirmed()] },
      true,
    ],
    ['succeeded, its instance not confirmed', { status: 'succeeded', instance: unconfirmed() }, false],
    ['failed, a retired instance not confirmed', { status: 'failed', instance: confirmed(), retiredInstances: [unconfirmed()] }, false],
    ['still queued', { status: 'queued' }, false],
    ['still training, instance gone', { status: 'training', instance: confirmed() }, false],
    ['succeeded, teardown has not settled it yet', { status: 'succeeded', settledAt: null }, false],
    ['succeeded and settled by teardown', { status: 'succeeded', instance: confirmed(), settledAt: new Date().toISOString() }, true],
  ])('%s: %s', (_name, patch, expected) => {
    expect(purgeable(record(patch))).toBe(expected);
  });
});

describe('purging expired jobs (real Redis)', () => {
  const space = openRedisNamespace('retention');
  const store = createJobStore({ redis: space.redis, namespace: space.namespace });
  const ns = space.namespace;

  afterAll(async () => {
    await space.close();
  });

  async function saved(): Promise<string> {
    const job = record();
    await store.create(job, { at: job.createdAt, type: 'status', stage: 'submit', message: 'Job submitted' });
    await store.appendLog(job.id, 'a line of log\n');
    return job.id;
  }

  /** Ends a job the way a stage does; the store marks when (the retention clock). */
  async function ended(id: string, status: JobStatus, patch: Partial<JobRecord> = {}): Promise<number> {
    const { changed } = await store.update(id, (job) => ({ ...job, status, finishedAt: new Date().toISOString(), ...patch }));
    expect(changed).toBe(true);
    return Number(await space.redis.zscore(`${ns}:jobs:finished`, id));
  }

  const exists = async (id: string) => (await space.redis.exists(`${ns}:job:${id}`, `${ns}:job:${id}:events`, `${ns}:job:${id}:log`)) === 3;

  it('purges only jobs ended before the cutoff whose instances are all confirmed terminated', async () => {
    const oldClean = await saved();
    const oldNoInstance = await saved();
    const oldUnconfirmed = await saved();
    const oldRetiredUnconfirmed = await saved();
    const recent = await saved();
    const running = await saved();
    const queued = await saved();

    await ended(oldClean, 'succeeded', { instance: confirmed() });
    await ended(oldNoInstance, 'cancelled');
    await ended(oldUnconfirmed, 'failed', { instance: unconfirmed() });
    const lastOld = await ended(oldRetiredUnconfirmed, 'failed', { instance: confirmed(), retiredInstances: [unconfirmed()] });
    // The recent one ends in a later millisecond than every old one.
    await waitFor(() => Date.now() > lastOld, { timeoutMs: 2000, intervalMs: 1, description: 'the clock to move past the old ends' });
    await ended(recent, 'succeeded', { instance: confirmed() });
    const moved = await store.update(running, (job) => ({ ...job, status: 'training', instance: confirmed() }));
    expect(moved.changed).toBe(true);

    const retentionMs = 7 * 24 * 3600 * 1000;
    const report = await purgeExpiredJobs(store, retentionMs, lastOld + retentionMs);
    expect(report).toEqual({ purged: 2, kept: 2 });

    for (const id of [oldClean, oldNoInstance]) {
      expect(await store.get(id)).toBeNull();
      expect(await space.redis.exists(`${ns}:job:${id}:events`, `${ns}:job:${id}:log`)).toBe(0);
      expect(await space.redis.zscore(`${ns}:jobs:finished`, id)).toBeNull();
      expect(await space.redis.zscore(`${ns}:jobs:owner:retention`, id)).toBeNull();
    }
    // Kept: still there in full, and moved to the back of the line (due again a retention period later).
    for (const id of [oldUnconfirmed, oldRetiredUnconfirmed, recent, running, queued]) expect(await exists(id)).toBe(true);
    expect(await store.endedBefore(lastOld, 10)).toEqual([]);
    const deferredTo = lastOld + retentionMs;
    expect(await store.endedBefore(deferredTo, 10)).toEqual(expect.arrayContaining([oldUnconfirmed, oldRetiredUnconfirmed]));

    // Once teardown confirms the instances, a run a retention period later purges them (and the
    // recent job, due by then too); the one still unconfirmed stays.
    await store.update(oldUnconfirmed, (job) => ({ ...job, instance: confirmed() }));
    const later = await purgeExpiredJobs(store, retentionMs, deferredTo + retentionMs);
    expect(later).toEqual({ purged: 2, kept: 1 });
    expect(await store.get(oldUnconfirmed)).toBeNull();
    expect(await store.get(recent)).toBeNull();
    expect(await exists(oldRetiredUnconfirmed)).toBe(true);

    // Nothing is due before the earliest end.
    expect(await purgeExpiredJobs(store, retentionMs, 0)).toEqual({ purged: 0, kept: 0 });
  });

  it('leaves jobs that have not ended alone, however old', async () => {
    const queued = await saved();
    const training = await saved();
    await store.update(training, (job) => ({ ...job, status: 'training' }));
    await purgeExpiredJobs(store, 0, Date.now() + 365 * 24 * 3600 * 1000);
    expect(await exists(queued)).toBe(true);
    expect(await exists(training)).toBe(true);
  });

  it('is not stopped by a backlog of kept jobs ahead of purgeable ones', async () => {
    // More kept jobs (instances never confirmed) than one run reads, all older than a clean one.
    const kept: string[] = [];
    for (let n = 0; n < 201; n++) {
      const id = await saved();
      await ended(id, 'failed', { instance: unconfirmed() });
      kept.push(id);
    }
    const last = Number(await space.redis.zscore(`${ns}:jobs:finished`, kept.at(-1)!));
    await waitFor(() => Date.now() > last, { timeoutMs: 2000, intervalMs: 1, description: 'the clock to move on' });
    const clean = await saved();
    const end = await ended(clean, 'succeeded', { instance: confirmed() });

    // However many runs, the clean job ended long enough ago must go.
    for (let run = 0; run < 3; run++) await purgeExpiredJobs(store, 1000, end + 1000);
    expect(await store.get(clean)).toBeNull();
  });
});
