import { isoNow, type Logger } from '@inno-train/core';
import type { JobRecord } from '@inno-train/schemas';
import { enqueueTeardown, hostTarget, jobDirOf, type StepOutcome, type WorkflowDeps, type SshIdentity } from '@inno-train/workflow';
import { isTerminal, type StagePayload, type WorkflowTimings } from '@inno-train/workflow-constants';
import { shellQuote } from '@inno-train/core';
import type { HostShell, LambdaApi } from './ports';

export interface TeardownDeps extends WorkflowDeps {
  lambda: LambdaApi;
  shell: HostShell;
  identity: SshIdentity;
  timings: WorkflowTimings;
}

/** Re-issue the terminate call every this many confirmation polls (a terminate can be lost). */
const RETERMINATE_EVERY = 3;

/**
 * Gives a finished job's instance back and confirms with the cloud that it is gone. Runs after
 * every terminal state; safe to run any number of times.
 */
export async function teardownStep(deps: TeardownDeps, payload: StagePayload, logger: Logger): Promise<StepOutcome> {
  const job = await deps.store.mustGet(payload.jobId);
  if (!isTerminal(job.status) || !job.instance || job.instance.terminatedAt) return { kind: 'done' };
  const step = { ...payload.step };
  const instanceId = job.instance.id;

  if (job.status === 'cancelled' && job.training.startedAt && !step.killed) {
    await stopTraining(deps, job, logger);
    step.killed = true;
  }
  const polls = typeof step.polls === 'number' ? step.polls : 0;
  if (polls % RETERMINATE_EVERY === 0) {
    await deps.lambda.terminate([instanceId]);
    if (polls === 0) await deps.store.appendEvent(job.id, { type: 'teardown', stage: 'teardown', message: `Terminating instance ${instanceId}`, data: { instanceId } });
  }
  const instance = await deps.lambda.getInstance(instanceId);
  if (instance && instance.status !== 'terminated') {
    logger.info({ instanceId, status: instance.status, polls }, 'waiting for the instance to be terminated');
    return { kind: 'wait', delayMs: deps.timings.terminatePollMs, step: { ...step, polls: polls + 1 } };
  }
  const terminatedAt = isoNow();
  await deps.store.update(job.id, (current) => {
    if (!current.instance || current.instance.id !== instanceId || current.instance.terminatedAt) return null;
    current.instance.status = 'terminated';
    current.instance.terminatedAt = terminatedAt;
    return current;
  });
  await deps.store.appendEvent(job.id, { type: 'teardown', stage: 'teardown', message: `Instance ${instanceId} terminated (confirmed)`, data: { instanceId } });
  return { kind: 'done' };
}

/** Kills the training process group on the host; best effort, the instance goes away next anyway. */
async function stopTraining(deps: TeardownDeps, job: JobRecord, logger: Logger): Promise<void> {
  if (!job.instance?.ip) return;
  const dir = shellQuote(jobDirOf(job));
  const command = `cd ${dir} 2>/dev/null && test -f .inno/train.pid && pgid=$(cat .inno/train.pid) && kill -TERM -- -"$pgid" 2>/dev/null; sleep 2; kill -KILL -- -"$pgid" 2>/dev/null; true`;
  try {
    await deps.shell.exec(hostTarget(job, deps.identity), command, { timeoutMs: 20_000 });
    await deps.store.appendEvent(job.id, { type: 'teardown', stage: 'cancel', message: 'Training process stopped' });
  } catch (error) {
    logger.warn({ err: error }, 'could not stop the training process; terminating the instance anyway');
  }
}

/** For paths that find a live instance on a stopped job: terminate now, confirm in teardown. */
export async function terminateNow(deps: Pick<TeardownDeps, 'lambda' | 'queues' | 'store'>, job: JobRecord): Promise<void> {
  if (!job.instance || job.instance.terminatedAt) return;
  await deps.lambda.terminate([job.instance.id]);
  await enqueueTeardown(deps.queues, job.id, 'instance found on a stopped job');
}
