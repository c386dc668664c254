import { newJobId } from '@inno-train/job-store';
import type { InstanceInfo, JobRecord } from '@inno-train/schemas';
import { QUEUES, stageJobId } from '@inno-train/workflow-constants';
import {
  budgetExhausted,
  monthOf,
  monthSpendUsd,
  placeInLine,
  recordJobSpend,
  spendMonthOf,
  waitingMessage,
  wakeWaitingJobs,
} from '../src';
import { jobRecord, openHarness } from './harness';

const instance = (launchedAt: string, priceCentsPerHour: number | null, terminatedAt: string | null = null): InstanceInfo => ({
  id: `i-${Math.random().toString(36).slice(2, 10)}`,
  type: 'gpu_1x_a10',
  region: 'us-east-1',
  ip: '10.0.0.1',
  status: terminatedAt ? 'terminated' : 'active',
  launchedAt,
  terminatedAt,
  priceCentsPerHour,
});

describe('the month a spend counts in (pure)', () => {
  it.each([
    ['the last millisecond of January (UTC)', '2026-01-31T23:59:59.999Z', '2026-01'],
    ['the first millisecond of February (UTC)', '2026-02-01T00:00:00.000Z', '2026-02'],
    ['00:30 on 1 February in UTC+1 (still January in UTC)', '2026-02-01T00:30:00+01:00', '2026-01'],
    ['23:30 on 31 January in UTC-5 (already February in UTC)', '2026-01-31T23:30:00-05:00', '2026-02'],
    ['the store’s own format (+00:00)', '2026-03-01T00:00:00.000+00:00', '2026-03'],
    ['New Year’s Eve, last millisecond', '2026-12-31T23:59:59.999Z', '2026-12'],
    ['New Year, first millisecond', '2027-01-01T00:00:00.000Z', '2027-01'],
    ['a leap day', '2028-02-29T12:00:00Z', '2028-02'],
  ])('%s', (_name, at, month) => {
    expect(monthOf(at)).toBe(month);
    expect(monthOf(Date.parse(at))).toBe(month);
  });

  it('takes milliseconds as UTC', () => {
    expect(monthOf(Date.UTC(2026, 11, 31, 23, 59, 59, 999))).toBe('2026-12');
    expect(monthOf(Date.UTC(2027, 0, 1))).toBe('2027-01');
  });

  it('counts a job in the month it started, or was created in when it has not started', () => {
    const created = '2026-01-31T23:59:00.000Z';
    expect(spendMonthOf({ createdAt: created, startedAt: null })).toBe('2026-01');
    expect(spendMonthOf({ createdAt: created, startedAt: '2026-02-01T00:00:30.000Z' })).toBe('2026-02');
    expect(spendMonthOf({ createdAt: '2026-02-01T00:00:00.000Z', startedAt: '2026-01-31T23:59:59.999Z' })).toBe('2026-01');
  });
});

describe('where a waiting job stands in line (pure)', () => {
  it.each([
    ['every slot taken, first in the queue', { running: 2, place: 0 }, 2, 1],
    ['every slot taken, third in the queue', { running: 2, place: 2 }, 2, 3],
    ['no slot taken, behind the two that take them', { running: 0, place: 2 }, 2, 1],
    ['one slot free, behind the one that takes it', { running: 1, place: 1 }, 2, 1],
    ['one slot free, fourth in the queue', { running: 1, place: 3 }, 2, 3],
    ['more running than the limit (it was lowered)', { running: 3, place: 0 }, 2, 1],
    ['more running than the limit, second in the queue', { running: 5, place: 1 }, 2, 2],
    ['limit one, one running', { running: 1, place: 0 }, 1, 1],
  ])('%s', (_name, waiting, limit, expected) => {
    expect(placeInLine(waiting, limit)).toBe(expected);
  });

  it('tells the owner why, with the numbers', () => {
    const job = { createdBy: 'team-a', limits: { maxConcurrentJobs: 2, monthlyBudgetUsd: null } };
    expect(waitingMessage(job, 2, 3)).toBe('Waiting for a slot: team-a runs 2 of 2 concurrent jobs; place 3 in line');
    expect(waitingMessage({ ...job, createdBy: null }, 1, 1)).toContain('this key runs 1 of 2');
  });
});

describe('a tenant’s month spend (real Redis)', () => {
  const h = openHarness('spend');
  const { store } = h;

  afterAll(() => h.close());

  const now = Date.parse('2026-03-15T12:00:00.000Z');
  let clock = now - 86_400_000;

  async function saved(patch: Partial<JobRecord>): Promise<JobRecord> {
    const job = jobRecord(newJobId(++clock), patch);
    await store.create(job, { at: job.createdAt, type: 'status', stage: 'submit', message: 'Job submitted' });
    return job;
  }

  it('adds the month’s ledger and the live cost of running jobs started this month', async () => {
    const owner = 'spend-a';
    const done = newJobId();
    await store.recordSpend(owner, '2026-03', done, 2.5);
    // Running since 11:00 at $1/h: $1 at noon; its ledger entry ($0.40) is from an earlier poll.
    const live = await saved({
      createdBy: owner,
      status: 'training',
      startedAt: '2026-03-15T10:00:00.000Z',
      instance: instance('2026-03-15T11:00:00.000Z', 100),
    });
    await store.recordSpend(owner, '2026-03', live.id, 0.4);
    // Its ledger is ahead of its live price (a retired instance billed before): the ledger holds.
    const ahead = await saved({
      createdBy: owner,
      status: 'staging_out',
      startedAt: '2026-03-15T09:00:00.000Z',
      instance: instance('2026-03-15T11:30:00.000Z', 100),
    });
    await store.recordSpend(owner, '2026-03', ahead.id, 5);
    // Not counted: a running job that started in February, February's ledger, a queued job,
    // another tenant's running job and ledger.
    await saved({
      createdBy: owner,
      status: 'training',
      startedAt: '2026-02-28T23:00:00.000Z',
      instance: instance('2026-02-28T23:00:00.000Z', 100),
    });
    await store.recordSpend(owner, '2026-02', newJobId(), 40);
    await saved({ createdBy: owner });
    await saved({
      createdBy: 'spend-other',
      status: 'training',
      startedAt: '2026-03-15T10:00:00.000Z',
      instance: instance('2026-03-15T10:00:00.000Z', 1000),
    });
    await store.recordSpend('spend-other', '2026-03', newJobId(), 70);

    expect(await monthSpendUsd(store, owner, now)).toBeCloseTo(2.5 + 1 + 5, 9);
    // Half an hour later the running job has cost half a dollar more.
    expect(await monthSpendUsd(store, owner, now + 1_800_000)).toBeCloseTo(2.5 + 1.5 + 5, 9);
    // In February, only February's ledger and the job that started then (live to now).
    expect(await monthSpendUsd(store, owner, Date.parse('2026-02-28T23:30:00.000Z'))).toBeCloseTo(40 + 0.5, 9);
    expect(await monthSpendUsd(store, 'spend-nobody', now)).toBe(0);
  });

  it('prices an ended instance of a running job up to when its termination was accepted', async () => {
    const owner = 'spend-retired';
    await saved({
      createdBy: owner,
      status: 'training',
      startedAt: '2026-03-15T08:00:00.000Z',
      instance: instance('2026-03-15T11:00:00.000Z', 200),
      retiredInstances: [instance('2026-03-15T08:00:00.000Z', 100, '2026-03-15T10:00:00.000Z')],
    });
    // Retired: 2 h at $1/h; current: 1 h at $2/h.
    expect(await monthSpendUsd(store, owner, now)).toBeCloseTo(4, 9);
  });

  it('records a job’s cost in the ledger of the month it started in', async () => {
    const job = jobRecord(newJobId(), {
      createdBy: 'spend-ledger',
      status: 'training',
      createdAt: '2026-01-31T22:00:00.000Z',
      startedAt: '2026-01-31T23:00:00.000Z',
      instance: instance('2026-01-31T23:00:00.000Z', 100),
    });
    await recordJobSpend(store, job, Date.parse('2026-02-01T01:00:00.000Z'));
    expect(await store.spendLedger('spend-ledger', '2026-01')).toEqual(new Map([[job.id, 2]]));
    expect(await store.spendLedger('spend-ledger', '2026-02')).toEqual(new Map());
    // Never lowered by an earlier reading.
    await recordJobSpend(store, job, Date.parse('2026-02-01T00:00:00.000Z'));
    expect(await store.spendLedger('spend-ledger', '2026-01')).toEqual(new Map([[job.id, 2]]));

    const free = jobRecord(newJobId(), { createdBy: 'spend-ledger', startedAt: '2026-01-31T23:00:00.000Z' });
    await recordJobSpend(store, free, Date.parse('2026-02-01T01:00:00.000Z'));
    expect((await store.spendLedger('spend-ledger', '2026-01')).has(free.id)).toBe(false);
  });

  it('says a budget is exhausted once the month’s spend reaches it, and never without a budget', async () => {
    const owner = 'spend-budget';
    await store.recordSpend(owner, '2026-03', newJobId(), 8);
    const limited = (monthlyBudgetUsd: number | null) =>
      jobRecord(newJobId(), { createdBy: owner, limits: { maxConcurrentJobs: null, monthlyBudgetUsd } });
    expect(await budgetExhausted(store, limited(null), now)).toBeNull();
    expect(await budgetExhausted(store, limited(8.01), now)).toBeNull();
    expect(await budgetExhausted(store, limited(8), now)).toEqual({ spendUsd: 8, budgetUsd: 8 });
    expect(await budgetExhausted(store, limited(5), now)).toEqual({ spendUsd: 8, budgetUsd: 5 });
    // Next month starts afresh.
    expect(await budgetExhausted(store, limited(5), Date.parse('2026-04-01T00:00:00.000Z'))).toBeNull();
  });
});

describe('waking waiting jobs when one ends (real Redis)', () => {
  const h = openHarness('spend-wake');
  const { store, queues, deps } = h;

  afterAll(() => h.close());

  let clock = Date.now();

  async function parked(createdBy: string, maxConcurrentJobs: number | null): Promise<string> {
    const job = jobRecord(newJobId(++clock), { createdBy, limits: { maxConcurrentJobs, monthlyBudgetUsd: null } });
    await store.create(job, { at: job.createdAt, type: 'status', stage: 'submit', message: 'Job submitted' });
    await queues[QUEUES.provisioning].add(
      QUEUES.provisioning,
      { jobId: job.id, step: {} },
      { jobId: stageJobId(QUEUES.provisioning, job.id), delay: 3_600_000 },
    );
    return job.id;
  }

  const state = (id: string) => queues[QUEUES.provisioning].getJobState(stageJobId(QUEUES.provisioning, id));

  it('promotes the parked steps of the owner’s oldest queued jobs, up to its limit', async () => {
    const ids = [await parked('wake-a', 2), await parked('wake-a', 2), await parked('wake-a', 2)];
    const other = await parked('wake-b', 2);
    expect(await wakeWaitingJobs(deps, { createdBy: 'wake-a', limits: { maxConcurrentJobs: 2, monthlyBudgetUsd: null } })).toBe(2);
    expect([await state(ids[0]!), await state(ids[1]!), await state(ids[2]!)]).toEqual(['waiting', 'waiting', 'delayed']);
    expect(await state(other)).toBe('delayed');
  });

  it('does nothing for an owner without a limit', async () => {
    const id = await parked('wake-free', null);
    expect(await wakeWaitingJobs(deps, { createdBy: 'wake-free', limits: { maxConcurrentJobs: null, monthlyBudgetUsd: null } })).toBe(0);
    expect(await state(id)).toBe('delayed');
  });
});
