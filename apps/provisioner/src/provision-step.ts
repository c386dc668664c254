import { InnoError, isoNow, type Logger } from '@inno-train/core';
import type { JobRecord } from '@inno-train/schemas';
import { advance, failJob, hostTarget, isStopped, type SshIdentity, type StepOutcome, type WorkflowDeps } from '@inno-train/workflow';
import { QUEUES, type StagePayload, type WorkflowTimings } from '@inno-train/workflow-constants';
import { launchForJob } from './launch';
import { terminateNow } from './teardown-step';
import type { HostShell, LambdaApi } from './ports';

export interface ProvisionDeps extends WorkflowDeps {
  lambda: LambdaApi;
  shell: HostShell;
  identity: SshIdentity;
  sshKeyName: string;
  timings: WorkflowTimings;
}

const GONE_STATUSES = new Set(['terminated', 'terminating', 'preempted']);

/**
 * One step of provisioning: launch (once), then re-read the instance until it is active with an
 * address and answers SSH, then hand the job to stage-in. Every wait is a delayed re-check.
 */
export async function provisionStep(deps: ProvisionDeps, payload: StagePayload, logger: Logger): Promise<StepOutcome> {
  let job = await deps.store.mustGet(payload.jobId);
  if (isStopped(job)) return { kind: 'done' };
  if (job.status === 'queued') {
    await advance(deps, job.id, { from: ['queued'], to: 'provisioning', stage: 'provisioning', message: 'Provisioning an instance', patch: (j) => { j.startedAt = isoNow(); } });
    job = await deps.store.mustGet(job.id);
  }
  if (job.status !== 'provisioning') return { kind: 'done' };

  if (!job.instance) {
    const launched = await launchForJob(deps, job, logger);
    if (!launched) return { kind: 'done' };
    return { kind: 'wait', delayMs: deps.timings.bootPollMs, step: payload.step };
  }
  return checkBoot(deps, job, payload, logger);
}

async function checkBoot(deps: ProvisionDeps, job: JobRecord, payload: StagePayload, logger: Logger): Promise<StepOutcome> {
  const recorded = job.instance!;
  const instance = await deps.lambda.getInstance(recorded.id);
  const elapsed = Date.now() - Date.parse(recorded.launchedAt);
  if (!instance || GONE_STATUSES.has(instance.status)) {
    await failJob(deps, job.id, { code: 'instance_lost', message: `Instance ${recorded.id} is ${instance?.status ?? 'gone'} while booting`, stage: 'provisioning' });
    return { kind: 'done' };
  }
  if (elapsed > deps.timings.bootDeadlineMs) {
    await failJob(deps, job.id, {
      code: 'provision_timeout',
      message: `Instance ${recorded.id} was not reachable over SSH ${Math.round(elapsed / 1000)} s after launch (status ${instance.status})`,
      stage: 'provisioning',
    });
    return { kind: 'done' };
  }
  if (instance.status !== recorded.status || (instance.ip ?? null) !== recorded.ip) {
    await deps.store.update(job.id, (current) => {
      if (!current.instance) return null;
      current.instance.status = instance.status;
      current.instance.ip = instance.ip ?? null;
      return current;
    });
    await deps.store.appendEvent(job.id, { type: 'instance', stage: 'provisioning', message: `Instance ${recorded.id} is ${instance.status}`, data: { status: instance.status } });
  }
  const waitMore: StepOutcome = { kind: 'wait', delayMs: deps.timings.bootPollMs, step: payload.step };
  if (instance.status !== 'active' || !instance.ip) return waitMore;

  const fresh = await deps.store.mustGet(job.id);
  const reachable = await deps.shell.probe(hostTarget(fresh, deps.identity), Math.min(deps.timings.sshCommandTimeoutMs, 15_000));
  if (!reachable) {
    logger.debug({ instanceId: recorded.id }, 'instance active, SSH not answering yet');
    return waitMore;
  }
  await advance(deps, job.id, {
    from: ['provisioning'], to: 'staging_in', stage: 'provisioning', next: QUEUES.stageIn,
    message: `Instance ${recorded.id} is ready (${recorded.type} in ${recorded.region}, SSH answered ${Math.round(elapsed / 1000)} s after launch)`,
  });
  return { kind: 'done' };
}

/** Called when provisioning gives up: the failure is recorded and teardown follows. */
export async function provisionGaveUp(deps: ProvisionDeps, jobId: string, error: Error): Promise<void> {
  const code = error instanceof InnoError ? error.code : 'provision_failed';
  await failJob(deps, jobId, { code, message: error.message, stage: 'provisioning' });
  const job = await deps.store.get(jobId);
  if (job?.instance && !job.instance.terminatedAt) await terminateNow(deps, job).catch(() => undefined);
}
