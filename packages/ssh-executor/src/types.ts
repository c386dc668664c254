/** Where and as whom to connect. Instances are created by the provisioner; nothing here reads env. */
export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** OpenSSH/PEM private key text. Never appears in error messages. */
  privateKey: string | Buffer;
  passphrase?: string;
  /**
   * Pinned host key: SHA-256 of the key as base64 (with or without the `SHA256:` prefix and `=`
   * padding). When set, a server presenting any other key is refused with 'host_key_mismatch'.
   */
  hostKeyFingerprint?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** null when the command ended by a signal (or the server reported no status). */
  exitCode: number | null;
  /** Signal that ended the command, Node style ('SIGKILL'), else null. */
  signal: string | null;
  /** True when stdout went past maxOutputBytes and the rest was dropped. */
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

export interface ExecOptions {
  /** Whole call, connection included; defaults to the executor's commandTimeoutMs (30 s). */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed (always closed, so `cat` cannot hang). */
  stdin?: string | Buffer;
  /** Per stream; defaults to 1 MiB. */
  maxOutputBytes?: number;
  signal?: AbortSignal;
  /** What the session is for (`stage-in:start`), for `onSession`; never sent to the host. */
  label?: string;
}

export interface UploadOptions {
  /** Whole call, connection included; defaults to uploadBaseTimeoutMs plus time per byte at uploadMinBytesPerSecond. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** What the session is for, for `onSession`; never sent to the host. */
  label?: string;
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
