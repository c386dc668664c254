import { openRedisNamespace } from '@inno-train/test-kit';
import { createJobRecord, type JobRecord } from '@inno-train/schemas';
import { createJobStore, newJobId, JOB_ID_PATTERN } from '../src';

function record(id: string): JobRecord {
  return createJobRecord({
    id,
    spec: {
      instance: { type: 'gpu_1x_a10' },
      inputs: {},
      script: { inline: 'print(1)', filename: 'train.py' },
      command: 'python3 train.py',
      outputUri: 's3://b/o/',
    },
  });
}

describe('job store', () => {
  const space = openRedisNamespace('store');
  const { redis, namespace } = space;
  const store = createJobStore({ redis, namespace, maxLogBytes: 16 });

  afterAll(async () => {
    await space.close();
  });

  it('makes ids that sort by creation time', () => {
    const a = newJobId(1_700_000_000_000);
    const b = newJobId(1_700_000_000_001);
    expect(a < b).toBe(true);
    expect(a).toMatch(JOB_ID_PATTERN);
  });

  it('never loses a write when many updates race on one job over one connection', async () => {
    const id = newJobId();
    await store.create(record(id), { at: new Date().toISOString(), type: 'status', stage: 'submit', message: 'x' });
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => store.update(id, (job) => ({ ...job, metadata: { ...job.metadata, [`k${i}`]: String(i) } }))),
    );
    const job = await store.mustGet(id);
    expect(Object.keys(job.metadata)).toHaveLength(40);
  });

  it('writes a change and its events together, and no event when the change is refused', async () => {
    const id = newJobId();
    await store.create(record(id), { at: new Date().toISOString(), type: 'status', stage: 'submit', message: 'Job submitted' });
    const moved = await store.update(
      id,
      (job) => ({ ...job, status: 'provisioning' }),
      (next) => [
        { type: 'status', stage: 'provisioning', message: `now ${next.status}`, data: { status: next.status } },
        { type: 'training', stage: 'provisioning', message: 'a second event of the same change' },
      ],
    );
    expect(moved.changed).toBe(true);
    const refused = await store.update(id, () => null, [{ type: 'status', stage: 'provisioning', message: 'must not appear' }]);
    expect(refused.changed).toBe(false);
    expect((await store.events(id)).map((e) => e.message)).toEqual([
      'Job submitted',
      'now provisioning',
      'a second event of the same change',
    ]);
  });

  it('lists newest first with cursor paging and a status filter', async () => {
    const ids = [1, 2, 3].map((n) => newJobId(1_800_000_000_000 + n));
    for (const id of ids) await store.create(record(id), { at: '', type: 'status', stage: 'submit', message: '' });
    await store.update(ids[1]!, (job) => ({ ...job, status: 'failed' }));
    const first = await store.list({ limit: 2 });
    expect(first.jobs.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    expect(first.hasMore).toBe(true);
    const failed = await store.list({ status: 'failed', limit: 10 });
    expect(failed.jobs.map((j) => j.id)).toEqual([ids[1]]);
    const queued = await store.list({ status: 'queued', limit: 10 });
    expect(queued.jobs.map((j) => j.id)).not.toContain(ids[1]);
  });

  it('keeps only the tail of a long log', async () => {
    const id = newJobId();
    await store.appendLog(id, 'aaaaaaaaaa');
    await store.appendLog(id, 'bbbbbbbbbb');
    expect(await store.log(id)).toBe('aaaaaabbbbbbbbbb');
  });
});
