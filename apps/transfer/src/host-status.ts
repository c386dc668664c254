/**
 * The transfer scripts run on the host as tasks of the host protocol (@inno-train/host-protocol):
 * started detached once (a second start while one runs is a no-op), checked with one short command,
 * their result (the transfer status) embedded in the task's status when they end. This maps a
 * task check onto what the transfer stages decide on (decide.ts).
 */
import { checkTaskCommand, parseTaskCheck, stageInResultSchema, stageOutResultSchema, type TaskState } from '@inno-train/host-protocol';
import type { HostExecutor, HostTarget } from '@inno-train/host-port';
import type { DetachedState, TransferStatus } from './decide';

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

/** One short SSH call: the state of a transfer task on the host, its result parsed by the protocol. */
export async function observeTransfer(
  shell: HostExecutor,
  target: HostTarget,
  jobId: string,
  task: 'stage-in' | 'stage-out',
  timeoutMs: number,
): Promise<DetachedState<TransferStatus>> {
  const check = await shell.exec(target, checkTaskCommand(jobId, task), { timeoutMs, label: `${task}:check` });
  // Each task's result has its own schema; both fit TransferStatus.
  const state: TaskState<TransferStatus> =
    task === 'stage-in'
      ? parseTaskCheck(task, check.stdout, stageInResultSchema)
      : parseTaskCheck(task, check.stdout, stageOutResultSchema);
  return transferState(state);
}
