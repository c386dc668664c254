/**
 * Opening one channel (an exec or an SFTP session) on a shared connection, and knowing afterwards
 * whether anything of the call reached the host: the executor runs a call again on a fresh
 * connection only when it surely did not.
 */
import type { Client } from 'ssh2';

/** What a call's work is handed: the shared connection, the call's signal, and its progress. */
export interface ChannelRun {
  client: Client;
  /** The call's deadline or abort, or the loss of this connection (its reason says which). */
  signal: AbortSignal;
  /** False while nothing of the call can have reached the host; set when the channel is requested. */
  progress: { mayHaveStarted: boolean };
  /** False once the connection ended, failed or was closed. */
  isConnectionAlive(): boolean;
}

/**
 * What ssh2 (1.x, lib/client.js) hands a channel still waiting for the server's open confirmation
 * when the connection closes. ssh2 sends the exec or subsystem request only after that
 * confirmation, so this error means the request never left this process. Any other failure counts
 * as "may have started"; should ssh2 reword it, calls are simply not retried.
 */
const CLOSED_BEFORE_CHANNEL_OPENED = 'No response from server';

/**
 * sshd refuses session opens at MaxSessions (10) even below our cap (8): it frees a session a
 * little after our close reached it, so an open right behind a close can find the slot still
 * taken. Measured with OpenSSH 9.2 (pool.test.ts, 300 short commands on one connection): about 70
 * refusals at a cap of 8, 7 at 6, none at 4. A refused open (SSH_MSG_CHANNEL_OPEN_FAILURE; OpenSSH
 * says "open failed", reason 2) ran nothing, so it is asked again, a few times, within the call's limit.
 */
const REFUSED_OPEN_RETRY_MS = [10, 25, 50, 100, 200, 400, 800];

/** How long a call on a lost connection waits for ssh2 to say whether its request was sent. */
const LOST_ANSWER_GRACE_MS = 2000;

/**
 * Opens a channel with `start` (client.exec or client.sftp with a callback). Rejects with the
 * signal's reason on abort: at once while the connection lives, since a channel that opens later
 * is handed to `late` (which closes it, killing a command that started) on the connection that
 * stays open; on a lost connection once ssh2 answered (bounded by a grace), so the answer can show
 * that nothing was sent. ssh2's own refusals reject with its raw error, for the caller to map.
 *
 * `use` is called with the open channel inside ssh2's callback, before anything else runs: ssh2
 * may emit a fast command's output, `exit` and `close` from the same read, and listeners attached
 * one await later miss them (a command that exited 0 read as exit code null).
 */
export function openChannel<T, R>(
  start: (callback: (error: Error | undefined, channel: T) => void) => void,
  run: ChannelRun,
  late: (channel: T) => void,
  use: (channel: T) => R,
): Promise<R> {
  return new Promise((resolve, reject) => {
    const { signal, progress } = run;
    let settled = false;
    let refusals = 0;
    let timer: NodeJS.Timeout | undefined;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      outcome();
    };
    const onAbort = () => {
      if (run.isConnectionAlive()) settle(() => reject(signal.reason));
      else timer ??= setTimeout(() => settle(() => reject(signal.reason)), LOST_ANSWER_GRACE_MS);
    };
    const onAnswer = (error: Error | undefined, channel: T) => {
      if (error && !run.isConnectionAlive() && error.message === CLOSED_BEFORE_CHANNEL_OPENED) progress.mayHaveStarted = false;
      if (settled) {
        if (!error) late(channel);
        return;
      }
      if (error && isRefusedOpen(error) && run.isConnectionAlive() && refusals < REFUSED_OPEN_RETRY_MS.length) {
        progress.mayHaveStarted = false;
        timer = setTimeout(request, REFUSED_OPEN_RETRY_MS[refusals++]);
        return;
      }
      if (error) settle(() => reject(signal.aborted ? signal.reason : error));
      else settle(() => resolve(use(channel)));
    };
    const request = () => {
      timer = undefined;
      progress.mayHaveStarted = true;
      try {
        start(onAnswer);
      } catch (error) {
        // ssh2 throws "Not connected" synchronously once the socket is gone: nothing was sent.
        progress.mayHaveStarted = false;
        settle(() => reject(signal.aborted ? signal.reason : error));
      }
    };
    if (signal.aborted) return settle(() => reject(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    request();
  });
}

/** The server refused to open the channel (ssh2 puts the failure's reason code on the error); nothing ran. */
function isRefusedOpen(error: Error): boolean {
  return typeof (error as { reason?: unknown }).reason === 'number';
}
