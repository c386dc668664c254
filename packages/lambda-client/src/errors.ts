import { InfrastructureError, scrubSecrets } from '@inno-train/core';

/** The API's own codes that callers branch on (never on messages, which Lambda may reword). */
export const LAMBDA_ERROR_CODES = {
  invalidApiKey: 'global/invalid-api-key',
  accountInactive: 'global/account-inactive',
  invalidAddress: 'global/invalid-address',
  invalidParameters: 'global/invalid-parameters',
  objectDoesNotExist: 'global/object-does-not-exist',
  quotaExceeded: 'global/quota-exceeded',
  insufficientCapacity: 'instance-operations/launch/insufficient-capacity',
  providerUnavailable: 'provider/internal-unavailable',
  /** Client-side codes: the API gave no code of its own. */
  rateLimited: 'lambda/rate-limited',
  timeout: 'lambda/timeout',
  network: 'lambda/network',
  invalidResponse: 'lambda/invalid-response',
  pacerUnavailable: 'lambda/pacer-unavailable',
  pacerBusy: 'lambda/pacer-busy',
} as const;

export interface LambdaApiErrorOptions {
  /** HTTP status; absent when no response arrived (timeout, network). */
  status?: number;
  retryable: boolean;
  /** The request may have been carried out although it failed (timeout, 5xx, reset connection). */
  outcomeUnknown?: boolean;
  retryAfterMs?: number;
  suggestion?: string;
  cause?: unknown;
  details?: unknown;
}

/** A failed Lambda Cloud API call. `code` is the API's code when it sent one. Messages are scrubbed. */
export class LambdaApiError extends InfrastructureError {
  readonly status: number | undefined;
  readonly outcomeUnknown: boolean;
  readonly retryAfterMs: number | undefined;
  readonly suggestion: string | undefined;

  constructor(code: string, message: string, options: LambdaApiErrorOptions) {
    super(code, scrubSecrets(message), { retryable: options.retryable, cause: options.cause, details: options.details });
    this.name = 'LambdaApiError';
    this.status = options.status;
    this.outcomeUnknown = options.outcomeUnknown ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.suggestion = options.suggestion === undefined ? undefined : scrubSecrets(options.suggestion);
  }
}

/**
 * Whether trying the same call again can help. 429, 5xx and `provider/*` are transient; 401/403,
 * invalid parameters, capacity, quota and missing objects will answer the same way next time.
 */
export function isRetryableResponse(status: number, code: string): boolean {
  return status === 429 || status >= 500 || code.startsWith('provider/');
}

function codeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** Normal and frequent, even in a region listed with capacity: try the next region or type. */
export const isInsufficientCapacity = (err: unknown): boolean => codeOf(err) === LAMBDA_ERROR_CODES.insufficientCapacity;
export const isQuotaExceeded = (err: unknown): boolean => codeOf(err) === LAMBDA_ERROR_CODES.quotaExceeded;
/** The instance (or, on launch, a referenced SSH key or file system) does not exist. */
export const isNotFound = (err: unknown): boolean => codeOf(err) === LAMBDA_ERROR_CODES.objectDoesNotExist;
export const isRateLimited = (err: unknown): boolean => err instanceof LambdaApiError && err.status === 429;
/** 401/403: the key or the account is wrong; no retry or other region will help. */
export const isAuthError = (err: unknown): boolean => err instanceof LambdaApiError && (err.status === 401 || err.status === 403);
