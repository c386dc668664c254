import { openRedisNamespace } from '@inno-train/test-kit';
import { createJobRecord, type JobRecord } from '@inno-train/schemas';
import type { JobStatus } from '@inno-train/workflow-constants';
import { createJobStore, newJobId } from '../src';

const T0 = Date.UTC(2026, 10, 1);

function record(id: string, fields: { name?: string; team?: string; status?: JobStatus; owner?: string }): JobRecord {
  return createJobRecord(
    {
      id,
      spec: {
        instance: { type: 'gpu_1x_a10' },
        inputs: {},
        script: { inline: 'print(1)', filename: 'train.py' },
        command: 'python3 train.py',
        outputUri: 's3://b/o/',
      },
      name: fields.name ?? null,
      createdBy: fields.owner ?? 'list-owner',
      metadata: fields.team ? { team: fields.team } : {},
    },
    { status: fields.status ?? 'queued' },
  );
}

describe('listing jobs', () => {
  const space = openRedisNamespace('list');
  const store = createJobStore({ redis: space.redis, namespace: space.namespace });
  /** Newest first, as lists answer: job i was created at T0 + i seconds. */
  const made: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 12; i++) {
      const id = newJobId(T0 + i * 1000);
      const status: JobStatus = i % 3 === 0 ? 'failed' : i % 3 === 1 ? 'training' : 'queued';
      await store.create(record(id, { name: i % 2 ? 'odd' : 'even', team: i === 2 || i === 9 ? 'rare' : 'common', status }), {
        type: 'status',
        stage: 'submit',
        message: 'made',
        at: new Date(T0).toISOString(),
      });
      made.unshift(id);
    }
  });

  afterAll(async () => {
    await space.close();
  });

  const idsOf = (page: { jobs: JobRecord[] }) => page.jobs.map((job) => job.id);

  it('merges several statuses newest first and pages them with nextAfter', async () => {
    const want = made.filter((_, n) => (11 - n) % 3 !== 2);
    const first = await store.list({ statuses: ['failed', 'training'], limit: 5 });
    expect(idsOf(first)).toEqual(want.slice(0, 5));
    expect(first.nextAfter).toBe(want[4]);
    const second = await store.list({ statuses: ['failed', 'training'], limit: 5, after: first.nextAfter! });
    expect(idsOf(second)).toEqual(want.slice(5, 8));
    expect(second).toMatchObject({ hasMore: false, nextAfter: null });
  });

  it('turns a creation-time range into an id range', async () => {
    const page = await store.list({ createdAfter: T0 + 3000, createdBefore: T0 + 6000, limit: 50 });
    expect(idsOf(page)).toEqual(made.slice(6, 9));
  });

  it('filters by record fields within a scan budget, going on from where the scan stopped', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    let calls = 0;
    for (;;) {
      const page = await store.list({ metadata: { team: 'rare' }, limit: 10, scanBudget: 4, ...(after ? { after } : {}) });
      seen.push(...idsOf(page));
      calls += 1;
      if (!page.hasMore) break;
      // A short page still moves on: nextAfter is where the scan stopped, past its last match.
      after = page.nextAfter!;
      expect(after).toBeTruthy();
    }
    expect(seen).toEqual([made[2], made[9]]);
    expect(calls).toBeGreaterThanOrEqual(3);
  });

  it('combines a name filter with statuses and a time range', async () => {
    const page = await store.list({ name: 'odd', statuses: ['training'], createdAfter: T0 + 2000, limit: 50 });
    // training: 1, 4, 7, 10; odd: 1, 7; from the third job on: 7 alone.
    expect(idsOf(page)).toEqual([made[11 - 7]]);
  });
});
