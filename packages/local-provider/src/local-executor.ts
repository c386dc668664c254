import { spawn } from 'node:child_process';
import { chmod, mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { InfrastructureError, InnoError } from '@inno-train/core';
import type { ExecOptions, ExecResult, HostExecutor, HostTarget, StreamHandlers, StreamOptions, StreamResult } from '@inno-train/host-port';

/**
 * Runs the stages' host commands on this machine, in the instance's home directory, through
 * `bash -c` exactly as sshd would. The environment is built from scratch: the service's own
 * variables (API keys, S3 secrets) never reach the "host". Of a target only `host` matters (it
 * names the instance); login, port and key are the SSH executor's business.
 */
export class LocalExecutor implements HostExecutor {
  constructor(
    private readonly homeOf: (host: string) => string | null,
    /** PATH, USER and LANG for host commands; nothing else of the service's environment. */
    private readonly baseEnv: { PATH: string; USER: string; LANG: string },
  ) {}

  async exec(target: Pick<HostTarget, 'host'>, command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const home = this.requireHome(target);
    const max = options.maxOutputBytes ?? 1024 * 1024;
    // Host commands are short, as over SSH: none may run unbounded.
    const timeoutMs = options.timeoutMs ?? 30_000;
    return new Promise((resolvePromise, reject) => {
      let timedOut = false;
      const how = { cwd: home, env: { ...this.baseEnv, HOME: home, SHELL: '/bin/bash' } };
      // stdin as over SSH: the given bytes then end-of-file; without any, /dev/null.
      const { stdin } = options;
      const child =
        stdin === undefined
          ? spawn('bash', ['-c', command], { ...how, stdio: ['ignore', 'pipe', 'pipe'] })
          : spawn('bash', ['-c', command], { ...how, stdio: ['pipe', 'pipe', 'pipe'] });
      if (stdin !== undefined && child.stdin) {
        // A command that exits without reading its input is not a failure (EPIPE).
        child.stdin.on('error', () => undefined);
        child.stdin.end(stdin);
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let errBytes = 0;
      let outKept = 0;
      let errKept = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        if (outBytes < max) {
          out.push(chunk);
          outKept += chunk.length;
        }
        outBytes += chunk.length;
      });
      child.stderr.on('data', (chunk: Buffer) => {
        if (errBytes < max) {
          err.push(chunk);
          errKept += chunk.length;
        }
        errBytes += chunk.length;
      });
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(
          new InfrastructureError('ssh_exec_failed', `Could not run a command on ${target.host}: ${error.message}`, { retryable: true }),
        );
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut) {
          reject(new InfrastructureError('ssh_timeout', `Command on ${target.host} timed out after ${timeoutMs} ms`, { retryable: true }));
          return;
        }
        resolvePromise({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          exitCode: code,
          signal,
          stdoutTruncated: outBytes > outKept,
          stderrTruncated: errBytes > errKept,
        });
      });
    });
  }

  /**
   * Runs a long-lived command and hands its output over as it comes, as the SSH executor does. It
   * leads a process group of its own, so an abort kills the command and whatever it started (sshd
   * signals the session's group the same way).
   */
  async stream(target: Pick<HostTarget, 'host'>, command: string, handlers: StreamHandlers, options: StreamOptions): Promise<StreamResult> {
    const home = this.requireHome(target);
    const { signal } = options;
    if (signal.aborted) throw signal.reason;
    return new Promise((resolvePromise, reject) => {
      const child = spawn('bash', ['-c', command], {
        cwd: home,
        env: { ...this.baseEnv, HOME: home, SHELL: '/bin/bash' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let failure: unknown;
      const stop = (reason: unknown) => {
        failure ??= reason;
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      };
      const onAbort = () => stop(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      const deliver = (hand: () => void) => {
        if (failure !== undefined) return;
        try {
          hand();
        } catch (error) {
          stop(error);
        }
      };
      child.stdout.on('data', (chunk: Buffer) => deliver(() => handlers.onStdout(chunk)));
      child.stderr.on('data', (chunk: Buffer) => deliver(() => handlers.onStderr?.(chunk)));
      child.once('error', (error) =>
        stop(
          new InfrastructureError('ssh_exec_failed', `Could not run a command on ${target.host}: ${error.message}`, { retryable: true }),
        ),
      );
      child.once('close', (code) => {
        signal.removeEventListener('abort', onAbort);
        if (failure !== undefined) reject(failure);
        else resolvePromise({ exitCode: code });
      });
    });
  }

  /** Writes a file under the instance's home atomically (temp file + rename), like the SFTP upload. */
  async upload(target: Pick<HostTarget, 'host'>, remotePath: string, content: string | Buffer, mode = 0o644): Promise<void> {
    const home = this.requireHome(target);
    const path = resolve(home, remotePath);
    if (relative(home, path).startsWith('..') || !path.startsWith(home + sep)) {
      throw new InnoError('ssh_upload_failed', `Refusing to write outside the instance's home: ${remotePath}`);
    }
    const temp = join(dirname(path), `.${randomBytes(6).toString('hex')}.upload`);
    await writeFile(temp, content, { mode });
    await chmod(temp, mode);
    await rename(temp, path);
  }

  async probe(target: Pick<HostTarget, 'host'>): Promise<boolean> {
    const home = this.homeOf(target.host);
    return (
      home !== null &&
      (await stat(home).then(
        (s) => s.isDirectory(),
        () => false,
      ))
    );
  }

  private requireHome(target: Pick<HostTarget, 'host'>): string {
    const home = this.homeOf(target.host);
    if (!home)
      throw new InfrastructureError('ssh_unreachable', `Local instance ${target.host} does not exist (terminated?)`, {
        retryable: true,
        details: { code: 'host_gone' },
      });
    return home;
  }
}

export async function ensureDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
}
