import { randomUUID } from 'node:crypto';
import {
  adminUsageSchema,
  jobEventListSchema,
  jobListSchema,
  jobMetricsPageSchema,
  jobOutputListSchema,
  publicJobSchema,
  tenantUsageSchema,
} from '@inno-train/schemas';
import { checkpointsApi, type CheckpointsApi } from './checkpoints';
import { fetchPresigned } from './download';
import { followStream } from './follow';
import { InnoTrainError } from './errors';
import { jobPath, outputPath } from './paths';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry';
import { send, urlFor, type Answer, type Call, type TransportConfig } from './transport';
import type {
  CallOptions,
  CreateJobBody,
  CreateOptions,
  FollowOptions,
  Job,
  JobEventList,
  JobList,
  JobOutput,
  JobOutputList,
  JobMetricsPage,
  ListParams,
  MetricPoint,
  MetricsParams,
  OutputListParams,
  ResponseSchema,
  StreamMessage,
  RetryJobBody,
  Submitted,
  Usage,
  WaitOptions,
} from './types';
import { waitUntilSettled } from './wait';
import { webhooksApi, type WebhooksApi } from './webhooks';

export type { CheckpointsApi } from './checkpoints';
export type { WebhooksApi } from './webhooks';

export interface ClientOptions {
  /** Where the API answers, e.g. `http://127.0.0.1:3000` (a path prefix is kept). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; never put in an error message. */
  apiKey: string;
  /**
   * The fetch to use (a proxy agent, a test double).
   * @defaultValue the global fetch
   */
  fetch?: typeof fetch;
  /** When and how often calls are tried again; unset fields keep DEFAULT_RETRY_POLICY's. */
  retry?: Partial<RetryPolicy>;
  /**
   * The User-Agent, e.g. `billing-service/2.1`; the client appends its own name.
   * @defaultValue `@inno-train/client`
   */
  userAgent?: string;
  /**
   * Per try, in ms: a try that takes longer is abandoned and counts as a lost answer.
   * @defaultValue 30000
   */
  timeoutMs?: number;
  /**
   * Check every JSON answer against the API's zod schemas and throw `invalid_response` on a
   * mismatch. Off by default: a newer API may add fields or enum values this build does not know.
   * @defaultValue false
   */
  validate?: boolean;
}

export interface JobsApi extends CheckpointsApi {
  /** POST /v1/jobs with an Idempotency-Key; retried (same key) on 5xx, 429 and lost answers. */
  create(body: CreateJobBody, options?: CreateOptions): Promise<Job>;
  /** As `create`, and tells whether the job was made by this call or by an earlier one with the same key. */
  createWithResponse(body: CreateJobBody, options?: CreateOptions): Promise<Submitted>;
  /**
   * POST /v1/jobs/:id/retry: a new job from the stored request of job `id`, with `overrides` (its
   * `retryOf` is `id`). Sent with an Idempotency-Key and retried like `create`.
   */
  retry(id: string, body?: RetryJobBody, options?: CreateOptions): Promise<Job>;
  /** As `retry`, with the answer's `replayed` and request id. */
  retryWithResponse(id: string, body?: RetryJobBody, options?: CreateOptions): Promise<Submitted>;
  retrieve(id: string, options?: CallOptions): Promise<Job>;
  /**
   * One page: `{data, hasMore, nextAfter}`, newest first. With filters a page can be short, even
   * empty, while `hasMore` is true: ask again with `after: nextAfter` (or let `list` do it).
   */
  listPage(params?: ListParams, options?: CallOptions): Promise<JobList>;
  /** Every job matching `params`, newest first, fetching page after page (following `nextAfter`) as it is iterated. */
  list(params?: ListParams, options?: CallOptions): AsyncGenerator<Job, void, undefined>;
  /** The job, now cancelled; cancelling a cancelled job answers it again (a finished one: 409 `job_finished`). */
  cancel(id: string, options?: CallOptions): Promise<Job>;
  /** Deletes a finished, settled job's record, events and log (409 `job_not_finished` before that). */
  delete(id: string, options?: CallOptions): Promise<void>;
  /** One page of the job's events after event `after` (0: from the start), oldest first: `{data, hasMore}`. */
  events(id: string, params?: { after?: number; limit?: number }, options?: CallOptions): Promise<JobEventList>;
  /**
   * The training output from byte `offset` of everything the job printed (0: what the service still
   * holds). After the job, a log archived in S3 is fetched from its presigned URL (the API's 302),
   * without the API key, with `Range: bytes=offset-`: the whole log, not only the stored tail.
   */
  logs(id: string, params?: { offset?: number }, options?: CallOptions): Promise<string>;
  /** Polls until `settledAt` is set (not merely a finished status) and resolves with that job. */
  waitUntilSettled(id: string, options?: WaitOptions): Promise<Job>;
  /** One page of the job's uploaded outputs, in path order: `{data: [{path, uri, size}], hasMore}`. */
  outputs(id: string, params?: OutputListParams, options?: CallOptions): Promise<JobOutputList>;
  /** Every output of the job, in path order, fetching page after page as it is iterated. */
  listOutputs(id: string, params?: OutputListParams, options?: CallOptions): AsyncGenerator<JobOutput, void, undefined>;
  /**
   * A short-lived presigned S3 URL for the output at `path` (as `outputs` lists it). The API's
   * redirect is read, not followed: the request carrying the API key goes to the API only.
   */
  outputUrl(id: string, path: string, options?: CallOptions): Promise<string>;
  /**
   * The output's bytes, straight from S3 through its presigned URL (fetched with none of the API's
   * headers): a 2xx Response whose body is not yet read. Failures throw InnoTrainError (`http_403`
   * for an expired URL, `output_not_found` from the API, ...).
   */
  downloadOutput(id: string, path: string, options?: CallOptions): Promise<Response>;
  /**
   * One page of the job's metric series, by step: `{data: [{step, at, values}], hasMore, stride, total}`.
   * `after` is the last step already seen.
   */
  metrics(id: string, params?: MetricsParams, options?: CallOptions): Promise<JobMetricsPage>;
  /** Every point of the job's metric series, by step, fetching page after page (after = the last step) as it is iterated. */
  listMetrics(id: string, params?: MetricsParams, options?: CallOptions): AsyncGenerator<MetricPoint, void, undefined>;
  /**
   * The job live (GET /v1/jobs/:id/stream): `status`, `progress`, `event` and `log` messages as they
   * happen, then `end` once the job is settled, and the iterator ends. A dropped connection is made
   * again with `Last-Event-ID`, so every message comes once, in order. Abort `signal` (or `break`)
   * to stop; `lastEventId` resumes after a message an earlier follow handed out.
   */
  follow(id: string, options?: FollowOptions): AsyncGenerator<StreamMessage, void, undefined>;
}

export interface InnoTrainClient {
  jobs: JobsApi;
  webhooks: WebhooksApi;
  usage(options?: CallOptions): Promise<Usage>;
}

const USAGE_SCHEMA: ResponseSchema = adminUsageSchema.or(tenantUsageSchema);

const DEFAULT_TIMEOUT_MS = 30_000;
const CLIENT_AGENT = '@inno-train/client';

/** A Date as ISO 8601; a string as the caller wrote it (the API says what is wrong with it). */
const instant = (value: Date | string | undefined) => (value instanceof Date ? value.toISOString() : value);

/** ListParams as GET /v1/jobs's query: statuses comma-joined, each metadata pair as `metadata.<key>`. */
function listQuery(params: ListParams): Record<string, string | number | undefined> {
  const { status, name, metadata, createdAfter, createdBefore, limit, after, createdBy } = params;
  const query: Record<string, string | number | undefined> = {
    status: typeof status === 'string' || status === undefined ? status : status.join(','),
    name,
  };
  for (const [key, value] of Object.entries(metadata ?? {})) query[`metadata.${key}`] = value;
  return { ...query, createdAfter: instant(createdAfter), createdBefore: instant(createdBefore), limit, after, createdBy };
}

/** A page that claims more but gives no way on: following it would ask for the same page forever. */
function stuckPaging(call: Call, why: string): InnoTrainError {
  return new InnoTrainError({ code: 'invalid_response', status: 200, message: `${call.method} ${call.path}: ${why}` });
}

function invalidResponse(call: Call, answer: Answer, why: string, details?: { path: string; message: string }[]): InnoTrainError {
  const requestId = answer.headers.get('x-request-id');
  return new InnoTrainError({
    code: 'invalid_response',
    status: answer.status,
    requestId,
    details,
    message: `${call.method} ${call.path}: ${answer.status} answer ${why}${requestId ? ` (request ${requestId})` : ''}`,
  });
}

/** The base URL without a trailing slash; refuses user-info, which fetch would echo into its errors. */
function baseUrlOf(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError('createClient: baseUrl is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('createClient: baseUrl must be http:// or https://');
  if (url.username || url.password) throw new TypeError('createClient: baseUrl must not contain credentials (the API key goes in apiKey)');
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

export function createClient(options: ClientOptions): InnoTrainClient {
  const config: TransportConfig = {
    baseUrl: baseUrlOf(options.baseUrl),
    apiKey: options.apiKey,
    fetch: options.fetch ?? globalThis.fetch,
    retry: { ...DEFAULT_RETRY_POLICY, ...options.retry },
    userAgent: options.userAgent ? `${options.userAgent} ${CLIENT_AGENT}` : CLIENT_AGENT,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  };

  /** The answer's JSON (checked against `schema` if asked), with the answer for its headers. */
  async function jsonAnswer<T>(call: Call, schema: ResponseSchema): Promise<{ value: T; answer: Answer }> {
    const answer = await send(config, call);
    let value: unknown;
    try {
      value = JSON.parse(answer.text);
    } catch {
      throw invalidResponse(call, answer, 'is not JSON');
    }
    if (options.validate) {
      const result = schema.safeParse(value);
      if (!result.success) {
        const details = (result.error?.issues ?? []).map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
        throw invalidResponse(
          call,
          answer,
          `does not match the API's schema: ${details.map((d) => d.path || '(body)').join(', ')}`,
          details,
        );
      }
    }
    // The JSON as sent, not zod's output: validation checks, it does not strip fields a newer API added.
    return { value: value as T, answer };
  }

  const json = async <T>(call: Call, schema: ResponseSchema): Promise<T> => (await jsonAnswer<T>(call, schema)).value;

  /** POST that makes a job: one Idempotency-Key for every try, so a retry after a lost answer gets the job the first try made. */
  async function submit(path: string, body: unknown, options: CreateOptions): Promise<Submitted> {
    const headers = { 'idempotency-key': options.idempotencyKey ?? randomUUID() };
    const call: Call = { method: 'POST', path, body, headers, signal: options.signal };
    const { value, answer } = await jsonAnswer<Job>(call, publicJobSchema);
    return { job: value, replayed: answer.headers.get('idempotent-replayed') === 'true', requestId: answer.headers.get('x-request-id') };
  }

  const retrieve = (id: string, call: CallOptions = {}) =>
    json<Job>({ method: 'GET', path: jobPath(id), signal: call.signal }, publicJobSchema);

  const listCall = (params: ListParams, call: CallOptions): Call => ({
    method: 'GET',
    path: '/v1/jobs',
    query: listQuery(params),
    signal: call.signal,
  });

  const listPage = (params: ListParams = {}, call: CallOptions = {}) => json<JobList>(listCall(params, call), jobListSchema);

  async function* list(params: ListParams = {}, call: CallOptions = {}): AsyncGenerator<Job, void, undefined> {
    let after = params.after;
    for (;;) {
      const page = await listPage({ ...params, after }, call);
      yield* page.data;
      if (!page.hasMore) return;
      // With filters, nextAfter can lie past the last job shown (or a page be empty); an API from
      // before nextAfter answered without it, and its next page started after the last id.
      const next = typeof page.nextAfter === 'string' ? page.nextAfter : page.data.at(-1)?.id;
      if (next === undefined || next === after) {
        throw stuckPaging(listCall({ ...params, after }, call), 'answered hasMore with no nextAfter past this page');
      }
      after = next;
    }
  }

  const outputsCall = (id: string, params: OutputListParams, call: CallOptions): Call => ({
    method: 'GET',
    path: jobPath(id, '/outputs'),
    query: { after: params.after, limit: params.limit },
    signal: call.signal,
  });

  const outputs = (id: string, params: OutputListParams = {}, call: CallOptions = {}) =>
    json<JobOutputList>(outputsCall(id, params, call), jobOutputListSchema);

  async function* listOutputs(
    id: string,
    params: OutputListParams = {},
    call: CallOptions = {},
  ): AsyncGenerator<JobOutput, void, undefined> {
    let after = params.after;
    for (;;) {
      const page = await outputs(id, { ...params, after }, call);
      yield* page.data;
      if (!page.hasMore) return;
      const next = page.data.at(-1)?.path;
      if (next === undefined || next === after) {
        throw stuckPaging(outputsCall(id, { ...params, after }, call), 'answered hasMore with no path past this page');
      }
      after = next;
    }
  }

  async function outputUrl(id: string, path: string, options: CallOptions = {}): Promise<string> {
    // `manual`: the 302 is the answer. Following it would be safe with Node's fetch (it drops
    // Authorization across origins), but not with every fetch a caller may hand in.
    const call: Call = { method: 'GET', path: outputPath(id, path), redirect: 'manual', signal: options.signal };
    const answer = await send(config, call);
    const location = answer.headers.get('location');
    if (answer.status < 300 || answer.status > 399 || !location) throw invalidResponse(call, answer, 'is not a redirect with a Location');
    return new URL(location, urlFor(config.baseUrl, call)).toString();
  }

  const metricsCall = (id: string, params: MetricsParams, call: CallOptions): Call => ({
    method: 'GET',
    path: jobPath(id, '/metrics'),
    query: { after: params.after, limit: params.limit },
    signal: call.signal,
  });

  const metrics = (id: string, params: MetricsParams = {}, call: CallOptions = {}) =>
    json<JobMetricsPage>(metricsCall(id, params, call), jobMetricsPageSchema);

  async function* listMetrics(
    id: string,
    params: MetricsParams = {},
    call: CallOptions = {},
  ): AsyncGenerator<MetricPoint, void, undefined> {
    let after = params.after;
    for (;;) {
      const page = await metrics(id, { ...params, after }, call);
      yield* page.data;
      if (!page.hasMore) return;
      const next = page.data.at(-1)?.step;
      if (next === undefined || next === after) {
        throw stuckPaging(metricsCall(id, { ...params, after }, call), 'answered hasMore with no step past this page');
      }
      after = next;
    }
  }

  const webhooks = webhooksApi(config, json);

  const jobs: JobsApi = {
    create: async (body, options = {}) => (await submit('/v1/jobs', body, options)).job,
    createWithResponse: (body, options = {}) => submit('/v1/jobs', body, options),
    retry: async (id, body = {}, options = {}) => (await submit(jobPath(id, '/retry'), body, options)).job,
    retryWithResponse: (id, body = {}, options = {}) => submit(jobPath(id, '/retry'), body, options),
    retrieve,
    listPage,
    list,
    cancel: (id, call = {}) => json<Job>({ method: 'POST', path: jobPath(id, '/cancel'), signal: call.signal }, publicJobSchema),
    async delete(id, call = {}) {
      // A 404 to a retry after a lost answer: the lost try deleted it, which is what was asked.
      await send(config, { method: 'DELETE', path: jobPath(id), signal: call.signal, doneAfterLostAnswer: 404 });
    },
    events: (id, params = {}, call = {}) =>
      json<JobEventList>({ method: 'GET', path: jobPath(id, '/events'), query: { ...params }, signal: call.signal }, jobEventListSchema),
    async logs(id, params = {}, call = {}) {
      // `manual`: a 302 points at the archived log on S3, fetched below without the API key.
      const logsCall: Call = {
        method: 'GET',
        path: jobPath(id, '/logs'),
        query: { ...params },
        headers: { accept: 'text/plain' },
        redirect: 'manual',
        signal: call.signal,
      };
      const answer = await send(config, logsCall);
      if (answer.status < 300 || answer.status > 399) return answer.text;
      const location = answer.headers.get('location');
      if (!location) throw invalidResponse(logsCall, answer, 'is a redirect without a Location');
      const url = new URL(location, urlFor(config.baseUrl, logsCall)).toString();
      const offset = params.offset ?? 0;
      try {
        const archived = await fetchPresigned(config.fetch, url, config.retry, call.signal, offset > 0 ? `bytes=${offset}-` : undefined);
        return await archived.text();
      } catch (error) {
        // From the end of the archived log or past it: nothing more, as the API answers such an offset.
        if (error instanceof InnoTrainError && error.status === 416) return '';
        throw error;
      }
    },
    waitUntilSettled: (id, wait) => waitUntilSettled(retrieve, id, wait),
    outputs,
    listOutputs,
    outputUrl,
    async downloadOutput(id, path, call = {}) {
      return fetchPresigned(config.fetch, await outputUrl(id, path, call), config.retry, call.signal);
    },
    metrics,
    listMetrics,
    ...checkpointsApi(json),
    follow: (id, follow = {}) => followStream(config, jobPath(id, '/stream'), follow),
  };

  return {
    jobs,
    webhooks,
    usage: (call = {}) => json<Usage>({ method: 'GET', path: '/v1/usage', signal: call.signal }, USAGE_SCHEMA),
  };
}
