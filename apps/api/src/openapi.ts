/**
 * The OpenAPI 3.1 document of the API (GET /v1/openapi.json), assembled from the zod schemas in
 * @inno-train/schemas: zod 4 writes JSON Schema 2020-12, which is OpenAPI 3.1's own dialect, so the
 * bodies described here are the ones the code declares. The paths, statuses and headers are written
 * out below from what the routes answer; the API's tests validate every answer they receive against
 * this document (test/contract-setup.ts), so an answer the document does not describe fails a test.
 */
import {
  jobEventQuerySchema,
  jobListQuerySchema,
  jobLogQuerySchema,
  jobOutputQuerySchema,
  MAX_METADATA_FILTERS,
} from '@inno-train/schemas';
import {
  schemaRef,
  json,
  componentSchemas,
  requiredHeader,
  TEXT,
  LOG_HEADERS,
  REQUEST_ID_HEADER,
  RATE_LIMIT_HEADERS,
  errorResponse,
  BODY_ERRORS,
  errors,
  success,
  JOB_ID_PARAMETER,
  queryParameters,
  type OpenApiParameter,
  type OpenApiPathItem,
  type OpenApiDocument,
} from './openapi-parts';
import { checkpointPaths } from './openapi-checkpoints';
import { metricsPaths } from './openapi-metrics';
import { OUTPUT_LINK_SECONDS } from './outputs';
import { streamPaths } from './openapi-stream';
import { webhookPaths } from './openapi-webhooks';

export { HTTP_METHODS, type HttpMethod, type OpenApiDocument, type OpenApiResponse } from './openapi-parts';

const IDEMPOTENCY_KEY_PARAMETER: OpenApiParameter = {
  name: 'Idempotency-Key',
  in: 'header',
  description: 'makes retries safe for 24 hours: the same key and request answer with the same job',
  schema: { type: 'string', pattern: '^[!-~]{1,255}$' },
};

function jobsPath(): OpenApiPathItem {
  return {
    post: {
      operationId: 'createJob',
      summary: 'Submit a job',
      description:
        "Validates the submission, checks every input exists and is under the key's prefixes, and queues the job. " +
        'With an Idempotency-Key, sending the same request again answers with the job it made (Idempotent-Replayed: true).',
      tags: ['jobs'],
      parameters: [IDEMPOTENCY_KEY_PARAMETER],
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
      description:
        'Pages of `limit`; pass `nextAfter` as `after` for the next page while `hasMore`. Admin keys see every tenant. ' +
        `Besides the parameters below, up to ${MAX_METADATA_FILTERS} \`metadata.<key>=<value>\` parameters keep the jobs ` +
        'whose metadata has each key with that value (e.g. `?metadata.team=vision&metadata.run=7`). ' +
        'Name and metadata filters look through a bounded number of jobs per request: such a page can be short, or empty, ' +
        'with `hasMore` true and `nextAfter` past its last job.',
      tags: ['jobs'],
      parameters: [
        ...queryParameters(jobListQuerySchema),
        {
          name: 'metadata.{key}',
          in: 'query',
          required: false,
          description: 'stands for any number of metadata.<key>=<value> parameters (see above); not a literal name',
          schema: { type: 'string', maxLength: 1024 },
        },
      ],
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
    '/v1/jobs/{id}/retry': {
      post: {
        operationId: 'retryJob',
        summary: 'Run a job again from its stored request',
        description:
          'Submits a new job from the stored request of this one (inline script and env included), with `overrides` ' +
          'replacing whole fields. It is checked like any submission (prefixes, inputs, budget) and takes an Idempotency-Key. ' +
          'The new job has `retryOf` set; an output location the service chose is chosen anew.',
        tags: ['jobs'],
        parameters: [...job, IDEMPOTENCY_KEY_PARAMETER],
        requestBody: { required: false, content: json(schemaRef('JobRetryRequest')) },
        responses: {
          '202': success('The new job, queued (or, for a replayed Idempotency-Key, the job made before)', json(schemaRef('Job')), {
            Location: { description: "the new job's URL", required: true, schema: { type: 'string' } },
            'Idempotent-Replayed': { description: 'present when the answer is an earlier job', schema: { type: 'string', enum: ['true'] } },
          }),
          ...errors([402, 403, 404, ...BODY_ERRORS]),
          '409': errorResponse('The Idempotency-Key made a job that was since deleted', ['idempotency_key_reused'], RATE_LIMIT_HEADERS),
          '422': errorResponse('The Idempotency-Key was used with a different request', ['idempotency_key_reused'], RATE_LIMIT_HEADERS),
        },
      },
    },
    ...outputPaths(),
    '/v1/jobs/{id}/events': {
      get: {
        operationId: 'listJobEvents',
        summary: "The job's events, oldest first, a page at a time",
        tags: ['jobs'],
        parameters: [...job, ...queryParameters(jobEventQuerySchema)],
        responses: { '200': success('Events after `after`', json(schemaRef('JobEventList'))), ...errors([404]) },
      },
    },
    '/v1/jobs/{id}/logs': {
      get: {
        operationId: 'getJobLogs',
        summary: "The training's output, from an offset",
        description:
          'The service keeps the last 8 MiB of what the job printed; offsets count every byte it ever printed. ' +
          '`?offset=N` or `Range: bytes=N-` (206) answer from byte N; X-Log-Offset says where the answer really starts ' +
          '(later than N when those bytes were cut), X-Log-Truncated whether the stored log lost its beginning. ' +
          'At stage-out the whole train.log is archived to S3 (kept after the job record is deleted). Once it is, a request ' +
          'the stored copy cannot answer in full (its bytes from N were cut) is a 302 to a short-lived presigned GET of ' +
          'the archive: follow it without the API key; a `Range: bytes=N-` sent along is answered by S3 (206), and after ' +
          'a 302 to `?offset=N` send `Range: bytes=N-` to the Location yourself. Requests the stored copy holds in full ' +
          'are answered as before. A job that started over on a new host is answered from the stored copy only ' +
          "(the archive holds the last host's log).",
        tags: ['jobs'],
        parameters: [
          ...job,
          ...queryParameters(jobLogQuerySchema),
          {
            name: 'Range',
            in: 'header',
            required: false,
            description: 'bytes=N- (only this form)',
            schema: { type: 'string', pattern: '^bytes=\\d+-$' },
          },
        ],
        responses: {
          '200': success('The log from the offset, as text', TEXT, LOG_HEADERS),
          '206': success('The log from the Range start, as text', TEXT, {
            ...LOG_HEADERS,
            'Content-Range': requiredHeader('bytes start-end/size'),
          }),
          '302': success('The job ended and its log is archived: to a presigned GET of the whole log (S3 takes the Range)', undefined, {
            Location: {
              description: 'the presigned S3 URL of the archived log',
              required: true,
              schema: { type: 'string', format: 'uri' },
            },
            'Cache-Control': { description: 'no-store: the link is a short-lived credential', required: true, schema: { type: 'string' } },
            'X-Log-Size': LOG_HEADERS['X-Log-Size']!,
          }),
          ...errors([404]),
          '416': errorResponse('The Range starts at or past the end of the log', ['range_not_satisfiable'], {
            ...RATE_LIMIT_HEADERS,
            'Content-Range': requiredHeader('bytes */size'),
          }),
        },
      },
    },
  };
}

function outputPaths(): Record<string, OpenApiPathItem> {
  return {
    '/v1/jobs/{id}/outputs': {
      get: {
        operationId: 'listJobOutputs',
        summary: "The job's uploaded outputs, in path order, a page at a time",
        tags: ['outputs'],
        parameters: [JOB_ID_PARAMETER, ...queryParameters(jobOutputQuerySchema)],
        responses: { '200': success('Outputs after `after`', json(schemaRef('JobOutputList'))), ...errors([404]) },
      },
    },
    '/v1/jobs/{id}/outputs/{path}': {
      get: {
        operationId: 'downloadJobOutput',
        summary: 'Download one output: a redirect to a presigned S3 GET',
        description:
          `Answers 302 to a presigned GET of the object, valid for ${OUTPUT_LINK_SECONDS} s: the bytes come from S3, ` +
          'not through the API. Follow it without the Authorization header (the link carries its own signature). ' +
          "`path` is the output's path as listed, slashes included, each segment percent-encoded.",
        tags: ['outputs'],
        parameters: [
          JOB_ID_PARAMETER,
          { name: 'path', in: 'path', required: true, description: 'the output path (may contain /)', schema: { type: 'string' } },
        ],
        responses: {
          '302': success('To the presigned GET', undefined, {
            Location: { description: 'the presigned S3 URL', required: true, schema: { type: 'string', format: 'uri' } },
            'Cache-Control': { description: 'no-store: the link is a short-lived credential', required: true, schema: { type: 'string' } },
          }),
          ...errors([]),
          '404': errorResponse(
            'No such job, or the job has no output at that path',
            ['job_not_found', 'output_not_found'],
            RATE_LIMIT_HEADERS,
          ),
        },
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
    '/livez': {
      get: {
        operationId: 'getLiveness',
        summary: 'Whether the process is alive (liveness probe; never looks at Redis)',
        tags: ['service'],
        security: [],
        responses: {
          '200': {
            description: 'Alive',
            headers: REQUEST_ID_HEADER,
            content: json({ type: 'object', properties: { status: { const: 'ok' } }, required: ['status'], additionalProperties: false }),
          },
        },
      },
    },
    '/readyz': {
      get: {
        operationId: 'getReadiness',
        summary: 'Whether this replica can serve requests now: Redis answers (readiness probe)',
        tags: ['service'],
        security: [],
        responses: {
          '200': { description: 'Ready', headers: REQUEST_ID_HEADER, content: json(schemaRef('Health')) },
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
      { name: 'jobs', description: 'Training jobs: submit, follow, cancel, retry, delete' },
      { name: 'outputs', description: "A job's uploaded files: list them, download one through a presigned link" },
      { name: 'service', description: 'Usage, health and this document' },
      { name: 'webhooks', description: "Endpoints that receive the tenant's job events, signed (Standard Webhooks)" },
    ],
    paths: {
      '/v1/jobs': jobsPath(),
      '/v1/jobs/{id}': jobPath(),
      ...jobActionPaths(),
      ...streamPaths(),
      ...metricsPaths(),
      ...checkpointPaths(),
      ...servicePaths(),
      ...webhookPaths(),
    },
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
