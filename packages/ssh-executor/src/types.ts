import type { ExecOptions, HostTarget, StreamOptions, UploadOptions } from '@inno-train/host-port';

/** The host executor port's target: where and as whom to connect (one type, declared in @inno-train/host-port). */
export type SshTarget = HostTarget;

export interface SshExecOptions extends ExecOptions {
  /** Aborts the call (and closes its channel, not the shared connection); SSH only, the port does not carry it. */
  signal?: AbortSignal;
}

export interface SshUploadOptions extends UploadOptions {
  /** Aborts the call (and closes its channel, not the shared connection); SSH only, the port does not carry it. */
  signal?: AbortSignal;
}

/** A stream's options: the port's (its signal is required: a stream runs until aborted or ended). */
export type SshStreamOptions = StreamOptions;

/** One call (exec, upload, probe or stream) after it settled: what `onSession` is told. */
export interface SshSessionRecord {
  host: string;
  port: number;
  kind: 'exec' | 'upload' | 'stream';
  label?: string;
  ms: number;
  ok: boolean;
  /** The typed error's code when the call failed. */
  errorCode?: string;
}

export interface SshExecutorOptions {
  /** Limit for TCP connect + SSH handshake + auth (ssh2's readyTimeout); default 15 s. */
  readyTimeoutMs?: number;
  /** Limit of a command when the call gives no timeoutMs; default 30 s (commands here are short). */
  commandTimeoutMs?: number;
  /** Limit of an upload when the call gives none: this base (default 15 s)... */
  uploadBaseTimeoutMs?: number;
  /** ...plus the time to send its bytes at this rate (default 256 KiB/s). */
  uploadMinBytesPerSecond?: number;
  /**
   * SSH keepalives, so a host that stops answering mid-operation is noticed: the operation fails
   * after about interval x (countMax + 1) of silence; default 5 s, 3 misses (~20 s).
   */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /**
   * A pooled connection with no channel open for this long is closed; default 60 s.
   * @defaultValue 60_000
   */
  idleCloseMs?: number;
  /**
   * Channels (calls) open at once on one connection; calls beyond it wait for a free one within
   * their own timeout. Default 8, below OpenSSH's MaxSessions (10).
   * @defaultValue 8
   */
  maxChannelsPerConnection?: number;
  /** Told about every call after it settled (for accounting: logs, metrics); must not throw. */
  onSession?: (session: SshSessionRecord) => void;
  /** Told about every TCP + SSH login attempt (one per pooled connection), to count sshd logins; must not throw. */
  onConnection?: (connection: SshConnectionRecord) => void;
}

/** One TCP connect + SSH handshake + login attempt: what `onConnection` is told. */
export interface SshConnectionRecord {
  host: string;
  port: number;
  /** From the start of the connect until ready or failed. */
  ms: number;
  ok: boolean;
  /** The typed error's code when the attempt failed. */
  errorCode?: string;
}
