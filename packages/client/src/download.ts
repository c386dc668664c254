/**
 * Fetching a presigned S3 URL (a job's output). A plain GET carrying none of the API's headers: the
 * URL is its own authorisation, and the API key must never reach S3 or whatever host a URL names.
 */
import { describeFailure, InnoTrainConnectionError, InnoTrainError, type InnoTrainErrorCode } from './errors';
import { parseRetryAfter, retryDelayMs, sleep, type RetryPolicy } from './retry';

/**
 * The URL without its query: a presigned URL's query is a credential (for minutes), so it stays
 * out of every message.
 */
export function withoutQuery(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(a URL that does not parse)';
  }
}

/** S3's `<Error><Code>…</Code><Message>…</Message>` as one short line; nothing else of the body (it can quote the signature). */
function s3ErrorOf(text: string): { code: string; message: string } | null {
  const code = /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1];
  if (code === undefined) return null;
  return { code, message: /<Message>([^<]{1,300})<\/Message>/.exec(text)?.[1] ?? '' };
}

/**
 * GETs `url` with no headers of ours and resolves with the response once its status is 2xx, its body
 * not yet read (stream it, or `arrayBuffer()` it). A lost answer, 429 or 5xx before the body is
 * tried again as the policy allows; any other status throws an InnoTrainError `http_<status>`.
 */
export async function fetchPresigned(
  fetchFn: typeof fetch,
  url: string,
  policy: RetryPolicy,
  signal?: AbortSignal,
  /** `bytes=N-`: from byte N (S3 answers 206); the one header ever sent with a presigned GET. */
  range?: string,
): Promise<Response> {
  const where = `GET ${withoutQuery(url)}`;
  for (let attempt = 1; ; attempt++) {
    let error: InnoTrainError;
    let status: number | null = null;
    try {
      // No headers of ours (a Range at most): nothing to leak, whichever host the URL (or a redirect from it) names.
      const response = await fetchFn(url, { method: 'GET', ...(range ? { headers: { range } } : {}), ...(signal ? { signal } : {}) });
      if (response.ok) return response;
      status = response.status;
      const s3 = s3ErrorOf(await response.text().catch(() => ''));
      error = new InnoTrainError({
        code: `http_${status}` as InnoTrainErrorCode,
        status,
        requestId: response.headers.get('x-amz-request-id'),
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
        attempts: attempt,
        message: `${where}: ${status}${s3 ? ` ${s3.code}${s3.message ? `: ${s3.message}` : ''}` : ''}`,
      });
    } catch (thrown) {
      if (signal?.aborted) throw signal.reason;
      error = new InnoTrainConnectionError(`${where}: no answer (${describeFailure(thrown)}), try ${attempt}`, attempt, thrown);
    }
    const wait = retryDelayMs(policy, attempt, { status, retryAfterMs: error.retryAfterMs });
    if (wait === null) throw error;
    await sleep(wait, signal);
  }
}
