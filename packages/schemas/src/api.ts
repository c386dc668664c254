/**
 * The REST API's JSON bodies other than the job itself (view.ts): errors, pages, usage, health.
 * The OpenAPI document is generated from these, and the API's tests validate every answer against
 * that document, so a field added here without the route sending it (or the reverse) fails a test.
 */
import { JOB_EVENT_TYPES, JOB_STATUSES, STAGE_NAMES } from '@inno-train/workflow-constants';
import { z } from 'zod';
import { publicJobSchema } from './view';
import { JOB_NAME_PATTERN, METADATA_KEY_PATTERN, jobSubmissionObjectSchema } from './submission';

/**
 * Every `error.code` the /v1 API answers with, a closed set: clients switch on these. These are
 * request errors, not the codes a job ends with (`JOB_ERROR_CODES`, in `job.error.code`).
 */
export const API_ERROR_CODES = [
  /** 400: the query, a header or the submission failed validation (`details` names each field). */
  'invalid_request',
  /** 400: an input or script URI does not exist or cannot be read, or resumeFrom names no checkpoint the key's jobs synced. */
  'invalid_input',
  /** 400: the body is not JSON. */
  'invalid_json',
  /** 400: anything else malformed (broken percent-encoding in the path, an aborted body). */
  'bad_request',
  /** 400: storage's own codes, which http-error.ts maps to 400 should one escape submit's checks. */
  'invalid_s3_uri',
  'input_not_found',
  /** 401: no key, or not a key this API knows. */
  'unauthorized',
  /** 402: the key's monthly budget is spent. */
  'budget_exhausted',
  /** 403: an S3 location outside the key's allowed prefixes. */
  'forbidden_location',
  /** 404: no such route. */
  'not_found',
  /** 404: no such job, or another tenant's. */
  'job_not_found',
  /** 404: the job has no output at that path. */
  'output_not_found',
  /** 404: the job has synced no checkpoint of that name, or its files are no longer in S3. */
  'checkpoint_not_found',
  /** 404: no such webhook endpoint, or another tenant's. */
  'webhook_not_found',
  /** 405: a path asked with a method it does not take (`Allow` names the ones it does). */
  'method_not_allowed',
  /** 416: a log Range starting at or past the end of the log. */
  'range_not_satisfiable',
  /** 409: cancelling a job that already succeeded or failed. */
  'job_finished',
  /** 409: deleting a job that has not ended, or whose instances are still being given back. */
  'job_not_finished',
  /** 409 (the key's job was deleted) or 422 (the key was used with another request). */
  'idempotency_key_reused',
  /** 413: the body is over 1 MiB. */
  'payload_too_large',
  /** 415: a body encoding or charset the API does not take. */
  'unsupported_media_type',
  /** 429: the key's requests per minute are spent. */
  'rate_limited',
  /** 429: the key has as many job streams open on one API process as it may. */
  'too_many_streams',
  /** 500: a bug; the message says nothing more. */
  'internal_error',
  /** 503: Redis or S3 cannot be reached, or (a stream) this API process has no room; retry after Retry-After. */
  'unavailable',
] as const;

export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** The roles an API key can have (apps/api keys.ts declares the same list; a test keeps them equal). */
export const API_KEY_ROLES = ['client', 'admin'] as const;

export const apiErrorSchema = z.object({
  error: z.object({
    code: z.enum(API_ERROR_CODES),
    message: z.string(),
    details: z
      .array(z.object({ path: z.string().describe('dotted path of the field, or a header name'), message: z.string() }))
      .optional()
      .describe('one entry per offending field (validation errors only)'),
    requestId: z.string().describe('the X-Request-Id of this answer: quote it when reporting a problem'),
  }),
});

/** Job ids as the API makes them (`newJobId`). */
export const JOB_ID_PATTERN = /^j[0-9a-z]{22}$/;

const isoInstant = z
  .string()
  .refine(
    (value) => /^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value)),
    'must be an ISO 8601 time such as 2026-11-30T12:00:00Z',
  )
  .transform((value) => Date.parse(value));

/**
 * GET /v1/jobs's query, as apps/api routes.ts parses it. `metadata.<key>=<value>` filters come
 * beside these; the route takes them out first (see `metadataFilters`).
 */
export const jobListQuerySchema = z.strictObject({
  status: z
    .string()
    .transform((value) => value.split(','))
    .pipe(z.array(z.enum(JOB_STATUSES)).min(1).max(JOB_STATUSES.length))
    .optional()
    .describe('one status or several, comma-separated (running,queued)'),
  name: z.string().regex(JOB_NAME_PATTERN, 'must be a job name').optional().describe('only jobs with this name'),
  createdAfter: isoInstant.optional().describe('only jobs created at or after this time (ISO 8601)'),
  createdBefore: isoInstant.optional().describe('only jobs created before this time (ISO 8601)'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: z
    .string()
    .regex(JOB_ID_PATTERN, 'must be a job id')
    .optional()
    .describe("the previous page's nextAfter (or its last id): the page starts after it"),
  createdBy: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be a tenant name')
    .optional()
    .describe("admin keys only: one tenant's jobs"),
});

/** At most this many `metadata.<key>=<value>` filters in one list query. */
export const MAX_METADATA_FILTERS = 8;

/**
 * The `metadata.<key>=<value>` filters of a list query (every one must match), and the rest of the
 * query; an invalid key or repeated filter is named like any query error.
 */
export function metadataFilters(query: Record<string, unknown>): {
  metadata: Record<string, string>;
  rest: Record<string, unknown>;
  problems: { path: string; message: string }[];
} {
  const metadata: Record<string, string> = {};
  const rest: Record<string, unknown> = {};
  const problems: { path: string; message: string }[] = [];
  for (const [name, value] of Object.entries(query)) {
    if (!name.startsWith('metadata.')) {
      rest[name] = value;
      continue;
    }
    const key = name.slice('metadata.'.length);
    if (!METADATA_KEY_PATTERN.test(key)) problems.push({ path: name, message: 'metadata keys must be 1-64 letters, digits, . _ -' });
    else if (typeof value !== 'string') problems.push({ path: name, message: 'give each metadata filter once' });
    else if (value.length > 1024) problems.push({ path: name, message: 'at most 1024 characters' });
    else metadata[key] = value;
  }
  if (Object.keys(metadata).length > MAX_METADATA_FILTERS) {
    problems.push({ path: 'metadata', message: `at most ${MAX_METADATA_FILTERS} metadata filters` });
  }
  return { metadata, rest, problems };
}

/** A page of jobs, newest first; the next page starts after `nextAfter`. */
export const jobListSchema = z.object({
  data: z.array(publicJobSchema),
  hasMore: z.boolean().describe('more jobs may match: ask again with after = nextAfter'),
  nextAfter: z
    .string()
    .nullable()
    .describe(
      'where the next page starts (pass it as `after`); with filters it can be past the last job shown, ' +
        'as the service looks through a bounded number of jobs per page',
    ),
});

/** One uploaded output of a job. */
export const jobOutputSchema = z.object({
  path: z.string().describe("the file's path under the job's outputUri, as the training wrote it under its output directory"),
  uri: z.string().describe('s3://bucket/key of the object'),
  size: z.number().int().min(0).describe('bytes'),
});

/** A page of a job's outputs, in path order. */
export const jobOutputListSchema = z.object({
  data: z.array(jobOutputSchema),
  hasMore: z.boolean().describe('more outputs follow: ask again with after = the last path'),
});

/** GET /v1/jobs/:id/outputs's query. */
export const jobOutputQuerySchema = z.strictObject({
  after: z.string().min(1).max(1024).optional().describe('the last path already seen: the page starts after it'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** POST /v1/jobs/:id/retry's body: the stored request again, with some fields replaced. */
export const jobRetryRequestSchema = z.strictObject({
  overrides: jobSubmissionObjectSchema
    .partial()
    .optional()
    .describe(
      'fields replacing those of the stored request, each whole (an `instance` here replaces the whole instance); ' +
        'an outputUri the service chose is chosen again for the new job',
    ),
});

export const jobEventSchema = z.object({
  id: z.number().int().min(1).describe("the event's place in the job's history: 1, 2, 3, ... (never reused)"),
  at: z.string().describe('ISO 8601 time'),
  type: z.enum(JOB_EVENT_TYPES).describe('what happened: one of JobEventType (the README lists them)'),
  stage: z.enum(STAGE_NAMES),
  message: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
});

export const jobEventListSchema = z.object({
  data: z.array(jobEventSchema).describe('events after `after`, oldest first, at most `limit`'),
  hasMore: z.boolean().describe('more events follow: ask again with after = the last id'),
});

/** GET /v1/jobs/:id/events's query: a page of the job's history. */
export const jobEventQuerySchema = z.strictObject({
  after: z.coerce.number().int().min(0).default(0).describe('the last event id already seen (0: from the start)'),
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
});

/** GET /v1/jobs/:id/logs's query. */
export const jobLogQuerySchema = z.strictObject({
  offset: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .describe("bytes of the job's output already read: the answer starts there (X-Log-Offset says where it really starts)"),
});

/** One tenant's month: what GET /v1/usage answers to a client key. */
export const tenantUsageSchema = z.object({
  name: z.string(),
  role: z.enum(API_KEY_ROLES),
  month: z
    .string()
    .regex(/^\d{4}-\d{2}$/)
    .describe('the calendar month (UTC) the spend is for'),
  spendUsd: z.number().min(0),
  jobs: z.object({
    queued: z.number().int().min(0),
    running: z.number().int().min(0).describe('jobs past queued and not finished'),
  }),
  limits: z.object({
    maxConcurrentJobs: z.number().int().min(1).nullable(),
    monthlyBudgetUsd: z.number().positive().nullable(),
    budgetRemainingUsd: z.number().min(0).nullable(),
  }),
  allowedPrefixes: z.array(z.string()).describe('the s3:// prefixes this key may read and write'),
});

/** What GET /v1/usage answers to an admin key: every configured tenant. */
export const adminUsageSchema = z.object({
  data: z.array(tenantUsageSchema),
});

export const healthSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  redis: z.boolean(),
});

export type ApiError = z.infer<typeof apiErrorSchema>;
export type JobList = z.infer<typeof jobListSchema>;
export type JobEventList = z.infer<typeof jobEventListSchema>;
export type JobOutput = z.infer<typeof jobOutputSchema>;
export type JobOutputList = z.infer<typeof jobOutputListSchema>;
export type JobRetryRequest = z.input<typeof jobRetryRequestSchema>;
export type TenantUsage = z.infer<typeof tenantUsageSchema>;
export type AdminUsage = z.infer<typeof adminUsageSchema>;
export type Health = z.infer<typeof healthSchema>;
