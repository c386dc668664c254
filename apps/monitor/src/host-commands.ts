/**
 * Training on the host, through the host protocol (@inno-train/host-protocol): training is the task
 * `train` of the job, its script the training wrapper rendered for the job, its poll the task check
 * that also reads train.log in the same SSH call. This file only maps the monitor's job record and
 * its view of a poll onto the protocol.
 */
import {
  installAndStartCommand,
  killTaskCommand,
  parseTrainingPoll,
  pollTrainingCommand,
  renderTrainScript,
  taskScriptPath,
  type CommandWithInput,
  type TaskState,
} from '@inno-train/host-protocol';
import type { JobRecord } from '@inno-train/schemas';

export { LOG_MARKER } from '@inno-train/host-protocol';

/**
 * The training task's script for the job (uploaded as .inno/train.sh). The command is code by
 * design; everything else (ids, paths, env keys and values) is quoted data. RESUME_FROM points at the
 * checkpoint stage-in restored on this instance, if any.
 */
export function renderRunScript(job: JobRecord): string {
  return renderTrainScript({
    id: job.id,
    command: job.spec.command,
    env: job.spec.env ?? {},
    inputs: job.spec.inputs,
    resumeFrom: job.resumedFrom?.name ?? null,
  });
}

/** Where renderRunScript's output is uploaded, relative to the home. */
export function runScriptPath(job: JobRecord): string {
  return taskScriptPath(job.id, 'train');
}

/**
 * Writes the run script (renderRunScript) and starts training detached, once: the task's lock (or
 * its status, once it ended) is the guard against a second start, so its status is never reset here.
 */
export function startCommandWithScript(job: JobRecord): CommandWithInput {
  return installAndStartCommand(job.id, 'train', [{ path: runScriptPath(job), content: renderRunScript(job), mode: 0o700 }], {
    reset: false,
  });
}

/**
 * One poll: state, log size, then the log bytes from `offset` (at most `chunk`). The task's lock is
 * asked before its status: a command ending between the two checks is seen as exited, not gone.
 */
export function pollCommand(job: JobRecord, offset: number, chunk: number): string {
  return pollTrainingCommand(job.id, offset, chunk);
}

/** Stops the process group: TERM, then KILL after the grace, detached so the step returns at once. */
export function killCommand(job: JobRecord, graceSeconds: number): string {
  return killTaskCommand(job.id, 'train', { graceSeconds, wait: false });
}

/**
 * How the monitor sees the command. `gone`: not running and no exit code (the runner was killed, or
 * the host restarted). `starting` is no longer reported (a start holds the task's lock before it
 * answers), and stays in the type for train-decision.
 */
export type HostTrainState = { state: 'exited'; exitCode: number } | { state: 'running' | 'starting' | 'gone' | 'nodir' };

export interface PollResult {
  train: HostTrainState;
  logSize: number;
  chunk: string;
}

/** Reads a poll's answer; a malformed one throws (host_answer_invalid). */
export function parsePoll(stdout: string): PollResult {
  const poll = parseTrainingPoll(stdout);
  return { train: trainState(poll.task), logSize: poll.logSize, chunk: poll.chunk };
}

function trainState(task: TaskState<unknown>): HostTrainState {
  switch (task.state) {
    case 'running':
      return { state: 'running' };
    case 'done':
      return { state: 'exited', exitCode: task.status.exitCode };
    case 'not_running':
      return { state: 'gone' };
    case 'no_job_dir':
      return { state: 'nodir' };
  }
}
