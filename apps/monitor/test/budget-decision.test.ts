import { createJobRecord, jobErrorCodeSchema, type JobRecord } from '@inno-train/schemas';
import type { PollResult } from '../src/host-commands';
import { decideAfterPoll, limitReached, trainingOutcome, type BudgetReading } from '../src/train-decision';

/**
 * The tenant's monthly budget as training sees it: a reading of the month's spend against the
 * budget, stopping the command like maxCostUsd does, and failing the job with budget_exhausted.
 */
const now = Date.parse('2026-01-01T12:00:00.000Z');

/** Training since 11:00 on an instance up since 10:00 at $1/h: $2 so far. */
const job = (spec: Partial<JobRecord['spec']> = {}, monthlyBudgetUsd: number | null = 50): JobRecord =>
  createJobRecord(
    {
      id: 'j0000000000000000000002',
      spec: {
        instance: { type: 'gpu_1x_a10' },
        inputs: {},
        script: { inline: '', filename: 'train.py' },
        command: 'python3 train.py',
        outputUri: 's3://b/o/',
        ...spec,
      },
      createdBy: 'team-a',
      limits: { maxConcurrentJobs: null, monthlyBudgetUsd },
      now: '2026-01-01T10:00:00.000Z',
    },
    {
      status: 'training',
      startedAt: '2026-01-01T10:00:00.000Z',
      instance: {
        id: 'i-1',
        type: 'gpu_1x_a10',
        region: 'us-east-1',
        ip: '10.0.0.1',
        status: 'active',
        launchedAt: '2026-01-01T10:00:00.000Z',
        terminatedAt: null,
        priceCentsPerHour: 100,
      },
      training: { startedAt: '2026-01-01T11:00:00.000Z', exitCode: null },
    },
  );

const reading = (spendUsd: number, budgetUsd = 50): BudgetReading => ({ spendUsd, budgetUsd });
const poll = (logSize = 0): PollResult => ({ train: { state: 'running' }, logSize, chunk: '' });
const BUDGET_STOP = { code: 'budget_exhausted', message: "the key's monthly budget (50 USD) is spent" };

describe('the tenant’s budget among the job’s limits (pure)', () => {
  it.each<[string, Partial<JobRecord['spec']>, BudgetReading | null, unknown]>([
    ['no reading (no budget): nothing', {}, null, null],
    ['spend under the budget: nothing', {}, reading(49.99), null],
    ['spend at the budget: budget_exhausted', {}, reading(50), BUDGET_STOP],
    ['spend over the budget: budget_exhausted', {}, reading(75), BUDGET_STOP],
    [
      'the budget named in the message is the reading’s',
      {},
      reading(10, 10),
      { code: 'budget_exhausted', message: "the key's monthly budget (10 USD) is spent" },
    ],
    [
      'runtime limit reached too: the runtime limit comes first',
      { maxRuntimeSeconds: 60 },
      reading(75),
      { code: 'max_runtime_exceeded', message: 'maxRuntimeSeconds (60) reached' },
    ],
    [
      'cost limit reached too: the cost limit comes first',
      { maxCostUsd: 2 },
      reading(75),
      { code: 'max_cost_exceeded', message: 'maxCostUsd (2) reached' },
    ],
    ['limits set but not reached: the budget stops it', { maxRuntimeSeconds: 7200, maxCostUsd: 3 }, reading(50), BUDGET_STOP],
    ['limits set but not reached, budget not reached: nothing', { maxRuntimeSeconds: 7200, maxCostUsd: 3 }, reading(1), null],
  ])('%s', (_name, spec, budget, expected) => {
    expect(limitReached(job(spec), now, budget)).toEqual(expected);
  });

  it('reads no budget when none is given (the argument is optional)', () => {
    expect(limitReached(job(), now)).toBeNull();
  });
});

describe('deciding after a poll with a budget reading (pure)', () => {
  const base = { job: job(), now, pollMs: 10_000, consumed: 0 };

  it('stops the command with killing budget_exhausted, then keeps polling until it ends', () => {
    const first = decideAfterPoll({ ...base, poll: poll(0), step: { offset: 0 }, budget: reading(50) });
    expect(first).toEqual({
      kind: 'stop',
      step: { offset: 0, killing: 'budget_exhausted' },
      reason: "the key's monthly budget (50 USD) is spent",
      delayMs: 10_000,
    });
    // Already stopping: no second stop, whatever the reading says.
    const next = decideAfterPoll({ ...base, poll: poll(0), step: first.step, budget: reading(60) });
    expect(next).toEqual({ kind: 'wait', delayMs: 10_000, step: { offset: 0, killing: 'budget_exhausted' } });
  });

  it('reads the rest of the log at once while stopping', () => {
    const decision = decideAfterPoll({ ...base, poll: poll(500), step: { offset: 10 }, consumed: 2, budget: reading(50) });
    expect(decision).toEqual({
      kind: 'stop',
      step: { offset: 12, killing: 'budget_exhausted' },
      reason: "the key's monthly budget (50 USD) is spent",
      delayMs: 0,
    });
  });

  it('keeps training under the budget, and without a reading', () => {
    expect(decideAfterPoll({ ...base, poll: poll(0), step: {}, budget: reading(10) })).toEqual({
      kind: 'wait',
      delayMs: 10_000,
      step: { offset: 0 },
    });
    expect(decideAfterPoll({ ...base, poll: poll(0), step: {}, budget: null })).toMatchObject({ kind: 'wait' });
    expect(decideAfterPoll({ ...base, poll: poll(0), step: {} })).toMatchObject({ kind: 'wait' });
  });

  it('lets a job already stopped for its runtime keep that reason', () => {
    const decision = decideAfterPoll({ ...base, poll: poll(0), step: { killing: 'max_runtime_exceeded' }, budget: reading(50) });
    expect(decision).toEqual({ kind: 'wait', delayMs: 10_000, step: { offset: 0, killing: 'max_runtime_exceeded' } });
  });

  it('finishes a command that ended, budget or not', () => {
    const decision = decideAfterPoll({
      ...base,
      poll: { train: { state: 'exited', exitCode: 143 }, logSize: 0, chunk: '' },
      step: { killing: 'budget_exhausted' },
      budget: reading(50),
    });
    expect(decision).toEqual({ kind: 'finish', step: { offset: 0, killing: 'budget_exhausted' }, exitCode: 143 });
  });
});

describe('how training stopped for the budget ended (pure)', () => {
  const tail = () => 'Traceback ...';

  it('fails with budget_exhausted, naming the budget, whatever the exit code', () => {
    for (const exitCode of [143, 0, null]) {
      expect(trainingOutcome(job({}, 50), 'budget_exhausted', exitCode, tail)).toEqual({
        code: 'budget_exhausted',
        message: "The key's monthly budget (50 USD) was spent and training was stopped",
        stage: 'training',
      });
    }
  });

  it('uses a code the job record accepts', () => {
    expect(jobErrorCodeSchema.safeParse('budget_exhausted').success).toBe(true);
  });

  it('does not blame the budget for a job that was not stopped for it', () => {
    expect(trainingOutcome(job({}, 50), undefined, 0, tail)).toBeNull();
    expect(trainingOutcome(job({}, 50), undefined, 1, tail)?.code).toBe('training_failed');
  });
});
