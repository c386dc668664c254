/**
 * What training does with one poll of the host: pure functions of the job, the poll and the step
 * state, table-tested without Redis or SSH. The train step observes (one SSH poll), these decide,
 * and the step acts (store the log, stop the command, hand over to stage-out).
 */
import { jobCost, type JobError, type JobRecord } from '@inno-train/schemas';
import type { StepState } from '@inno-train/workflow-constants';
import type { PollResult } from './host-commands';

type Step = StepState<'training'>;
type LimitCode = NonNullable<Step['killing']>;

/** Advance by whole lines while running (a metrics line is never cut); everything once it ended. */
export function consumeChunk(poll: PollResult, chunkBytes: number): { consumed: number; text: string } {
  const ended = poll.train.state !== 'running' && poll.train.state !== 'starting';
  const lastNewline = poll.chunk.lastIndexOf('\n');
  let text = '';
  if (ended) text = poll.chunk;
  else if (lastNewline >= 0) text = poll.chunk.slice(0, lastNewline + 1);
  else if (Buffer.byteLength(poll.chunk) >= chunkBytes) text = poll.chunk; // one huge line
  return { consumed: Buffer.byteLength(text), text };
}

/** The tenant's month spend against its budget, when it has one (the train step reads it). */
export interface BudgetReading {
  spendUsd: number;
  budgetUsd: number;
}

/** The job's own limits (runtime of the command, what its instances have cost so far), then its tenant's budget. */
export function limitReached(
  job: JobRecord,
  now: number,
  budget: BudgetReading | null = null,
): { code: LimitCode; message: string } | null {
  const limit = job.spec.maxRuntimeSeconds;
  const startedAt = job.training.startedAt ? Date.parse(job.training.startedAt) : now;
  if (limit && now - startedAt > limit * 1000) return { code: 'max_runtime_exceeded', message: `maxRuntimeSeconds (${limit}) reached` };
  const maxCost = job.spec.maxCostUsd;
  if (maxCost !== undefined && jobCost(job, now).usd >= maxCost)
    return { code: 'max_cost_exceeded', message: `maxCostUsd (${maxCost}) reached` };
  if (budget && budget.spendUsd >= budget.budgetUsd)
    return { code: 'budget_exhausted', message: `the key's monthly budget (${budget.budgetUsd} USD) is spent` };
  return null;
}

export type PollDecision =
  /** More log is waiting on the host: read it at once. */
  | { kind: 'read_more'; step: Step }
  /** The command ended and every byte of its log is read: hand over to stage-out. */
  | { kind: 'finish'; step: Step; exitCode: number | null }
  /** A limit is reached: stop the command, and keep polling until it has ended. */
  | { kind: 'stop'; step: Step; reason: string; delayMs: number }
  | { kind: 'wait'; delayMs: number; step: Step };

export interface PollInput {
  job: JobRecord;
  poll: PollResult;
  step: Step;
  /** Bytes of log this poll consumed (consumeChunk). */
  consumed: number;
  now: number;
  pollMs: number;
  /** The tenant's month spend and budget (null: no budget). */
  budget?: BudgetReading | null;
}

export function decideAfterPoll(input: PollInput): PollDecision {
  const { poll } = input;
  const step: Step = { ...input.step, offset: (input.step.offset ?? 0) + input.consumed };
  const more = (step.offset ?? 0) < poll.logSize;
  const ended = poll.train.state === 'exited' || poll.train.state === 'gone' || poll.train.state === 'nodir';
  if (ended) {
    if (more && input.consumed > 0) return { kind: 'read_more', step };
    return { kind: 'finish', step, exitCode: poll.train.state === 'exited' ? poll.train.exitCode : null };
  }
  const limit = step.killing ? null : limitReached(input.job, input.now, input.budget ?? null);
  if (limit) return { kind: 'stop', step: { ...step, killing: limit.code }, reason: limit.message, delayMs: more ? 0 : input.pollMs };
  return more ? { kind: 'read_more', step } : { kind: 'wait', delayMs: input.pollMs, step };
}

/** Why the job will fail once its outputs are staged out, or null when training succeeded. */
export function trainingOutcome(
  job: Pick<JobRecord, 'spec' | 'limits'>,
  killing: Step['killing'],
  exitCode: number | null,
  logTail: () => string,
): JobError | null {
  if (killing === 'max_runtime_exceeded') {
    return {
      code: 'max_runtime_exceeded',
      message: `Training ran longer than maxRuntimeSeconds (${job.spec.maxRuntimeSeconds}) and was stopped`,
      stage: 'training',
    };
  }
  if (killing === 'max_cost_exceeded') {
    return {
      code: 'max_cost_exceeded',
      message: `The job's instances reached maxCostUsd (${job.spec.maxCostUsd}) and training was stopped`,
      stage: 'training',
    };
  }
  if (killing === 'budget_exhausted') {
    return {
      code: 'budget_exhausted',
      message: `The key's monthly budget (${job.limits.monthlyBudgetUsd} USD) was spent and training was stopped`,
      stage: 'training',
    };
  }
  if (exitCode === null)
    return {
      code: 'training_process_lost',
      message: 'The training process disappeared without an exit code (host restarted?)',
      stage: 'training',
    };
  if (exitCode !== 0)
    return {
      code: 'training_failed',
      message: `Training command exited with code ${exitCode}. Last lines of its log:\n${logTail()}`,
      stage: 'training',
    };
  return null;
}
