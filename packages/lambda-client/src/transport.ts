import { backoffDelay, sleep } from '@inno-train/core';
import { z } from 'zod';
import { LAMBDA_ERROR_CODES, LambdaApiError, isRetryableResponse } from './errors';
import { ErrorEnvelopeSchema } from './schemas';
import type { Pacer, PacerKind } from './pacer';

/** pino's Logger fits this shape; so does a console-like test double. */
export interface LambdaClientLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** One attempt after it settled: what `onRequest` is told (for metrics; never the path or a key). */
export interface LambdaRequestRecord {
  /** The client's operation name ("launch", "getInstance"...): a closed set, unlike the path. */
  operation: string;
  method: RequestSpec<unknown>['method'];
  /** The HTTP status as a string, or `timeout` / `network` when no answer came. */
  code: string;
  ms: number;
}

export interface TransportConfig {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  fetch: typeof fetch;
  pacer: Pacer;
  maxRetries: number;
  retryBaseMs: number;
  retryCapMs: number;
  logger: LambdaClientLogger | undefined;
  onRequest?: ((record: LambdaRequestRecord) => void) | undefined;
}

export interface RequestSpec<T> {
  /** Names the call in logs: "launch", "getInstance"... */
  operation: string;
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  body?: unknown;
  schema: z.ZodType<T>;
  pace: PacerKind;
  /**
   * Whether the call may be repeated after a failure that might have taken effect (timeout, 5xx).
   * False for launch: a second launch could start a second billed instance.
   */
  repeatable: boolean;
}

// A server's Retry-After beyond this is not believed: the step job's own retry is the better wait.
const MAX_RETRY_AFTER_MS = 60_000;
// Failures before the request left this host: nothing can have been carried out, even for launch.
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

export function parseRetryAfter(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(0, Math.round(ms)), MAX_RETRY_AFTER_MS) : undefined;
}

function causeCode(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown } | null)?.cause as { code?: unknown; errors?: { code?: unknown }[] } | undefined;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  return typeof code === 'string' ? code : undefined;
}

// Duck-typed, not instanceof: fetch and AbortSignal errors can come from another realm (a DOMException
// from a test sandbox's host, for one), where `instanceof Error` is false.
function describeThrown(err: unknown): { name?: string; message: string } {
  if (typeof err !== 'object' || err === null) return { message: String(err) };
  const { name, message } = err as { name?: unknown; message?: unknown };
  return { ...(typeof name === 'string' ? { name } : {}), message: typeof message === 'string' ? message : String(err) };
}

function transportError(err: unknown, spec: RequestSpec<unknown>, timeoutMs: number): LambdaApiError {
  const where = `Lambda API ${spec.method} ${spec.path}`;
  const thrown = describeThrown(err);
  if (thrown.name === 'TimeoutError' || thrown.name === 'AbortError') {
    return new LambdaApiError(LAMBDA_ERROR_CODES.timeout, `${where} did not answer within ${timeoutMs} ms`, {
      retryable: true,
      outcomeUnknown: true,
      cause: err,
    });
  }
  const code = causeCode(err);
  const reason = code ?? thrown.message;
  return new LambdaApiError(LAMBDA_ERROR_CODES.network, `${where} failed before any answer: ${reason}`, {
    retryable: true,
    outcomeUnknown: code === undefined || !NOT_SENT_CODES.has(code),
    cause: err,
    details: { networkCode: code },
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function responseError(status: number, headers: Headers, json: unknown, spec: RequestSpec<unknown>): LambdaApiError {
  const envelope = ErrorEnvelopeSchema.safeParse(json);
  const apiError = envelope.success ? envelope.data.error : undefined;
  // 429's body is undocumented; any other status without the envelope (a proxy's HTML page) is named by its status.
  const code = apiError?.code ?? (status === 429 ? LAMBDA_ERROR_CODES.rateLimited : `http/${status}`);
  const detail = apiError?.message ? `: ${apiError.message}` : '';
  return new LambdaApiError(code, `Lambda API ${spec.method} ${spec.path} failed with HTTP ${status} (${code})${detail}`, {
    status,
    retryable: isRetryableResponse(status, code),
    outcomeUnknown: status >= 500 || code.startsWith('provider/'),
    retryAfterMs: parseRetryAfter(headers.get('retry-after')),
    ...(apiError?.suggestion ? { suggestion: apiError.suggestion } : {}),
  });
}

function parseSuccess<T>(status: number, json: unknown, spec: RequestSpec<T>): T {
  const parsed = z.looseObject({ data: spec.schema }).safeParse(json);
  if (parsed.success) return parsed.data.data as T;
  const issues = json === undefined ? 'the body is not JSON' : z.prettifyError(parsed.error);
  throw new LambdaApiError(
    LAMBDA_ERROR_CODES.invalidResponse,
    `Lambda API ${spec.method} ${spec.path} answered HTTP ${status} with an unexpected body: ${issues}`,
    { status, retryable: false, details: { issues: json === undefined ? [] : parsed.error.issues } },
  );
}

/** One attempt: pace, send, read the body under the same deadline, and map the outcome. */
async function sendOnce<T>(config: TransportConfig, spec: RequestSpec<T>): Promise<T> {
  await config.pacer.acquire(spec.pace);
  const started = Date.now();
  const report = (code: string) => {
    try {
      config.onRequest?.({ operation: spec.operation, method: spec.method, code, ms: Date.now() - started });
    } catch {
      // Accounting must never break a cloud call.
    }
  };
  let status: number;
  let headers: Headers;
  let text: string;
  try {
    const res = await config.fetch(`${config.baseUrl.replace(/\/+$/, '')}${spec.path}`, {
      method: spec.method,
      headers: {
        authorization: `Bearer ${config.apiKey}`,
        accept: 'application/json',
        ...(spec.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: spec.body === undefined ? null : JSON.stringify(spec.body),
      // One deadline for the answer and its body: a response that stalls mid-body is a timeout too.
      signal: AbortSignal.timeout(config.timeoutMs),
    });
    status = res.status;
    headers = res.headers;
    text = await res.text();
  } catch (err) {
    const error = transportError(err, spec, config.timeoutMs);
    report(error.code === LAMBDA_ERROR_CODES.timeout ? 'timeout' : 'network');
    throw error;
  }
  report(String(status));
  const json = parseJson(text);
  if (status >= 200 && status < 300) return parseSuccess(status, json, spec);
  throw responseError(status, headers, json, spec);
}

export function createTransport(config: TransportConfig) {
  function shouldRetry(err: unknown, spec: RequestSpec<unknown>, attempt: number): err is LambdaApiError {
    if (!(err instanceof LambdaApiError) || !err.retryable || attempt >= config.maxRetries) return false;
    // A launch that may have happened is surfaced, not repeated: the caller looks for the instance
    // by its tags first, or it would pay for two. A 429 means "not carried out", so it is retried.
    return spec.repeatable || !err.outcomeUnknown;
  }

  async function request<T>(spec: RequestSpec<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await sendOnce(config, spec);
      } catch (err) {
        if (!shouldRetry(err, spec, attempt)) throw err;
        const backoff = backoffDelay(attempt, config.retryBaseMs, config.retryCapMs);
        const delayMs = Math.max(err.retryAfterMs ?? 0, backoff);
        config.logger?.warn(
          { operation: spec.operation, code: err.code, status: err.status, attempt: attempt + 1, delayMs },
          `Lambda API ${spec.operation} failed with ${err.code} (attempt ${attempt + 1} of ${config.maxRetries + 1}); retrying in ${delayMs} ms`,
        );
        await sleep(delayMs);
      }
    }
  }

  return { request };
}

export type Transport = ReturnType<typeof createTransport>;
