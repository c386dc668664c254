import type { InstanceInfo, JobRecord } from '@inno-train/schemas';
import { decideTeardown, planTeardown, unconfirmed } from '../src/teardown-decision';

const at = '2026-01-01T00:00:00.000Z';
const instance = (id: string, terminatedAt: string | null = null): InstanceInfo => ({
  id,
  type: 'gpu_1x_a10',
  region: 'us-east-1',
  ip: null,
  status: 'active',
  launchedAt: at,
  terminatedAt,
  priceCentsPerHour: 75,
});
type TeardownJob = Pick<JobRecord, 'status' | 'instance' | 'retiredInstances' | 'training'>;
const job = (patch: Partial<TeardownJob>): TeardownJob => ({
  status: 'failed',
  instance: instance('i-now'),
  retiredInstances: [],
  training: { startedAt: null, exitCode: null },
  ...patch,
});
const timings = { terminatePollMs: 1000, terminateDeadlineMs: 10_000 };

describe('which instances teardown still has to give back (pure)', () => {
  it.each<[string, TeardownJob, string[]]>([
    [
      'a finished job: its instance and every retired one not confirmed',
      job({ retiredInstances: [instance('i-old'), instance('i-done', at)] }),
      ['i-old', 'i-now'],
    ],
    [
      'a running job: only the retired ones (it goes on with its current instance)',
      job({ status: 'training', retiredInstances: [instance('i-old')] }),
      ['i-old'],
    ],
    ['a finished job whose instance is confirmed gone: nothing', job({ instance: instance('i-now', at) }), []],
    ['a job that never got an instance: nothing', job({ instance: null }), []],
  ])('%s', (_name, subject, expected) => {
    expect(unconfirmed(subject).map((i) => i.id)).toEqual(expected);
  });
});

describe('planning a teardown poll (pure)', () => {
  it.each<[string, TeardownJob, object, object]>([
    ['first poll: terminate and say so', job({}), {}, { stopTraining: false, terminate: ['i-now'], announce: true }],
    [
      'a cancelled job that trained: stop training first, once',
      job({ status: 'cancelled', training: { startedAt: at, exitCode: null } }),
      {},
      { stopTraining: true, terminate: ['i-now'], announce: true },
    ],
    [
      'the stop already sent: not again',
      job({ status: 'cancelled', training: { startedAt: at, exitCode: null } }),
      { killed: true, polls: 1 },
      { stopTraining: false, terminate: [], announce: false },
    ],
    [
      'a cancelled job that never trained: nothing to stop',
      job({ status: 'cancelled' }),
      {},
      { stopTraining: false, terminate: ['i-now'], announce: true },
    ],
    ['polls between re-terminates: only look', job({}), { polls: 2 }, { stopTraining: false, terminate: [], announce: false }],
    [
      'every third poll: terminate again quietly (a terminate can be lost)',
      job({}),
      { polls: 3 },
      { stopTraining: false, terminate: ['i-now'], announce: false },
    ],
  ])('%s', (_name, subject, step, expected) => {
    expect(planTeardown(subject, step)).toEqual(expected);
  });
});

describe('deciding after reading the cloud (pure)', () => {
  it.each<[string, [string, string | null][], object, object]>([
    [
      'every instance terminated or gone: done, confirming them',
      [
        ['a', 'terminated'],
        ['b', null],
      ],
      {},
      { kind: 'done', confirm: ['a', 'b'] },
    ],
    [
      'one still terminating: confirm the other, poll again',
      [
        ['a', 'terminated'],
        ['b', 'terminating'],
      ],
      { polls: 1 },
      { kind: 'wait', confirm: ['a'], delayMs: 1000, step: { polls: 2 }, alert: false },
    ],
    [
      'past the deadline: alert once, and keep trying',
      [['a', 'active']],
      { polls: 11 },
      { kind: 'wait', confirm: [], delayMs: 1000, step: { polls: 12, alerted: true }, alert: true },
    ],
    [
      'past the deadline, already alerted: keep trying quietly',
      [['a', 'active']],
      { polls: 12, alerted: true },
      { kind: 'wait', confirm: [], delayMs: 1000, step: { polls: 13, alerted: true }, alert: false },
    ],
  ])('%s', (_name, seen, step, expected) => {
    expect(
      decideTeardown(
        seen.map(([id]) => id),
        new Map(seen),
        step,
        timings,
      ),
    ).toEqual(expected);
  });
});
