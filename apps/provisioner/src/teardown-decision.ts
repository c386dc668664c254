/**
 * What teardown does, as pure functions of the job, the step state and what the cloud says,
 * table-tested without the cloud or Redis. The teardown step observes and acts.
 */
import type { InstanceInfo, JobRecord } from '@inno-train/schemas';
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

/** Before looking at the cloud: what to stop, and whether to (re)issue terminate. */
export function planTeardown(job: Pick<JobRecord, 'status' | 'instance' | 'retiredInstances' | 'training'>, step: Step): TeardownPlan {
  const polls = step.polls ?? 0;
  const pending = unconfirmed(job).map((i) => i.id);
  const terminate = polls % RETERMINATE_EVERY === 0 ? pending : [];
  return {
    stopTraining: job.status === 'cancelled' && job.training.startedAt !== null && !step.killed,
    terminate,
    announce: polls === 0 && terminate.length > 0,
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
