/**
 * What a stage does when the host it waits on stops answering, dies, or is reported down by the
 * cloud: one rule for stage-in, training and stage-out. A host that does not answer (paused, a
 * network blip) is tolerated for the unreachable grace window; a host that refuses connections
 * check after check, or that the cloud reports down, is lost at once: every minute waited there is
 * a minute of GPU billed for nothing.
 */
import { InnoError, type Logger } from '@inno-train/core';
import { GONE_INSTANCE_STATUSES, type JobRecord } from '@inno-train/schemas';
import type { Stage, StagePayload } from '@inno-train/workflow-constants';
import type { StepOutcome } from './step-worker';
import { failJob, restartOnNewHost, restartsLeft, type HostLossCause, type WorkflowDeps } from './transitions';

type Step = StagePayload['step'];

/** Failures of the host connection itself, as the SSH and local executors report them. */
const HOST_TROUBLE_CODES = new Set(['ssh_unreachable', 'ssh_timeout', 'ssh_connection_lost', 'ssh_exec_failed', 'ssh_upload_failed']);

/** Socket errors that mean nothing listens at the address any more: the host itself is gone. */
const GONE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'host_gone']);

/** Checks in a row that must find the host gone before it is lost (one refusal can be an sshd restart). */
export const GONE_CHECKS = 2;

/**
 * How long a host found dead over SSH may wait for the cloud's word (the provisioner's cloud watch)
 * when that word decides the job's fate: a job that may restart on preemption but not on any other
 * loss. Preempted hosts refuse SSH seconds before the next cloud listing says why.
 */
export const CLOUD_VERDICT_WAIT_MS = 60_000;

/** Cloud statuses of an instance that can no longer run its job: gone or going, or failing its health check. */
export const HOST_DOWN_STATUSES: ReadonlySet<string> = new Set([...GONE_INSTANCE_STATUSES, 'unhealthy']);

/** True for a retryable failure to reach or keep talking to the host (not a failure of the work). */
export function isHostTrouble(error: unknown): error is InnoError {
  return error instanceof InnoError && error.retryable && HOST_TROUBLE_CODES.has(error.code);
}

/** Why the job's current instance is down by the cloud's own account, or null while it is not. */
export function cloudSaysDown(job: Pick<JobRecord, 'instance'>): string | null {
  const status = job.instance?.status;
  return status && HOST_DOWN_STATUSES.has(status) ? `reported ${status} by the cloud` : null;
}

export type HostTroubleDecision =
  { kind: 'not_host_trouble' } | { kind: 'wait'; step: Step; first: boolean } | { kind: 'lost'; why: string };

/**
 * The pure rule: given a step's failure and its bookkeeping (`unreachableSince`, `goneChecks`),
 * wait and look again, or call the host lost.
 */
export function decideHostTrouble(input: { error: unknown; step: Step; now: number; graceMs: number }): HostTroubleDecision {
  const { error, step, now, graceMs } = input;
  if (!isHostTrouble(error)) return { kind: 'not_host_trouble' };
  const first = typeof step.unreachableSince !== 'number';
  const since = first ? now : (step.unreachableSince as number);
  const code = String((error.details as { code?: unknown } | undefined)?.code ?? '');
  const goneChecks = GONE_CODES.has(code) ? numberOf(step.goneChecks) + 1 : 0;
  const elapsed = now - since;
  if (goneChecks >= GONE_CHECKS) return { kind: 'lost', why: `refuses connections (${code}) ${goneChecks} checks in a row` };
  if (elapsed > graceMs) return { kind: 'lost', why: `unreachable for ${Math.round(elapsed / 1000)} s` };
  return { kind: 'wait', first, step: { ...step, unreachableSince: since, goneChecks } };
}

/** A step's bookkeeping without the host-trouble counters: what a step that reached its host keeps. */
export function withoutHostTrouble(step: Step): Step {
  const { unreachableSince: _since, goneChecks: _gone, lostSince: _lost, ...rest } = step;
  return rest;
}

export interface HostStageContext {
  deps: WorkflowDeps;
  stage: Stage;
  logger: Logger;
  /** Unreachable grace window. */
  graceMs: number;
  /** How soon to look again at a host that failed to answer. */
  recheckMs: number;
}

/**
 * Runs one step's host work under the host-trouble rule. The cloud's view comes first: a host the
 * cloud reports down is lost without another SSH attempt. `work` gets the step without the trouble
 * counters (it reached the host if it returns); any failure that is not host trouble is rethrown.
 */
export async function onHost(
  ctx: HostStageContext,
  job: JobRecord,
  step: Step,
  work: (step: Step) => Promise<StepOutcome>,
): Promise<StepOutcome> {
  const down = cloudSaysDown(job);
  if (down) return hostLost(ctx, job, down);
  try {
    return await work(withoutHostTrouble(step));
  } catch (error) {
    const now = Date.now();
    const decision = decideHostTrouble({ error, step, now, graceMs: ctx.graceMs });
    if (decision.kind === 'not_host_trouble') throw error;
    // The cloud watch may have heard from the cloud while this step waited on SSH.
    const latest = (await ctx.deps.store.get(job.id)) ?? job;
    const downNow = cloudSaysDown(latest);
    if (downNow) return hostLost(ctx, latest, downNow);
    if (decision.kind === 'lost') {
      const lostSince = typeof step.lostSince === 'number' ? step.lostSince : now;
      if (!awaitsCloudVerdict(latest, now - lostSince)) return hostLost(ctx, latest, decision.why);
      ctx.logger.warn(`host ${job.instance?.ip ?? '?'} ${decision.why}; waiting for the cloud to say whether it was preempted`);
      return { kind: 'wait', delayMs: ctx.recheckMs, step: { ...step, lostSince } };
    }
    if (decision.first) {
      await ctx.deps.store.appendEvent(job.id, {
        type: 'unreachable',
        stage: ctx.stage,
        message: `Host not answering: ${(error as Error).message}`,
        data: { code: (error as InnoError).code },
      });
    }
    ctx.logger.warn(
      { err: error },
      `host ${job.instance?.ip ?? '?'} not answering during ${ctx.stage}; will re-check in ${ctx.recheckMs} ms`,
    );
    return { kind: 'wait', delayMs: ctx.recheckMs, step: decision.step };
  }
}

/**
 * True while a host found dead over SSH should wait for the cloud's word: only the cloud can say
 * "preempted", and for this job that word is the difference between a restart and a failure.
 */
export function awaitsCloudVerdict(job: Pick<JobRecord, 'spec' | 'hostRestarts' | 'preemptions'>, waitedMs: number): boolean {
  return restartsLeft(job, 'preempted') > 0 && restartsLeft(job, 'host_lost') <= 0 && waitedMs < CLOUD_VERDICT_WAIT_MS;
}

/** What the loss is, by the cloud's account of the instance: reclaimed by the cloud, or anything else. */
export function lossCause(job: Pick<JobRecord, 'instance'>): HostLossCause {
  return job.instance?.status === 'preempted' ? 'preempted' : 'host_lost';
}

/**
 * The host is lost: start over on a new instance when the job allows it for this cause (a
 * preemption spends `retry.onPreempted`, any other loss `retry.onHostLost`), else fail with host_lost.
 */
export async function hostLost(
  ctx: Pick<HostStageContext, 'deps' | 'stage' | 'logger'>,
  job: JobRecord,
  why: string,
): Promise<StepOutcome> {
  ctx.logger.warn({ instanceId: job.instance?.id }, `host ${job.instance?.ip ?? '?'} lost during ${ctx.stage}: ${why}`);
  if (await restartOnNewHost(ctx.deps, job.id, `host ${why}`, ctx.stage, lossCause(job))) return { kind: 'done' };
  await failJob(ctx.deps, job.id, {
    code: 'host_lost',
    message: `Host ${job.instance?.ip ?? '?'} (instance ${job.instance?.id ?? '?'}) ${why}`,
    stage: ctx.stage,
  });
  return { kind: 'done' };
}

function numberOf(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}
