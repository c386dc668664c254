/**
 * The errors the client throws. Every one is an `InnoTrainError` with a stable `code` to switch on:
 * the API's own codes (`ApiErrorCode`: `job_not_found`, `rate_limited`, ...) when it answered, or one
 * of the client's when it could not get a usable answer. Messages quote the method, the path, the
 * status and the request id, never a header: the API key cannot end up in a log through them.
 */
import type { ApiErrorCode } from '@inno-train/schemas';

/** Codes the client makes itself; `http_<status>` is an error answer that is not the API's JSON (a proxy's page). */
export type ClientErrorCode = 'connection_failed' | 'invalid_response' | 'wait_timeout' | `http_${number}`;

export type InnoTrainErrorCode = ApiErrorCode | ClientErrorCode;

/** One offending field of a refused request (the API's `error.details`). */
export interface ErrorDetail {
  path: string;
  message: string;
}

export interface InnoTrainErrorFields {
  code: InnoTrainErrorCode;
  message: string;
  /** The HTTP status, or null when no answer came at all. */
  status: number | null;
  /** The answer's X-Request-Id (or error.requestId): quote it when reporting a problem. */
  requestId?: string | null;
  details?: ErrorDetail[];
  /** What the answer's Retry-After asked for, in milliseconds. */
  retryAfterMs?: number | null;
  /** How many tries the call made before giving up. */
  attempts?: number;
  cause?: unknown;
}

export class InnoTrainError extends Error {
  readonly code: InnoTrainErrorCode;
  readonly status: number | null;
  readonly requestId: string | null;
  readonly details: ErrorDetail[] | undefined;
  readonly retryAfterMs: number | null;
  readonly attempts: number;

  constructor(fields: InnoTrainErrorFields) {
    super(fields.message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = 'InnoTrainError';
    this.code = fields.code;
    this.status = fields.status;
    this.requestId = fields.requestId ?? null;
    this.details = fields.details;
    this.retryAfterMs = fields.retryAfterMs ?? null;
    this.attempts = fields.attempts ?? 1;
  }
}

/**
 * No answer came (refused, reset, timed out, or cut off while the body was read). For `jobs.create`
 * this does not mean no job was made: retrying with the same `idempotencyKey` finds out safely.
 */
export class InnoTrainConnectionError extends InnoTrainError {
  constructor(message: string, attempts: number, cause: unknown) {
    super({ code: 'connection_failed', message, status: null, attempts, cause });
    this.name = 'InnoTrainConnectionError';
  }
}

/** `waitUntilSettled` ran out of time; `job` is the last state it saw (still billing, perhaps). */
export class InnoTrainWaitTimeoutError<Job> extends InnoTrainError {
  constructor(
    readonly job: Job,
    message: string,
  ) {
    super({ code: 'wait_timeout', message, status: null });
    this.name = 'InnoTrainWaitTimeoutError';
  }
}

/** A short, single-line description of whatever a failed fetch threw (undici hides the reason in `cause`). */
export function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  const reason = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : null;
  return reason ? `${error.message}: ${reason}` : error.message;
}
