import { openRedisNamespace, waitFor } from '@inno-train/test-kit';
import { createJobRecord, type JobRecord } from '@inno-train/schemas';
import type { JobStatus } from '@inno-train/workflow-constants';
import { createJobStore, newJobId, type UpdateResult } from '../src';

const spec = {
  instance: { type: 'gpu_1x_a10' },
  inputs: {},
  script: { inline: 'print(1)', filename: 'train.py' },
  command: 'python3 train.py',
  outputUri: 's3://b/o/',
};

/** A clock for job ids: every job made here sorts after the one made before it. */
let clock = 1_900_000_000_000;

function record(createdBy: string | null, maxConcurrentJobs: number | null, patch: Partial<JobRecord> = {}): JobRecord {
  return createJobRecord({ id: newJobId(++clock), spec, createdBy, limits: { maxConcurrentJobs, monthlyBudgetUsd: null } }, patch);
}

/** Fisher-Yates; the order is printed with a failure so it can be replayed. */
function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('job store tenancy', () => {
  const space = openRedisNamespace('store-tenancy');
  const { redis, namespace } = space;
  const store = createJobStore({ redis, namespace });
  const ns = namespace;

  afterAll(async () => {
    await space.close();
  });

  async function saved(createdBy: string | null, limit: number | null = null, patch: Partial<JobRecord> = {}): Promise<string> {
    const job = record(createdBy, limit, patch);
    await store.create(job, { at: job.createdAt, type: 'status', stage: 'submit', message: 'Job submitted' });
    return job.id;
  }

  const moveTo = (id: string, status: JobStatus) =>
    store.update(id, (job) => ({
      ...job,
      status,
      ...(status === 'succeeded' || status === 'failed' ? { finishedAt: new Date().toISOString() } : {}),
    }));
  const start = (id: string) => moveTo(id, 'provisioning');
  const inSet = async (key: string, id: string) => (await redis.zscore(key, id)) !== null;

  describe('owner indexes', () => {
    it('follow a job through its status changes, beside the all-jobs indexes', async () => {
      const id = await saved('idx-owner');
      const owner = `${ns}:jobs:owner:idx-owner`;
      expect(await inSet(owner, id)).toBe(true);
      expect(await inSet(`${owner}:status:queued`, id)).toBe(true);

      for (const [from, to] of [
        ['queued', 'provisioning'],
        ['provisioning', 'training'],
        ['training', 'succeeded'],
      ] as const) {
        expect((await moveTo(id, to)).changed).toBe(true);
        expect({ to, inOld: await inSet(`${owner}:status:${from}`, id) }).toEqual({ to, inOld: false });
        expect({ to, inNew: await inSet(`${owner}:status:${to}`, id) }).toEqual({ to, inNew: true });
        expect(await inSet(`${ns}:jobs:status:${from}`, id)).toBe(false);
        expect(await inSet(`${ns}:jobs:status:${to}`, id)).toBe(true);
        expect(await inSet(owner, id)).toBe(true);
      }
      // A change that keeps the status keeps the indexes.
      await store.update(id, (job) => ({ ...job, metadata: { note: 'x' } }));
      expect(await inSet(`${owner}:status:succeeded`, id)).toBe(true);
    });

    it('keep jobs without an owner under a name no tenant can have', async () => {
      const id = await saved(null);
      expect(await inSet(`${ns}:jobs:owner:~none`, id)).toBe(true);
      expect(await inSet(`${ns}:jobs:owner:~none:status:queued`, id)).toBe(true);
      expect((await store.countByStatus(null)).queued).toBeGreaterThanOrEqual(1);
      // A tenant named "anonymous" (a valid name) does not see them.
      expect((await store.list({ createdBy: 'anonymous', limit: 10 })).jobs.map((j) => j.id)).not.toContain(id);
    });

    it('list one owner’s jobs newest first, with a status filter and paging', async () => {
      const mine = [await saved('list-a'), await saved('list-a'), await saved('list-a')];
      const theirs = [await saved('list-b'), await saved('list-b')];
      await moveTo(mine[1]!, 'failed');
      await moveTo(theirs[0]!, 'failed');

      const all = await store.list({ createdBy: 'list-a', limit: 10 });
      expect(all.jobs.map((j) => j.id)).toEqual([...mine].reverse());
      expect(all.hasMore).toBe(false);
      expect(all.jobs.every((j) => j.createdBy === 'list-a')).toBe(true);

      const failed = await store.list({ createdBy: 'list-a', status: 'failed', limit: 10 });
      expect(failed.jobs.map((j) => j.id)).toEqual([mine[1]]);
      const queued = await store.list({ createdBy: 'list-a', status: 'queued', limit: 10 });
      expect(queued.jobs.map((j) => j.id)).toEqual([mine[2], mine[0]]);

      const first = await store.list({ createdBy: 'list-a', limit: 2 });
      expect(first.jobs.map((j) => j.id)).toEqual([mine[2], mine[1]]);
      expect(first.hasMore).toBe(true);
      const rest = await store.list({ createdBy: 'list-a', limit: 2, after: mine[1] });
      expect(rest.jobs.map((j) => j.id)).toEqual([mine[0]]);
      expect(rest.hasMore).toBe(false);

      const b = await store.list({ createdBy: 'list-b', limit: 10 });
      expect(b.jobs.map((j) => j.id)).toEqual([...theirs].reverse());
      expect(await store.list({ createdBy: 'list-nobody', limit: 10 })).toEqual({ jobs: [], hasMore: false, nextAfter: null });

      // Without createdBy: every owner's.
      const everyone = (await store.list({ limit: 200 })).jobs.map((j) => j.id);
      expect(everyone).toEqual(expect.arrayContaining([...mine, ...theirs]));
    });

    it('count one owner’s jobs by status', async () => {
      const ids = [await saved('count-a'), await saved('count-a'), await saved('count-a'), await saved('count-a')];
      await saved('count-b');
      await moveTo(ids[0]!, 'provisioning');
      await moveTo(ids[1]!, 'provisioning');
      await moveTo(ids[1]!, 'staging_in');
      await moveTo(ids[2]!, 'cancelled');
      const counts = await store.countByStatus('count-a');
      expect(counts).toEqual({
        queued: 1,
        provisioning: 1,
        staging_in: 1,
        training: 0,
        staging_out: 0,
        succeeded: 0,
        failed: 0,
        cancelled: 1,
      });
      expect((await store.countByStatus('count-b')).queued).toBe(1);
      expect(Object.values(await store.countByStatus('count-none')).every((n) => n === 0)).toBe(true);
    });

    it('answer an owner’s oldest queued jobs and its running ones', async () => {
      const ids = [await saved('q-a'), await saved('q-a'), await saved('q-a'), await saved('q-a')];
      await saved('q-b');
      await moveTo(ids[0]!, 'provisioning');
      await moveTo(ids[0]!, 'training');
      await moveTo(ids[3]!, 'cancelled');
      expect(await store.oldestQueued('q-a', 10)).toEqual([ids[1], ids[2]]);
      expect(await store.oldestQueued('q-a', 1)).toEqual([ids[1]]);
      expect((await store.running('q-a')).map((j) => j.id)).toEqual([ids[0]]);
      expect(await store.running('q-none')).toEqual([]);
    });
  });

  describe('admission under maxConcurrentJobs', () => {
    /**
     * What the store should answer, from first principles: a job starts when its owner runs fewer
     * than the limit and it is among the oldest queued for the free slots.
     */
    function expectedAnswer(queued: string[], running: number, limit: number, id: string): { running: number; place: number } | null {
      const place = queued.indexOf(id);
      return running >= limit || place >= limit - running ? { running, place } : null;
    }

    async function tryInOrder(order: string[], queued: string[], running: number, limit: number) {
      const started: string[] = [];
      for (const id of order) {
        const before = await redis.get(`${ns}:job:${id}`);
        const eventsBefore = await store.events(id);
        const expected = expectedAnswer(queued, running, limit, id);
        const result: UpdateResult = await store.update(id, (job) => ({ ...job, status: 'provisioning' }), [
          { type: 'status', stage: 'provisioning', message: 'started' },
        ]);
        const context = { order, id };
        if (expected === null) {
          expect({ ...context, changed: result.changed, waiting: result.waiting }).toEqual({
            ...context,
            changed: true,
            waiting: undefined,
          });
          queued.splice(queued.indexOf(id), 1);
          running++;
          started.push(id);
        } else {
          expect({ ...context, changed: result.changed, waiting: result.waiting }).toEqual({
            ...context,
            changed: false,
            waiting: expected,
          });
          expect(result.job.status).toBe('queued');
          // Nothing was written: neither the record nor an event.
          expect(await redis.get(`${ns}:job:${id}`)).toBe(before);
          expect(await store.events(id)).toEqual(eventsBefore);
        }
      }
      return { started, running };
    }

    it('starts exactly the two oldest of five, whatever order they try in, then the next oldest only when one ends', async () => {
      for (let round = 0; round < 5; round++) {
        const owner = `admit-${round}`;
        const ids: string[] = [];
        for (let n = 0; n < 5; n++) ids.push(await saved(owner, 2));
        const queued = [...ids];

        const first = await tryInOrder(shuffled(ids), queued, 0, 2);
        expect(first.started.sort()).toEqual([ids[0], ids[1]]);
        expect(await store.oldestQueued(owner, 10)).toEqual(ids.slice(2));
        const counts = await store.countByStatus(owner);
        expect([counts.queued, counts.provisioning]).toEqual([3, 2]);

        // Trying again changes nothing while both slots are taken.
        for (const id of ids.slice(2)) expect((await start(id)).waiting).toEqual({ running: 2, place: ids.indexOf(id) - 2 });

        // One of the running jobs ends: the next oldest, and only it, may start.
        const ender = first.started[round % 2]!;
        expect((await moveTo(ender, 'succeeded')).changed).toBe(true);
        const second = await tryInOrder(shuffled(ids.slice(2)), queued, 1, 2);
        expect(second.started).toEqual([ids[2]]);
        expect((await store.running(owner)).map((j) => j.id).sort()).toEqual(
          [...first.started.filter((id) => id !== ender), ids[2]].sort(),
        );
      }
    });

    it('counts every running status as taking a slot', async () => {
      const ids: string[] = [];
      for (let n = 0; n < 5; n++) ids.push(await saved('slots', 4));
      for (const [id, path] of [
        [ids[0]!, ['provisioning']],
        [ids[1]!, ['provisioning', 'staging_in']],
        [ids[2]!, ['provisioning', 'staging_in', 'training']],
        [ids[3]!, ['provisioning', 'staging_in', 'training', 'staging_out']],
      ] as const) {
        for (const status of path) expect((await moveTo(id, status)).changed).toBe(true);
      }
      expect((await start(ids[4]!)).waiting).toEqual({ running: 4, place: 0 });
      await moveTo(ids[3]!, 'failed');
      expect((await start(ids[4]!)).changed).toBe(true);
    });

    it('does not count another owner’s jobs', async () => {
      const others = [await saved('busy-other'), await saved('busy-other'), await saved('busy-other')];
      for (const id of others) expect((await start(id)).changed).toBe(true);
      const mine = [await saved('busy-mine', 1), await saved('busy-mine', 1)];
      expect((await start(mine[0]!)).changed).toBe(true);
      expect((await start(mine[1]!)).waiting).toEqual({ running: 1, place: 0 });
      // And a limited owner's running jobs do not block another owner with a limit.
      const third = await saved('busy-third', 1);
      expect((await start(third)).changed).toBe(true);
    });

    it('never blocks a job without a limit', async () => {
      const ids: string[] = [];
      for (let n = 0; n < 6; n++) ids.push(await saved('unlimited', null));
      for (const id of [...ids].reverse()) {
        const result = await start(id);
        expect(result.changed).toBe(true);
        expect(result.waiting).toBeUndefined();
      }
      expect((await store.countByStatus('unlimited')).provisioning).toBe(6);
    });

    it('never blocks a queued job from ending (cancelled or failed) when every slot is taken', async () => {
      const ids = [await saved('end-while-full', 1), await saved('end-while-full', 1), await saved('end-while-full', 1)];
      expect((await start(ids[0]!)).changed).toBe(true);
      expect((await moveTo(ids[2]!, 'cancelled')).changed).toBe(true);
      expect((await moveTo(ids[1]!, 'failed')).changed).toBe(true);
    });

    it('never exceeds the limit when many starts race, over one connection and over two', async () => {
      const other = redis.duplicate();
      try {
        const otherStore = createJobStore({ redis: other, namespace });
        for (const limit of [1, 3]) {
          const owner = `race-${limit}`;
          const ids: string[] = [];
          for (let n = 0; n < 12; n++) ids.push(await saved(owner, limit));
          const order = shuffled(ids);
          const results = await Promise.all(
            order.map((id, i) => (i % 2 === 0 ? store : otherStore).update(id, (job) => ({ ...job, status: 'provisioning' }))),
          );
          const started = order.filter((_id, i) => results[i]!.changed);
          expect({ order, started: started.sort() }).toEqual({ order, started: ids.slice(0, limit) });
          expect(results.filter((r) => !r.changed).every((r) => r.waiting !== undefined)).toBe(true);
          expect((await store.countByStatus(owner)).provisioning).toBe(limit);

          // Then the rest, racing again after every running job ended: again only `limit` start.
          await Promise.all(ids.slice(0, limit).map((id) => moveTo(id, 'succeeded')));
          const again = await Promise.all(
            ids.slice(limit).map((id, i) => (i % 2 === 0 ? otherStore : store).update(id, (job) => ({ ...job, status: 'provisioning' }))),
          );
          expect(again.filter((r) => r.changed)).toHaveLength(limit);
          expect((await store.countByStatus(owner)).provisioning).toBe(limit);
          expect((await store.running(owner)).map((j) => j.id).sort()).toEqual(ids.slice(limit, 2 * limit));
        }
      } finally {
        await other.quit();
      }
    });
  });

  describe('remove', () => {
    /** Every key of the namespace that holds `id` (in its name, or as a sorted-set member). */
    async function traces(id: string): Promise<string[]> {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) {
          if (key.includes(id)) found.push(key);
          else if ((await redis.type(key)) === 'zset' && (await redis.zscore(key, id)) !== null) found.push(`${key} (member)`);
        }
      } while (cursor !== '0');
      return found.sort();
    }

    it('deletes the record, its events, its log and every index entry', async () => {
      const id = await saved('rm-owner', 2);
      await store.appendLog(id, 'a log line\n');
      await store.appendEvent(id, { type: 'training', stage: 'training', message: 'an event' });
      await start(id);
      await moveTo(id, 'succeeded');
      expect(await traces(id)).toEqual(
        [
          `${ns}:job:${id}`,
          `${ns}:job:${id}:events`,
          `${ns}:job:${id}:log`,
          `${ns}:job:${id}:log-size`,
          `${ns}:jobs (member)`,
          `${ns}:jobs:finished (member)`,
          `${ns}:jobs:owner:rm-owner (member)`,
          `${ns}:jobs:owner:rm-owner:status:succeeded (member)`,
          `${ns}:jobs:status:succeeded (member)`,
        ].sort(),
      );
      const seen: JobRecord[] = [];
      const result = await store.remove(id, (job) => {
        seen.push(job);
        return true;
      });
      expect(result).toEqual({ outcome: 'removed' });
      expect(seen.map((j) => [j.id, j.status])).toEqual([[id, 'succeeded']]);
      // Only the tombstone that keeps the id from coming back through an Idempotency-Key.
      expect(await traces(id)).toEqual([`${ns}:deleted:${id}`]);
      expect(await store.wasDeleted(id)).toBe(true);
      expect(await store.get(id)).toBeNull();
      expect(await store.countByStatus('rm-owner')).toMatchObject({ succeeded: 0 });
    });

    it('refuses when allow says no, and keeps everything', async () => {
      const id = await saved('rm-refused');
      await store.appendLog(id, 'kept\n');
      const before = await traces(id);
      const result = await store.remove(id, (job) => job.status === 'succeeded');
      expect(result.outcome).toBe('refused');
      expect(result.outcome === 'refused' ? result.job.id : null).toBe(id);
      expect(result.outcome === 'refused' ? result.job.status : null).toBe('queued');
      expect(await traces(id)).toEqual(before);
      expect(await store.log(id)).toBe('kept\n');
    });

    it('answers missing for an unknown id without calling allow', async () => {
      const allow = jest.fn(() => true);
      expect(await store.remove(newJobId(), allow)).toEqual({ outcome: 'missing' });
      expect(allow).not.toHaveBeenCalled();
    });

    it('leaves the other jobs of the owner alone', async () => {
      const keep = await saved('rm-neighbour');
      const gone = await saved('rm-neighbour');
      await moveTo(gone, 'cancelled');
      expect((await store.remove(gone, () => true)).outcome).toBe('removed');
      expect((await store.list({ createdBy: 'rm-neighbour', limit: 10 })).jobs.map((j) => j.id)).toEqual([keep]);
      expect((await store.mustGet(keep)).status).toBe('queued');
    });
  });

  describe('finished jobs by end time', () => {
    it('answers jobs that ended before a time, oldest first, marked once when they first end', async () => {
      const ids = [await saved('ended'), await saved('ended'), await saved('ended')];
      const endedAt: number[] = [];
      // End them in the order 2, 0, 1, each in a later millisecond than the one before.
      for (const index of [2, 0, 1]) {
        const last = endedAt.at(-1) ?? 0;
        await waitFor(() => Date.now() > last, { timeoutMs: 2000, intervalMs: 1, description: 'the clock to move on' });
        await moveTo(ids[index]!, index === 1 ? 'cancelled' : 'succeeded');
        endedAt.push(Number(await redis.zscore(`${ns}:jobs:finished`, ids[index]!)));
      }
      expect(endedAt[0]! < endedAt[1]! && endedAt[1]! < endedAt[2]!).toBe(true);
      const queuedOne = await saved('ended');

      const ours = (found: string[]) => found.filter((id) => ids.includes(id) || id === queuedOne);
      expect(ours(await store.endedBefore(Date.now(), 1000))).toEqual([ids[2], ids[0], ids[1]]);
      expect(ours(await store.endedBefore(endedAt[1]! - 1, 1000))).toEqual([ids[2]]);
      expect(ours(await store.endedBefore(endedAt[1]!, 1000))).toEqual([ids[2], ids[0]]);

      // A later change to an ended job does not move its end time.
      await waitFor(() => Date.now() > endedAt[2]!, { timeoutMs: 2000, intervalMs: 1, description: 'the clock to move on' });
      await store.update(ids[2]!, (job) => ({ ...job, metadata: { touched: 'yes' } }));
      await store.update(ids[2]!, (job) => ({ ...job, status: 'failed' }));
      expect(Number(await redis.zscore(`${ns}:jobs:finished`, ids[2]!))).toBe(endedAt[0]);
    });

    it('answers at most the count asked for', async () => {
      const ids = [await saved('ended-count'), await saved('ended-count'), await saved('ended-count')];
      for (const id of ids) await moveTo(id, 'succeeded');
      const total = (await store.endedBefore(Date.now(), 10_000)).length;
      expect(total).toBeGreaterThanOrEqual(3);
      expect(await store.endedBefore(Date.now(), 2)).toHaveLength(2);
      expect(await store.endedBefore(0, 10)).toEqual([]);
    });
  });

  describe('spend ledger', () => {
    it('only raises a job’s entry, and keeps the month’s total as the sum', async () => {
      const [j1, j2] = [newJobId(), newJobId()];
      expect(await store.recordSpend('spender', '2026-03', j1, 2)).toBe(2);
      expect(await store.recordSpend('spender', '2026-03', j1, 1.5)).toBe(2);
      expect(await store.recordSpend('spender', '2026-03', j1, 3.125)).toBe(3.125);
      expect(await store.recordSpend('spender', '2026-03', j2, 0.25)).toBe(3.375);
      expect(await store.recordSpend('spender', '2026-03', j2, 0)).toBe(3.375);
      expect(await store.spendLedger('spender', '2026-03')).toEqual(
        new Map([
          [j1, 3.125],
          [j2, 0.25],
        ]),
      );
      const ledger = await store.spendLedger('spender', '2026-03');
      const sum = [...ledger.values()].reduce((a, b) => a + b, 0);
      expect(Number(await redis.hget(`${ns}:spend:spender:2026-03`, 'total'))).toBeCloseTo(sum, 9);
      expect(await redis.ttl(`${ns}:spend:spender:2026-03`)).toBeGreaterThan(365 * 24 * 3600);
    });

    it('keeps owners and months apart', async () => {
      const id = newJobId();
      await store.recordSpend('spender-x', '2026-04', id, 5);
      expect(await store.recordSpend('spender-y', '2026-04', id, 1)).toBe(1);
      expect(await store.recordSpend('spender-x', '2026-05', id, 2)).toBe(2);
      expect(await store.spendLedger('spender-x', '2026-04')).toEqual(new Map([[id, 5]]));
      expect(await store.spendLedger('spender-nobody', '2026-04')).toEqual(new Map());
      expect(await store.recordSpend(null, '2026-04', id, 0.5)).toBe(0.5);
      expect(await store.spendLedger(null, '2026-04')).toEqual(new Map([[id, 0.5]]));
    });

    it('keeps the total right under concurrent raises of several jobs', async () => {
      const ids = Array.from({ length: 8 }, () => newJobId());
      await Promise.all(ids.flatMap((id) => [1, 3, 2].map((usd) => store.recordSpend('spender-race', '2026-06', id, usd))));
      const ledger = await store.spendLedger('spender-race', '2026-06');
      expect([...ledger.values()]).toEqual(ids.map(() => 3));
      expect(Number(await redis.hget(`${ns}:spend:spender-race:2026-06`, 'total'))).toBe(24);
    });
  });
  describe('jobs made before tenants', () => {
    it('are indexed by owner and for retention once, each only if unchanged since it was read', async () => {
      // As the store wrote them before owner indexes: record, all-jobs and status sets only.
      const legacy = (status: JobStatus, createdBy: string | null) => {
        const job = createJobRecord(
          { id: newJobId(++clock), spec, createdBy },
          { status, finishedAt: status === 'succeeded' ? '2026-01-02T03:04:05.000Z' : null },
        );
        const raw = JSON.parse(JSON.stringify(job)) as Record<string, unknown>;
        delete raw.limits;
        return { id: job.id, raw: JSON.stringify(raw), status };
      };
      const jobs = [legacy('succeeded', 'key_0123456789ab'), legacy('training', 'key_0123456789ab'), legacy('queued', null)];
      for (const job of jobs) {
        await redis
          .multi()
          .set(`${ns}:job:${job.id}`, job.raw)
          .zadd(`${ns}:jobs`, 0, job.id)
          .zadd(`${ns}:jobs:status:${job.status}`, 0, job.id)
          .exec();
      }
      await redis.del(`${ns}:migrations:tenancy-indexes`);
      expect(await store.backfillTenancyIndexes(2)).toBeGreaterThanOrEqual(3);
      const listed = (await store.list({ createdBy: 'key_0123456789ab', limit: 10 })).jobs.map((j) => j.id);
      expect(listed).toEqual([jobs[1]!.id, jobs[0]!.id]);
      expect((await store.countByStatus('key_0123456789ab')).training).toBe(1);
      expect(await redis.zscore(`${ns}:jobs:owner:~none:status:queued`, jobs[2]!.id)).not.toBeNull();
      expect(await redis.zscore(`${ns}:jobs:finished`, jobs[0]!.id)).toBe(String(Date.parse('2026-01-02T03:04:05.000Z')));
      expect(await redis.zscore(`${ns}:jobs:finished`, jobs[1]!.id)).toBeNull();
      // Once per namespace.
      expect(await store.backfillTenancyIndexes()).toBe(0);
    });
  });
});
