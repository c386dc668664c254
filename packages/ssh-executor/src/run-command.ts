/** Running one command on a ready connection and collecting its output within limits. */
import { completeUtf8Length, InfrastructureError } from '@inno-train/core';
import type { ExecResult } from '@inno-train/host-port';
import type { ClientChannel } from 'ssh2';
import { openChannel, type ChannelRun } from './channel';
import { connectionLostError, safeMessage, where } from './errors';
import type { SshTarget } from './types';

/** Keeps at most `limit` bytes of a stream and remembers whether more arrived. */
export class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    const room = this.limit - this.bytes;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(kept);
    this.bytes += kept.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    // A cut in the middle of a UTF-8 sequence would decode to U+FFFD; drop the partial character.
    return (this.truncated ? all.subarray(0, completeUtf8Length(all)) : all).toString('utf8');
  }
}

export interface RunOptions extends ChannelRun {
  stdin?: string | Buffer;
  maxOutputBytes: number;
}

/**
 * Resolves with the command's output and status. On abort (deadline, caller or lost connection)
 * the remote process group gets SIGKILL through the channel (OpenSSH honours `signal` requests for
 * commands), the channel is closed and the promise rejects with the signal's reason; the
 * connection itself stays open for the other calls on it.
 */
export async function runCommand(target: SshTarget, command: string, options: RunOptions): Promise<ExecResult> {
  const { client, signal } = options;
  let running: { done: Promise<ExecResult> };
  try {
    const start = (callback: (error: Error | undefined, channel: ClientChannel) => void) => client.exec(command, callback);
    running = await openChannel(start, options, killRemote, (channel) => ({ done: runOnChannel(channel, target, options) }));
  } catch (error) {
    if (signal.aborted) throw error;
    throw options.isConnectionAlive() ? execFailed(error as Error, target) : connectionLostError(target, 'the command');
  }
  return running.done;
}

/** Collects the command's output on its open channel; attaches every listener synchronously. */
function runOnChannel(channel: ClientChannel, target: SshTarget, options: RunOptions): Promise<ExecResult> {
  const { client, signal } = options;
  return new Promise((resolve, reject) => {
    let settled = false;
    let connectionLost = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      client.removeListener('close', onConnectionGone);
      client.removeListener('end', onConnectionGone);
      outcome();
    };
    const onAbort = () =>
      settle(() => {
        killRemote(channel);
        reject(signal.reason);
      });
    // ssh2 reports the end of the connection before it closes the channels riding on it.
    const onConnectionGone = () => {
      connectionLost = true;
    };
    collect(channel, options, (result, exited) => {
      if (!exited && connectionLost) settle(() => reject(connectionLostError(target, 'the command')));
      else settle(() => resolve(result));
    });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    client.once('close', onConnectionGone);
    client.once('end', onConnectionGone);
  });
}

function collect(
  channel: ClientChannel,
  options: Pick<RunOptions, 'stdin' | 'maxOutputBytes'>,
  done: (result: ExecResult, exited: boolean) => void,
): void {
  const stdout = new CappedOutput(options.maxOutputBytes);
  const stderr = new CappedOutput(options.maxOutputBytes);
  let exitCode: number | null = null;
  let exitSignal: string | null = null;
  let exited = false;
  channel.on('data', (chunk: Buffer) => stdout.push(chunk));
  channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  // ssh2: ('exit', code) for exit-status, ('exit', null, 'KILL', ...) for exit-signal.
  channel.on('exit', (code: number | null, signalName?: string) => {
    exited = true;
    exitCode = typeof code === 'number' ? code : null;
    exitSignal = signalName ? (signalName.startsWith('SIG') ? signalName : `SIG${signalName}`) : null;
  });
  // Stream errors (e.g. writing stdin to a command that already exited) are not the command's result.
  channel.on('error', () => undefined);
  channel.on('close', () =>
    done(
      {
        stdout: stdout.text(),
        stderr: stderr.text(),
        exitCode,
        signal: exitSignal,
        stdoutTruncated: stdout.truncated,
        stderrTruncated: stderr.truncated,
      },
      exited,
    ),
  );
  // Always end stdin so commands that read it (cat, bash -s) see EOF instead of waiting forever.
  if (options.stdin === undefined) channel.end();
  else channel.end(options.stdin);
}

/** The parts of ssh2's channel internals needed to signal after stdin was closed. */
interface ChannelInternals {
  outgoing?: { id?: number; state?: string };
  _client?: { _protocol?: { signal?: (id: number, name: string) => void } };
}

/**
 * SIGKILLs the remote process group (OpenSSH handles `signal` requests with killpg) and closes
 * the channel. ssh2's channel.signal() is a no-op once stdin has been ended, which we always do,
 * so the request goes through the protocol object directly; SSH allows requests after EOF.
 */
export function killRemote(channel: ClientChannel | undefined): void {
  if (!channel) return;
  const internals = channel as unknown as ChannelInternals;
  const { outgoing } = internals;
  const protocol = internals._client?._protocol;
  try {
    if (outgoing?.id !== undefined && (outgoing.state === 'open' || outgoing.state === 'eof') && protocol?.signal) {
      protocol.signal(outgoing.id, 'KILL');
    } else {
      channel.signal('KILL');
    }
  } catch {
    // The channel may already be closing; the disconnect that follows ends the session anyway.
  }
  channel.close();
}

function execFailed(error: Error, target: SshTarget): InfrastructureError {
  return new InfrastructureError(
    'ssh_exec_failed',
    `Could not start a command on ${where(target)}: ${safeMessage(error.message, target)}`,
    {
      retryable: true,
      details: { host: target.host, port: target.port },
    },
  );
}
