import { FileTransferError, shellQuote } from '@inno-train/core';
import type { z } from 'zod';

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

/**
 * The lock is asked before the status file: the script writes its status while it still holds the
 * lock, so once the lock is free the status is there (or the script died without one). Asked the
 * other way round, a script ending between the two checks looked like one that died.
 */
export function checkDetached(jobDir: string, statusFile: string, lock: string): string {
  const dir = shellQuote(jobDir);
  const status = shellQuote(statusFile);
  return `cd ${dir} && if ! flock -n ${shellQuote(lock)} true; then echo RUNNING; elif [ -f ${status} ]; then cat ${status}; else echo NOT_RUNNING; fi`;
}

export type DetachedState<T> = { state: 'running' } | { state: 'not_running' } | { state: 'done'; status: T };

/**
 * Reads a check's answer. The status file comes from the host, which runs the job's own code: it is
 * parsed with `schema`, and anything else (garbage, a truncated file) is a clear error, not a cast.
 */
export function parseDetached<T>(stdout: string, schema: z.ZodType<T>): DetachedState<T> {
  const text = stdout.trim();
  if (text === 'RUNNING') return { state: 'running' };
  if (text === 'NOT_RUNNING' || text === '') return { state: 'not_running' };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new FileTransferError('host_answer_invalid', `The transfer status on the host is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new FileTransferError('host_answer_invalid', `The transfer status on the host is malformed: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
  return { state: 'done', status: parsed.data };
}
