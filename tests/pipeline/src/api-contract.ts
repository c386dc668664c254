/**
 * The pipeline tests' contract check: every answer fetch receives from a stack's API on the
 * documented paths (/v1, /healthz) is validated against the OpenAPI document that API serves
 * (`GET /v1/openapi.json`, fetched once per stack: what clients see). `startStack` registers its
 * API here before its first request; `installContractCheck` (contract-setup.ts, jest only) wraps
 * global fetch, so the stack's `api()`, tests that call fetch themselves, the fuzzer and
 * `@inno-train/client` are all covered. Outside jest (the benchmarks) nothing is wrapped and
 * registering costs nothing.
 */
import {
  checkExchange,
  createContractValidator,
  exchangeOf,
  headersOf,
  isDocumentedPath,
  parseOpenApiDocument,
  type ContractTally,
  type ContractValidator,
} from '@inno-train/contract-check';

/** A stack's API: its origin, and the validator built from the document it serves (fetched on first use). */
interface WatchedApi {
  baseUrl: string;
  validator?: Promise<ContractValidator>;
}

/** fetch's first argument (a URL, its string, or a Request); the lib has no DOM `RequestInfo` here. */
type FetchInput = Parameters<typeof fetch>[0];

const watched = new Map<string, WatchedApi>();

/** Called by startStack before the stack's first request: answers from this origin are checked from now on. */
export function watchApi(baseUrl: string): void {
  watched.set(new URL(baseUrl).origin, { baseUrl });
}

/** Called when a stack stops: its port may serve something else later in the same file. */
export function unwatchApi(baseUrl: string): void {
  watched.delete(new URL(baseUrl).origin);
}

export interface ContractCheckHooks {
  tally: ContractTally;
  /** A drifted answer: the message names the request, the operation, the status and what differs. */
  onDrift(message: string): void;
}

/**
 * Wraps global fetch: an answer from a watched API on a documented path is read from a clone (the
 * caller still reads the original body), validated and counted before the caller gets it; a drift
 * goes to `onDrift` and the caller gets the answer unchanged (a test that tolerates errors, such as
 * a wait that retries, must not swallow the drift). Returns the function that unwraps.
 */
export function installContractCheck(hooks: ContractCheckHooks): () => void {
  const original = globalThis.fetch;
  const check = async (method: string, sentTo: string, response: Response): Promise<void> => {
    // The URL of the answer the caller got: after a followed redirect (an output download), S3's,
    // which the document does not speak for. With redirect: 'manual' it is the API's 302 itself.
    const answeredBy = new URL(response.url || sentTo);
    const api = watched.get(answeredBy.origin);
    if (!api || !isDocumentedPath(answeredBy.pathname)) return;
    // A redirect followed within the API turns a POST into a GET (301/302/303): only GET and HEAD surely keep their method.
    if (response.redirected && method !== 'GET' && method !== 'HEAD') return;
    let text = '';
    try {
      if (method !== 'HEAD') text = await response.clone().text();
    } catch {
      return; // The body could not be read (the caller aborted): the caller's own read fails the same way.
    }
    const exchange = exchangeOf({ method, url: answeredBy.href, status: response.status, headers: headersOf(response.headers), text });
    let drift: string | null;
    try {
      drift = checkExchange(await validatorOf(api, original), exchange, hooks.tally);
    } catch (error) {
      // No document, or one ajv cannot compile (strict mode): the answer is unchecked, which fails the test too.
      const reason = error instanceof Error ? error.message : String(error);
      drift = `${method} ${answeredBy.pathname} answered ${response.status}, which could not be checked against the document: ${reason}`;
    }
    if (drift !== null) hooks.onDrift(drift);
  };
  globalThis.fetch = async function fetchCheckedAgainstContract(input: FetchInput, init?: RequestInit): Promise<Response> {
    const response = await original(input, init);
    await check(requestMethod(input, init), requestUrl(input), response);
    return response;
  };
  return () => {
    globalThis.fetch = original;
  };
}

const requestUrl = (input: FetchInput) => (input instanceof Request ? input.url : String(input));
const requestMethod = (input: FetchInput, init?: RequestInit) =>
  (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();

/** The validator of the document the API serves, fetched once per stack (again after a failed fetch). */
function validatorOf(api: WatchedApi, fetchOriginal: typeof fetch): Promise<ContractValidator> {
  if (!api.validator) {
    const pending = fetchDocument(api.baseUrl, fetchOriginal).then(createContractValidator);
    pending.catch(() => {
      if (api.validator === pending) api.validator = undefined;
    });
    api.validator = pending;
  }
  return api.validator;
}

async function fetchDocument(baseUrl: string, fetchOriginal: typeof fetch) {
  const url = new URL('/v1/openapi.json', baseUrl).href;
  const response = await fetchOriginal(url, { signal: AbortSignal.timeout(10_000) });
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  return parseOpenApiDocument(await response.json());
}
