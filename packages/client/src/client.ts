import { randomUUID } from 'node:crypto';
import { adminUsageSchema, jobEventListSchema, jobListSchema, publicJobSchema, tenantUsageSchema } from '@inno-train/schemas';
import { InnoTrainError } from './errors';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry';
import { send, type Answer, type Call, type TransportConfig } from './transport';
import type { CallOptions, CreateJobBody, CreateOptions, Job, JobEventList, JobList, ListParams, Usage, WaitOptions } from './types';
import { waitUntilSettled } from './wait';

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

export interface JobsApi {
  /** POST /v1/jobs with an Idempotency-Key; retried (same key) on 5xx, 429 and lost answers. */
  create(body: CreateJobBody, options?: CreateOptions): Promise<Job>;
  retrieve(id: string, options?: CallOptions): Promise<Job>;
  /** One page: `{data, hasMore}`, newest first. */
  listPage(params?: ListParams, options?: CallOptions): Promise<JobList>;
  /** Every job matching `params`, newest first, fetching page after page as it is iterated. */
  list(params?: ListParams, options?: CallOptions): AsyncGenerator<Job, void, undefined>;
  /** The job, now cancelled; cancelling a cancelled job answers it again (a finished one: 409 `job_finished`). */
  cancel(id: string, options?: CallOptions): Promise<Job>;
  /** Deletes a finished, settled job's record, events and log (409 `job_not_finished` before that). */
  delete(id: string, options?: CallOptions): Promise<void>;
  /** One page of the job's events after event `after` (0: from the start), oldest first: `{data, hasMore}`. */
  events(id: string, params?: { after?: number; limit?: number }, options?: CallOptions): Promise<JobEventList>;
  /** The training output from byte `offset` of everything the job printed (0: what the service still holds). */
  logs(id: string, params?: { offset?: number }, options?: CallOptions): Promise<string>;
  /** Polls until `settledAt` is set (not merely a finished status) and resolves with that job. */
  waitUntilSettled(id: string, options?: WaitOptions): Promise<Job>;
}

export interface InnoTrainClient {
  jobs: JobsApi;
  usage(options?: CallOptions): Promise<Usage>;
}

/** Just what validation needs of a zod schema, so this file does not depend on zod's types. */
interface ResponseSchema {
  safeParse(value: unknown): { success: boolean; error?: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

const USAGE_SCHEMA: ResponseSchema = adminUsageSchema.or(tenantUsageSchema);

const DEFAULT_TIMEOUT_MS = 30_000;
const CLIENT_AGENT = '@inno-train/client';

const jobPath = (id: string, tail = '') => `/v1/jobs/${encodeURIComponent(id)}${tail}`;

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

  async function json<T>(call: Call, schema: ResponseSchema): Promise<T> {
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
    return value as T;
  }

  const retrieve = (id: string, call: CallOptions = {}) =>
    json<Job>({ method: 'GET', path: jobPath(id), signal: call.signal }, publicJobSchema);

  const listPage = (params: ListParams = {}, call: CallOptions = {}) =>
    json<JobList>({ method: 'GET', path: '/v1/jobs', query: { ...params }, signal: call.signal }, jobListSchema);

  async function* list(params: ListParams = {}, call: CallOptions = {}): AsyncGenerator<Job, void, undefined> {
    let after = params.after;
    for (;;) {
      const page = await listPage({ ...params, after }, call);
      yield* page.data;
      const last = page.data.at(-1);
      if (!page.hasMore || last === undefined) return;
      after = last.id;
    }
  }

  const jobs: JobsApi = {
    create(body, create = {}) {
      // One key for every try: a retry after a lost answer gets the job the first try made.
      const headers = { 'idempotency-key': create.idempotencyKey ?? randomUUID() };
      return json<Job>({ method: 'POST', path: '/v1/jobs', body, headers, signal: create.signal }, publicJobSchema);
    },
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
      const answer = await send(config, {
        method: 'GET',
        path: jobPath(id, '/logs'),
        query: { ...params },
        headers: { accept: 'text/plain' },
        signal: call.signal,
      });
      return answer.text;
    },
    waitUntilSettled: (id, wait) => waitUntilSettled(retrieve, id, wait),
  };

  return {
    jobs,
    usage: (call = {}) => json<Usage>({ method: 'GET', path: '/v1/usage', signal: call.signal }, USAGE_SCHEMA),
  };
}
