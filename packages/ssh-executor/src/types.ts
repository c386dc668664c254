import type { ExecOptions, HostTarget, UploadOptions } from '@inno-train/host-port';

/** The host executor port's target: where and as whom to connect (one type, declared in @inno-train/host-port). */
export type SshTarget = HostTarget;

export interface SshExecOptions extends ExecOptions {
  /** Aborts the call (and closes its connection); SSH only, the port does not carry it. */
  signal?: AbortSignal;
}

export interface SshUploadOptions extends UploadOptions {
  /** Aborts the call (and closes its connection); SSH only, the port does not carry it. */
  signal?: AbortSignal;
}

/** One SSH connection the executor opened and closed: what `onSession` is told. */
export interface SshSessionRecord {
  host: string;
  port: number;
  kind: 'exec' | 'upload';
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
  /** Told about every session after it closed (for accounting: logs, metrics); must not throw. */
  onSession?: (session: SshSessionRecord) => void;
}
