import { InnoError } from '@inno-train/core';

/** An error with the HTTP status and body the API answers with. */
export class HttpError extends InnoError {
  readonly status: number;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(code, message, { details });
    this.name = 'HttpError';
    this.status = status;
  }
}

/** Stable codes of domain errors, mapped to HTTP statuses. */
const STATUS_BY_CODE: Record<string, number> = {
  job_not_found: 404,
  invalid_s3_uri: 400,
  input_not_found: 400,
  invalid_request: 400,
  job_finished: 409,
};

/** Errors ioredis (and BullMQ through it) raise when Redis is down: the API answers 503 at once. */
export function isRedisUnavailable(error: unknown): boolean {
  const err = error as { name?: string; message?: string; code?: string };
  return (
    err?.name === 'MaxRetriesPerRequestError' ||
    /enableOfflineQueue|Connection is closed|Stream isn't writeable/.test(err?.message ?? '') ||
    ['ECONNREFUSED', 'ETIMEDOUT', 'ECONNRESET'].includes(err?.code ?? '')
  );
}

export function httpStatusOf(error: unknown): number {
  if (error instanceof HttpError) return error.status;
  if (isRedisUnavailable(error)) return 503;
  if (error instanceof InnoError) return STATUS_BY_CODE[error.code] ?? (error.retryable ? 503 : 500);
  return 500;
}
