export { SshExecutor } from './executor';
export type {
  SshConnectionRecord,
  SshExecOptions,
  SshExecutorOptions,
  SshSessionRecord,
  SshStreamOptions,
  SshTarget,
  SshUploadOptions,
} from './types';
// The port's result type, so callers of exec need only this package (the port declares it once).
export type { ExecResult } from '@inno-train/host-port';
export { fingerprintOf, normalizeFingerprint, sameFingerprint } from './fingerprint';
// Re-exported so callers building commands need only this package; there is one quoting function.
export { shellQuote } from '@inno-train/core';
