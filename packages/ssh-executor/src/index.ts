export { SshExecutor } from './executor';
export type { ExecOptions, ExecResult, SshExecutorOptions, SshSessionRecord, SshTarget, UploadOptions } from './types';
export { fingerprintOf, normalizeFingerprint, sameFingerprint } from './fingerprint';
// Re-exported so callers building commands need only this package; there is one quoting function.
export { shellQuote } from '@inno-train/core';
