/**
 * The transfer scripts run on the host as tasks of the host protocol (@inno-train/host-protocol):
 * started detached once (a second start while one runs is a no-op), their result (the transfer
 * status) embedded in the task's status when they end. A check is one SSH command that waits on
 * the host for the task's end (wait-task.sh, at most `waitMs`), sending the engine's progress
 * meanwhile: the end of a transfer is seen the moment it happens, not at the next poll.
 */
import {
  parseProgressLines,
  parseTaskCheck,
  stageInResultSchema,
  stageOutResultSchema,
  taskFiles,
  transferProgressFileSchema,
  waitTaskCommand,
  type TaskState,
  type TransferProgressFile,
} from '@inno-train/host-protocol';
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

export interface WatchOptions {
  /** The longest the host waits for the end before answering `running`. */
  waitMs: number;
  /** For the SSH call on top of the wait. */
  timeoutMs: number;
  /** Each progress line the engine wrote, parsed; false stops the watch early (the job moved on). */
  onProgress?(progress: TransferProgressFile): Promise<boolean> | boolean;
}

/** A progress line from the host: parsed, never trusted; a malformed one is skipped. */
function parseProgress(line: string): TransferProgressFile | null {
  try {
    const parsed = transferProgressFileSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * Watches a transfer task until it ends or `waitMs` passes, whichever is first, streaming its
 * progress to `onProgress` where the executor can stream (else the last progress comes with the answer).
 */
export async function watchTransfer(
  shell: HostExecutor,
  target: HostTarget,
  jobId: string,
  task: 'stage-in' | 'stage-out',
  options: WatchOptions,
): Promise<DetachedState<TransferStatus>> {
  const command = waitTaskCommand(jobId, task, { waitMs: options.waitMs, progressFile: taskFiles(task).progress });
  const stdout = shell.stream
    ? await streamWatch(shell.stream.bind(shell), target, command, task, options)
    : (await shell.exec(target, command, { timeoutMs: options.waitMs + options.timeoutMs, label: `${task}:check` })).stdout;
  if (!shell.stream && options.onProgress) {
    const last = parseProgressLines(stdout)
      .map(parseProgress)
      .filter((p) => p !== null)
      .pop();
    if (last) await options.onProgress(last);
  }
  // Each task's result has its own schema; both fit TransferStatus.
  const state: TaskState<TransferStatus> =
    task === 'stage-in' ? parseTaskCheck(task, stdout, stageInResultSchema) : parseTaskCheck(task, stdout, stageOutResultSchema);
  return transferState(state);
}

/** The watch over a stream: progress handed on line by line; a watch stopped early counts as running. */
async function streamWatch(
  stream: NonNullable<HostExecutor['stream']>,
  target: HostTarget,
  command: string,
  task: string,
  options: WatchOptions,
): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`${task} check took longer than expected`)),
    options.waitMs + options.timeoutMs,
  );
  let text = '';
  let handled = 0;
  let stopped = false;
  // One store write at a time; a newer line replaces one still waiting for its turn.
  let waiting: TransferProgressFile | null = null;
  let writing: Promise<void> | null = null;
  const drain = async (): Promise<void> => {
    while (waiting && !stopped) {
      const next: TransferProgressFile = waiting;
      waiting = null;
      // Progress is for show: a failed write must not fail the check (the next line tries again).
      const inStage = await Promise.resolve(options.onProgress!(next)).catch(() => true);
      if (inStage === false) {
        stopped = true;
        controller.abort(new Error('the job left the stage'));
      }
    }
    writing = null;
  };
  const onStdout = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    const lines = parseProgressLines(text);
    const fresh = lines.slice(handled);
    handled = lines.length;
    const latest = fresh
      .map(parseProgress)
      .filter((p) => p !== null)
      .pop();
    if (!latest || !options.onProgress || stopped) return;
    waiting = latest;
    writing ??= drain();
  };
  try {
    await stream(target, command, { onStdout }, { label: `${task}:check`, signal: controller.signal });
  } catch (error) {
    if (!stopped) throw error;
  } finally {
    clearTimeout(timer);
  }
  await writing;
  return stopped ? 'state=running\n' : text;
}
