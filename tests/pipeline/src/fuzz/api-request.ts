/**
 * What the API fuzz sends: one HTTP request with the category it counts under and, for job
 * submissions, whether the service must accept it. Also the source every request generator draws
 * from, and how a request is shown in a finding.
 */
import { stringPools, type ValueSource } from './api-values';
import { seededRandom } from './random';

export interface FuzzRequest {
  category: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** 'valid': must be 202. 'invalid': must not be 202. Else anything but 5xx. */
  expect?: 'valid' | 'invalid';
}

/** The jobs the API accepted so far, with the category of the request that submitted each. */
export interface AcceptedJobs {
  ids: string[];
  category: Map<string, string>;
}

/**
 * What request generators draw from: the seeded randomness, the API key, and the accepted jobs
 * (requests on the id routes reuse their ids; which ones depends on timing, not on the seed).
 */
export interface RequestSource extends ValueSource {
  apiKey: string;
  accepted: AcceptedJobs;
}

export function createRequestSource(seed: number, apiKey: string): RequestSource {
  return { ...seededRandom(seed), pools: stringPools(seed), apiKey, accepted: { ids: [], category: new Map() } };
}

export const auth = (apiKey: string) => ({ authorization: `Bearer ${apiKey}` });
export const jsonHeaders = (apiKey: string) => ({ ...auth(apiKey), 'content-type': 'application/json' });
export const postJob = (apiKey: string, category: string, body: unknown, expect?: FuzzRequest['expect']): FuzzRequest => ({
  category,
  method: 'POST',
  path: '/v1/jobs',
  headers: jsonHeaders(apiKey),
  body: typeof body === 'string' ? body : JSON.stringify(body),
  expect,
});

/** One line for a report: category, method, path, headers (the key masked) and body, long parts cut. */
export function show(request: FuzzRequest, apiKey: string): string {
  const body =
    request.body === undefined
      ? ''
      : typeof request.body === 'string'
        ? request.body
        : `<${request.body.length} bytes: ${Buffer.from(request.body).toString('hex').slice(0, 80)}>`;
  const headers = Object.entries(request.headers)
    .map(([k, v]) => `${k}: ${k === 'authorization' ? v.replace(apiKey, '<KEY>') : v}`.slice(0, 120))
    .join('; ');
  const shownBody = body.length > 160 ? `${JSON.stringify(body.slice(0, 160))}... (${body.length} chars)` : JSON.stringify(body);
  return `[${request.category}] ${request.method} ${request.path.length > 300 ? `${request.path.slice(0, 300)}... (${request.path.length} chars)` : request.path} {${headers}} body=${shownBody}`;
}
