/**
 * The one mechanism every stage uses on the host: start a detached task once, check it, kill it.
 * Training, stage-in and stage-out are tasks; each task `<name>` of a job has, in `.inno/`:
 *
 *   <name>.sh      its script (uploaded by the stage)
 *   <name>.lock    flock'ed by the task's runner for as long as the runner lives
 *   <name>.pid     the runner's pid: the task's process group (setsid)
 *   <name>.status  {"exitCode": N, "result": R}, renamed into place when the task has ended
 *   <name>.result  the task's own result (JSON), if it has one; embedded in the status
 *   <name>.out     the runner's and the task's stdout and stderr
 *
 * Each operation is one short SSH command rendered from a script (scripts/start-task.sh,
 * check-task.sh, kill-task.sh; the runner is run-task.sh), and every answer is parsed with zod.
 */
import { InnoError, shellQuote } from '@inno-train/core';
import { z } from 'zod';
import { jobDir, jobPath, JOB_LAYOUT } from './layout';
import { renderScript, scriptSource } from './render';

export const TASK_NAMES = ['stage-in', 'train', 'stage-out'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export interface TaskFiles {
  /** The transfer engine's progress, rewritten while it runs. */
  progress: string;
  /** The transfer engine's journal of parts sent (stage-out): kept across runs of the task. */
  journal: string;
  script: string;
  lock: string;
  pid: string;
  status: string;
  result: string;
  out: string;
}

/** A task's files, relative to the job directory (the scripts spell them `.inno/$TASK.<ext>`). */
export function taskFiles(task: TaskName): TaskFiles {
  const base = `${JOB_LAYOUT.meta}/${task}`;
  return {
    progress: `${base}.progress`,
    journal: `${base}.journal`,
    script: `${base}.sh`,
    lock: `${base}.lock`,
    pid: `${base}.pid`,
    status: `${base}.status`,
    result: `${base}.result`,
    out: `${base}.out`,
  };
}

/** Where the task's script is uploaded, relative to the home. */
export function taskScriptPath(jobId: string, task: TaskName): string {
  return jobPath(jobId, taskFiles(task).script);
}

/**
 * Starts the task detached, once: a start while it runs, or after it ended (its status is there),
 * is a no-op. The lock is taken before the command answers, so a check right after sees `running`.
 */
export function startTaskCommand(jobId: string, task: TaskName): string {
  return renderScript(
    'start-task.sh',
    { INNO_JOB_DIR: jobDir(jobId), INNO_TASK: task, INNO_RUNNER: scriptSource('run-task.sh') },
    { label: task },
  );
}

/**
 * Forgets how the task ended (its status), so the next start runs it again; with `createLayout`,
 * first creates the job directory with inputs/, output/ and .inno/. A plain command, no script.
 */
export function resetTaskCommand(jobId: string, task: TaskName, options: { createLayout?: boolean } = {}): string {
  const path = (relPath: string) => shellQuote(jobPath(jobId, relPath));
  const reset = `rm -f ${path(taskFiles(task).status)}`;
  if (!options.createLayout) return reset;
  return `mkdir -p ${path(JOB_LAYOUT.inputs)} ${path(JOB_LAYOUT.output)} ${path(JOB_LAYOUT.meta)} && ${reset}`;
}

/** A log the check reads in the same call (training): its size, then bytes from `offset`. */
export interface LogRead {
  /** Relative to the job directory. */
  file: string;
  offset: number;
  /** At most this many bytes. */
  chunk: number;
}

/** The line between the check's answer and the log bytes. */
export const LOG_MARKER = '--inno-log--';

/** Asks how the task is doing; see parseTaskCheck. With `log`, also reads the log (one SSH call). */
export function checkTaskCommand(jobId: string, task: TaskName, log?: LogRead): string {
  return renderScript(
    'check-task.sh',
    {
      INNO_JOB_DIR: jobDir(jobId),
      INNO_TASK: task,
      INNO_LOG_FILE: log?.file ?? '',
      INNO_LOG_OFFSET: log?.offset ?? 0,
      INNO_LOG_CHUNK: log?.chunk ?? 0,
      INNO_LOG_MARKER: LOG_MARKER,
    },
    { label: task },
  );
}

/** A wait that sends the task's progress file as it changes: see waitTaskCommand. */
export interface TaskWait {
  /** The longest the command waits for the task to end before it answers `state=running`. */
  waitMs: number;
  /** Relative to the job directory; its first line is sent as `progress=<line>` whenever it changed. */
  progressFile?: string;
}

/**
 * Waits up to `waitMs` for the task to end (answering at once when it does), sending its progress
 * lines meanwhile; the answer ends as checkTaskCommand's does (parseTaskCheck reads it) and
 * parseProgressLines reads the progress lines.
 */
export function waitTaskCommand(jobId: string, task: TaskName, wait: TaskWait): string {
  if (!Number.isSafeInteger(wait.waitMs) || wait.waitMs < 0) throw new Error(`waitMs must be a whole number >= 0, got ${wait.waitMs}`);
  return renderScript(
    'wait-task.sh',
    { INNO_JOB_DIR: jobDir(jobId), INNO_TASK: task, INNO_PROGRESS_FILE: wait.progressFile ?? '', INNO_WAIT_MS: wait.waitMs },
    { label: task },
  );
}

/** The `progress=` lines of a wait's answer (complete lines only), their payloads in order. */
export function parseProgressLines(text: string): string[] {
  return text
    .split('\n')
    .slice(0, -1)
    .filter((line) => line.startsWith('progress='))
    .map((line) => line.slice('progress='.length));
}

export interface KillOptions {
  /** Seconds between TERM and KILL. */
  graceSeconds: number;
  /**
   * false: answer at once, the wait and the KILL go on on the host in the background. true: answer
   * once the group has ended (at most the grace, then KILL), and at once when nothing ran.
   */
  wait: boolean;
}

/** Stops the task if it runs: TERM to its process group, KILL after the grace. */
export function killTaskCommand(jobId: string, task: TaskName, options: KillOptions): string {
  if (!Number.isSafeInteger(options.graceSeconds) || options.graceSeconds < 0)
    throw new Error(`graceSeconds must be a whole number >= 0, got ${options.graceSeconds}`);
  return renderScript(
    'kill-task.sh',
    {
      INNO_JOB_DIR: jobDir(jobId),
      INNO_TASK: task,
      INNO_GRACE_SECONDS: options.graceSeconds,
      INNO_WAIT: options.wait ? 'yes' : 'no',
    },
    { label: task },
  );
}

/** How a task ended: its exit code, and its own result (null when it left none). */
export interface TaskStatus<R> {
  exitCode: number;
  result: R | null;
}

export type TaskState<R> =
  | { state: 'running' }
  /** Never started, or stopped without a status (killed, host rebooted). */
  | { state: 'not_running' }
  | { state: 'no_job_dir' }
  | { state: 'done'; status: TaskStatus<R> };

/** A host answered something the protocol does not say. The host runs the job's own code: never trusted. */
export class HostAnswerError extends InnoError {
  constructor(message: string) {
    super('host_answer_invalid', message);
    this.name = 'HostAnswerError';
  }
}

const STATE_LINE = /^state=(running|not_running|no_job_dir|done)(?: (.*))?$/;

/**
 * Reads a check's answer (the first `state=` line; anything a login script printed before it is
 * skipped). The status comes from the host: it is parsed with `result`, the schema of the task's
 * own result, and anything else (garbage, a status of another shape) throws HostAnswerError.
 */
export function parseTaskCheck<R>(task: TaskName, stdout: string, result: z.ZodType<R>): TaskState<R> {
  const line = stdout.split('\n').find((candidate) => candidate.startsWith('state='));
  const match = line === undefined ? null : STATE_LINE.exec(line);
  if (!match) throw new HostAnswerError(`The host's answer about ${task} has no state: ${JSON.stringify(stdout.slice(0, 200))}`);
  const [, state, rest] = match;
  if (state === 'running' || state === 'not_running' || state === 'no_job_dir') return { state };
  let json: unknown;
  try {
    json = JSON.parse(rest ?? '');
  } catch {
    throw new HostAnswerError(`The ${task} status on the host is not JSON: ${JSON.stringify((rest ?? '').slice(0, 200))}`);
  }
  const parsed = z.object({ exitCode: z.number().int(), result: result.nullable() }).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HostAnswerError(
      `The ${task} status on the host is malformed: ${issue ? `${issue.path.join('.') || '(top)'}: ${issue.message}` : 'unknown'}`,
    );
  }
  return { state: 'done', status: { exitCode: parsed.data.exitCode, result: parsed.data.result ?? null } };
}
