import type { InstanceInfo, JobRecord } from '@inno-train/schemas';
import { decideSettle, decideTeardown, launchInFlight, planTeardown, unconfirmed } from '../src/teardown-decision';

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
/** An instance whose terminate was asked for (on an earlier poll). */
const asked = (id: string): InstanceInfo => ({ ...instance(id), terminateRequestedAt: at });
const timings = { terminatePollMs: 1000, terminateDeadlineMs: 10_000, launchInFlightMaxMs: 60_000 };
const NOW = Date.parse(at);
const ago = (ms: number) => new Date(NOW - ms).toISOString();

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
      job({ status: 'cancelled', training: { startedAt: at, exitCode: null }, instance: asked('i-now') }),
      { killed: true, polls: 1 },
      { stopTraining: false, terminate: [], announce: false },
    ],
    [
      'a cancelled job that never trained: nothing to stop',
      job({ status: 'cancelled' }),
      {},
      { stopTraining: false, terminate: ['i-now'], announce: true },
    ],
    [
      'polls between re-terminates: only look',
      job({ instance: asked('i-now') }),
      { polls: 2 },
      { stopTraining: false, terminate: [], announce: false },
    ],
    [
      'every third poll: terminate again quietly (a terminate can be lost)',
      job({ instance: asked('i-now') }),
      { polls: 3 },
      { stopTraining: false, terminate: ['i-now'], announce: false },
    ],
    [
      'an instance found on a later poll (a launch that was in flight): terminate it now and say so, whatever the poll',
      job({ instance: asked('i-now'), retiredInstances: [instance('i-late')] }),
      { polls: 2 },
      { stopTraining: false, terminate: ['i-late'], announce: true },
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

describe('whether a launch may still make an instance the record does not know (pure)', () => {
  it.each<[string, string | null | undefined, string]>([
    ['no marker (never launched, or the answer was saved)', undefined, 'none'],
    ['a cleared marker', null, 'none'],
    ['marked just now: in flight', ago(0), 'in_flight'],
    ['marked a moment before the deadline: still in flight', ago(59_999), 'in_flight'],
    ['marked as long ago as the deadline: the worker died, stale', ago(60_000), 'stale'],
    ['an unreadable time: stale, never waited on for ever', 'yesterday-ish', 'stale'],
  ])('%s', (_name, launchInFlightSince, expected) => {
    expect(launchInFlight({ launchInFlightSince }, NOW, timings)).toBe(expected);
  });
});

describe('deciding whether the ended job is settled (pure)', () => {
  type SettleJob = Parameters<typeof decideSettle>[0];
  const ended = (patch: Partial<SettleJob>): SettleJob => ({
    status: 'cancelled',
    instance: null,
    retiredInstances: [],
    settledAt: null,
    launchInFlightSince: null,
    ...patch,
  });
  const later = '2026-01-01T00:05:00.000Z';
  it.each<[string, SettleJob, boolean, object]>([
    ['a running job: not yet', ended({ status: 'provisioning' }), true, { kind: 'not_yet' }],
    ['an instance not confirmed terminated: not yet', ended({ instance: instance('i-now') }), true, { kind: 'not_yet' }],
    ['nothing to give back, no launch in flight: settle', ended({}), false, { kind: 'settle', staleLaunch: false }],
    ['every instance confirmed: settle', ended({ instance: instance('i-now', at) }), false, { kind: 'settle', staleLaunch: false }],
    [
      'a launch in flight (cancelled during the call): wait for its answer, even with every known instance confirmed',
      ended({ instance: instance('i-old', at), launchInFlightSince: ago(1000) }),
      true,
      { kind: 'wait_for_launch' },
    ],
    [
      "a dead worker's stale marker, after this poll looked for tagged instances: settle and clear it",
      ended({ launchInFlightSince: ago(60_000) }),
      true,
      { kind: 'settle', staleLaunch: true },
    ],
    [
      'a stale marker, but this poll did not look: wait (the next poll looks)',
      ended({ launchInFlightSince: ago(60_000) }),
      false,
      { kind: 'wait_for_launch' },
    ],
    [
      'settled before, nothing confirmed since: leave it',
      ended({ instance: instance('i-now', at), settledAt: at }),
      false,
      { kind: 'settled' },
    ],
    [
      'settled before, and a late instance confirmed since: settle again (the time moves on)',
      ended({ instance: instance('i-now', at), retiredInstances: [instance('i-late', later)], settledAt: at }),
      false,
      { kind: 'settle', staleLaunch: false },
    ],
  ])('%s', (_name, subject, looked, expected) => {
    expect(decideSettle(subject, NOW, timings, looked)).toEqual(expected);
  });
});
