/**
 * The one way the orchestrator talks to GPU hosts. Every call opens its own connection and closes
 * it before returning, on success, failure, timeout or abort alike: hosts come and go, and a
 * connection pool would only add stale sockets to reason about.
 *
 * Every call settles within seconds of its host dying or going silent: the connection's end,
 * reset or unanswered keepalives end the operation riding on it (watchConnection), and each call's
 * own limit fits its work (a short command: seconds; an upload: a base plus time per byte).
 */
import { InfrastructureError } from '@inno-train/core';
import type { ExecResult, HostExecutor } from '@inno-train/host-port';
import type { Client } from 'ssh2';
import { closeConnection, Deadline, openConnection, watchConnection } from './connection';
import { timeoutError } from './errors';
import { normalizeFingerprint } from './fingerprint';
import { runCommand } from './run-command';
import { atomicUpload } from './upload';
import type { SshExecOptions, SshExecutorOptions, SshSessionRecord, SshTarget, SshUploadOptions } from './types';

const DEFAULTS = {
  readyTimeoutMs: 15_000,
  commandTimeoutMs: 30_000,
  uploadBaseTimeoutMs: 15_000,
  // 2 Mbit/s: far below any cloud host's link, so only a stalled transfer reaches the limit.
  uploadMinBytesPerSecond: 256 * 1024,
  keepaliveIntervalMs: 5_000,
  keepaliveCountMax: 3,
  maxOutputBytes: 1024 * 1024,
  uploadMode: 0o644,
};

export class SshExecutor implements HostExecutor {
  private readonly settings: Required<Omit<SshExecutorOptions, 'onSession'>>;
  private readonly onSession: SshExecutorOptions['onSession'];
  private readonly seenHostKeys = new Map<string, string>();

  constructor(options: SshExecutorOptions = {}) {
    this.settings = {
      readyTimeoutMs: options.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs,
      commandTimeoutMs: options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs,
      uploadBaseTimeoutMs: options.uploadBaseTimeoutMs ?? DEFAULTS.uploadBaseTimeoutMs,
      uploadMinBytesPerSecond: options.uploadMinBytesPerSecond ?? DEFAULTS.uploadMinBytesPerSecond,
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? DEFAULTS.keepaliveIntervalMs,
      keepaliveCountMax: options.keepaliveCountMax ?? DEFAULTS.keepaliveCountMax,
    };
    this.onSession = options.onSession;
  }

  /** Runs `command` through the user's login shell (`$SHELL -c`); quote data with shellQuote. */
  async exec(target: SshTarget, command: string, options: SshExecOptions = {}): Promise<ExecResult> {
    const maxOutputBytes = options.maxOutputBytes ?? DEFAULTS.maxOutputBytes;
    if (!Number.isInteger(maxOutputBytes) || maxOutputBytes < 0) throw new TypeError('maxOutputBytes must be a non-negative integer');
    const timeoutMs = options.timeoutMs ?? this.settings.commandTimeoutMs;
    return this.withConnection(
      target,
      { what: 'Command', kind: 'exec', label: options.label },
      timeoutMs,
      options.signal,
      (client, signal) => runCommand(client, target, command, { stdin: options.stdin, maxOutputBytes, signal }),
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
    return this.withConnection(
      target,
      { what: 'Upload', kind: 'upload', label: options.label },
      timeoutMs,
      options.signal,
      (client, signal) => untilAborted(atomicUpload(client, target, remotePath, bytes, mode), signal),
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

  private async withConnection<T>(
    target: SshTarget,
    session: { what: string; kind: SshSessionRecord['kind']; label: string | undefined },
    limit: number,
    external: AbortSignal | undefined,
    work: (client: Client, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (!Number.isFinite(limit) || limit <= 0) throw new TypeError(`timeoutMs must be a positive number, got ${limit}`);
    const deadline = new Deadline(limit, () => timeoutError(target, limit, session.what), external);
    const started = Date.now();
    let client: Client | undefined;
    let failure: unknown;
    try {
      client = await openConnection(target, {
        readyTimeoutMs: Math.min(this.settings.readyTimeoutMs, deadline.remainingMs()),
        keepaliveIntervalMs: this.settings.keepaliveIntervalMs,
        keepaliveCountMax: this.settings.keepaliveCountMax,
        signal: deadline.signal,
        onHostKey: (fingerprint) => this.seenHostKeys.set(hostKey(target), normalizeFingerprint(fingerprint)),
      });
      const unwatch = watchConnection(client, target, session.what.toLowerCase(), (lost) => deadline.abort(lost));
      try {
        return await work(client, deadline.signal);
      } finally {
        unwatch();
      }
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      deadline.dispose();
      if (client) closeConnection(client);
      this.report(target, session, started, failure);
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

/** Rejects with the signal's reason as soon as it fires; the caller then closes the connection. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  // The losing work promise may still reject later (its connection is closed under it).
  work.catch(() => undefined);
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}
