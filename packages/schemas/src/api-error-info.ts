/**
 * What each API error code means and the HTTP status it comes with, as the README's table shows it
 * (generated: `npm run docs:tables`). A code added to API_ERROR_CODES without an entry here does not
 * compile.
 */
import type { ApiErrorCode } from './api';

export interface ApiErrorCodeInfo {
  /** The HTTP status of the answer; several when the code is used with more than one. */
  status: number | number[];
  meaning: string;
}

export const API_ERROR_CODE_INFO: Record<ApiErrorCode, ApiErrorCodeInfo> = {
  invalid_request: { status: 400, meaning: 'the query, a header or the submission failed validation (`details` names each field)' },
  invalid_input: {
    status: 400,
    meaning: "an input or script URI does not exist or cannot be read, or `resumeFrom` names no checkpoint of the key's own jobs",
  },
  invalid_json: { status: 400, meaning: 'the body is not JSON' },
  bad_request: { status: 400, meaning: 'anything else malformed (broken percent-encoding in the path, an aborted body)' },
  invalid_s3_uri: { status: 400, meaning: "a malformed S3 URI (storage's own code, should one escape the submission's checks)" },
  input_not_found: {
    status: 400,
    meaning: "an input does not exist in S3 (storage's own code, should one escape the submission's checks)",
  },
  unauthorized: { status: 401, meaning: 'no key, or not a key this API knows' },
  budget_exhausted: { status: 402, meaning: "the key's monthly budget is spent" },
  forbidden_location: { status: 403, meaning: "an S3 location outside the key's allowed prefixes" },
  not_found: { status: 404, meaning: 'no such route' },
  job_not_found: { status: 404, meaning: "no such job, or another tenant's" },
  output_not_found: { status: 404, meaning: 'the job has no output at that path' },
  checkpoint_not_found: { status: 404, meaning: 'the job has synced no checkpoint of that name, or its files are no longer in S3' },
  webhook_not_found: { status: 404, meaning: "no such webhook endpoint, or another tenant's" },
  method_not_allowed: { status: 405, meaning: 'a path asked with a method it does not take (`Allow` names the ones it does)' },
  range_not_satisfiable: { status: 416, meaning: 'a log `Range` starting at or past the end of the log' },
  job_finished: { status: 409, meaning: 'cancelling a job that already succeeded or failed' },
  job_not_finished: { status: 409, meaning: 'deleting a job that has not ended, or whose instances are still being given back' },
  idempotency_key_reused: { status: [409, 422], meaning: "409: the key's job was deleted; 422: the key was used with another request" },
  payload_too_large: { status: 413, meaning: 'the body is over 1 MiB' },
  unsupported_media_type: { status: 415, meaning: 'a body encoding or charset the API does not take' },
  rate_limited: { status: 429, meaning: "the key's requests per minute are spent (`Retry-After` says when to try again)" },
  too_many_streams: {
    status: 429,
    meaning: 'the key has as many job streams open on one API process as it may (`Retry-After`; close one, or follow fewer jobs)',
  },
  internal_error: { status: 500, meaning: 'a bug; the message says nothing more' },
  unavailable: {
    status: 503,
    meaning: 'Redis or S3 cannot be reached, or (a stream) this API process has no room for another; retry after `Retry-After`',
  },
};
