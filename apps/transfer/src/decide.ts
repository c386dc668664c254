/**
 * What a transfer stage does with what it saw of its detached script on the host: pure functions
 * of the observation and the step state, table-tested without Redis, SSH or S3. The stage observes,
 * one of these decides, and the stage (through the workflow's executor) acts.
 */
import type { JobErrorCode, StepState } from '@inno-train/workflow-constants';

/**
 * What a transfer script reports when it ends. The host protocol parses it (its stage-in and
 * stage-out result schemas); both results fit this shape.
 */
export interface TransferStatus {
  ok: boolean;
  failed?: { path: string; reason: string; kind?: 'transfer' | 'verify' | 'local' | undefined }[];
  bytes?: number;
  /** Stage-in: files checked against S3's published checksum. */
  verified?: number | undefined;
  /** Stage-out: parts an earlier run sent (its journal), not sent again. */
  reused?: number | undefined;
  retries?: number | undefined;
  /** The engine's start and end, ms since the epoch by the host's clock. */
  startedAt?: number | undefined;
  finishedAt?: number | undefined;
  parts?: Record<string, { partNumber: number; etag: string }[]>;
}

/** A transfer task as a check of the host saw it (host-status.ts maps the protocol's answer onto this). */
export type DetachedState<T> = { state: 'running' } | { state: 'not_running' } | { state: 'done'; status: T };

type TransferStep = StepState<'staging_in'> | StepState<'staging_out'>;

/** Starts again allowed after a transfer script stopped without a result (host reboot, OOM). */
export const MAX_TRANSFER_RESTARTS = 3;

export type TransferDecision<S extends TransferStep> =
  /** Still running: look again later. */
  | { kind: 'wait'; delayMs: number; step: S }
  /** The script stopped without a result (host reboot, OOM): start it again. */
  | { kind: 'restart'; step: S }
  /** The script ended well: the stage finishes (advance, or complete the uploads first). */
  | { kind: 'finished'; status: TransferStatus }
  | { kind: 'fail'; code: JobErrorCode; message: string };

export interface TransferCheck<S extends TransferStep> {
  state: DetachedState<TransferStatus>;
  step: S;
  now: number;
  /** The stage's deadline, from the script's start. */
  deadlineMs: number;
  pollMs: number;
  /** Starts again allowed after the script stopped without a result. */
  maxRestarts: number;
  /** What moves, for messages, and the code for a transfer that reported failures. */
  what: {
    noun: 'inputs' | 'outputs';
    failedCode: 'input_transfer_failed' | 'input_verification_failed' | 'output_transfer_failed';
    failedMessage: string;
    failedSuffix?: string;
  };
}

export function decideTransferCheck<S extends TransferStep>(check: TransferCheck<S>): TransferDecision<S> {
  const { state, step } = check;
  if (state.state === 'running') {
    const elapsed = check.now - (step.startedAt ?? check.now);
    if (elapsed > check.deadlineMs) {
      const verb = check.what.noun === 'inputs' ? 'Fetching inputs' : 'Uploading outputs';
      return { kind: 'fail', code: 'transfer_timeout', message: `${verb} took longer than ${Math.round(check.deadlineMs / 1000)} s` };
    }
    return { kind: 'wait', delayMs: check.pollMs, step };
  }
  if (state.state === 'not_running') {
    const restarts = (step.restarts ?? 0) + 1;
    if (restarts > check.maxRestarts) {
      return {
        kind: 'fail',
        code: check.what.failedCode,
        message: `The ${check.what.noun} script stopped without a result ${restarts} times`,
      };
    }
    return { kind: 'restart', step: { ...step, restarts } };
  }
  if (!state.status.ok) {
    const failed = (state.status.failed ?? []).map((f) => `${f.path} (${f.reason})`).join(', ');
    return {
      kind: 'fail',
      code: check.what.failedCode,
      message: `${check.what.failedMessage}: ${failed || 'unknown error'}${check.what.failedSuffix ?? ''}`,
    };
  }
  return { kind: 'finished', status: state.status };
}

/**
 * Stage-out's result with the training log's failure set aside: the log is uploaded with the
 * outputs, but a log that did not go up must never fail the job (the outputs matter more; the
 * stored copy in Redis still serves the log). Returns the result as if the log had not been in the
 * plan, and why the log failed (null: it did not).
 */
export function setAsideLogFailure(status: TransferStatus, logRelPath: string): { status: TransferStatus; logFailure: string | null } {
  const failed = status.failed ?? [];
  const logFailed = failed.find((failure) => failure.path === logRelPath);
  if (!logFailed) return { status, logFailure: null };
  const others = failed.filter((failure) => failure.path !== logRelPath);
  return { status: { ...status, ok: others.length === 0, failed: others }, logFailure: logFailed.reason };
}
