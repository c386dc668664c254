/**
 * Requests on everything but job submission: list queries, the id routes with random ids, random
 * methods and paths under /v1 and /admin/queues (Bull Board's reads and writes), and bad or missing
 * Authorization headers.
 */
import { validBody } from './api-job-bodies';
import { auth, jsonHeaders, type FuzzRequest, type RequestSource } from './api-request';
import { anyJson, anyNumber, anyString } from './api-values';
import { uriEncode } from './well-formed';

export function listQuery(r: RequestSource): FuzzRequest {
  const params: string[] = [];
  const enc = (s: string) => (r.chance(0.8) ? uriEncode(s) : s.replace(/[#\s]/g, '_'));
  if (r.chance(0.6))
    params.push(
      `status=${enc(r.pick(['queued', 'provisioning', 'training', 'succeeded', 'failed', 'cancelled', 'QUEUED', '', 'running', anyString(r, false).slice(0, 50)]))}`,
    );
  if (r.chance(0.6))
    params.push(
      `limit=${enc(r.pick(['1', '50', '200', '201', '0', '-1', '1.5', '1e2', '0x10', '', 'abc', 'Infinity', 'NaN', '9'.repeat(400), ' 5 ', String(anyNumber(r))]))}`,
    );
  if (r.chance(0.5))
    params.push(
      `after=${enc(r.pick([`j${'0'.repeat(22)}`, `j${'z'.repeat(22)}`, 'j', '', anyString(r, false).slice(0, 80), `J${'a'.repeat(22)}`]))}`,
    );
  if (r.chance(0.2))
    params.push(
      r.pick([
        'status=queued&status=failed',
        'limit=1&limit=2',
        'limit[]=1',
        'status[x]=1',
        '__proto__=1',
        'constructor=x',
        'x=1',
        '&&&',
        '=',
        '%zz=%zz',
        'limit=%ff',
      ]),
    );
  return {
    category: 'list',
    method: 'GET',
    path: `/v1/jobs${params.length || r.chance(0.5) ? `?${params.join('&')}` : ''}`,
    headers: auth(r.apiKey),
  };
}

export function randomId(r: RequestSource): string {
  return r.pick<() => string>([
    () => `j${Array.from({ length: 22 }, () => r.pick([...'0123456789abcdefghijklmnopqrstuvwxyz'])).join('')}`,
    () => {
      const roll = r.next();
      return r.accepted.ids.length ? r.accepted.ids[Math.floor(roll * r.accepted.ids.length)]! : 'j0';
    },
    () => uriEncode(anyString(r, false).slice(0, 200)),
    () => r.pick(['%', '%zz', '%E0%A4%A', '%C0%AF', '%2F', '..%2F..%2Fetc%2Fpasswd', '%00', '%u0041', '%25', '%F0%9F%9A', '%ff%fe']),
    () => 'j'.repeat(r.int(23, 4000)),
    () => r.pick(['', '.', '..', 'null', 'undefined', '0', '-1', '__proto__', 'constructor', 'J00000000000000000000000']),
  ])();
}

export function idRoute(r: RequestSource): FuzzRequest {
  const id = randomId(r);
  const [method, suffix] = r.pick([
    ['GET', ''],
    ['GET', '/events'],
    ['GET', '/logs'],
    ['POST', '/cancel'],
    ['POST', '/cancel'],
    ['GET', '/cancel'],
    ['DELETE', ''],
    ['PUT', ''],
  ] as const);
  // Cancelling real jobs would end them early: their cancel is the clean-up at the end.
  const safeId = method === 'POST' && r.accepted.ids.includes(id) ? `j${'1'.repeat(22)}` : id;
  return {
    category: `id:${method} ${suffix || '/'}`,
    method,
    path: `/v1/jobs/${safeId}${suffix}`,
    headers: method === 'POST' && r.chance(0.5) ? jsonHeaders(r.apiKey) : auth(r.apiKey),
    body: method === 'POST' && r.chance(0.3) ? anyString(r, false).slice(0, 1000) : undefined,
  };
}

const BOARD_QUEUES = ['provision', 'stage-in', 'train', 'stage-out', 'teardown'];
const BOARD_WRITES: Array<[string, string]> = [
  ['PUT', '/api/queues/:q/:job/retry'],
  ['PUT', '/api/queues/:q/:job/clean'],
  ['PATCH', '/api/queues/:q/:job/promote'],
  ['PUT', '/api/queues/:q/add'],
  ['PUT', '/api/queues/:q/empty'],
  ['PUT', '/api/queues/:q/obliterate'],
  ['PUT', '/api/queues/:q/pause'],
  ['PUT', '/api/queues/:q/resume'],
  ['PUT', '/api/queues/:q/clean/completed'],
  ['PUT', '/api/queues/:q/retry/failed'],
  ['PUT', '/api/queues/:q/promote'],
  ['PUT', '/api/queues/:q/concurrency'],
  ['PATCH', '/api/queues/:q/:job/update-data'],
  ['PUT', '/api/queues/:q/:job/priority'],
  ['PUT', '/api/queues/:q/rate-limit'],
  ['PUT', '/api/queues/pause'],
  ['PUT', '/api/queues/:q/job-schedulers/:job'],
  ['PUT', '/api/queues/:q/job-schedulers/:job/run'],
  ['POST', '/api/metrics/history/purge'],
];
const BOARD_READS = [
  '',
  '/',
  '/api/queues',
  '/api/queues?activeQueue=train&status=latest&page=1&jobsPerPage=10',
  '/api/redis/stats',
  '/api/job-schedulers',
  '/api/queues/:q/:job',
  '/api/queues/:q/:job/logs',
  '/api/queues/:q/:job/flow',
  '/api/queues/:q/metrics',
  '/api/queues/:q/workers',
  '/api/queues/:q/rate-limit',
  '/api/queues/:q/default-job-options',
  '/api/metrics/latency',
  '/queue/:q',
  '/static/../../../package.json',
  '/favicon.ico',
];

export function randomRoute(r: RequestSource): FuzzRequest {
  const segment = () =>
    r.chance(0.7)
      ? uriEncode(anyString(r, false).slice(0, 60))
      : r.pick(['jobs', 'v1', '..', '.', '%2e%2e', '', 'admin', 'queues', 'api', '%zz']);
  const fill = (template: string) =>
    template
      .replace(':q', r.chance(0.7) ? r.pick(BOARD_QUEUES) : segment())
      .replace(':job', r.chance(0.5) ? String(r.int(1, 50)) : segment());
  const roll = r.next();
  let method = r.pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'GET', 'POST']);
  let path: string;
  let write = false;
  if (roll < 0.3) {
    path = `/v1${r.pick(['', '/', '/jobs/', '/job', '/jobs/x/y/z', '//jobs', '/JOBS', '/jobs/%20', '/jobs?', '/jobs#x'])}${r.chance(0.5) ? `/${segment()}` : ''}`;
  } else if (roll < 0.55) {
    path = `/v1/${Array.from({ length: r.int(1, 4) }, segment).join('/')}`;
  } else if (roll < 0.75) {
    path = `/admin/queues${fill(r.pick(BOARD_READS))}`;
    method = r.chance(0.8) ? 'GET' : method;
  } else if (roll < 0.9) {
    const [m, template] = r.pick(BOARD_WRITES);
    method = m;
    path = `/admin/queues${fill(template)}`;
    write = true;
  } else {
    path = `/admin/queues/${Array.from({ length: r.int(1, 4) }, segment).join('/')}`;
  }
  const withBody = !['GET', 'HEAD'].includes(method) && r.chance(0.5);
  return {
    category: write ? 'board:write' : path.startsWith('/admin') ? 'board:other' : 'route:v1',
    method,
    path,
    headers: withBody ? jsonHeaders(r.apiKey) : auth(r.apiKey),
    body: withBody ? r.pick([JSON.stringify(anyJson(r)), '{', JSON.stringify({ data: { a: 1 } })]) : undefined,
  };
}

export function badAuth(r: RequestSource): FuzzRequest {
  const header = r.pick<() => string | null>([
    () => null,
    () => '',
    () => 'Bearer',
    () => 'Bearer ',
    () => `Bearer ${r.apiKey}x`,
    () => `Bearer ${r.apiKey.slice(0, -1)}`,
    () => `Bearer ${r.apiKey.toUpperCase()}`,
    () => `Basic ${Buffer.from(`user:${r.apiKey}`).toString('base64')}`,
    () => `Token ${r.apiKey}`,
    () => `Bearer ${r.apiKey} ${r.apiKey}`,
    () => `Bearer\t${r.apiKey}x`,
    () => `Bearer ${'k'.repeat(r.int(1, 8000))}`,
    () =>
      `Bearer ${
        anyString(r, false)
          .replace(/[^\x21-\x7e\x80-\xff]/g, '')
          .slice(0, 200) || 'x'
      }`,
    () => `Bearer ${'\u00e9\u00ff'.repeat(10)}`,
    () => r.apiKey,
  ])();
  const headers: Record<string, string> = {};
  if (header !== null) headers.authorization = header;
  const target = r.pick([
    ['GET', '/v1/jobs'],
    ['POST', '/v1/jobs'],
    ['GET', `/v1/jobs/${randomId(r)}`],
    ['POST', `/v1/jobs/${randomId(r)}/cancel`],
    ['GET', '/admin/queues'],
    ['GET', '/admin/queues/api/queues'],
    ['PUT', '/admin/queues/api/queues/train/empty'],
    ['GET', '/v1/nothing'],
  ] as const);
  const body = target[0] === 'POST' ? JSON.stringify(validBody(r)) : undefined;
  if (body) headers['content-type'] = 'application/json';
  return { category: 'auth:bad', method: target[0], path: target[1], headers, body, expect: 'invalid' };
}
