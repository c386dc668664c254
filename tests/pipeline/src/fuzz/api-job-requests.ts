/**
 * Requests that submit jobs: bodies mutated so they are certainly invalid, deep nesting, inputs that
 * do not exist, bodies of the wrong shape, malformed JSON and wrong content types; and the few that
 * go in fixed slots (valid jobs, deep configs, an env value holding a NUL byte).
 */
import { BUCKET } from '../stack';
import { baseBody, CHAOS, DATA_KEY, INVALIDATING, SCHEMA_KEYS, unknownKey, validBody, withDeepValue } from './api-job-bodies';
import { auth, jsonHeaders, postJob, type FuzzRequest, type RequestSource } from './api-request';
import { anyJson, anyString, deepJsonText, PAYLOADS } from './api-values';

/** Chaos first (it may undo nothing that follows), then at least one certain invalidation. */
export function mutatedJob(r: RequestSource): FuzzRequest {
  const body = baseBody(r);
  for (let i = r.int(0, 2); i > 0; i--) {
    try {
      r.pick(CHAOS)(body, r);
    } catch {
      // The field it works on is gone or no longer an object: nothing to do.
    }
  }
  for (let i = r.int(1, 2); i > 0; i--) {
    try {
      r.pick(INVALIDATING)(body, r);
    } catch {
      // Chaos removed or retyped what this mutation works on; an unknown field always invalidates.
      body[unknownKey(r)] = anyJson(r);
    }
  }
  return postJob(r.apiKey, 'job:mutated', body, 'invalid');
}

/** Deep nesting where the schema rejects it (an unknown field, an env value). */
export function deepJob(r: RequestSource): FuzzRequest {
  const depth = r.pick([50, 500, 2_000, 5_000, 20_000, 100_000]);
  const where = r.pick(['unknown', 'env'] as const);
  return postJob(r.apiKey, `job:deep-${where}`, withDeepValue(r, baseBody(r), where, depth), 'invalid');
}

/** Deep nesting where the schema allows any JSON (config), in an otherwise valid job: a few fixed slots. */
export function deepConfigJob(r: RequestSource, depth: number): FuzzRequest {
  const body = baseBody(r);
  body.name = `deep-config-${depth}`;
  // Config may nest at most 32 levels: every depth tried here is refused with 400.
  return postJob(r.apiKey, 'job:deep-config', withDeepValue(r, body, 'config', depth), 'invalid');
}

/** An env value with a NUL byte: no shell can carry it, so the schema refuses it. One fixed slot. */
export function nulEnvJob(r: RequestSource): FuzzRequest {
  const body = baseBody(r);
  body.name = 'nul-env';
  body.env = { WITH_NUL: 'before\0after' };
  return postJob(r.apiKey, 'job:nul-env', body, 'invalid');
}

/** Schema-valid, but an input (or the script URI) does not exist or cannot be used. */
export function missingInputJob(r: RequestSource): FuzzRequest {
  const body = baseBody(r);
  const segment = () =>
    r
      .pick([...r.pools.hostile, ...PAYLOADS, 'x', 'ünï', '🚀'])
      .replace(/[\s\0]/g, '_')
      .slice(0, 80) || 'x';
  const bucket = r.pick([BUCKET, BUCKET, 'no-such-bucket', 'Bad_Bucket', 'ab', 'a'.repeat(64), '127.0.0.1', 'xn--bucket', 'b..c']);
  const key = `nope-${r.int(0, 1e9)}/${segment()}${r.chance(0.3) ? '/' : ''}${r.chance(0.3) ? segment() : ''}`;
  const uri = r.pick([
    `s3://${bucket}/${key}`,
    `s3://${bucket}/${r.chance(0.5) ? '/' : ''}${key}//x`,
    `s3://${bucket}/${key}/../x`,
    `s3://${bucket}/./${key}`,
  ]);
  if (r.chance(0.7)) body.inputs = { ...body.inputs, [r.pick(['data', 'extra', 'x1'])]: uri };
  else body.script = { uri, ...(r.chance(0.5) ? { filename: 'train.py' } : {}) };
  return postJob(r.apiKey, 'job:missing-input', body, 'invalid');
}

export function validJob(r: RequestSource): FuzzRequest {
  return postJob(r.apiKey, 'job:valid', validBody(r), 'valid');
}

/** Bodies of the wrong shape altogether. */
export function wrongShapeJob(r: RequestSource): FuzzRequest {
  const body = r.pick<() => unknown>([
    () => [],
    () => [baseBody(r)],
    () => null,
    () => 0,
    () => true,
    () => anyString(r, false),
    () => ({}),
    () => anyJson(r),
    () => Object.fromEntries(SCHEMA_KEYS.map((key) => [key, anyJson(r)])),
    () => ({ ...baseBody(r), instance: [baseBody(r).instance] }),
    () => ({ ...baseBody(r), inputs: [`s3://${BUCKET}/${DATA_KEY}`] }),
  ])();
  return postJob(r.apiKey, 'job:wrong-shape', JSON.stringify(body), 'invalid');
}

export function malformedJson(r: RequestSource): FuzzRequest {
  // Built on an invalid body, so a variant the parser does take (a BOM?) still cannot start a job.
  const valid = JSON.stringify({ ...baseBody(r), unknownField: 1 });
  const text = r.pick<() => string | Uint8Array>([
    () => '',
    () => '{',
    () => '{"name":',
    () => '{"a":1,}',
    () => "{'instance': {}}",
    () => 'NaN',
    () => '{"maxCostUsd": NaN}',
    () => '{"maxCostUsd": Infinity}',
    () => '[1, 2',
    () => `${valid}${valid}`,
    () => `\ufeff${valid}`,
    () => `// comment\n${valid}`,
    () => 'undefined',
    () => '{"a": "\\x41"}',
    () => '{"a": "\\u12"}',
    () => '{"a": 01}',
    () => '"just a string"',
    () => 'true',
    () => 'null',
    () => '12345',
    () => valid.slice(0, r.int(1, valid.length - 1)),
    () => valid.replace(/"/g, "'"),
    () => new Uint8Array([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]),
    () => new Uint8Array(Array.from({ length: r.int(1, 200) }, () => r.int(0, 255))),
    () => deepJsonText(r, r.int(10_000, 300_000)).slice(0, -1),
    () => `{"name": "${'x'.repeat(2 * 1024 * 1024)}"}`,
    () => `[${'1,'.repeat(1_100_000)}1]`,
  ])();
  return { category: 'json:malformed', method: 'POST', path: '/v1/jobs', headers: jsonHeaders(r.apiKey), body: text, expect: 'invalid' };
}

export function wrongContentType(r: RequestSource): FuzzRequest {
  // Invalid even when parsed (unknownField): lenient parsing must not start jobs here.
  const body = JSON.stringify({ ...baseBody(r), unknownField: r.chance(0.5) ? 1 : anyString(r, false).slice(0, 100) });
  const headers: Record<string, string> = { ...auth(r.apiKey) };
  const choice = r.pick([
    'none',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    'application/xml',
    'application/json; charset=utf-16',
    'application/json; charset=latin1',
    'application/json; charset=bogus',
    'application/json; charset=utf-7',
    'application/json; charset=""',
    'application/vnd.api+json',
    'application/merge-patch+json',
    '*/*',
    'application/json;;;',
    'APPLICATION/JSON',
    'application/json; charset="UTF-8"',
    'application/json, text/plain',
    'json',
    '',
    'application/json\u00ff',
    'gzip',
    'deflate',
    'br',
    'compress',
    'identity',
    'gzip, deflate',
    'x-unknown',
  ]);
  let payload: string | Uint8Array = body;
  if (['gzip', 'deflate', 'br', 'compress', 'identity', 'gzip, deflate', 'x-unknown'].includes(choice)) {
    headers['content-type'] = 'application/json';
    headers['content-encoding'] = choice;
  } else if (choice === 'none') {
    payload = new TextEncoder().encode(body);
  } else {
    headers['content-type'] = choice;
  }
  return {
    category: `content-type:${choice === 'none' ? 'none' : 'other'}`,
    method: 'POST',
    path: '/v1/jobs',
    headers,
    body: payload,
    expect: 'invalid',
  };
}
