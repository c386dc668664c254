import { crashPoint, isoNow, type Logger } from '@inno-train/core';
import { killTaskCommand } from '@inno-train/host-protocol';
import { instancesOf, isInstanceGone, jobCost, type InstanceInfo, type JobRecord } from '@inno-train/schemas';
import {
  enqueueTeardown,
  hostTarget,
  recordJobSpend,
  wakeWaitingJobs,
  type SshIdentity,
  type StepOutcome,
  type WorkflowDeps,
} from '@inno-train/workflow';
import { isTerminal, parseStepState, type StagePayload, type StepState, type WorkflowTimings } from '@inno-train/workflow-constants';
import { decideSettle, decideTeardown, launchInFlight, planTeardown, unconfirmed, type SettleDecision } from './teardown-decision';
import { jobIdOfInstance, LAUNCHED_AT_TAG, type CloudInstance, type CloudProvider } from '@inno-train/cloud-port';
import type { HostExecutor } from '@inno-train/host-port';
import type { CloudView } from './cloud-view';

type Step = StepState<'teardown'>;

export interface TeardownDeps extends WorkflowDeps {
  lambda: CloudProvider;
  cloud: CloudView;
  shell: HostExecutor;
  identity: SshIdentity;
  timings: WorkflowTimings;
  /** Told the final cost (USD) of each job this process settles for the first time (metrics); must not throw. */
  onSettled?: (usd: number) => void;
}

/**
 * Gives a finished job's instances back and confirms with the cloud that they are gone. Runs
 * after every terminal state; safe to run any number of times. On its first poll, and on every
 * poll while a launch is marked in flight, it also looks for instances tagged with the job that
 * were never recorded (a launch whose answer was lost, or has not come back yet).
 */
export async function teardownStep(deps: TeardownDeps, payload: StagePayload, logger: Logger): Promise<StepOutcome> {
  let job = await deps.store.mustGet(payload.jobId);
  const step = { ...parseStepState('teardown', payload.step) };
  // The job's concurrency slot is free once it ended: its tenant's waiting jobs may start now.
  if (isTerminal(job.status)) await wakeWaitingJobs(deps, job);
  // While the job runs, an untracked tagged instance may be its next launch in flight: leave it.
  // Once it ended, a launch still in flight (a cancel during the call) makes its instance any
  // moment, and one marked in flight by a dead worker may have made it already: look every poll.
  const looked = isTerminal(job.status) && ((step.polls ?? 0) === 0 || launchInFlight(job, Date.now(), deps.timings) !== 'none');
  if (looked && unconfirmed(job).length === 0) job = await adoptGhosts(deps, job, (await deps.cloud.list(Date.now())).instances);
  if (unconfirmed(job).length === 0) return finished(deps, job.id, step, looked, logger);
  const plan = planTeardown(job, step);
  if (plan.stopTraining) {
    await stopTraining(deps, job, logger);
    step.killed = true;
  }
  if (plan.terminate.length > 0) {
    await deps.lambda.terminate(plan.terminate);
    crashPoint('teardown:after-terminate-call');
    await noteTerminateAccepted(deps, job.id, plan.terminate);
    if (plan.announce) {
      await deps.store.appendEvent(job.id, {
        type: 'teardown',
        stage: 'teardown',
        message: `Terminating instance ${plan.terminate.join(', ')}`,
      });
    }
  }
  // One listing serves the confirmation and the ghost search: taken after this step's terminate
  // call and after every pending instance's launch (absence from it then means gone).
  const { instances: listed } = await deps.cloud.list(listingNotBefore(unconfirmed(job), plan.terminate.length > 0, deps.timings));
  // Ghosts found now are terminated on the next poll (they join the unconfirmed instances).
  if (looked) job = await adoptGhosts(deps, job, listed);
  const pending = unconfirmed(job).map((i) => i.id);
  const byId = new Map(listed.map((instance) => [instance.id, instance]));
  const seen = new Map<string, string | null>();
  for (const id of pending) seen.set(id, byId.get(id)?.status ?? null);
  const decision = decideTeardown(pending, seen, step, deps.timings);
  if (decision.confirm.length > 0) await confirmTerminated(deps, job.id, decision.confirm);
  if (decision.kind === 'done') return finished(deps, job.id, step, looked, logger);
  if (decision.alert) {
    const seconds = Math.round(deps.timings.terminateDeadlineMs / 1000);
    await deps.store.appendEvent(job.id, {
      type: 'error',
      stage: 'teardown',
      message: `Instances still not terminated after ${seconds} s; still trying`,
    });
    logger.error({ pending }, 'instances not terminated past the deadline');
  }
  return { kind: 'wait', delayMs: decision.delayMs, step: decision.step };
}

/**
 * Every instance is given back: an ended job is settled now (its cost is final), and that cost goes
 * into its tenant's monthly spend. Not while a launch is in flight: the instance it makes would
 * bill after the job was called settled (a cancel during the launch call). The decision is made on
 * the record inside the compare-and-set, so no launch can slip between the check and the write.
 */
async function finished(deps: TeardownDeps, jobId: string, step: Step, looked: boolean, logger: Logger): Promise<StepOutcome> {
  let decision = { kind: 'not_yet' } as SettleDecision;
  let staleSince: string | null = null;
  let firstSettle = false;
  const { job, changed } = await deps.store.update(
    jobId,
    (current) => {
      decision = decideSettle(current, Date.now(), deps.timings, looked);
      firstSettle = !current.settledAt;
      staleSince = decision.kind === 'settle' && decision.staleLaunch ? (current.launchInFlightSince ?? null) : null;
      if (decision.kind !== 'settle') return null;
      current.settledAt = isoNow();
      if (decision.staleLaunch) current.launchInFlightSince = null;
      return current;
    },
    () => {
      const settled = { type: 'settled', stage: 'teardown', message: 'Every instance is confirmed terminated; the cost is final' } as const;
      if (!staleSince) return [settled];
      const seconds = Math.round(deps.timings.launchInFlightMaxMs / 1000);
      const message = `A launch started at ${staleSince} did not report back within ${seconds} s (its worker stopped); every instance tagged with the job is confirmed terminated`;
      return [{ type: 'teardown', stage: 'teardown', message }, settled];
    },
  );
  if (decision.kind === 'wait_for_launch') {
    logger.info({ launchInFlightSince: job.launchInFlightSince }, 'a launch is in flight; not settling until it answers');
    return { kind: 'wait', delayMs: deps.timings.terminatePollMs, step: { ...step, polls: (step.polls ?? 0) + 1 } };
  }
  await recordJobSpend(deps.store, job);
  if (changed && firstSettle) deps.onSettled?.(jobCost(job).usd);
  return { kind: 'done' };
}

/** Remembers when billing stopped (the first accepted terminate) for the cost shown on the job. */
export async function noteTerminateAccepted(deps: Pick<TeardownDeps, 'store'>, jobId: string, ids: string[]): Promise<void> {
  const at = isoNow();
  await deps.store.update(jobId, (current) => {
    let changed = false;
    for (const instance of instancesOf(current)) {
      if (ids.includes(instance.id) && !instance.terminateRequestedAt) {
        instance.terminateRequestedAt = at;
        changed = true;
      }
    }
    return changed ? current : null;
  });
}

async function confirmTerminated(deps: TeardownDeps, jobId: string, ids: string[]): Promise<void> {
  const terminatedAt = isoNow();
  await deps.store.update(
    jobId,
    (current) => {
      let changed = false;
      for (const instance of instancesOf(current)) {
        if (ids.includes(instance.id) && !instance.terminatedAt) {
          instance.status = 'terminated';
          instance.terminatedAt = terminatedAt;
          changed = true;
        }
      }
      return changed ? current : null;
    },
    ids.map((id) => ({ type: 'teardown', stage: 'teardown', message: `Instance ${id} terminated (confirmed)`, data: { instanceId: id } })),
  );
}

/**
 * How recent the teardown's listing must be: after the terminate call this step made, else no older
 * than half a poll; and always after the newest pending instance's launch.
 */
export function listingNotBefore(
  pending: readonly Pick<InstanceInfo, 'launchedAt'>[],
  terminatedNow: boolean,
  timings: Pick<WorkflowTimings, 'terminatePollMs'>,
  now: number = Date.now(),
): number {
  const launched = pending.map((instance) => Date.parse(instance.launchedAt) + 1).filter(Number.isFinite);
  return Math.max(terminatedNow ? now : now - timings.terminatePollMs / 2, ...launched);
}

/** Instances tagged with the job but unknown to its record join the retired list, to be torn down. */
async function adoptGhosts(deps: TeardownDeps, job: JobRecord, listed: readonly CloudInstance[]): Promise<JobRecord> {
  const known = new Set(instancesOf(job).map((i) => i.id));
  const ghosts = listed.filter((i) => jobIdOfInstance(i) === job.id && !isInstanceGone(i.status) && !known.has(i.id));
  if (ghosts.length === 0) return job;
  const { job: updated } = await deps.store.update(
    job.id,
    (current) => {
      // Another teardown run may have adopted them since this one read the job.
      const recorded = new Set(instancesOf(current).map((i) => i.id));
      const fresh = ghosts.filter((ghost) => !recorded.has(ghost.id));
      if (fresh.length === 0) return null;
      current.retiredInstances = [...current.retiredInstances, ...fresh.map(ghostInfo)];
      return current;
    },
    [
      {
        type: 'teardown',
        stage: 'teardown',
        message: `Found unrecorded instance(s) ${ghosts.map((g) => g.id).join(', ')} launched for this job`,
        data: { instanceIds: ghosts.map((g) => g.id) },
      },
    ],
  );
  return updated;
}

function ghostInfo(instance: CloudInstance): InstanceInfo {
  return {
    id: instance.id,
    type: instance.instance_type?.name ?? 'unknown',
    region: instance.region?.name ?? 'unknown',
    ip: instance.ip ?? null,
    status: instance.status,
    terminatedAt: null,
    launchedAt: instance.tags?.find((t) => t.key === LAUNCHED_AT_TAG)?.value ?? isoNow(),
    priceCentsPerHour: instance.instance_type?.price_cents_per_hour ?? null,
    retiredReason: 'launch answer lost',
  };
}

/** Kills the training process group on the host; best effort, the instance goes away next anyway. */
async function stopTraining(deps: TeardownDeps, job: JobRecord, logger: Logger): Promise<void> {
  if (!job.instance?.ip) return;
  const graceSeconds = Math.max(1, Math.min(5, Math.round(deps.timings.killGraceMs / 1000)));
  // TERM, then wait up to the grace for the group to exit (no wait at all when it already has, as
  // for a job cancelled after training ended), then KILL whatever is left; the host protocol's kill.
  const command = killTaskCommand(job.id, 'train', { graceSeconds, wait: true });
  try {
    await deps.shell.exec(hostTarget(job, deps.identity), command, { timeoutMs: 20_000, label: 'teardown:stop-training' });
    await deps.store.appendEvent(job.id, { type: 'teardown', stage: 'cancel', message: 'Training process stopped' });
  } catch (error) {
    logger.warn({ err: error }, 'could not stop the training process; terminating the instance anyway');
  }
}

/** For paths that find a live instance on a stopped job: terminate now, confirm in teardown. */
export async function terminateNow(deps: Pick<TeardownDeps, 'lambda' | 'queues' | 'store'>, job: JobRecord): Promise<void> {
  if (!job.instance || job.instance.terminatedAt) return;
  await deps.lambda.terminate([job.instance.id]);
  await noteTerminateAccepted(deps, job.id, [job.instance.id]);
  await enqueueTeardown(deps.queues, job.id, 'instance found on a stopped job', job.instance.id);
}
