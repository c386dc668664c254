/**
 * SFTP upload that never leaves a half-written file at the destination: the bytes go to a hidden
 * temporary file in the same directory, are flushed to disk, and the file is then renamed over the
 * destination (posix-rename, atomic on the same filesystem).
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { InfrastructureError } from '@inno-train/core';
import type { SFTPWrapper } from 'ssh2';
import { openChannel, type ChannelRun } from './channel';
import { untilAborted } from './connection';
import { connectionLostError, safeMessage, where } from './errors';
import type { SshTarget } from './types';

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that retrying cannot fix. */
const SFTP_NO_SUCH_FILE = 2;
const SFTP_PERMISSION_DENIED = 3;

/**
 * Rejects with the signal's reason as soon as it fires, and then ends the SFTP channel (only it:
 * the connection is shared). ssh2 leaves SFTP requests pending for ever when their connection
 * closes, so the signal, not the SFTP callbacks, is what settles an upload on a dead host.
 */
export async function atomicUpload(target: SshTarget, remotePath: string, content: Buffer, mode: number, run: ChannelRun): Promise<void> {
  if (!remotePath || remotePath.endsWith('/')) throw new TypeError(`Upload needs a file path, got ${JSON.stringify(remotePath)}`);
  const temp = posix.join(posix.dirname(remotePath), `.${posix.basename(remotePath)}.upload-${randomBytes(6).toString('hex')}`);
  const end = (session: SFTPWrapper) => session.end();
  const start = (callback: (error: Error | undefined, session: SFTPWrapper) => void) => run.client.sftp(callback);
  const sftp = await openChannel(start, run, end, (session) => session).catch((error: unknown) => {
    if (run.signal.aborted) throw error;
    throw run.isConnectionAlive() ? uploadError(error, target, remotePath, 'open an SFTP session') : connectionLostError(target, 'upload');
  });
  const endSftp = () => sftp.end();
  run.signal.addEventListener('abort', endSftp, { once: true });
  try {
    await untilAborted(writeAndReplace(sftp, target, remotePath, temp, content, mode), run.signal);
  } finally {
    run.signal.removeEventListener('abort', endSftp);
    sftp.end();
  }
}

async function writeAndReplace(sftp: SFTPWrapper, target: SshTarget, remotePath: string, temp: string, content: Buffer, mode: number) {
  await writeTemp(sftp, temp, content, mode).catch(async (error: unknown) => {
    await call<void>((cb) => sftp.unlink(temp, cb)).catch(() => undefined);
    throw uploadError(error, target, remotePath, `write ${temp}`);
  });
  await replace(sftp, temp, remotePath).catch(async (error: unknown) => {
    await call<void>((cb) => sftp.unlink(temp, cb)).catch(() => undefined);
    throw uploadError(error, target, remotePath, `rename ${temp} to ${remotePath}`);
  });
}

async function writeTemp(sftp: SFTPWrapper, temp: string, content: Buffer, mode: number): Promise<void> {
  // 'wx': never write through a file someone else created under our temporary name.
  const handle = await call<Buffer>((cb) => sftp.open(temp, 'wx', { mode: 0o600 }, cb));
  try {
    await call<void>((cb) => sftp.write(handle, content, 0, content.length, 0, (err) => cb(err)));
    await extension((cb) => sftp.ext_openssh_fsync(handle, cb));
    // Explicit chmod: the mode given at open is reduced by sftp-server's umask.
    await call<void>((cb) => sftp.fchmod(handle, mode, cb));
  } finally {
    await call<void>((cb) => sftp.close(handle, cb)).catch(() => undefined);
  }
}

async function replace(sftp: SFTPWrapper, temp: string, remotePath: string): Promise<void> {
  if (await extension((cb) => sftp.ext_openssh_rename(temp, remotePath, cb))) return;
  // Plain SFTP rename refuses to overwrite; without posix-rename the swap cannot be atomic.
  await call<void>((cb) => sftp.unlink(remotePath, cb)).catch(() => undefined);
  await call<void>((cb) => sftp.rename(temp, remotePath, cb));
}

/** Runs an OpenSSH SFTP extension; false when the server lacks it (ssh2 then throws synchronously). */
function extension(start: (cb: (err: Error | null | undefined) => void) => void): Promise<boolean> {
  return new Promise((resolve, reject) => {
    try {
      start((err) => (err ? reject(err) : resolve(true)));
    } catch {
      resolve(false);
    }
  });
}

function call<T>(start: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start((err, value) => (err ? reject(err) : resolve(value as T)));
  });
}

function uploadError(error: unknown, target: SshTarget, remotePath: string, step: string): InfrastructureError {
  if (error instanceof InfrastructureError) return error;
  const err = error as { message?: string; code?: unknown };
  const status = typeof err.code === 'number' ? err.code : undefined;
  return new InfrastructureError(
    'ssh_upload_failed',
    `Upload of ${remotePath} to ${where(target)} failed (${step}): ${safeMessage(String(err.message ?? error), target)}`,
    {
      retryable: status !== SFTP_NO_SUCH_FILE && status !== SFTP_PERMISSION_DENIED,
      details: { host: target.host, port: target.port, remotePath, sftpStatus: status },
    },
  );
}
