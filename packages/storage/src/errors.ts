/**
 * Turns AWS SDK errors into FileTransferError with stable codes. The SDK error itself is not kept
 * as `cause`: SDK errors carry raw responses and request details that a logger could serialise,
 * and our messages must never contain credentials or signatures.
 */
import { FileTransferError, scrubSecrets } from '@inno-train/core';

export interface S3ErrorContext {
  operation: string;
  bucket: string;
  key?: string;
  /** Literal secrets (the secret access key) to mask in addition to scrubSecrets' patterns. */
  secrets?: readonly string[];
}

interface SdkErrorShape {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  Code?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);
const ACCESS_CODES = new Set(['AccessDenied', 'SignatureDoesNotMatch', 'InvalidAccessKeyId', 'ExpiredToken', 'InvalidToken']);
const THROTTLE_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeTooSkewed']);

/** HTTP status of an SDK error, when the request got an answer at all. */
export function httpStatusOf(err: unknown): number | undefined {
  const status = (err as SdkErrorShape | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The S3 error code (`NoSuchKey`, `AccessDenied`, ...) or the Node error code of a network failure. */
export function s3ErrorCode(err: unknown): string {
  const shape = (err ?? {}) as SdkErrorShape;
  for (const candidate of [shape.Code, shape.code, shape.name]) {
    if (typeof candidate === 'string' && candidate !== '' && candidate !== 'Error') return candidate;
  }
  // The SDK's retry layer replaces errors from another realm (jest's vm, worker threads) with
  // `Error("AWS SDK error wrapper for Error: connect ECONNREFUSED ...")`: only the text survives.
  const text = typeof shape.message === 'string' ? shape.message : '';
  for (const networkCode of NETWORK_CODES) {
    if (new RegExp(`\\b${networkCode}\\b`).test(text)) return networkCode;
  }
  return 'UnknownError';
}

function classify(err: unknown, s3Code: string, status: number | undefined): { code: string; retryable: boolean } {
  if (status === undefined) {
    // No answer: a network failure is worth retrying; anything else (a rejected argument) is not.
    const network = NETWORK_CODES.has(s3Code) || s3Code === 'TimeoutError' || (err as SdkErrorShape | null)?.$retryable;
    return network ? { code: 'storage_unavailable', retryable: true } : { code: 'storage_request_failed', retryable: false };
  }
  if (status >= 500 || status === 429 || THROTTLE_CODES.has(s3Code)) return { code: 'storage_unavailable', retryable: true };
  if (s3Code === 'NoSuchBucket') return { code: 'storage_bucket_not_found', retryable: false };
  if (s3Code === 'NoSuchUpload') return { code: 'storage_upload_not_found', retryable: false };
  if (s3Code === 'NoSuchKey' || s3Code === 'NotFound' || status === 404) return { code: 'storage_object_not_found', retryable: false };
  if (ACCESS_CODES.has(s3Code) || status === 403 || status === 401) return { code: 'storage_access_denied', retryable: false };
  return { code: 'storage_request_failed', retryable: false };
}

export function scrubWith(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join('[REDACTED]');
  }
  return scrubSecrets(out);
}

/** Wraps anything the SDK threw; an error that is already ours passes through unchanged. */
export function wrapS3Error(err: unknown, context: S3ErrorContext): FileTransferError {
  if (err instanceof FileTransferError) return err;
  const status = httpStatusOf(err);
  const s3Code = s3ErrorCode(err);
  const { code, retryable } = classify(err, s3Code, status);
  const target = context.key === undefined ? `s3://${context.bucket}` : `s3://${context.bucket}/${context.key}`;
  const rawMessage = (err as SdkErrorShape | null)?.message;
  // The SDK uses the code as message ('UnknownError', 'NotFound') when the body is empty.
  const detail = typeof rawMessage === 'string' && rawMessage !== '' && rawMessage !== s3Code ? `: ${rawMessage}` : '';
  const statusText = status === undefined ? 'no response' : `HTTP ${status}`;
  const message = scrubWith(`S3 ${context.operation} on ${target} failed (${s3Code}, ${statusText})${detail}`, context.secrets);
  return new FileTransferError(code, message, {
    retryable,
    details: { operation: context.operation, bucket: context.bucket, key: context.key, httpStatus: status, s3Code },
  });
}
