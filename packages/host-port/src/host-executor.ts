/**
 * The one way stage code talks to a job's host, whatever the host is: an SSH executor for cloud
 * instances (@inno-train/ssh-executor), a local executor for the local provider's folders
 * (@inno-train/local-provider). Apps depend on this interface, never on an implementation.
 */

/** Where and as whom to connect. Instances are created by the provisioner; nothing here reads env. */
export interface HostTarget {
  host: string;
  port: number;
  username: string;
  /** OpenSSH/PEM private key text. Never appears in error messages. */
  privateKey: string | Buffer;
  passphrase?: string;
  /**
   * Pinned host key: SHA-256 of the key as base64 (with or without the `SHA256:` prefix and `=`
   * padding). Pinned at the first connection: a host presenting another key is refused
   * (`host_key_mismatch`).
   */
  hostKeyFingerprint?: string;
}

export interface ExecOptions {
  /** Whole call, connection included; the executor's default when absent (30 s: commands here are short). */
  timeoutMs?: number;
  /** What the session is for (`stage-in:start`), for accounting; never sent to the host. */
  label?: string;
  /** Per stream; defaults to 1 MiB. */
  maxOutputBytes?: number;
  /** Written to the command's stdin, which is then closed (always closed, so `cat` cannot hang). */
  stdin?: string | Buffer;
}

export interface UploadOptions {
  /** Whole call, connection included; the executor's default (a base plus time per byte) when absent. */
  timeoutMs?: number;
  /** What the session is for, for accounting; never sent to the host. */
  label?: string;
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

/** Where a streamed command's output goes, as it arrives. */
export interface StreamHandlers {
  onStdout(chunk: Buffer): void;
  onStderr?(chunk: Buffer): void;
}

export interface StreamOptions {
  /** What the session is for (`train:tail`), for accounting; never sent to the host. */
  label?: string;
  /** Ends the command (its channel only) and rejects with the signal's reason. */
  signal: AbortSignal;
}

export interface StreamResult {
  /** null when the command ended by a signal (or the server reported no status). */
  exitCode: number | null;
}

export interface HostExecutor {
  /** Runs `command` through the host user's shell (`$SHELL -c`, bash on our hosts); quote data with shellQuote. */
  exec(target: HostTarget, command: string, options?: ExecOptions): Promise<ExecResult>;
  /**
   * Writes `content` to `remotePath` (relative to the login directory, or absolute) atomically:
   * temp file + rename. The directory must exist. `mode` defaults to 0o644.
   */
  upload(target: HostTarget, remotePath: string, content: string | Buffer, mode?: number, options?: UploadOptions): Promise<void>;
  /** True when the host answers and runs a command within `timeoutMs`; false for any host failure. */
  probe(target: HostTarget, timeoutMs: number): Promise<boolean>;
  /**
   * Runs a long-lived `command` and hands its output over as it comes (no overall limit: the caller
   * aborts it, and a host that dies or goes silent ends it as it ends every call). Optional: an
   * executor without it cannot tail, and callers fall back to polling.
   */
  stream?(target: HostTarget, command: string, handlers: StreamHandlers, options: StreamOptions): Promise<StreamResult>;
  /** The host key the last connection to this address presented (SSH only), for pinning. */
  hostKeyFingerprint?(target: Pick<HostTarget, 'host' | 'port'>): string | undefined;
}
