/**
 * Training as a task of the host protocol: task `train`, whose script is train-wrapper.sh rendered
 * for the job, and whose poll is the task check that also reads train.log in the same SSH call.
 */
import { ENV_KEY_PATTERN } from '@inno-train/core';
import { z } from 'zod';
import { inputEnvName, inputPath, jobDir, JOB_LAYOUT } from './layout';
import { renderScript } from './render';
import { checkRelPath } from './transfer/validate';
import { checkTaskCommand, HostAnswerError, LOG_MARKER, parseTaskCheck, type TaskState } from './task';

/** What the wrapper needs of a job. */
export interface TrainingJob {
  id: string;
  /** The job's command: code by design, the only code in the rendered wrapper not ours. */
  command: string;
  /** The job's own env (keys already checked by the submission schema; checked again here). */
  env?: Record<string, string>;
  /** Input name to S3 URI (a URI ending in `/` is a prefix). */
  inputs: Record<string, string>;
  /**
   * The checkpoint entry restored into CHECKPOINT_DIR (its name): RESUME_FROM is then
   * `$CHECKPOINT_DIR/<name>`. Unset or null: RESUME_FROM is not set.
   */
  resumeFrom?: string | null;
}

/**
 * The training task's script (.inno/train.sh): the job's command in the job directory with the
 * documented environment, output appended to train.log, exiting with the command's exit code.
 * PYTHONUNBUFFERED=1 comes before the job's env, so a job may turn it off. RESUME_FROM is set when a
 * checkpoint was restored (a reserved key: the job's env cannot hold it).
 */
export function renderTrainScript(job: TrainingJob): string {
  const names = Object.keys(job.inputs);
  const vars = names.map((name) => {
    const key = inputEnvName(name);
    if (!ENV_KEY_PATTERN.test(key)) throw new Error(`Invalid input name: ${JSON.stringify(name)}`);
    return key;
  });
  return renderScript(
    'train-wrapper.sh',
    {
      INNO_JOB_DIR: jobDir(job.id),
      INNO_JOB_ID: job.id,
      INNO_INPUT_VARS: vars,
      INNO_INPUT_PATHS: names.map((name) => inputPath(name, job.inputs[name]!)),
      INNO_RESUME_FROM: job.resumeFrom ? checkRelPath(job.resumeFrom, 'resumeFrom') : '',
      INNO_COMMAND: job.command,
    },
    { label: 'train', exports: { PYTHONUNBUFFERED: '1', ...(job.env ?? {}) } },
  );
}

/** One poll of training: the task's state, then train.log's size and at most `chunk` bytes from `offset`. */
export function pollTrainingCommand(jobId: string, offset: number, chunk: number): string {
  return checkTaskCommand(jobId, 'train', { file: JOB_LAYOUT.trainLog, offset, chunk });
}

/** What tail-log.sh writes on stderr, alone on a line, once the task has ended and every byte is out. */
export const TAIL_END = 'end';

export interface TailOptions {
  /** How often the host looks at train.log, in seconds (default 0.2). */
  pollSeconds?: number;
  /** How often it tells stderr it is alive, so a session that is gone ends it (default 10). */
  aliveSeconds?: number;
}

/**
 * The live tail of training (tail-log.sh): train.log's bytes from `offset` on stdout as they are
 * written, then `end` on stderr (TAIL_END) once the task no longer runs and the rest is out.
 */
export function tailTrainingLogCommand(jobId: string, offset: number, options: TailOptions = {}): string {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new Error(`offset must be a whole number of bytes, got ${offset}`);
  const pollSeconds = options.pollSeconds ?? 0.2;
  if (!Number.isFinite(pollSeconds) || pollSeconds <= 0 || pollSeconds > 60)
    throw new Error(`pollSeconds must be in (0, 60], got ${pollSeconds}`);
  return renderScript(
    'tail-log.sh',
    {
      INNO_JOB_DIR: jobDir(jobId),
      INNO_TASK: 'train',
      INNO_LOG_FILE: JOB_LAYOUT.trainLog,
      INNO_LOG_OFFSET: offset,
      // A decimal for sleep: render takes whole numbers or strings, and a string is quoted.
      INNO_POLL_SECONDS: pollSeconds.toFixed(3),
      INNO_ALIVE_SECONDS: options.aliveSeconds ?? 10,
    },
    { label: 'train' },
  );
}

export interface TrainingPoll {
  /** The task's result is not used: whatever the job left in .inno/train.result is ignored. */
  task: TaskState<unknown>;
  /** train.log's size when polled (after the state was read). */
  logSize: number;
  /** The log bytes read, as text. */
  chunk: string;
}

const SIZE_LINE = z
  .string()
  .regex(/^size=\d+$/)
  .transform((line) => Number(line.slice('size='.length)));

/** Reads a poll's answer. A job directory that is gone answers with its state only (size 0, no bytes). */
export function parseTrainingPoll(stdout: string): TrainingPoll {
  const markerAt = stdout.indexOf(`\n${LOG_MARKER}\n`);
  const head = markerAt >= 0 ? stdout.slice(0, markerAt + 1) : stdout;
  const task = parseTaskCheck('train', head, z.unknown());
  if (task.state === 'no_job_dir') return { task, logSize: 0, chunk: '' };
  const size = SIZE_LINE.safeParse(head.split('\n').find((line) => line.startsWith('size=')));
  if (markerAt < 0 || !size.success)
    throw new HostAnswerError(`The training poll's answer has no log size or marker: ${JSON.stringify(head.slice(0, 200))}`);
  return { task, logSize: size.data, chunk: stdout.slice(markerAt + LOG_MARKER.length + 2) };
}
