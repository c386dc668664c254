/** Running one long-lived command on a ready connection and handing its output over as it comes. */
import { InfrastructureError } from '@inno-train/core';
import type { StreamHandlers, StreamResult } from '@inno-train/host-port';
import type { ClientChannel } from 'ssh2';
import { openChannel, type ChannelRun } from './channel';
import { connectionLostError, safeMessage, where } from './errors';
import { killRemote } from './run-command';
import type { SshTarget } from './types';

export interface StreamRunOptions extends ChannelRun {
  handlers: StreamHandlers;
  /** Called once the channel is open: from then on the command may run for as long as it likes. */
  onOpen(): void;
}

/**
 * Resolves with the command's exit code once its channel closed. Rejects with the signal's reason
 * on abort (the caller's, or the loss of the connection), after SIGKILLing the remote process group
 * and closing this channel only: the shared connection carries on with the other calls. A
 * connection that ends under a command that never reported an exit status rejects as lost, so a
 * tail cut by a dead host is never mistaken for one that finished.
 */
export async function streamCommand(target: SshTarget, command: string, options: StreamRunOptions): Promise<StreamResult> {
  const { client, signal } = options;
  let running: { done: Promise<StreamResult> };
  try {
    const start = (callback: (error: Error | undefined, channel: ClientChannel) => void) => client.exec(command, callback);
    running = await openChannel(start, options, killRemote, (channel) => ({ done: streamOnChannel(channel, target, options) }));
  } catch (error) {
    if (signal.aborted) throw error;
    throw options.isConnectionAlive() ? streamFailed(error as Error, target) : connectionLostError(target, 'the stream');
  }
  return running.done;
}

/** Hands the channel's output over and settles on its close; attaches every listener synchronously. */
function streamOnChannel(channel: ClientChannel, target: SshTarget, options: StreamRunOptions): Promise<StreamResult> {
  const { client, signal, handlers } = options;
  options.onOpen();
  return new Promise((resolve, reject) => {
    let settled = false;
    let connectionLost = false;
    let exited = false;
    let exitCode: number | null = null;
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
    const onConnectionGone = () => {
      connectionLost = true;
    };
    // A handler that throws must not take the channel down unnoticed: it ends the stream as a failure.
    const deliver = (hand: () => void) => {
      if (settled) return;
      try {
        hand();
      } catch (error) {
        settle(() => {
          killRemote(channel);
          reject(error);
        });
      }
    };
    channel.on('data', (chunk: Buffer) => deliver(() => handlers.onStdout(chunk)));
    channel.stderr.on('data', (chunk: Buffer) => deliver(() => handlers.onStderr?.(chunk)));
    channel.on('exit', (code: number | null) => {
      exited = true;
      exitCode = typeof code === 'number' ? code : null;
    });
    channel.on('error', () => undefined);
    channel.on('close', () => {
      if (!exited && connectionLost) settle(() => reject(connectionLostError(target, 'the stream')));
      else settle(() => resolve({ exitCode }));
    });
    // The command reads nothing: end its stdin so it cannot wait for input.
    channel.end();
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    client.once('close', onConnectionGone);
    client.once('end', onConnectionGone);
  });
}

function streamFailed(error: Error, target: SshTarget): InfrastructureError {
  return new InfrastructureError('ssh_exec_failed', `Could not start a stream on ${where(target)}: ${safeMessage(error.message, target)}`, {
    retryable: true,
    details: { host: target.host, port: target.port },
  });
}
