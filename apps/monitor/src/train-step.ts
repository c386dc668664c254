import { crashPoint, isoNow, type Logger } from '@inno-train/core';
import { jobCost, type JobError, type JobRecord } from '@inno-train/schemas';
import { advance, ensureStageQueued, hostTarget, isStopped, onHost, type HostTarget, type SshIdentity, type StepOutcome, type WorkflowDeps } from '@inno-train/workflow';
import { TRANSFER, type StagePayload, type WorkflowTimings } from '@inno-train/workflow-constants';
import { killCommand, parsePoll, pollCommand, renderRunScript, startCommand, type PollResult } from './host-commands';
import { latestProgress } from './metrics';

export interface HostSession {
  exec(target: HostTarget, command: string, options?: { timeoutMs?: number; label?: string }): Promise<{ stdout: string; stderr: string; exitCode: number | null }>;
  upload(target: HostTarget, remotePath: string, content: string | Buffer, mode?: number, options?: { label?: string }): Promise<void>;
}

export interface MonitorDeps extends WorkflowDeps {
  shell: HostSession;
  identity: SshIdentity;
  timings: WorkflowTimings;
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
  const context = { deps, stage: 'training' as const, logger, graceMs: deps.timings.unreachableGraceMs, recheckMs: Math.min(deps.timings.hostRecheckMs, deps.timings.trainPollMs) };
  return onHost(context, job, payload.step, async (step) => {
    const target = hostTarget(job, deps.identity);
    if (!job.training.startedAt) await startTraining(deps, job, target);
    const poll = parsePoll((await deps.shell.exec(target, pollCommand(job, numberOf(step.offset), TRANSFER.logChunkBytes), { timeoutMs: deps.timings.sshCommandTimeoutMs, label: 'train:poll' })).stdout);
    return handlePoll(deps, job, { ...step }, poll, target);
  });
}

async function startTraining(deps: MonitorDeps, job: JobRecord, target: HostTarget): Promise<void> {
  await deps.shell.upload(target, `inno-train/${job.id}/.inno/run.sh`, renderRunScript(job), 0o700, { label: 'train:upload-run-script' });
  await deps.shell.exec(target, startCommand(job), { timeoutMs: deps.timings.sshCommandTimeoutMs, label: 'train:start' });
  // The command runs and the record does not say so: the rerun's start must find it under its lock.
  crashPoint('train:after-start');
  await deps.store.update(job.id, (current) => {
    if (current.training.startedAt) return null;
    current.training.startedAt = isoNow();
    return current;
  }, [{ type: 'training', stage: 'training', message: `Started: ${job.spec.command.slice(0, 200)}` }]);
}

async function handlePoll(deps: MonitorDeps, job: JobRecord, step: Step, poll: PollResult, target: HostTarget): Promise<StepOutcome> {
  const { consumed, text } = consumeChunk(poll);
  if (text) {
    await deps.store.appendLog(job.id, text);
    const progress = latestProgress(text);
    if (progress) await deps.store.update(job.id, (current) => ({ ...current, progress }));
  }
  step.offset = numberOf(step.offset) + consumed;
  const more = step.offset < poll.logSize;
  if (poll.train.state === 'exited' || poll.train.state === 'gone' || poll.train.state === 'nodir') {
    if (more && consumed > 0) return { kind: 'wait', delayMs: 0, step };
    return finishTraining(deps, job, step, poll);
  }
  const current = await deps.store.mustGet(job.id);
  const limitReason = !step.killing ? overLimit(current) : null;
  if (limitReason) {
    await deps.shell.exec(target, killCommand(job, Math.ceil(deps.timings.killGraceMs / 1000)), { timeoutMs: deps.timings.sshCommandTimeoutMs, label: 'train:stop' });
    await deps.store.appendEvent(job.id, { type: 'training', stage: 'training', message: `Stopping: ${limitReason.message}` });
    step.killing = limitReason.code;
  }
  return { kind: 'wait', delayMs: more ? 0 : deps.timings.trainPollMs, step };
}

/** The job's own limits: runtime of the command, and what its instances have cost so far. */
function overLimit(job: JobRecord): { code: string; message: string } | null {
  const limit = job.spec.maxRuntimeSeconds;
  const startedAt = job.training.startedAt ? Date.parse(job.training.startedAt) : Date.now();
  if (limit && Date.now() - startedAt > limit * 1000) return { code: 'max_runtime_exceeded', message: `maxRuntimeSeconds (${limit}) reached` };
  const maxCost = job.spec.maxCostUsd;
  if (maxCost !== undefined && jobCost(job).usd >= maxCost) return { code: 'max_cost_exceeded', message: `maxCostUsd (${maxCost}) reached` };
  return null;
}

/** Advance by whole lines while running (a metrics line is never cut); everything once it ended. */
function consumeChunk(poll: PollResult): { consumed: number; text: string } {
  const ended = poll.train.state !== 'running' && poll.train.state !== 'starting';
  const lastNewline = poll.chunk.lastIndexOf('\n');
  let text = '';
  if (ended) text = poll.chunk;
  else if (lastNewline >= 0) text = poll.chunk.slice(0, lastNewline + 1);
  else if (Buffer.byteLength(poll.chunk) >= TRANSFER.logChunkBytes) text = poll.chunk; // one huge line
  return { consumed: Buffer.byteLength(text), text };
}

async function finishTraining(deps: MonitorDeps, job: JobRecord, step: Step, poll: PollResult): Promise<StepOutcome> {
  const exitCode = poll.train.state === 'exited' ? poll.train.exitCode : null;
  let pending: JobError | null = null;
  if (step.killing === 'max_runtime_exceeded') {
    pending = { code: 'max_runtime_exceeded', message: `Training ran longer than maxRuntimeSeconds (${job.spec.maxRuntimeSeconds}) and was stopped`, stage: 'training' };
  } else if (step.killing === 'max_cost_exceeded') {
    pending = { code: 'max_cost_exceeded', message: `The job's instances reached maxCostUsd (${job.spec.maxCostUsd}) and training was stopped`, stage: 'training' };
  } else if (exitCode === null) {
    pending = { code: 'training_process_lost', message: 'The training process disappeared without an exit code (host restarted?)', stage: 'training' };
  } else if (exitCode !== 0) {
    const tail = (await deps.store.log(job.id)).split('\n').slice(-21).join('\n').slice(-2000);
    pending = { code: 'training_failed', message: `Training command exited with code ${exitCode}. Last lines of its log:\n${tail}`, stage: 'training' };
  }
  await advance(deps, job.id, {
    transition: 'training_ended', stage: 'training',
    message: pending ? `Training ended: ${pending.code}; staging out partial outputs` : 'Training finished (exit code 0)',
    patch: (current) => {
      current.training.exitCode = exitCode;
      current.pendingError = pending;
    },
  });
  return { kind: 'done' };
}

function numberOf(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}
