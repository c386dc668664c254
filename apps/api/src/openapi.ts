/**
 * The OpenAPI 3.1 document of the API (GET /v1/openapi.json), assembled from the zod schemas in
 * @inno-train/schemas: zod 4 writes JSON Schema 2020-12, which is OpenAPI 3.1's own dialect, so the
 * bodies described here are the ones the code declares. The paths, statuses and headers are written
 * out below from what the routes answer; the API's tests validate every answer they receive against
 * this document (test/contract-setup.ts), so an answer the document does not describe fails a test.
 */
import {
  adminUsageSchema,
  API_ERROR_CODES,
  apiErrorSchema,
  healthSchema,
  JOB_ERROR_CODES,
  JOB_ID_PATTERN,
  jobEventListSchema,
  jobEventSchema,
  jobListQuerySchema,
  jobListSchema,
  jobSubmissionObjectSchema,
  publicJobSchema,
  tenantUsageSchema,
  type ApiErrorCode,
} from '@inno-train/schemas';
import { JOB_STATUSES, STAGE_NAMES } from '@inno-train/workflow-constants';
import { z } from 'zod';

export type JsonSchema = { [keyword: string]: unknown };

export interface OpenApiHeader {
  description: string;
  required?: boolean;
  schema: JsonSchema;
}

export interface OpenApiResponse {
  description: string;
  headers?: Record<string, OpenApiHeader>;
  /** Media type to body schema; absent for answers without a body (204). */
  content?: Record<string, { schema: JsonSchema }>;
}

export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: JsonSchema;
}

export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** `[]`: no key needed (the document's default is the bearer key). */
  security?: Record<string, string[]>[];
  parameters?: OpenApiParameter[];
  requestBody?: { required: boolean; content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, OpenApiResponse>;
}

export const HTTP_METHODS = ['get', 'post', 'delete'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];
export type OpenApiPathItem = Partial<Record<HttpMethod, OpenApiOperation>>;

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: { url: string }[];
  security: Record<string, string[]>[];
  tags: { name: string; description: string }[];
  paths: Record<string, OpenApiPathItem>;
  components: {
    schemas: Record<string, JsonSchema>;
    securitySchemes: Record<string, JsonSchema>;
  };
}

const schemaRef = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema) => ({ 'application/json': { schema } });

/** The closed enums, named once and referenced wherever a schema uses exactly their values. */
const NAMED_ENUMS: Record<string, readonly string[]> = {
  JobStatus: JOB_STATUSES,
  JobErrorCode: JOB_ERROR_CODES,
  Stage: STAGE_NAMES,
  ApiErrorCode: API_ERROR_CODES,
};

const JSON_SCHEMA_OPTIONS = { target: 'draft-2020-12', unrepresentable: 'any' } as const;

/** Replaces every inline enum equal to a named one with a $ref to it (zod inlines each use). */
function referenceNamedEnums(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(referenceNamedEnums);
  if (node === null || typeof node !== 'object') return node;
  const schema = node as JsonSchema;
  if (Array.isArray(schema.enum)) {
    const values = [...(schema.enum as unknown[])].sort().join('\n');
    const name = Object.keys(NAMED_ENUMS).find((key) => [...NAMED_ENUMS[key]!].sort().join('\n') === values);
    if (name) return { ...schemaRef(name), ...(schema.description ? { description: schema.description } : {}) };
  }
  return Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, referenceNamedEnums(value)]));
}

/** A component as OpenAPI wants it: no `$schema` (the document's dialect applies) and no `$id`. */
function asComponent(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return referenceNamedEnums(rest) as JsonSchema;
}

/** Response bodies as the API writes them (output side); the submission as clients send it (input side). */
function componentSchemas(): Record<string, JsonSchema> {
  const bodies = z.registry<{ id: string }>();
  bodies.add(publicJobSchema, { id: 'Job' });
  bodies.add(jobListSchema, { id: 'JobList' });
  bodies.add(jobEventSchema, { id: 'JobEvent' });
  bodies.add(jobEventListSchema, { id: 'JobEventList' });
  bodies.add(tenantUsageSchema, { id: 'TenantUsage' });
  bodies.add(adminUsageSchema, { id: 'AdminUsage' });
  bodies.add(healthSchema, { id: 'Health' });
  bodies.add(apiErrorSchema, { id: 'Error' });
  const generated = z.toJSONSchema(bodies, { ...JSON_SCHEMA_OPTIONS, io: 'output', uri: (id) => `#/components/schemas/${id}` });
  const submission = z.toJSONSchema(jobSubmissionObjectSchema, { ...JSON_SCHEMA_OPTIONS, io: 'input' });
  const enums = Object.fromEntries(Object.entries(NAMED_ENUMS).map(([name, values]) => [name, { type: 'string', enum: [...values] }]));
  const schemas = Object.fromEntries(Object.entries(generated.schemas).map(([id, schema]) => [id, asComponent(schema)]));
  return { ...enums, ...schemas, JobSubmission: asComponent(submission as JsonSchema) };
}

const integerHeader = (description: string): OpenApiHeader => ({ description, schema: { type: 'integer', minimum: 0 } });

/** Every answer names its request id (the caller's X-Request-Id if it sent a sane one). */
const REQUEST_ID_HEADER: Record<string, OpenApiHeader> = {
  'X-Request-Id': { description: 'the id of this request, in the logs and in error bodies', required: true, schema: { type: 'string' } },
};

/** Answers to an authenticated request carry where the key stands, when RATE_LIMIT_PER_MINUTE is on. */
const RATE_LIMIT_HEADERS: Record<string, OpenApiHeader> = {
  'RateLimit-Limit': integerHeader("the key's requests per minute (sent when the API has a limit)"),
  'RateLimit-Remaining': integerHeader('requests left right now'),
  'RateLimit-Reset': integerHeader('seconds until the full minute is available again'),
};

const retryAfter = (description: string): Record<string, OpenApiHeader> => ({
  'Retry-After': { description, required: true, schema: { type: 'integer', minimum: 1 } },
});

/** The error body, its `code` narrowed to the ones this status can carry. */
function errorBody(codes: readonly ApiErrorCode[]): JsonSchema {
  const narrowed = { type: 'object', properties: { error: { type: 'object', properties: { code: { enum: [...codes] } } } } };
  return { allOf: [schemaRef('Error'), narrowed] };
}

function errorResponse(description: string, codes: readonly ApiErrorCode[], headers: Record<string, OpenApiHeader> = {}): OpenApiResponse {
  return { description, headers: { ...REQUEST_ID_HEADER, ...headers }, content: json(errorBody(codes)) };
}

/** What each error status means, and the codes it carries, on every route that can answer it. */
const ERROR_RESPONSES = {
  400: () =>
    errorResponse(
      'Malformed request: a field, query parameter or header failed validation (details name each), ' +
        'the body is not JSON, or the path has broken percent-encoding',
      ['invalid_request', 'invalid_input', 'invalid_json', 'bad_request', 'invalid_s3_uri', 'input_not_found'],
      RATE_LIMIT_HEADERS,
    ),
  401: () =>
    errorResponse('No API key, or not one this API knows', ['unauthorized'], {
      'WWW-Authenticate': { description: 'Bearer', required: true, schema: { type: 'string' } },
    }),
  402: () => errorResponse("The key's monthly budget is spent: no new jobs until next month", ['budget_exhausted'], RATE_LIMIT_HEADERS),
  403: () => errorResponse("S3 locations outside the key's prefixes (details name each)", ['forbidden_location'], RATE_LIMIT_HEADERS),
  404: () => errorResponse("No such job (another tenant's job answers the same)", ['job_not_found'], RATE_LIMIT_HEADERS),
  413: () => errorResponse('The body is over 1 MiB', ['payload_too_large'], RATE_LIMIT_HEADERS),
  415: () => errorResponse('A body encoding or charset the API does not take (send UTF-8 JSON)', ['unsupported_media_type']),
  429: () =>
    errorResponse("The key's requests per minute are spent", ['rate_limited'], {
      ...RATE_LIMIT_HEADERS,
      ...retryAfter('seconds until the next request is allowed'),
    }),
  500: () => errorResponse('A bug: the message says nothing more; quote the request id', ['internal_error']),
  503: () => errorResponse('Redis or S3 cannot be reached: try again', ['unavailable'], retryAfter('seconds to wait before retrying')),
} satisfies Record<number, () => OpenApiResponse>;

type ErrorStatus = keyof typeof ERROR_RESPONSES;

/** Statuses every authenticated /v1 route can answer, whatever it does. */
const AUTHENTICATED_ERRORS: ErrorStatus[] = [400, 401, 429, 500, 503];
/** Statuses of a request body's parsing (the JSON parser runs for every /v1 request that has a body). */
const BODY_ERRORS: ErrorStatus[] = [413, 415];

function errors(statuses: ErrorStatus[]): Record<string, OpenApiResponse> {
  return Object.fromEntries(
    [...new Set([...AUTHENTICATED_ERRORS, ...statuses])].sort((a, b) => a - b).map((status) => [String(status), ERROR_RESPONSES[status]()]),
  );
}

function success(
  description: string,
  content?: Record<string, { schema: JsonSchema }>,
  headers: Record<string, OpenApiHeader> = {},
): OpenApiResponse {
  return { description, headers: { ...REQUEST_ID_HEADER, ...RATE_LIMIT_HEADERS, ...headers }, ...(content ? { content } : {}) };
}

const JOB_ID_PARAMETER: OpenApiParameter = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'a job id; one that is malformed, unknown or of another tenant answers 404',
  schema: { type: 'string', pattern: JOB_ID_PATTERN.source },
};

/** GET /v1/jobs's query parameters, from the same schema the route's rules are written in. */
function listParameters(): OpenApiParameter[] {
  const query = z.toJSONSchema(jobListQuerySchema, { ...JSON_SCHEMA_OPTIONS, io: 'input' }) as { properties: Record<string, JsonSchema> };
  return Object.entries(query.properties).map(([name, schema]) => {
    const { description, ...rest } = referenceNamedEnums(schema) as JsonSchema;
    return { name, in: 'query', required: false, ...(typeof description === 'string' ? { description } : {}), schema: rest };
  });
}

function jobsPath(): OpenApiPathItem {
  return {
    post: {
      operationId: 'createJob',
      summary: 'Submit a job',
      description:
        "Validates the submission, checks every input exists and is under the key's prefixes, and queues the job. " +
        'With an Idempotency-Key, sending the same request again answers with the job it made (Idempotent-Replayed: true).',
      tags: ['jobs'],
      parameters: [
        {
          name: 'Idempotency-Key',
          in: 'header',
          description: 'makes retries safe for 24 hours: the same key and request answer with the same job',
          schema: { type: 'string', pattern: '^[!-~]{1,255}$' },
        },
      ],
      requestBody: { required: true, content: json(schemaRef('JobSubmission')) },
      responses: {
        '202': success('Queued (or, for a replayed Idempotency-Key, the job made before)', json(schemaRef('Job')), {
          Location: { description: "the job's URL", required: true, schema: { type: 'string' } },
          'Idempotent-Replayed': { description: 'present when the answer is an earlier job', schema: { type: 'string', enum: ['true'] } },
        }),
        ...errors([402, 403, ...BODY_ERRORS]),
        '409': errorResponse('The Idempotency-Key made a job that was since deleted', ['idempotency_key_reused'], RATE_LIMIT_HEADERS),
        '422': errorResponse('The Idempotency-Key was used with a different request', ['idempotency_key_reused'], RATE_LIMIT_HEADERS),
      },
    },
    get: {
      operationId: 'listJobs',
      summary: "List the key's jobs, newest first",
      description: 'Pages of `limit`; pass the last id of a page as `after` for the next while `hasMore`. Admin keys see every tenant.',
      tags: ['jobs'],
      parameters: listParameters(),
      responses: { '200': success('A page of jobs', json(schemaRef('JobList'))), ...errors([]) },
    },
  };
}

function jobPath(): OpenApiPathItem {
  return {
    get: {
      operationId: 'getJob',
      summary: 'Get a job',
      tags: ['jobs'],
      parameters: [JOB_ID_PARAMETER],
      responses: { '200': success('The job', json(schemaRef('Job'))), ...errors([404]) },
    },
    delete: {
      operationId: 'deleteJob',
      summary: 'Delete a finished job with its events and log',
      tags: ['jobs'],
      parameters: [JOB_ID_PARAMETER],
      responses: {
        '204': success('Deleted'),
        ...errors([404]),
        '409': errorResponse('The job has not finished, or its instances are not all given back', ['job_not_finished'], RATE_LIMIT_HEADERS),
      },
    },
  };
}

function jobActionPaths(): Record<string, OpenApiPathItem> {
  const job = [JOB_ID_PARAMETER];
  return {
    '/v1/jobs/{id}/cancel': {
      post: {
        operationId: 'cancelJob',
        summary: 'Cancel a job',
        description: 'Asks the job to stop; its instances are given back. Cancelling a cancelled job answers it again.',
        tags: ['jobs'],
        parameters: job,
        responses: {
          '200': success('The job, cancelled or being cancelled', json(schemaRef('Job'))),
          ...errors([404, ...BODY_ERRORS]),
          '409': errorResponse('The job already succeeded or failed', ['job_finished'], RATE_LIMIT_HEADERS),
        },
      },
    },
    '/v1/jobs/{id}/events': {
      get: {
        operationId: 'listJobEvents',
        summary: "The job's events, oldest first",
        tags: ['jobs'],
        parameters: job,
        responses: { '200': success('Every event of the job', json(schemaRef('JobEventList'))), ...errors([404]) },
      },
    },
    '/v1/jobs/{id}/logs': {
      get: {
        operationId: 'getJobLogs',
        summary: "The training's output (its last 8 MiB)",
        tags: ['jobs'],
        parameters: job,
        responses: { '200': success('The log as text', { 'text/plain': { schema: { type: 'string' } } }), ...errors([404]) },
      },
    },
  };
}

function servicePaths(): Record<string, OpenApiPathItem> {
  return {
    '/v1/usage': {
      get: {
        operationId: 'getUsage',
        summary: "This month's spend, jobs and limits",
        description: 'A client key gets its own usage; an admin key gets every configured tenant as `data`.',
        tags: ['service'],
        responses: {
          '200': success("The key's usage, or every tenant's", json({ oneOf: [schemaRef('TenantUsage'), schemaRef('AdminUsage')] })),
          ...errors([]),
        },
      },
    },
    '/v1/openapi.json': {
      get: {
        operationId: 'getOpenApiDocument',
        summary: 'This document',
        tags: ['service'],
        security: [],
        responses: { '200': { description: 'The OpenAPI 3.1 document', headers: REQUEST_ID_HEADER, content: json({ type: 'object' }) } },
      },
    },
    '/healthz': {
      get: {
        operationId: 'getHealth',
        summary: 'Whether the API can reach Redis',
        tags: ['service'],
        security: [],
        responses: {
          '200': { description: 'Healthy', headers: REQUEST_ID_HEADER, content: json(schemaRef('Health')) },
          '503': { description: 'Redis cannot be reached', headers: REQUEST_ID_HEADER, content: json(schemaRef('Health')) },
        },
      },
    },
  };
}

const DESCRIPTION = [
  'Runs GPU training jobs on rented Lambda Cloud instances, moving data directly between S3 and the instance.',
  'Every /v1 route but this document needs `Authorization: Bearer <key>`. ' +
    'Errors answer `{"error": {"code", "message", "details"?, "requestId"}}`; `code` is one of ApiErrorCode.',
  'A path the API does not have answers 404 `not_found`; a method a path does not take answers 405 `method_not_allowed` ' +
    'with `Allow` (after authentication, so 401 without a key).',
  'The operator pages (/admin/login, /admin/logout, the Bull Board under /admin/queues) are HTML for browsers ' +
    'and are not part of this document.',
].join('\n\n');

function assembleDocument(): OpenApiDocument {
  return {
    openapi: '3.1.0',
    info: { title: 'inno-train API', version: '1.0.0', description: DESCRIPTION },
    servers: [{ url: '/' }],
    security: [{ bearerAuth: [] }],
    tags: [
      { name: 'jobs', description: 'Training jobs: submit, follow, cancel, delete' },
      { name: 'service', description: 'Usage, health and this document' },
    ],
    paths: { '/v1/jobs': jobsPath(), '/v1/jobs/{id}': jobPath(), ...jobActionPaths(), ...servicePaths() },
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'an API key (API_KEYS_FILE, API_KEYS or API_ADMIN_KEYS)' },
      },
    },
  };
}

let built: OpenApiDocument | undefined;

/** The document, built on first use and shared afterwards (it depends on nothing but the schemas). */
export function buildOpenApiDocument(): OpenApiDocument {
  built ??= assembleDocument();
  return built;
}
