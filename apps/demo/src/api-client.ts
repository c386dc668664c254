/**
 * A small client for the REST API (apps/api/src/routes.ts). The types describe the JSON the demo
 * reads; they are its own, as any HTTP client's would be, rather than the server's internals.
 */
import { randomUUID } from 'node:crypto';

export interface InstanceView {
  id: string;
  type: string;
  region: string;
  ip: string | null;
  status: string;
  launchedAt: string;
  terminatedAt: string | null;
  priceCentsPerHour: number | null;
}

export interface ProgressView {
  step: number;
  totalSteps?: number;
  epoch?: number;
  loss?: number;
  [metric: string]: number | undefined;
}

export interface JobView {
  id: string;
  name: string | null;
  status: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  instance: InstanceView | null;
  progress: ProgressView | null;
  outputUri: string;
  outputs: { key: string; size: number }[];
  error: { code: string; message: string; stage: string } | null;
}

export interface JobEventView {
  at: string;
  type: string;
  stage: string;
  message: string;
  data?: Record<string, unknown>;
}

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled']);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ApiClient {
  submitJob(body: Record<string, unknown>): Promise<JobView>;
  getJob(id: string): Promise<JobView>;
  getEvents(id: string): Promise<JobEventView[]>;
  getLogs(id: string): Promise<string>;
  cancelJob(id: string): Promise<void>;
}

const REQUEST_TIMEOUT_MS = 15_000;
/** Tries of a submission when the API cannot be reached or answers 503 (Redis restarting). */
const SUBMIT_ATTEMPTS = 3;

function assertJob(value: unknown): JobView {
  const job = value as Partial<JobView> | null;
  if (!job || typeof job.id !== 'string' || typeof job.status !== 'string')
    throw new Error('The API answered with something that is not a job');
  return job as JobView;
}

export function createApiClient(baseUrl: string, apiKey: string): ApiClient {
  const root = baseUrl.replace(/\/+$/, '');

  async function request(method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${apiKey}`, ...extraHeaders };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${root}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (response.ok) return response;
    const text = await response.text();
    let error: { code?: unknown; message?: unknown } = {};
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
    } catch {
      // Not our API's JSON error (a proxy, another program on the port): report the raw text.
    }
    const code = typeof error.code === 'string' ? error.code : `http_${response.status}`;
    const message = typeof error.message === 'string' ? error.message : text.slice(0, 300);
    throw new ApiError(response.status, code, `${method} ${path}: ${response.status} ${code}: ${message}`);
  }

  return {
    async submitJob(body) {
      // One key for every try: a retry after a lost answer gets the job the first try made.
      const headers = { 'idempotency-key': randomUUID() };
      for (let attempt = 1; ; attempt++) {
        try {
          return assertJob(await (await request('POST', '/v1/jobs', body, headers)).json());
        } catch (error) {
          const transient = !(error instanceof ApiError) || error.status === 503;
          if (!transient || attempt >= SUBMIT_ATTEMPTS) throw error;
          await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
        }
      }
    },
    async getJob(id) {
      return assertJob(await (await request('GET', `/v1/jobs/${encodeURIComponent(id)}`)).json());
    },
    async getEvents(id) {
      const page = (await (await request('GET', `/v1/jobs/${encodeURIComponent(id)}/events`)).json()) as { data?: unknown };
      return Array.isArray(page.data) ? (page.data as JobEventView[]) : [];
    },
    async getLogs(id) {
      return (await request('GET', `/v1/jobs/${encodeURIComponent(id)}/logs`)).text();
    },
    async cancelJob(id) {
      try {
        await request('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`);
      } catch (error) {
        // 409: it ended on its own meanwhile, which is what cancelling wanted anyway.
        if (!(error instanceof ApiError && error.status === 409)) throw error;
      }
    },
  };
}

export type Health = 'ok' | 'unhealthy' | 'down';

/** `down`: nothing answers. `unhealthy`: something listens but is not ready (e.g. Redis unreachable). */
export async function probeHealth(baseUrl: string, timeoutMs = 2000): Promise<Health> {
  try {
    const response = await fetch(`${baseUrl.replace(/\/+$/, '')}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.ok ? 'ok' : 'unhealthy';
  } catch {
    return 'down';
  }
}
