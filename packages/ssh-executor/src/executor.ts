/**
 * The one way the orchestrator talks to GPU hosts. Calls share one SSH connection per host (and
 * user, key and pinned host key), each on its own channel: a job makes ~16 calls, and a new TCP +
 * SSH handshake + login for each cost 0.3-0.5 s and one sshd login apiece (issue 16). Sharing is
 * safe because a connection leaves the pool the moment it ends, errs or misses its keepalives
 * (pool.ts), so a stale socket is never handed out twice.
 *
 * Every call still settles within seconds of its host dying or going silent: the connection's end,
 * reset or unanswered keepalives end every call riding on it (watchConnection), and each call's
 * own limit (connect, waiting for a channel and the work itself) fits its work. A call whose
 * channel never opened because its pooled connection turned out dead (sshd restarted, host
 * rebooted) runs once more on a fresh connection; one that may have reached the host never does,
 * since running a command twice is worse than failing it.
 *
 * Calls beyond maxChannelsPerConnection wait for a channel rather than open a second connection
 * (pool.ts says why). Apps call close() at shutdown: the pool's own timers are unref'd, but ssh2
 * keeps an open connection's socket and keepalive timer referenced, so an idle connection would
 * otherwise hold the process for up to idleCloseMs.
 */
import { InfrastructureError } from '@inno-train/core';
import type { ExecResult, HostExecutor, StreamHandlers, StreamResult } from '@inno-train/host-port';
import type { ChannelRun } from './channel';
import { Deadline, parsedKeyOf, watchConnection } from './connection';
import { connectionLostError, executorClosedError, isUnsent, markUnsent, timeoutError } from './errors';
import { normalizeFingerprint } from './fingerprint';
import { ConnectionPool } from './pool';
import { runCommand } from './run-command';
import { streamCommand } from './stream-command';
import { atomicUpload } from './upload';
import type { SshExecOptions, SshExecutorOptions, SshSessionRecord, SshStreamOptions, SshTarget, SshUploadOptions } from './types';

const DEFAULTS = {
  readyTimeoutMs: 15_000,
  commandTimeoutMs: 30_000,
  uploadBaseTimeoutMs: 15_000,
  // 2 Mbit/s: far below any cloud host's link, so only a stalled transfer reaches the limit.
  uploadMinBytesPerSecond: 256 * 1024,
  keepaliveIntervalMs: 5_000,
  keepaliveCountMax: 3,
  idleCloseMs: 60_000,
  // OpenSSH's MaxSessions defaults to 10; a margin for channels still closing after an abort.
  maxChannelsPerConnection: 8,
  maxOutputBytes: 1024 * 1024,
  uploadMode: 0o644,
};

export class SshExecutor implements HostExecutor {
  private readonly settings: Required<Omit<SshExecutorOptions, 'onSession' | 'onConnection'>>;
  private readonly onSession: SshExecutorOptions['onSession'];
  private readonly seenHostKeys = new Map<string, string>();
  private readonly pool: ConnectionPool;

  constructor(options: SshExecutorOptions = {}) {
    this.settings = {
      readyTimeoutMs: options.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs,
      commandTimeoutMs: options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs,
      uploadBaseTimeoutMs: options.uploadBaseTimeoutMs ?? DEFAULTS.uploadBaseTimeoutMs,
      uploadMinBytesPerSecond: options.uploadMinBytesPerSecond ?? DEFAULTS.uploadMinBytesPerSecond,
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? DEFAULTS.keepaliveIntervalMs,
      keepaliveCountMax: options.keepaliveCountMax ?? DEFAULTS.keepaliveCountMax,
      idleCloseMs: options.idleCloseMs ?? DEFAULTS.idleCloseMs,
      maxChannelsPerConnection: options.maxChannelsPerConnection ?? DEFAULTS.maxChannelsPerConnection,
    };
    if (!Number.isInteger(this.settings.maxChannelsPerConnection) || this.settings.maxChannelsPerConnection < 1)
      throw new TypeError('maxChannelsPerConnection must be a positive integer');
    if (!Number.isFinite(this.settings.idleCloseMs) || this.settings.idleCloseMs <= 0)
      throw new TypeError('idleCloseMs must be a positive number of milliseconds');
    this.onSession = options.onSession;
    this.pool = new ConnectionPool({
      ...this.settings,
      onHostKey: (target, fingerprint) => this.seenHostKeys.set(hostKey(target), normalizeFingerprint(fingerprint)),
      onConnection: options.onConnection,
    });
  }

  /**
   * Parses (and decrypts) a private key now, at start-up, rather than inside the first call that
   * uses it: an encrypted OpenSSH key costs ~0.3-0.6 s of CPU (bcrypt KDF, in JavaScript), which
   * the first stage of the first job would otherwise wait for. False for an unusable key; the
   * first call that uses it then fails with its typed error, as without this.
   */
  preloadKey(key: Pick<SshTarget, 'privateKey' | 'passphrase'>): boolean {
    try {
      parsedKeyOf(key);
      return true;
    } catch {
      return false;
    }
  }

  /** Closes every pooled connection; calls still running on them fail with ssh_connection_lost. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** Runs `command` through the user's login shell (`$SHELL -c`); quote data with shellQuote. */
  async exec(target: SshTarget, command: string, options: SshExecOptions = {}): Promise<ExecResult> {
    const maxOutputBytes = options.maxOutputBytes ?? DEFAULTS.maxOutputBytes;
    if (!Number.isInteger(maxOutputBytes) || maxOutputBytes < 0) throw new TypeError('maxOutputBytes must be a non-negative integer');
    const timeoutMs = options.timeoutMs ?? this.settings.commandTimeoutMs;
    const deadline = this.deadline(target, timeoutMs, 'Command', options.signal);
    return this.withChannel(target, { what: 'Command', kind: 'exec', label: options.label }, deadline, (run) =>
      runCommand(target, command, { ...run, stdin: options.stdin, maxOutputBytes }),
    );
  }

  /** Writes `content` to `remotePath` atomically (temp file + rename). The directory must exist. */
  async upload(
    target: SshTarget,
    remotePath: string,
    content: string | Buffer,
    mode: number = DEFAULTS.uploadMode,
    options: SshUploadOptions = {},
  ): Promise<void> {
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)
      throw new TypeError(`mode must be a permission number like 0o644, got ${mode}`);
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const timeoutMs = options.timeoutMs ?? this.uploadTimeoutMs(bytes.length);
    const deadline = this.deadline(target, timeoutMs, 'Upload', options.signal);
    return this.withChannel(target, { what: 'Upload', kind: 'upload', label: options.label }, deadline, (run) =>
      atomicUpload(target, remotePath, bytes, mode, run),
    );
  }

  /**
   * Runs a long-lived `command` on its own channel of the shared connection and hands its output to
   * `handlers` as it arrives. Getting the channel open has the command limit (commandTimeoutMs);
   * once open, only `options.signal` (which closes this channel alone) or the connection's end ends
   * it: a host that dies or stops answering keepalives fails it within seconds, as it does every
   * call. It holds one of the connection's channels for as long as it runs.
   */
  async stream(target: SshTarget, command: string, handlers: StreamHandlers, options: SshStreamOptions): Promise<StreamResult> {
    const limit = this.settings.commandTimeoutMs;
    const deadline = this.deadline(target, limit, 'Stream', options.signal);
    return this.withChannel(target, { what: 'Stream', kind: 'stream', label: options.label }, deadline, (run) =>
      streamCommand(target, command, { ...run, handlers, onOpen: () => deadline.disarm() }),
    );
  }

  /** The limit of an upload of `bytes` when the caller gives none: a base, plus time per byte. */
  uploadTimeoutMs(bytes: number): number {
    return Math.ceil(this.settings.uploadBaseTimeoutMs + (bytes / this.settings.uploadMinBytesPerSecond) * 1000);
  }

  /**
   * True when SSH answers, authenticates and `true` exits 0 within `timeoutMs`; false for any
   * connection, auth, host key or timeout failure. Only misuse (an unusable private key) throws.
   */
  async probe(target: SshTarget, timeoutMs: number): Promise<boolean> {
    try {
      const result = await this.exec(target, 'true', { timeoutMs, maxOutputBytes: 4096, label: 'probe' });
      return result.exitCode === 0;
    } catch (error) {
      if (error instanceof InfrastructureError) return false;
      throw error;
    }
  }

  /** The host key fingerprint last presented at host:port (unpadded base64 SHA-256), for pinning. */
  hostKeyFingerprint(target: Pick<SshTarget, 'host' | 'port'>): string | undefined {
    return this.seenHostKeys.get(hostKey(target));
  }

  /** Runs `work` on a channel of the target's pooled connection, once more on a fresh one if it never reached the host. */
  private deadline(target: SshTarget, limit: number, what: string, external: AbortSignal | undefined): Deadline {
    if (!Number.isFinite(limit) || limit <= 0) throw new TypeError(`timeoutMs must be a positive number, got ${limit}`);
    return new Deadline(limit, () => timeoutError(target, limit, what), external);
  }

  private async withChannel<T>(
    target: SshTarget,
    session: { what: string; kind: SshSessionRecord['kind']; label: string | undefined },
    deadline: Deadline,
    work: (run: ChannelRun) => Promise<T>,
  ): Promise<T> {
    const started = Date.now();
    let failure: unknown;
    try {
      try {
        return await this.attempt(target, session.what.toLowerCase(), deadline, work);
      } catch (error) {
        // Once only: a second dead connection in a row says the host, not the pool, is the problem.
        if (!isUnsent(error) || deadline.signal.aborted) throw error;
        return await this.attempt(target, session.what.toLowerCase(), deadline, work);
      }
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      deadline.dispose();
      this.report(target, session, started, failure);
    }
  }

  /**
   * One try on one connection. Its signal fires for the call's deadline or abort, and when this
   * connection is lost; the latter fails only this try, so a retry still has the call's own signal.
   */
  private async attempt<T>(target: SshTarget, what: string, deadline: Deadline, work: (run: ChannelRun) => Promise<T>): Promise<T> {
    const lease = await this.pool.acquire(target, deadline.signal);
    const controller = new AbortController();
    let lost: InfrastructureError | undefined;
    const onDeadline = () => controller.abort(deadline.signal.reason);
    if (deadline.signal.aborted) onDeadline();
    else deadline.signal.addEventListener('abort', onDeadline, { once: true });
    const unwatch = watchConnection(lease.client, target, what, (error) => {
      lost ??= error;
      if (!controller.signal.aborted) controller.abort(error);
    });
    const progress = { mayHaveStarted: false };
    try {
      if (!lease.isAlive()) throw connectionLostError(target, what);
      return await work({ client: lease.client, signal: controller.signal, progress, isConnectionAlive: lease.isAlive });
    } catch (error) {
      if (lease.closedByClose() && !deadline.signal.aborted) throw executorClosedError();
      // A connection that went silent is not retried: a new one to a hung host would hang too.
      const reason = lost ?? connectionLostError(target, what);
      if (!progress.mayHaveStarted && !lease.isAlive() && !deadline.signal.aborted && reason.code === 'ssh_connection_lost') {
        throw markUnsent(reason);
      }
      throw error;
    } finally {
      unwatch();
      deadline.signal.removeEventListener('abort', onDeadline);
      lease.release();
    }
  }

  private report(
    target: SshTarget,
    session: { kind: SshSessionRecord['kind']; label: string | undefined },
    started: number,
    failure: unknown,
  ): void {
    if (!this.onSession) return;
    const record: SshSessionRecord = {
      host: target.host,
      port: target.port,
      kind: session.kind,
      ms: Date.now() - started,
      ok: failure === undefined,
    };
    if (session.label) record.label = session.label;
    const code = (failure as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string') record.errorCode = code;
    try {
      this.onSession(record);
    } catch {
      // Accounting must never break a host call.
    }
  }
}

function hostKey(target: Pick<SshTarget, 'host' | 'port'>): string {
  return `${target.host}:${target.port}`;
}
