/**
 * One call to the API: the request, the retries the policy allows, and the answer turned into text
 * or an InnoTrainError. Every call the client makes goes through `send`.
 */
import { describeFailure, InnoTrainConnectionError, InnoTrainError, type ErrorDetail, type InnoTrainErrorCode } from './errors';
import { parseRetryAfter, retryDelayMs, sleep, type RetryPolicy, type TryFailure } from './retry';

export interface TransportConfig {
  /** The API's root without a trailing slash, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  apiKey: string;
  fetch: typeof fetch;
  retry: RetryPolicy;
  userAgent: string;
  /** Per try: a try that takes longer is abandoned and counts as a lost answer. */
  timeoutMs: number;
}

export interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * What fetch does with a 3xx. `manual`: the 3xx is the answer (its Location is read), so the
   * request, Authorization included, never goes to wherever it points.
   * @defaultValue `follow` (fetch's own; it drops Authorization when the redirect leaves the origin)
   */
  redirect?: RequestInit['redirect'];
  /**
   * An error status that, answered to a retry after a try whose answer was lost, means the lost try
   * did the work: DELETE's 404 (the job is already gone).
   */
  doneAfterLostAnswer?: number;
  /**
   * Narrows which failures are tried again (within what the policy allows anyway): a POST the API
   * cannot deduplicate is retried only on answers that say it was not processed.
   * @defaultValue every failure the policy calls retryable (no answer, 429, 5xx)
   */
  retryOn?: (failure: TryFailure) => boolean;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

type TryOutcome = { answer: Answer } | { lost: unknown };

export function urlFor(baseUrl: string, call: Pick<Call, 'path' | 'query'>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(call.query ?? {})) if (value !== undefined) query.set(name, String(value));
  const search = query.toString();
  return `${baseUrl}${call.path}${search ? `?${search}` : ''}`;
}

export function headersFor(config: TransportConfig, call: Call): Record<string, string> {
  return {
    authorization: `Bearer ${config.apiKey}`,
    accept: 'application/json',
    'user-agent': config.userAgent,
    ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...call.headers,
  };
}

async function tryOnce(config: TransportConfig, call: Call, url: string): Promise<TryOutcome> {
  const timeout = AbortSignal.timeout(config.timeoutMs);
  const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
  try {
    const response = await config.fetch(url, {
      method: call.method,
      headers: headersFor(config, call),
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      ...(call.redirect ? { redirect: call.redirect } : {}),
      signal,
    });
    // Read inside the try: an answer cut off halfway is as lost as one that never came.
    const text = await response.text();
    return { answer: { status: response.status, headers: response.headers, text } };
  } catch (error) {
    // The caller gave up: that is not a lost answer to retry.
    if (call.signal?.aborted) throw call.signal.reason;
    return { lost: error };
  }
}

/** Sends `call`, retrying what the policy allows; resolves with a 2xx/3xx answer (or the `doneAfterLostAnswer` one). */
export async function send(config: TransportConfig, call: Call): Promise<Answer> {
  const url = urlFor(config.baseUrl, call);
  let lostBefore = false;
  for (let attempt = 1; ; attempt++) {
    const outcome = await tryOnce(config, call, url);
    let error: InnoTrainError;
    let failure: TryFailure;
    if ('answer' in outcome) {
      const { answer } = outcome;
      if (answer.status < 400 || (lostBefore && answer.status === call.doneAfterLostAnswer)) return answer;
      error = errorFromAnswer(config, call, answer, attempt);
      failure = { status: answer.status, retryAfterMs: error.retryAfterMs };
    } else {
      lostBefore = true;
      const where = originOf(config.baseUrl);
      const reason = describeFailure(outcome.lost);
      error = new InnoTrainConnectionError(
        `${call.method} ${call.path}: no answer from ${where} (${reason}), try ${attempt}`,
        attempt,
        outcome.lost,
      );
      failure = { status: null, retryAfterMs: null };
    }
    const wait = call.retryOn && !call.retryOn(failure) ? null : retryDelayMs(config.retry, attempt, failure);
    if (wait === null) throw error;
    await sleep(wait, call.signal);
  }
}

interface ApiErrorBody {
  code: string;
  message: string;
  details?: ErrorDetail[];
  requestId?: string;
}

/** The API's `{"error": {...}}`, or null for anything else (a proxy's page, an empty body). */
function apiErrorOf(text: string): ApiErrorBody | null {
  try {
    const error = (JSON.parse(text) as { error?: Partial<ApiErrorBody> } | null)?.error;
    if (typeof error?.code !== 'string' || typeof error.message !== 'string') return null;
    return {
      code: error.code,
      message: error.message,
      details: Array.isArray(error.details) ? error.details : undefined,
      requestId: typeof error.requestId === 'string' ? error.requestId : undefined,
    };
  } catch {
    return null;
  }
}

/** An error answer as an InnoTrainError; a body that is not the API's still gives status and request id. */
export function errorFromAnswer(config: Pick<TransportConfig, 'apiKey'>, call: Call, answer: Answer, attempts: number): InnoTrainError {
  const body = apiErrorOf(answer.text);
  const requestId = body?.requestId ?? answer.headers.get('x-request-id');
  const code = (body?.code ?? `http_${answer.status}`) as InnoTrainErrorCode;
  // A foreign page could echo the request back: never let the key into a message.
  const said = (body?.message ?? answer.text.replace(/\s+/g, ' ').trim().slice(0, 200)).split(config.apiKey).join('[redacted]');
  const suffix = requestId ? ` (request ${requestId})` : '';
  return new InnoTrainError({
    code,
    status: answer.status,
    requestId,
    details: body?.details,
    retryAfterMs: parseRetryAfter(answer.headers.get('retry-after')),
    attempts,
    message: `${call.method} ${call.path}: ${answer.status} ${code}${said ? `: ${said}` : ''}${suffix}`,
  });
}

/** The scheme, host and port only: a base URL's user-info or path has no place in an error message. */
export function originOf(baseUrl: string): string {
  try {
    return new URL(baseUrl).origin;
  } catch {
    return 'the API';
  }
}
