import { crashPoint, isoNow, type Logger } from '@inno-train/core';
import type { HostExecutor } from '@inno-train/host-port';
import type { MetricsStore } from '@inno-train/job-store';
import type { JobRecord } from '@inno-train/schemas';
import {
  budgetExhausted,
  recordJobSpend,
  applyDecision,
  ensureStageQueued,
  hostTarget,
  isStopped,
  onHost,
  startTaskOnHost,
  type HostTarget,
  type SshIdentity,
  type StepOutcome,
  type WorkflowDeps,
} from '@inno-train/workflow';
import { parseStepState, TRANSFER, type StagePayload, type StepState, type WorkflowTimings } from '@inno-train/workflow-constants';
import { killCommand, parsePoll, pollCommand, startCommandWithScript, type PollResult } from './host-commands';
import { finalCheckpoints, syncCheckpoints, type CheckpointStorage } from './checkpoint-sync';
import { ingestLog, logInstanceId } from './log-ingest';
import { consumeChunk, decideAfterPoll, trainingOutcome } from './train-decision';

export interface MonitorDeps extends WorkflowDeps {
  shell: HostExecutor;
  identity: SshIdentity;
  timings: WorkflowTimings;
  /** The jobs' metric series: every metrics record the training prints (progress keeps the latest). */
  metrics: MetricsStore;
  /** Presigning and listing, for checkpoint sync. */
  storage: CheckpointStorage;
}

type Step = StagePayload['step'];

/**
 * One step of training: start the command detached (once), then poll it with one short SSH call,
 * capture its log and progress, enforce the runtime limit, and hand over to stage-out when it ends.
 */
export async function trainStep(deps: MonitorDeps, payload: StagePayload, logger: Logger): Promise<StepOutcome> {
  const job = await deps.store.mustGet(payload.jobId);
  if (isStopped(job) || job.status !== 'training') {
    await ensureStageQueued(deps, job);
    return { kind: 'done' };
  }
  const context = {
    deps,
    stage: 'training' as const,
    logger,
    graceMs: deps.timings.unreachableGraceMs,
    recheckMs: Math.min(deps.timings.hostRecheckMs, deps.timings.trainPollMs),
  };
  return onHost(context, job, payload.step, async (step) => {
    const target = hostTarget(job, deps.identity);
    if (!job.training.startedAt) await startTraining(deps, job, target);
    // Where the stored log of this host ends, which the live tail moves too. A step of a job that
    // was in training before the offsets lived in Redis carries its offset: it seeds them once.
    const from = await deps.store.seedLogOffset(job.id, logInstanceId(job), numberOf(step.offset));
    const poll = parsePoll(
      (
        await deps.shell.exec(target, pollCommand(job, from, TRANSFER.logChunkBytes), {
          timeoutMs: deps.timings.sshCommandTimeoutMs,
          label: 'train:poll',
        })
      ).stdout,
    );
    // While the command runs, its checkpoints go to S3 (a failure there never fails the job).
    if (poll.train.state === 'running') await syncCheckpoints(deps, await deps.store.mustGet(job.id), target, logger);
    return handlePoll(deps, job, { ...step, offset: from }, poll, target, logger);
  });
}

async function startTraining(deps: MonitorDeps, job: JobRecord, target: HostTarget): Promise<void> {
  // One round trip: the run script, then the start (a no-op once training ran: its lock or status).
  await startTaskOnHost(deps.shell, target, startCommandWithScript(job), {
    timeoutMs: deps.timings.sshCommandTimeoutMs,
    label: 'train:start',
  });
  // The command runs and the record does not say so: the rerun's start must find it under its lock.
  crashPoint('train:after-start');
  await deps.store.update(
    job.id,
    (current) => {
      if (current.training.startedAt) return null;
      current.training.startedAt = isoNow();
      return current;
    },
    [{ type: 'training', stage: 'training', message: `Started: ${job.spec.command.slice(0, 200)}` }],
  );
}

async function handlePoll(
  deps: MonitorDeps,
  job: JobRecord,
  raw: Step,
  poll: PollResult,
  target: HostTarget,
  logger: Logger,
): Promise<StepOutcome> {
  const from = numberOf(raw.offset);
  const chunk = consumeChunk(poll, TRANSFER.logChunkBytes);
  // Refused: the live tail stored these bytes (and maybe more) first; the step goes on from there.
  const stored = chunk.consumed > 0 ? await ingestLog(deps, job.id, logInstanceId(job), { from, ...chunk }) : { offset: from };
  const consumed = stored.offset - from;
  const current = await deps.store.mustGet(job.id);
  const now = Date.now();
  // The tenant's month spend counts this job as it runs; its budget stops it like maxCostUsd.
  await recordJobSpend(deps.store, current, now);
  const decision = decideAfterPoll({
    job: current,
    poll,
    step: parseStepState('training', raw),
    consumed,
    now,
    pollMs: deps.timings.trainPollMs,
    budget: await budgetExhausted(deps.store, current, now),
  });
  switch (decision.kind) {
    case 'read_more':
      return applyDecision(deps, job.id, 'training', { kind: 'wait', delayMs: 0, step: decision.step });
    case 'wait':
      return applyDecision(deps, job.id, 'training', decision);
    case 'stop':
      await deps.shell.exec(target, killCommand(job, Math.ceil(deps.timings.killGraceMs / 1000)), {
        timeoutMs: deps.timings.sshCommandTimeoutMs,
        label: 'train:stop',
      });
      await deps.store.appendEvent(job.id, { type: 'training', stage: 'training', message: `Stopping: ${decision.reason}` });
      return { kind: 'wait', delayMs: decision.delayMs, step: decision.step };
    case 'finish':
      // The command exited: its last checkpoints go to S3 before stage-out (not when the host is gone).
      if (poll.train.state === 'exited' && (await finalCheckpoints(deps, current, target, logger)) === 'wait') {
        return applyDecision(deps, job.id, 'training', { kind: 'wait', delayMs: deps.timings.trainPollMs, step: decision.step });
      }
      return finishTraining(deps, job, decision.step, decision.exitCode);
  }
}

async function finishTraining(
  deps: MonitorDeps,
  job: JobRecord,
  step: StepState<'training'>,
  exitCode: number | null,
): Promise<StepOutcome> {
  const log = exitCode !== null && exitCode !== 0 && !step.killing ? await deps.store.log(job.id) : '';
  const pending = trainingOutcome(job, step.killing, exitCode, () => log.split('\n').slice(-21).join('\n').slice(-2000));
  return applyDecision(deps, job.id, 'training', {
    kind: 'advance',
    transition: 'training_ended',
    message: pending ? `Training ended: ${pending.code}; staging out partial outputs` : 'Training finished (exit code 0)',
    patch: (current) => {
      current.training.exitCode = exitCode;
      current.pendingError = pending;
    },
  });
}

function numberOf(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}
