/**
 * The transfer scripts run on the host as tasks of the host protocol (@inno-train/host-protocol):
 * started detached once (a second start while one runs is a no-op), checked with one short command,
 * their result (the transfer status) embedded in the task's status when they end. This maps a
 * task check onto what the transfer stages decide on (decide.ts).
 */
import type { TaskState } from '@inno-train/host-protocol';

export type DetachedState<T> = { state: 'running' } | { state: 'not_running' } | { state: 'done'; status: T };

/**
 * A task that ended without a result (it died before writing one, or could not start: the runner
 * records null) is not done: it counts as not running, to be started again, as does one whose job
 * directory is gone (before, neither left a status file at all).
 */
export function transferState<T>(task: TaskState<T>): DetachedState<T> {
  if (task.state === 'running') return { state: 'running' };
  if (task.state === 'done' && task.status.result !== null) return { state: 'done', status: task.status.result };
  return { state: 'not_running' };
}
