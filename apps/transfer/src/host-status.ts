import { shellQuote } from '@inno-train/core';

/**
 * Transfer scripts run detached on the host under `flock`, so a second start while one runs is a
 * no-op, and write a status file when they end. A check reads the status file, or reports whether
 * the script is still running.
 */
export function startDetached(jobDir: string, script: string, lock: string, log: string): string {
  const dir = shellQuote(jobDir);
  // `cd` on its own line: in `cd x && cmd &` the whole list is backgrounded, and that subshell
  // would keep the session's stdout open until the transfer ends.
  return `cd ${dir} || exit 1\nnohup setsid flock -n ${shellQuote(lock)} bash ${shellQuote(script)} > ${shellQuote(log)} 2>&1 < /dev/null &\necho started`;
}

export function checkDetached(jobDir: string, statusFile: string, lock: string): string {
  const dir = shellQuote(jobDir);
  return `cd ${dir} && if [ -f ${shellQuote(statusFile)} ]; then cat ${shellQuote(statusFile)}; elif flock -n ${shellQuote(lock)} true; then echo NOT_RUNNING; else echo RUNNING; fi`;
}

export type DetachedState<T> = { state: 'running' } | { state: 'not_running' } | { state: 'done'; status: T };

export function parseDetached<T>(stdout: string): DetachedState<T> {
  const text = stdout.trim();
  if (text === 'RUNNING') return { state: 'running' };
  if (text === 'NOT_RUNNING' || text === '') return { state: 'not_running' };
  return { state: 'done', status: JSON.parse(text) as T };
}

/** A running transfer past its stage's deadline is over; its presigned URLs expire soon after. */
export function pastTransferDeadline(startedAt: unknown, deadlineMs: number): boolean {
  return Date.now() - Number(startedAt ?? Date.now()) > deadlineMs;
}
