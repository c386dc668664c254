/**
 * The building blocks of the OpenAPI document (openapi.ts): its types, the component schemas
 * generated from zod, and the headers, parameters and responses the paths are written with.
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
  jobListSchema,
  jobMetricsPageSchema,
  checkpointDownloadSchema,
  checkpointListSchema,
  jobOutputListSchema,
  jobOutputSchema,
  jobRetryRequestSchema,
  jobSubmissionObjectSchema,
  publicJobSchema,
  tenantUsageSchema,
  webhookCreatedSchema,
  webhookCreateSchema,
  webhookDeliveryListSchema,
  webhookListSchema,
  type ApiErrorCode,
} from '@inno-train/schemas';
import { JOB_EVENT_TYPES, JOB_STATUSES, STAGE_NAMES } from '@inno-train/workflow-constants';
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

export const schemaRef = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
export const json = (schema: JsonSchema) => ({ 'application/json': { schema } });

/** The closed enums, named once and referenced wherever a schema uses exactly their values. */
export const NAMED_ENUMS: Record<string, readonly string[]> = {
  JobStatus: JOB_STATUSES,
  JobErrorCode: JOB_ERROR_CODES,
  Stage: STAGE_NAMES,
  ApiErrorCode: API_ERROR_CODES,
  JobEventType: JOB_EVENT_TYPES,
};

export const JSON_SCHEMA_OPTIONS = { target: 'draft-2020-12', unrepresentable: 'any' } as const;

/** Replaces every inline enum equal to a named one with a $ref to it (zod inlines each use). */
export function referenceNamedEnums(node: unknown): unknown {
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
export function asComponent(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return referenceNamedEnums(rest) as JsonSchema;
}

/** Response bodies as the API writes them (output side); the submission as clients send it (input side). */
export function componentSchemas(): Record<string, JsonSchema> {
  const bodies = z.registry<{ id: string }>();
  bodies.add(publicJobSchema, { id: 'Job' });
  bodies.add(jobListSchema, { id: 'JobList' });
  bodies.add(jobEventSchema, { id: 'JobEvent' });
  bodies.add(jobEventListSchema, { id: 'JobEventList' });
  bodies.add(jobOutputSchema, { id: 'JobOutput' });
  bodies.add(jobOutputListSchema, { id: 'JobOutputList' });
  bodies.add(jobMetricsPageSchema, { id: 'JobMetrics' });
  bodies.add(checkpointListSchema, { id: 'JobCheckpoints' });
  bodies.add(checkpointDownloadSchema, { id: 'JobCheckpointDownload' });
  bodies.add(tenantUsageSchema, { id: 'TenantUsage' });
  bodies.add(adminUsageSchema, { id: 'AdminUsage' });
  bodies.add(healthSchema, { id: 'Health' });
  bodies.add(apiErrorSchema, { id: 'Error' });
  for (const [schema, id] of [
    [webhookCreatedSchema, 'WebhookCreated'],
    [webhookListSchema, 'WebhookList'],
    [webhookDeliveryListSchema, 'WebhookDeliveryList'],
  ] as const)
    bodies.add(schema, { id });
  const generated = z.toJSONSchema(bodies, { ...JSON_SCHEMA_OPTIONS, io: 'output', uri: (id) => `#/components/schemas/${id}` });
  const submission = z.toJSONSchema(jobSubmissionObjectSchema, { ...JSON_SCHEMA_OPTIONS, io: 'input' });
  const enums = Object.fromEntries(Object.entries(NAMED_ENUMS).map(([name, values]) => [name, { type: 'string', enum: [...values] }]));
  const schemas = Object.fromEntries(Object.entries(generated.schemas).map(([id, schema]) => [id, asComponent(schema)]));
  const retry = z.toJSONSchema(jobRetryRequestSchema, { ...JSON_SCHEMA_OPTIONS, io: 'input' });
  return {
    ...enums,
    ...schemas,
    JobSubmission: asComponent(submission as JsonSchema),
    JobRetryRequest: asComponent(retry as JsonSchema),
    WebhookCreate: asComponent(z.toJSONSchema(webhookCreateSchema, { ...JSON_SCHEMA_OPTIONS, io: 'input' }) as JsonSchema),
  };
}

export const integerHeader = (description: string): OpenApiHeader => ({ description, schema: { type: 'integer', minimum: 0 } });
export const requiredHeader = (description: string): OpenApiHeader => ({ description, required: true, schema: { type: 'string' } });

export const TEXT = { 'text/plain': { schema: { type: 'string' } } };

/** Where a log answer sits in everything the job printed. */
export const LOG_HEADERS: Record<string, OpenApiHeader> = {
  'X-Log-Size': { ...integerHeader('bytes the job printed in all'), required: true },
  'X-Log-Offset': { ...integerHeader('the byte of the whole output this answer starts at'), required: true },
  'X-Log-Truncated': {
    description: 'true when the stored log lost its beginning (it keeps the last 8 MiB)',
    required: true,
    schema: { type: 'string', enum: ['true', 'false'] },
  },
};

/** Every answer names its request id (the caller's X-Request-Id if it sent a sane one). */
export const REQUEST_ID_HEADER: Record<string, OpenApiHeader> = {
  'X-Request-Id': { description: 'the id of this request, in the logs and in error bodies', required: true, schema: { type: 'string' } },
};

/** Answers to an authenticated request carry where the key stands, when RATE_LIMIT_PER_MINUTE is on. */
export const RATE_LIMIT_HEADERS: Record<string, OpenApiHeader> = {
  'RateLimit-Limit': integerHeader("the key's requests per minute (sent when the API has a limit)"),
  'RateLimit-Remaining': integerHeader('requests left right now'),
  'RateLimit-Reset': integerHeader('seconds until the full minute is available again'),
};

export const retryAfter = (description: string): Record<string, OpenApiHeader> => ({
  'Retry-After': { description, required: true, schema: { type: 'integer', minimum: 1 } },
});

/** The error body, its `code` narrowed to the ones this status can carry. */
export function errorBody(codes: readonly ApiErrorCode[]): JsonSchema {
  const narrowed = { type: 'object', properties: { error: { type: 'object', properties: { code: { enum: [...codes] } } } } };
  return { allOf: [schemaRef('Error'), narrowed] };
}

export function errorResponse(
  description: string,
  codes: readonly ApiErrorCode[],
  headers: Record<string, OpenApiHeader> = {},
): OpenApiResponse {
  return { description, headers: { ...REQUEST_ID_HEADER, ...headers }, content: json(errorBody(codes)) };
}

/** What each error status means, and the codes it carries, on every route that can answer it. */
export const ERROR_RESPONSES = {
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

export type ErrorStatus = keyof typeof ERROR_RESPONSES;

/** Statuses every authenticated /v1 route can answer, whatever it does. */
export const AUTHENTICATED_ERRORS: ErrorStatus[] = [400, 401, 429, 500, 503];
/** Statuses of a request body's parsing (the JSON parser runs for every /v1 request that has a body). */
export const BODY_ERRORS: ErrorStatus[] = [413, 415];

export function errors(statuses: ErrorStatus[]): Record<string, OpenApiResponse> {
  return Object.fromEntries(
    [...new Set([...AUTHENTICATED_ERRORS, ...statuses])].sort((a, b) => a - b).map((status) => [String(status), ERROR_RESPONSES[status]()]),
  );
}

export function success(
  description: string,
  content?: Record<string, { schema: JsonSchema }>,
  headers: Record<string, OpenApiHeader> = {},
): OpenApiResponse {
  return { description, headers: { ...REQUEST_ID_HEADER, ...RATE_LIMIT_HEADERS, ...headers }, ...(content ? { content } : {}) };
}

export const JOB_ID_PARAMETER: OpenApiParameter = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'a job id; one that is malformed, unknown or of another tenant answers 404',
  schema: { type: 'string', pattern: JOB_ID_PATTERN.source },
};

/** A route's query parameters, from the same schema the route's rules are written in. */
export function queryParameters(schema: z.ZodType): OpenApiParameter[] {
  const query = z.toJSONSchema(schema, { ...JSON_SCHEMA_OPTIONS, io: 'input' }) as { properties: Record<string, JsonSchema> };
  return Object.entries(query.properties).map(([name, schema]) => {
    const { description, ...rest } = referenceNamedEnums(schema) as JsonSchema;
    return { name, in: 'query', required: false, ...(typeof description === 'string' ? { description } : {}), schema: rest };
  });
}
