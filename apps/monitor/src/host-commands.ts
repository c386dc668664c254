import { exportLines, shellQuote } from '@inno-train/core';
import type { JobRecord } from '@inno-train/schemas';
import { jobDirOf } from '@inno-train/workflow';

/**
 * The wrapper that runs the job's command on the host. The command is code by design; everything
 * else (ids, paths, env keys and values) is data and is quoted. The wrapper records its pid (the
 * process group, thanks to setsid) and the exit code, so polls and cancels need no live session.
 */
export function renderRunScript(job: JobRecord): string {
  const dir = jobDirOf(job);
  const inputEnv: Record<string, string> = {};
  for (const [name, uri] of Object.entries(job.spec.inputs)) {
    const key = uri.endsWith('/') ? '' : `/${uri.split('/').pop() ?? ''}`;
    inputEnv[`INPUT_${name.toUpperCase()}`] = `inputs/${name}${key}`;
  }
  const relative = Object.entries(inputEnv).map(([key, rel]) => `export ${key}="$PWD"/${shellQuote(rel)}`);
  return [
    '#!/usr/bin/env bash',
    `cd "$HOME"/${shellQuote(dir)} || exit 97`,
    'echo $$ > .inno/train.pid',
    exportLines({ JOB_ID: job.id }),
    'export JOB_DIR="$PWD" INPUT_DIR="$PWD/inputs" CONFIG_PATH="$PWD/config.yaml" OUTPUT_DIR="$PWD/output"',
    ...relative,
    // Before the job's env, so a job may turn it off.
    'export PYTHONUNBUFFERED=1',
    exportLines(job.spec.env ?? {}),
    '(',
    job.spec.command,
    ') >> train.log 2>&1 < /dev/null',
    'code=$?',
    'echo "$code" > .inno/exit_code.tmp && mv .inno/exit_code.tmp .inno/exit_code',
    '',
  ].join('\n');
}

/** Starts the wrapper detached, once: `mkdir` is the atomic guard against a second start. */
export function startCommand(job: JobRecord): string {
  const dir = shellQuote(jobDirOf(job));
  return `cd ${dir} || exit 1\nif mkdir .inno/train.started 2>/dev/null; then nohup setsid bash .inno/run.sh > /dev/null 2>&1 < /dev/null & fi\necho started`;
}

export const LOG_MARKER = '--inno-log--';

/**
 * One poll: state, log size, then the log bytes from `offset` (at most `chunk`). Liveness is asked
 * before the exit code: the wrapper writes the exit code and then exits, so a process found dead
 * has its exit code on disk already. (Asked the other way round, a command ending between the two
 * checks looked like one that vanished without an exit code: training_process_lost.)
 */
export function pollCommand(job: JobRecord, offset: number, chunk: number): string {
  const dir = shellQuote(jobDirOf(job));
  return [
    `cd ${dir} 2>/dev/null || { echo state=nodir; exit 0; }`,
    'if [ -f .inno/train.pid ] && kill -0 "$(cat .inno/train.pid)" 2>/dev/null; then echo state=running;',
    'elif [ -f .inno/exit_code ]; then echo "state=exited $(cat .inno/exit_code)";',
    'elif [ -d .inno/train.started ] && [ ! -f .inno/train.pid ]; then echo state=starting;',
    'else echo state=gone; fi',
    'echo "size=$(stat -c %s train.log 2>/dev/null || echo 0)"',
    `echo ${LOG_MARKER}`,
    `tail -c +${offset + 1} train.log 2>/dev/null | head -c ${chunk}`,
  ].join('\n');
}

/** Stops the process group: TERM, then KILL after the grace, detached so the poll returns at once. */
export function killCommand(job: JobRecord, graceSeconds: number): string {
  const dir = shellQuote(jobDirOf(job));
  const inner = `pgid=$(cat .inno/train.pid 2>/dev/null) || exit 0; kill -TERM -- -"$pgid" 2>/dev/null; sleep ${graceSeconds}; kill -KILL -- -"$pgid" 2>/dev/null`;
  return `cd ${dir} || exit 1\nnohup bash -c ${shellQuote(inner)} > /dev/null 2>&1 < /dev/null &\necho killing`;
}

export type HostTrainState =
  | { state: 'exited'; exitCode: number }
  | { state: 'running' | 'starting' | 'gone' | 'nodir' };

export interface PollResult {
  train: HostTrainState;
  logSize: number;
  chunk: string;
}

export function parsePoll(stdout: string): PollResult {
  const markerAt = stdout.indexOf(`${LOG_MARKER}\n`);
  const head = markerAt >= 0 ? stdout.slice(0, markerAt) : stdout;
  const chunk = markerAt >= 0 ? stdout.slice(markerAt + LOG_MARKER.length + 1) : '';
  const state = /state=(\w+)(?: (-?\d+))?/.exec(head);
  const size = /size=(\d+)/.exec(head);
  const name = state?.[1] ?? 'gone';
  const train: HostTrainState = name === 'exited'
    ? { state: 'exited', exitCode: Number(state?.[2] ?? -1) }
    : { state: (['running', 'starting', 'nodir'].includes(name) ? name : 'gone') as 'running' | 'starting' | 'gone' | 'nodir' };
  return { train, logSize: Number(size?.[1] ?? 0), chunk };
}
