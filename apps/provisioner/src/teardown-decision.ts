/**
 * What teardown does, as pure functions of the job, the step state and what the cloud says,
 * table-tested without the cloud or Redis. The teardown step observes and acts.
 */
import { instancesOf, type InstanceInfo, type JobRecord } from '@inno-train/schemas';
import { isTerminal, type StepState, type WorkflowTimings } from '@inno-train/workflow-constants';

type Step = StepState<'teardown'>;

/** Re-issue the terminate call every this many confirmation polls (a terminate can be lost). */
export const RETERMINATE_EVERY = 3;

/**
 * Every instance of the job not confirmed terminated yet: all of them once the job ended; only the
 * retired ones while it still runs (a job that lost its host goes on with a new instance).
 */
export function unconfirmed(job: Pick<JobRecord, 'status' | 'instance' | 'retiredInstances'>): InstanceInfo[] {
  const current = isTerminal(job.status) && job.instance ? [job.instance] : [];
  return [...job.retiredInstances, ...current].filter((i) => !i.terminatedAt);
}

export interface TeardownPlan {
  /** Stop the training process of a cancelled job first (once). */
  stopTraining: boolean;
  /** Call terminate for these now (on the first poll and every RETERMINATE_EVERY after). */
  terminate: string[];
  /** Say so in the job's events (the first call only). */
  announce: boolean;
}

/**
 * Before looking at the cloud: what to stop, and whether to (re)issue terminate. An instance never
 * asked to terminate (one found on a later poll, as a launch that was in flight can leave) is asked
 * now, whatever the poll: it bills until then.
 */
export function planTeardown(job: Pick<JobRecord, 'status' | 'instance' | 'retiredInstances' | 'training'>, step: Step): TeardownPlan {
  const polls = step.polls ?? 0;
  const pending = unconfirmed(job);
  const fresh = pending.filter((i) => !i.terminateRequestedAt);
  const terminate = (polls % RETERMINATE_EVERY === 0 ? pending : fresh).map((i) => i.id);
  return {
    stopTraining: job.status === 'cancelled' && job.training.startedAt !== null && !step.killed,
    terminate,
    announce: terminate.length > 0 && (polls === 0 || fresh.length > 0),
  };
}

export type TeardownDecision =
  { kind: 'done'; confirm: string[] } | { kind: 'wait'; confirm: string[]; delayMs: number; step: Step; alert: boolean };

/** After reading each pending instance from the cloud (null: it no longer exists). */
export function decideTeardown(
  pending: string[],
  seen: ReadonlyMap<string, string | null>,
  step: Step,
  timings: Pick<WorkflowTimings, 'terminatePollMs' | 'terminateDeadlineMs'>,
): TeardownDecision {
  const confirm = pending.filter((id) => {
    const status = seen.get(id);
    return status === null || status === 'terminated';
  });
  if (confirm.length === pending.length) return { kind: 'done', confirm };
  const polls = step.polls ?? 0;
  const alert = polls * timings.terminatePollMs > timings.terminateDeadlineMs && !step.alerted;
  return {
    kind: 'wait',
    confirm,
    delayMs: timings.terminatePollMs,
    step: { ...step, polls: polls + 1, ...(alert ? { alerted: true } : {}) },
    alert,
  };
}

/**
 * Whether a launch may still be making an instance the record does not know (launch.ts sets
 * `launchInFlightSince` before the call and clears it with the answer): `stale` when the marker is
 * older than any launch call takes, so the worker that set it died mid-launch.
 */
export type LaunchInFlight = 'none' | 'in_flight' | 'stale';

export function launchInFlight(
  job: Pick<JobRecord, 'launchInFlightSince'>,
  now: number,
  timings: Pick<WorkflowTimings, 'launchInFlightMaxMs'>,
): LaunchInFlight {
  if (!job.launchInFlightSince) return 'none';
  const since = Date.parse(job.launchInFlightSince);
  // An unreadable time cannot be waited on for ever: treat it as a dead worker's.
  if (!Number.isFinite(since)) return 'stale';
  return now - since < timings.launchInFlightMaxMs ? 'in_flight' : 'stale';
}

export type SettleDecision =
  /** The job runs, or an instance is not confirmed terminated yet: teardown is not finished. */
  | { kind: 'not_yet' }
  /** Every known instance is gone, but a launch is in flight: its instance may appear yet. */
  | { kind: 'wait_for_launch' }
  /** Settled before, and nothing was confirmed since: leave the record alone. */
  | { kind: 'settled' }
  /** Settle now; `staleLaunch`: clear a dead worker's launch marker in the same write. */
  | { kind: 'settle'; staleLaunch: boolean };

/**
 * Whether teardown may call the ended job settled (its cost final), read from the record as it is
 * now. `looked`: this poll listed the cloud for instances tagged with the job; a stale marker is
 * only cleared after such a look (the tags find any instance the dead worker's launch made).
 */
export function decideSettle(
  job: Pick<JobRecord, 'status' | 'instance' | 'retiredInstances' | 'settledAt' | 'launchInFlightSince'>,
  now: number,
  timings: Pick<WorkflowTimings, 'launchInFlightMaxMs'>,
  looked: boolean,
): SettleDecision {
  if (!isTerminal(job.status) || unconfirmed(job).length > 0) return { kind: 'not_yet' };
  const launch = launchInFlight(job, now, timings);
  if (launch === 'in_flight' || (launch === 'stale' && !looked)) return { kind: 'wait_for_launch' };
  // Settled before, and no instance was confirmed since (a late one moves the time on).
  const last = job.settledAt;
  if (launch === 'none' && last && instancesOf(job).every((instance) => (instance.terminatedAt ?? '') <= last)) return { kind: 'settled' };
  return { kind: 'settle', staleLaunch: launch === 'stale' };
}
