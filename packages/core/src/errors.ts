/**
 * Typed errors with stable codes. The `code` is what job records, events and API responses show;
 * `retryable` tells a stage whether trying the same step again can help.
 */
export interface InnoErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  details?: unknown;
}

export class InnoError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: unknown;

  constructor(code: string, message: string, options: InnoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'InnoError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

/** Configuration is missing or malformed: the process must stop at start. */
export class ConfigError extends InnoError {
  constructor(message: string, details?: unknown) {
    super('invalid_config', message, { details });
    this.name = 'ConfigError';
  }
}

/** Something outside our control (cloud API, network, host) failed. */
export class InfrastructureError extends InnoError {
  constructor(code: string, message: string, options: InnoErrorOptions = {}) {
    super(code, message, options);
    this.name = 'InfrastructureError';
  }
}

/** Moving bytes between S3 and a host failed. */
export class FileTransferError extends InnoError {
  constructor(code: string, message: string, options: InnoErrorOptions = {}) {
    super(code, message, options);
    this.name = 'FileTransferError';
  }
}

export class JobNotFoundError extends InnoError {
  constructor(jobId: string) {
    super('job_not_found', `Job ${jobId} does not exist`);
    this.name = 'JobNotFoundError';
  }
}

/** Turns any thrown value into an Error, so every catch site handles one shape. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  try {
    return new Error(JSON.stringify(value));
  } catch {
    return new Error(String(value));
  }
}

export function errorCode(value: unknown, fallback = 'internal_error'): string {
  return value instanceof InnoError ? value.code : fallback;
}
