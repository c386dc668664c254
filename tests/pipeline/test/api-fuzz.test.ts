/**
 * Fuzzing the running API over HTTP: at least 10,000 generated requests against the whole stack
 * (real Redis, S3 server, Lambda simulator with OpenSSH hosts, the four apps as processes).
 *
 * The mix: job bodies mutated so they are certainly invalid (missing, extra, mistyped, null,
 * out-of-range, oversized, deeply nested, hostile or unicode fields), schema-valid bodies naming
 * inputs that do not exist, malformed JSON, wrong content types and encodings, random methods and
 * paths under /v1 and /admin/queues, random list queries, random ids on the id routes, bad and
 * missing Authorization headers; 20 valid jobs (hostile env, metadata and config values) whose
 * script sleeps 60 s, sent in the last part of the run so they are still running at the end; and a
 * few probes of what the schema lets through: configs nested 200 to 200,000 levels deep, an env
 * value holding a NUL byte.
 *
 * Asserted: no 5xx; every 4xx the service answers has {error: {code, message}} (Bull Board's own
 * answers behind the key are only reported); no request goes unanswered; valid jobs are accepted
 * and certainly-invalid ones are not; the read-only board changes nothing; every app process is
 * still alive and /healthz answers 200; every accepted job can be cancelled (or has ended), did not
 * fail or get retried because of what it holds, and ends with its instances terminated; no
 * instance is left alive. Findings are grouped by cause, with up to three requests each.
 *
 * FUZZ_SEED replays a run (the seed is printed; which accepted job ids get reused depends on
 * timing); FUZZ_REQUESTS changes the number of requests.
 */
import fc from 'fast-check';
import { waitFor } from '@inno-train/test-kit';
import { BUCKET, putObject, startStack, testS3Client, type Stack } from '../src';

jest.setTimeout(300_000);

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const TOTAL = Number(process.env.FUZZ_REQUESTS ?? 10_000);
/**
 * Valid submissions each rent a "GPU instance" (an sshd on 127.0.0.<ipBase + n>): the addresses
 * from 210 end at 255 and the simulator has 40 of the type, so 20 (0.2%) is what fits.
 */
const VALID_JOBS = Number(process.env.FUZZ_VALID_JOBS ?? 20);
const CONCURRENCY = 20;
const TERMINAL = ['succeeded', 'failed', 'cancelled'];
const SLEEP_SCRIPT = 'import time\ntime.sleep(60)\n';
const DATA_KEY = 'fuzz/data.bin';
const PREFIX_KEY = 'fuzz/prefix/';

let stack: Stack;

beforeAll(async () => {
  // One client sending 10,000 requests in well under a minute: the per-key limit (600/min by
  // default) would answer nearly all of them 429. A limit that never trips keeps its code path
  // (a Redis INCR per request) in every request.
  stack = await startStack({ ipBase: 210, replicas: { provisioner: 1, transfer: 1, monitor: 1 }, extraEnv: { API_RATE_LIMIT_PER_MINUTE: '100000000' } });
  const s3 = testS3Client(stack.s3);
  await putObject(s3, BUCKET, DATA_KEY, 'fuzz data\n');
  await putObject(s3, BUCKET, `${PREFIX_KEY}part-0.txt`, 'part zero\n');
  s3.destroy();
});

afterAll(async () => {
  await stack?.stop();
});

// ---------------------------------------------------------------------------------------------
// Randomness: one seeded PRNG drives every choice; fast-check supplies string pools (same seed).
// ---------------------------------------------------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rng = mulberry32(SEED);
const chance = (p: number) => rng() < p;
const int = (min: number, max: number) => min + Math.floor(rng() * (max - min + 1));
function pick<T>(items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

const HOSTILE_CHARS = [
  "'", '"', '$', '(', ')', '`', ';', '|', '&', '\n', '\r', '\t', '\\', '*', '?', '[', ']', '{', '}', '~', '!', '#', '<', '>', ' ',
  '%', '=', '^', '/', '.', '-', '\x01', '\x1b', '\x7f', '\u0085', 'é', '世', '\u200b', '\u200f', '\u202e', '\u2028', '\ufeff', '🚀', '👩‍👩‍👧', 'ע',
];
const PAYLOADS = [
  '$(touch ~/canary)', '`touch /tmp/canary`', "'; touch ~/canary; '", '"; touch ~/canary; "', '\ntouch ~/canary\n', '&& reboot',
  '../../../../etc/passwd', '..', '.', '/', '\\', '%00', '%2e%2e%2f', '{{7*7}}', '${jndi:ldap://x/a}', '<script>alert(1)</script>',
  "' OR '1'='1", '__proto__', 'constructor', 'prototype', 'NaN', 'undefined', 'null', '-1', '1e309', '\u0000', '\ud800', '\udfff',
];

const pools = (() => {
  const sample = <T>(arb: fc.Arbitrary<T>, n: number, offset: number) => fc.sample(arb, { seed: SEED + offset, numRuns: n });
  return {
    hostile: sample(fc.string({ unit: fc.constantFrom(...HOSTILE_CHARS), minLength: 1, maxLength: 60 }), 600, 1),
    binary: sample(fc.string({ unit: 'binary', maxLength: 60 }), 300, 2),
    grapheme: sample(fc.string({ unit: 'grapheme', maxLength: 40 }), 300, 3),
    ascii: sample(fc.string({ unit: 'binary-ascii', maxLength: 60 }), 300, 4),
  };
})();

/** Any string, hostile more often than not; occasionally huge (up to ~1.5 MB). */
function anyString(allowHuge = true): string {
  const roll = rng();
  if (allowHuge && roll < 0.01) return hugeString(int(100_000, 1_500_000));
  if (roll < 0.05) return hugeString(int(1_000, 20_000));
  if (roll < 0.35) return pick(pools.hostile);
  if (roll < 0.5) return pick(PAYLOADS);
  if (roll < 0.65) return pick(pools.binary);
  if (roll < 0.8) return pick(pools.grapheme);
  if (roll < 0.9) return pick(pools.ascii);
  return pick(['', ' ', 'ok', 'a'.repeat(65), 'x'.repeat(int(1, 300))]);
}

/** encodeURIComponent, with lone surrogates (a slice can cut a pair) made U+FFFD first. */
function uriEncode(value: string): string {
  return encodeURIComponent(value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD'));
}

function hugeString(length: number): string {
  const chunk = pick([...pools.hostile, ...PAYLOADS.filter((p) => p !== '')]);
  return chunk.repeat(Math.ceil(length / chunk.length)).slice(0, length);
}

/** A string certainly outside [A-Za-z0-9._-]: a metacharacter or non-ASCII character is put in. */
function badName(): string {
  const base = chance(0.5) ? anyString(false).slice(0, 200) : 'name';
  const bad = pick(["'", '"', '$', '(', '`', ';', '|', '&', '\n', ' ', '*', '~', '/', '\\', 'é', '🚀', '\u200f', '\0', '!', '#', '<']);
  const at = int(0, base.length);
  return `${base.slice(0, at)}${bad}${base.slice(at)}`;
}

function anyNumber(): number {
  return pick([0, -1, 1, 1.5, -0.5, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 1e-300, 604_801, 2_592_001, 1_000_001, int(-1e9, 1e9)]);
}

function anyJson(depth = 0): unknown {
  const roll = rng();
  if (depth > 3 || roll < 0.2) return anyString(false).slice(0, 500);
  if (roll < 0.35) return anyNumber();
  if (roll < 0.45) return pick([true, false, null]);
  if (roll < 0.7) return Array.from({ length: int(0, 4) }, () => anyJson(depth + 1));
  return Object.fromEntries(Array.from({ length: int(0, 4) }, () => [anyString(false).slice(0, 50), anyJson(depth + 1)]));
}

/** Nested arrays/objects `depth` levels deep, as JSON text (built as text: no recursion here). */
function deepJsonText(depth: number, leaf = '1'): string {
  const kind = pick(['array', 'object', 'mixed']);
  const open = kind === 'array' ? '[' : kind === 'object' ? '{"a":' : null;
  if (open) return `${open.repeat(depth)}${leaf}${(open === '[' ? ']' : '}').repeat(depth)}`;
  return `${'{"a":['.repeat(depth)}${leaf}${']}'.repeat(depth)}`;
}

/** Something of a type other than `kind`. */
function wrongType(kind: 'string' | 'number' | 'object' | 'array'): unknown {
  const options: unknown[] = [];
  if (kind !== 'string') options.push(anyString(false).slice(0, 100), '', '1');
  if (kind !== 'number') options.push(anyNumber(), 0, -1);
  if (kind !== 'object') options.push({}, { a: 1 });
  if (kind !== 'array') options.push([], ['x'], [{}]);
  options.push(true, false, null);
  return pick(options);
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

interface FuzzRequest {
  category: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** 'valid': must be 202. 'invalid': must not be 202. Else anything but 5xx. */
  expect?: 'valid' | 'invalid';
}

const auth = () => ({ authorization: `Bearer ${stack.secrets.apiKey}` });
const jsonHeaders = () => ({ ...auth(), 'content-type': 'application/json' });
const postJob = (category: string, body: unknown, expect?: FuzzRequest['expect']): FuzzRequest => ({
  category, method: 'POST', path: '/v1/jobs', headers: jsonHeaders(), body: typeof body === 'string' ? body : JSON.stringify(body), expect,
});

const SCHEMA_KEYS = ['name', 'instance', 'inputs', 'script', 'command', 'config', 'env', 'outputUri', 'maxRuntimeSeconds', 'maxCostUsd', 'metadata', 'retry'];

function baseBody(): Record<string, any> {
  return {
    name: `fuzz-${int(0, 1e6)}`,
    instance: { type: 'gpu_1x_a10', regions: ['us-east-1', 'us-west-1'], fallbackTypes: ['gpu_1x_a10'], capacityWaitSeconds: 0 },
    inputs: { data: `s3://${BUCKET}/${DATA_KEY}`, more: `s3://${BUCKET}/${PREFIX_KEY}` },
    script: { inline: SLEEP_SCRIPT, filename: 'train.py' },
    command: 'python3 train.py',
    config: { epochs: 1, lr: 0.001 },
    env: { FUZZ: '1' },
    outputUri: `s3://${BUCKET}/fuzz-out/`,
    maxRuntimeSeconds: 600,
    maxCostUsd: 5,
    metadata: { team: 'fuzz' },
  };
}

/** A valid job: hostile values where the schema allows any string (env, metadata, config); never NUL, which the schema refuses. */
function validBody(): Record<string, any> {
  const body = baseBody();
  body.name = pick(['a', 'fuzz.valid_job-1', `v${int(0, 1e9)}`, 'Z'.repeat(64)]);
  body.env = Object.fromEntries(Array.from({ length: int(1, 5) }, (_, i) => [`FUZZ_${i}`, anyString(false).replace(/\0/g, '').slice(0, 2000)]));
  body.metadata = Object.fromEntries(Array.from({ length: int(0, 4) }, (_, i) => [`k${i}.${pick(['a', 'b-c', 'd_e'])}`, anyString(false).replace(/\0/g, '').slice(0, 1024)]));
  body.config = Object.fromEntries(Array.from({ length: int(0, 4) }, () => [anyString(false).slice(0, 40), anyJson(1)]));
  if (chance(0.3)) delete body.instance.regions;
  if (chance(0.3)) delete body.instance.fallbackTypes;
  if (chance(0.3)) delete body.command;
  if (chance(0.3)) delete body.outputUri;
  if (chance(0.3)) delete body.maxCostUsd;
  if (chance(0.2)) delete body.inputs.more;
  return body;
}

/** A top-level key the schema does not know ("__proto__" would set the prototype, not a key). */
function unknownKey(): string {
  const key = pick(['unknown', 'Name', 'NAME', 'id', 'status', '__proto__x', anyString(false).slice(0, 30)]);
  return SCHEMA_KEYS.includes(key) || key === '__proto__' ? `${key}_` : key;
}

/** Mutations each of which certainly makes the submission invalid. */
const INVALIDATING: Array<(body: Record<string, any>) => void> = [
  (b) => delete b.instance,
  (b) => delete b.script,
  (b) => delete b.instance.type,
  (b) => { b.script = { filename: 'train.py' }; },
  (b) => { b.script = { inline: SLEEP_SCRIPT, uri: `s3://${BUCKET}/x.py` }; },
  (b) => { b.script.inline = ''; },
  (b) => { b[unknownKey()] = anyJson(); },
  (b) => { b.instance[pick(['gpu', 'types', 'region', 'x'])] = anyJson(); },
  (b) => { b.script[pick(['interpreter', 'args', 'x'])] = anyJson(); },
  (b) => { b.name = badName(); },
  (b) => { b.name = 'n'.repeat(int(65, 5000)); },
  (b) => { b.instance.type = pick([badName(), 'GPU_1X_A10', '', '_gpu', 'a'.repeat(65)]); },
  (b) => { b.instance.regions = pick([[], [badName()], Array.from({ length: 33 }, () => 'us-east-1'), ['US-EAST-1'], ['-us']]); },
  (b) => { b.instance.fallbackTypes = pick([[badName()], Array.from({ length: 9 }, () => 'gpu_1x_a10')]); },
  (b) => { b.instance.capacityWaitSeconds = pick([-1, 1.5, 604_801, 1e20]); },
  (b) => { b.inputs = { [pick([badName(), 'Train', '1train', '_x', 'a'.repeat(33), ''])]: `s3://${BUCKET}/${DATA_KEY}` }; },
  (b) => { b.inputs = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`i${i}`, `s3://${BUCKET}/${DATA_KEY}`])); },
  (b) => { b.inputs = { data: pick(['http://x/y', 's3:/x/y', 's3://', `s3://${BUCKET}/a b`, `s3://${BUCKET}/${'k'.repeat(1100)}`, '', `S3://${BUCKET}/x`, `s3://${BUCKET}/x\ny`]) }; },
  (b) => { b.script.filename = pick([badName(), '-rf', '.hidden', '', 'f'.repeat(129), 'a/b.py', '../train.py']); },
  (b) => { b.command = pick(['', 'x'.repeat(16_385)]); },
  (b) => { b.env = { [pick([badName(), '1ABC', '', 'A-B', 'a.b', 'X'.repeat(129)])]: '1' }; },
  (b) => { b.env = { [pick(['JOB_ID', 'JOB_DIR', 'INPUT_DIR', 'CONFIG_PATH', 'OUTPUT_DIR', 'HOME', 'PATH', 'USER', 'SHELL', 'INPUT_X', 'INNO_Y'])]: anyString(false).slice(0, 100) }; },
  (b) => { b.env = { OK: 'v'.repeat(8193) }; },
  (b) => { b.env = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`E${i}`, '1'])); },
  (b) => { b.env = { OK: wrongType('string') }; },
  (b) => { b.outputUri = pick(['s3://b/no-slash', 'http://x/', '', 's3://b/a b/', '/local/']); },
  (b) => { b.maxRuntimeSeconds = pick([0, -1, 1.5, 2_592_001, 1e300]); },
  (b) => { b.maxCostUsd = pick([0, -1, 1_000_001, -1e-9]); },
  (b) => { b.retry = pick([{ onHostLost: 6 }, { onHostLost: -1 }, { onHostLost: 1.5 }, { onHostLost: 1, extra: 1 }, [], 'always']); },
  (b) => { b.metadata = { [pick([badName(), '', '-x', '.x', 'm'.repeat(65)])]: 'v' }; },
  (b) => { b.metadata = { team: pick([wrongType('string'), 'v'.repeat(1025)]) }; },
  (b) => { b.metadata = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`m${i}`, 'v'])); },
  // null is not "absent": optional fields are not nullable.
  (b) => { b[pick(SCHEMA_KEYS)] = null; },
  (b) => { b.instance = wrongType('object'); },
  (b) => { b.script = wrongType('object'); },
  (b) => { b.name = wrongType('string'); },
  (b) => { b.command = wrongType('string'); },
  (b) => { b.maxRuntimeSeconds = wrongType('number'); },
  (b) => { b.maxCostUsd = wrongType('number'); },
  (b) => { b.outputUri = wrongType('string'); },
  (b) => { b.inputs = pick([wrongType('object'), { data: wrongType('string') }]); },
  (b) => { b.instance.regions = wrongType('array'); },
  (b) => { b.env = pick([[], 'A=1', 1, ['A=1']]); },
  (b) => { b.metadata = pick([[], 'team=x', 1, [['team', 'x']]]); },
  (b) => { b.config = pick(['epochs: 1', 1, true]); },
];

/** Mutations that may or may not invalidate: hostile and huge values in free-form fields, removals. */
const CHAOS: Array<(body: Record<string, any>) => void> = [
  (b) => { b.command = anyString(); },
  (b) => { b.script.inline = anyString(); },
  (b) => { b.env = { [pick(['A', 'B_1', '_x'])]: anyString() }; },
  (b) => { b.metadata = { team: anyString() }; },
  (b) => { b.config = { [anyString(false).slice(0, 100)]: anyJson() }; },
  (b) => { b.config = anyJson(); },
  (b) => { b[pick(SCHEMA_KEYS)] = anyJson(); },
  (b) => { delete b[pick(SCHEMA_KEYS)]; },
  (b) => { b.instance.regions = Array.from({ length: int(0, 3) }, () => anyString(false).slice(0, 70)); },
  (b) => { b.inputs = { [pick(['data', 'x', anyString(false).slice(0, 40)])]: `s3://${anyString(false).slice(0, 100)}` }; },
];

/** The JSON text of `body` with a deeply nested value at one place (certainly invalid or not). */
function withDeepValue(body: Record<string, any>, where: 'config' | 'unknown' | 'env', depth: number): string {
  const marker = '"__DEEP__"';
  if (where === 'config') body.config = { deep: '__DEEP__' };
  if (where === 'unknown') body.deep = '__DEEP__';
  if (where === 'env') body.env = { DEEP: '__DEEP__' };
  return JSON.stringify(body).replace(marker, deepJsonText(depth));
}

/** Chaos first (it may undo nothing that follows), then at least one certain invalidation. */
function mutatedJob(): FuzzRequest {
  const body = baseBody();
  for (let i = int(0, 2); i > 0; i--) {
    try {
      pick(CHAOS)(body);
    } catch {
      // The field it works on is gone or no longer an object: nothing to do.
    }
  }
  for (let i = int(1, 2); i > 0; i--) {
    try {
      pick(INVALIDATING)(body);
    } catch {
      // Chaos removed or retyped what this mutation works on; an unknown field always invalidates.
      body[unknownKey()] = anyJson();
    }
  }
  return postJob('job:mutated', body, 'invalid');
}

/** Deep nesting where the schema rejects it (an unknown field, an env value). */
function deepJob(): FuzzRequest {
  const depth = pick([50, 500, 2_000, 5_000, 20_000, 100_000]);
  const where = pick(['unknown', 'env'] as const);
  return postJob(`job:deep-${where}`, withDeepValue(baseBody(), where, depth), 'invalid');
}

/** Deep nesting where the schema allows any JSON (config), in an otherwise valid job: a few fixed slots. */
function deepConfigJob(depth: number): FuzzRequest {
  const body = baseBody();
  body.name = `deep-config-${depth}`;
  // Config may nest at most 32 levels: every depth tried here is refused with 400.
  return postJob('job:deep-config', withDeepValue(body, 'config', depth), 'invalid');
}

/** An env value with a NUL byte: no shell can carry it, so the schema refuses it. One fixed slot. */
function nulEnvJob(): FuzzRequest {
  const body = baseBody();
  body.name = 'nul-env';
  body.env = { WITH_NUL: 'before\0after' };
  return postJob('job:nul-env', body, 'invalid');
}

/** Schema-valid, but an input (or the script URI) does not exist or cannot be used. */
function missingInputJob(): FuzzRequest {
  const body = baseBody();
  const segment = () => pick([...pools.hostile, ...PAYLOADS, 'x', 'ünï', '🚀']).replace(/[\s\0]/g, '_').slice(0, 80) || 'x';
  const bucket = pick([BUCKET, BUCKET, 'no-such-bucket', 'Bad_Bucket', 'ab', 'a'.repeat(64), '127.0.0.1', 'xn--bucket', 'b..c']);
  const key = `nope-${int(0, 1e9)}/${segment()}${chance(0.3) ? '/' : ''}${chance(0.3) ? segment() : ''}`;
  const uri = pick([`s3://${bucket}/${key}`, `s3://${bucket}/${chance(0.5) ? '/' : ''}${key}//x`, `s3://${bucket}/${key}/../x`, `s3://${bucket}/./${key}`]);
  if (chance(0.7)) body.inputs = { ...body.inputs, [pick(['data', 'extra', 'x1'])]: uri };
  else body.script = { uri, ...(chance(0.5) ? { filename: 'train.py' } : {}) };
  return postJob('job:missing-input', body, 'invalid');
}

function validJob(): FuzzRequest {
  return postJob('job:valid', validBody(), 'valid');
}

/** Bodies of the wrong shape altogether. */
function wrongShapeJob(): FuzzRequest {
  const body = pick<() => unknown>([
    () => [],
    () => [baseBody()],
    () => null,
    () => 0,
    () => true,
    () => anyString(false),
    () => ({}),
    () => anyJson(),
    () => Object.fromEntries(SCHEMA_KEYS.map((key) => [key, anyJson()])),
    () => ({ ...baseBody(), instance: [baseBody().instance] }),
    () => ({ ...baseBody(), inputs: [`s3://${BUCKET}/${DATA_KEY}`] }),
  ])();
  return postJob('job:wrong-shape', JSON.stringify(body), 'invalid');
}

function malformedJson(): FuzzRequest {
  // Built on an invalid body, so a variant the parser does take (a BOM?) still cannot start a job.
  const valid = JSON.stringify({ ...baseBody(), unknownField: 1 });
  const text = pick<() => string | Uint8Array>([
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
    () => valid.slice(0, int(1, valid.length - 1)),
    () => valid.replace(/"/g, "'"),
    () => new Uint8Array([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]),
    () => new Uint8Array(Array.from({ length: int(1, 200) }, () => int(0, 255))),
    () => deepJsonText(int(10_000, 300_000)).slice(0, -1),
    () => `{"name": "${'x'.repeat(2 * 1024 * 1024)}"}`,
    () => `[${'1,'.repeat(1_100_000)}1]`,
  ])();
  return { category: 'json:malformed', method: 'POST', path: '/v1/jobs', headers: jsonHeaders(), body: text, expect: 'invalid' };
}

function wrongContentType(): FuzzRequest {
  // Invalid even when parsed (unknownField): lenient parsing must not start jobs here.
  const body = JSON.stringify({ ...baseBody(), unknownField: chance(0.5) ? 1 : anyString(false).slice(0, 100) });
  const headers: Record<string, string> = { ...auth() };
  const choice = pick([
    'none', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', 'application/xml', 'application/json; charset=utf-16',
    'application/json; charset=latin1', 'application/json; charset=bogus', 'application/json; charset=utf-7', 'application/json; charset=""',
    'application/vnd.api+json', 'application/merge-patch+json', '*/*', 'application/json;;;', 'APPLICATION/JSON', 'application/json; charset="UTF-8"',
    'application/json, text/plain', 'json', '', 'application/json\u00ff', 'gzip', 'deflate', 'br', 'compress', 'identity', 'gzip, deflate', 'x-unknown',
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
  return { category: `content-type:${choice === 'none' ? 'none' : 'other'}`, method: 'POST', path: '/v1/jobs', headers, body: payload, expect: 'invalid' };
}

function listQuery(): FuzzRequest {
  const params: string[] = [];
  const enc = (s: string) => (chance(0.8) ? uriEncode(s) : s.replace(/[#\s]/g, '_'));
  if (chance(0.6)) params.push(`status=${enc(pick(['queued', 'provisioning', 'training', 'succeeded', 'failed', 'cancelled', 'QUEUED', '', 'running', anyString(false).slice(0, 50)]))}`);
  if (chance(0.6)) params.push(`limit=${enc(pick(['1', '50', '200', '201', '0', '-1', '1.5', '1e2', '0x10', '', 'abc', 'Infinity', 'NaN', '9'.repeat(400), ' 5 ', String(anyNumber())]))}`);
  if (chance(0.5)) params.push(`after=${enc(pick([`j${'0'.repeat(22)}`, `j${'z'.repeat(22)}`, 'j', '', anyString(false).slice(0, 80), `J${'a'.repeat(22)}`]))}`);
  if (chance(0.2)) params.push(pick(['status=queued&status=failed', 'limit=1&limit=2', 'limit[]=1', 'status[x]=1', '__proto__=1', 'constructor=x', 'x=1', '&&&', '=', '%zz=%zz', 'limit=%ff']));
  return { category: 'list', method: 'GET', path: `/v1/jobs${params.length || chance(0.5) ? `?${params.join('&')}` : ''}`, headers: auth() };
}

const acceptedIds: string[] = [];
const acceptedCategory = new Map<string, string>();

function randomId(): string {
  return pick<() => string>([
    () => `j${Array.from({ length: 22 }, () => pick([...'0123456789abcdefghijklmnopqrstuvwxyz'])).join('')}`,
    () => {
      const roll = rng();
      return acceptedIds.length ? acceptedIds[Math.floor(roll * acceptedIds.length)]! : 'j0';
    },
    () => uriEncode(anyString(false).slice(0, 200)),
    () => pick(['%', '%zz', '%E0%A4%A', '%C0%AF', '%2F', '..%2F..%2Fetc%2Fpasswd', '%00', '%u0041', '%25', '%F0%9F%9A', '%ff%fe']),
    () => 'j'.repeat(int(23, 4000)),
    () => pick(['', '.', '..', 'null', 'undefined', '0', '-1', '__proto__', 'constructor', 'J00000000000000000000000']),
  ])();
}

function idRoute(): FuzzRequest {
  const id = randomId();
  const [method, suffix] = pick([['GET', ''], ['GET', '/events'], ['GET', '/logs'], ['POST', '/cancel'], ['POST', '/cancel'], ['GET', '/cancel'], ['DELETE', ''], ['PUT', '']] as const);
  // Cancelling real jobs would end them early: their cancel is the clean-up at the end.
  const safeId = method === 'POST' && acceptedIds.includes(id) ? `j${'1'.repeat(22)}` : id;
  return { category: `id:${method} ${suffix || '/'}`, method, path: `/v1/jobs/${safeId}${suffix}`, headers: method === 'POST' && chance(0.5) ? jsonHeaders() : auth(), body: method === 'POST' && chance(0.3) ? anyString(false).slice(0, 1000) : undefined };
}

const BOARD_QUEUES = ['provision', 'stage-in', 'train', 'stage-out', 'teardown'];
const BOARD_WRITES: Array<[string, string]> = [
  ['PUT', '/api/queues/:q/:job/retry'], ['PUT', '/api/queues/:q/:job/clean'], ['PATCH', '/api/queues/:q/:job/promote'], ['PUT', '/api/queues/:q/add'],
  ['PUT', '/api/queues/:q/empty'], ['PUT', '/api/queues/:q/obliterate'], ['PUT', '/api/queues/:q/pause'], ['PUT', '/api/queues/:q/resume'],
  ['PUT', '/api/queues/:q/clean/completed'], ['PUT', '/api/queues/:q/retry/failed'], ['PUT', '/api/queues/:q/promote'], ['PUT', '/api/queues/:q/concurrency'],
  ['PATCH', '/api/queues/:q/:job/update-data'], ['PUT', '/api/queues/:q/:job/priority'], ['PUT', '/api/queues/:q/rate-limit'], ['PUT', '/api/queues/pause'],
  ['PUT', '/api/queues/:q/job-schedulers/:job'], ['PUT', '/api/queues/:q/job-schedulers/:job/run'], ['POST', '/api/metrics/history/purge'],
];
const BOARD_READS = [
  '', '/', '/api/queues', '/api/queues?activeQueue=train&status=latest&page=1&jobsPerPage=10', '/api/redis/stats', '/api/job-schedulers',
  '/api/queues/:q/:job', '/api/queues/:q/:job/logs', '/api/queues/:q/:job/flow', '/api/queues/:q/metrics', '/api/queues/:q/workers',
  '/api/queues/:q/rate-limit', '/api/queues/:q/default-job-options', '/api/metrics/latency', '/queue/:q', '/static/../../../package.json', '/favicon.ico',
];

function randomRoute(): FuzzRequest {
  const segment = () => (chance(0.7) ? uriEncode(anyString(false).slice(0, 60)) : pick(['jobs', 'v1', '..', '.', '%2e%2e', '', 'admin', 'queues', 'api', '%zz']));
  const fill = (template: string) => template
    .replace(':q', chance(0.7) ? pick(BOARD_QUEUES) : segment())
    .replace(':job', chance(0.5) ? String(int(1, 50)) : segment());
  const roll = rng();
  let method = pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'GET', 'POST']);
  let path: string;
  let write = false;
  if (roll < 0.3) {
    path = `/v1${pick(['', '/', '/jobs/', '/job', '/jobs/x/y/z', '//jobs', '/JOBS', '/jobs/%20', '/jobs?', '/jobs#x'])}${chance(0.5) ? `/${segment()}` : ''}`;
  } else if (roll < 0.55) {
    path = `/v1/${Array.from({ length: int(1, 4) }, segment).join('/')}`;
  } else if (roll < 0.75) {
    path = `/admin/queues${fill(pick(BOARD_READS))}`;
    method = chance(0.8) ? 'GET' : method;
  } else if (roll < 0.9) {
    const [m, template] = pick(BOARD_WRITES);
    method = m;
    path = `/admin/queues${fill(template)}`;
    write = true;
  } else {
    path = `/admin/queues/${Array.from({ length: int(1, 4) }, segment).join('/')}`;
  }
  const withBody = !['GET', 'HEAD'].includes(method) && chance(0.5);
  return {
    category: write ? 'board:write' : path.startsWith('/admin') ? 'board:other' : 'route:v1',
    method, path,
    headers: withBody ? jsonHeaders() : auth(),
    body: withBody ? pick([JSON.stringify(anyJson()), '{', JSON.stringify({ data: { a: 1 } })]) : undefined,
  };
}

function badAuth(): FuzzRequest {
  const header = pick<() => string | null>([
    () => null,
    () => '',
    () => 'Bearer',
    () => 'Bearer ',
    () => `Bearer ${stack.secrets.apiKey}x`,
    () => `Bearer ${stack.secrets.apiKey.slice(0, -1)}`,
    () => `Bearer ${stack.secrets.apiKey.toUpperCase()}`,
    () => `Basic ${Buffer.from(`user:${stack.secrets.apiKey}`).toString('base64')}`,
    () => `Token ${stack.secrets.apiKey}`,
    () => `Bearer ${stack.secrets.apiKey} ${stack.secrets.apiKey}`,
    () => `Bearer\t${stack.secrets.apiKey}x`,
    () => `Bearer ${'k'.repeat(int(1, 8000))}`,
    () => `Bearer ${anyString(false).replace(/[^\x21-\x7e\x80-\xff]/g, '').slice(0, 200) || 'x'}`,
    () => `Bearer ${'\u00e9\u00ff'.repeat(10)}`,
    () => stack.secrets.apiKey,
  ])();
  const headers: Record<string, string> = {};
  if (header !== null) headers.authorization = header;
  const target = pick([
    ['GET', '/v1/jobs'], ['POST', '/v1/jobs'], ['GET', `/v1/jobs/${randomId()}`], ['POST', `/v1/jobs/${randomId()}/cancel`], ['GET', '/admin/queues'],
    ['GET', '/admin/queues/api/queues'], ['PUT', '/admin/queues/api/queues/train/empty'], ['GET', '/v1/nothing'],
  ] as const);
  const body = target[0] === 'POST' ? JSON.stringify(validBody()) : undefined;
  if (body) headers['content-type'] = 'application/json';
  return { category: 'auth:bad', method: target[0], path: target[1], headers, body, expect: 'invalid' };
}

/** The request for slot `index`: a few fixed slots carry the jobs that may start, spread over the run. */
function generate(index: number, special: Map<number, () => FuzzRequest>): FuzzRequest {
  const fixed = special.get(index);
  if (fixed) return fixed();
  const roll = rng();
  if (roll < 0.3) return mutatedJob();
  if (roll < 0.34) return deepJob();
  if (roll < 0.4) return missingInputJob();
  if (roll < 0.46) return wrongShapeJob();
  if (roll < 0.53) return malformedJson();
  if (roll < 0.58) return wrongContentType();
  if (roll < 0.68) return listQuery();
  if (roll < 0.8) return idRoute();
  if (roll < 0.93) return randomRoute();
  return badAuth();
}

// ---------------------------------------------------------------------------------------------
// Sending and checking
// ---------------------------------------------------------------------------------------------

interface Finding {
  problem: string;
  /** What groups findings in the report: the problem and what the requests have in common. */
  signature: string;
  request: string;
  status?: number;
  response?: string;
}

function show(request: FuzzRequest): string {
  const body = request.body === undefined ? '' : typeof request.body === 'string' ? request.body : `<${request.body.length} bytes: ${Buffer.from(request.body).toString('hex').slice(0, 80)}>`;
  const headers = Object.entries(request.headers)
    .map(([k, v]) => `${k}: ${k === 'authorization' ? v.replace(stack.secrets.apiKey, '<KEY>') : v}`.slice(0, 120))
    .join('; ');
  const shownBody = body.length > 160 ? `${JSON.stringify(body.slice(0, 160))}... (${body.length} chars)` : JSON.stringify(body);
  return `[${request.category}] ${request.method} ${request.path.length > 300 ? `${request.path.slice(0, 300)}... (${request.path.length} chars)` : request.path} {${headers}} body=${shownBody}`;
}

/** A short description of what makes a request special, to group findings by cause. */
function signatureOf(problem: string, request: FuzzRequest, status?: number): string {
  const features: string[] = [];
  try {
    decodeURIComponent(request.path.split('?')[0]!);
  } catch {
    features.push('malformed %-escape in the path');
  }
  const type = request.headers['content-type'];
  const encoding = request.headers['content-encoding'];
  if (request.category.startsWith('content-type')) features.push(`content-type ${JSON.stringify(type ?? null)}${encoding ? `, content-encoding ${JSON.stringify(encoding)}` : ''}`);
  if (request.category === 'job:deep-config') features.push(`config nested ${/deep-config-(\d+)/.exec(typeof request.body === 'string' ? request.body : '')?.[1] ?? '?'} levels`);
  // Requests with a telling feature are grouped by it, whatever their category; others by category.
  return `${problem}${status ? ` ${status}` : ''} [${features.length ? features.join('; ') : request.category}]`;
}

function isBoardAnswer(request: FuzzRequest, status: number): boolean {
  // Behind the key, /admin/queues/* is answered by Bull Board's own router (its own error format).
  return request.path.startsWith('/admin/queues') && status !== 401 && request.headers.authorization === `Bearer ${stack.secrets.apiKey}`;
}

describe('fuzzing the running API', () => {
  it(`survives ${TOTAL} generated requests without a 5xx, and every accepted job ends cleanly`, async () => {
    process.stdout.write(`[api-fuzz] seed ${SEED} (FUZZ_SEED=${SEED} replays it), ${TOTAL} requests, ${VALID_JOBS} valid jobs\n`);
    const startedAt = Date.now();
    const special = new Map<number, () => FuzzRequest>();
    const freeSlot = (from: number, to: number) => {
      let slot = int(from, to - 1);
      while (special.has(slot)) slot = int(from, to - 1);
      return slot;
    };
    // Valid jobs in the last 45% of the run, so that (sleeping 60 s) they are still running at the end.
    for (let i = 0; i < Math.min(VALID_JOBS, TOTAL); i++) special.set(freeSlot(Math.floor(TOTAL * 0.55), TOTAL), validJob);
    const validSlots = { size: special.size };
    // The jobs that probe what the schema lets through, early: they have time to meet their fate.
    for (const depth of [200, 1_000, 3_000, 5_000, 20_000, 200_000]) special.set(freeSlot(0, Math.floor(TOTAL * 0.3)), () => deepConfigJob(depth));
    special.set(freeSlot(0, Math.floor(TOTAL * 0.3)), nulEnvJob);

    const byStatus = new Map<string, number>();
    const byCategory = new Map<string, Map<number, number>>();
    const findings: Finding[] = [];
    const boardErrorShapes = new Map<string, number>();
    const validAccepted: string[] = [];
    let sent = 0;
    let notSendable = 0;
    let next = 0;
    let slowest = { ms: 0, request: '' };

    const count = (status: string, category: string, code: number) => {
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      const perCategory = byCategory.get(category) ?? new Map<number, number>();
      perCategory.set(code, (perCategory.get(code) ?? 0) + 1);
      byCategory.set(category, perCategory);
    };

    async function sendOne(request: FuzzRequest): Promise<void> {
      try {
        // fetch refuses some header values outright (not HTTP): those requests never leave.
        new Headers(request.headers);
      } catch {
        notSendable += 1;
        return;
      }
      const began = Date.now();
      let status: number;
      let text: string;
      try {
        const response = await fetch(`${stack.baseUrl}${request.path}`, {
          method: request.method, headers: request.headers, body: request.body, redirect: 'manual', signal: AbortSignal.timeout(30_000),
        });
        status = response.status;
        text = await response.text();
      } catch (error) {
        sent += 1;
        count('no answer', request.category, 0);
        const problem = `no answer: ${(error as Error).message} ${String((error as { cause?: unknown }).cause ?? '')}`;
        findings.push({ problem, signature: signatureOf(problem, request), request: show(request) });
        return;
      }
      sent += 1;
      const ms = Date.now() - began;
      if (ms > slowest.ms) slowest = { ms, request: show(request).slice(0, 200) };
      count(String(status), request.category, status);
      const finding = (problem: string) => findings.push({ problem, signature: signatureOf(problem, request, status), request: show(request), status, response: text.slice(0, 500) });
      if (status >= 500) finding('5xx');
      if (status >= 400 && status < 500 && request.method !== 'HEAD') {
        let json: any = null;
        try {
          json = JSON.parse(text);
        } catch {
          json = null;
        }
        const wellFormed = typeof json?.error?.code === 'string' && typeof json?.error?.message === 'string';
        if (!wellFormed) {
          if (isBoardAnswer(request, status)) boardErrorShapes.set(`${status} ${text.slice(0, 80)}`, (boardErrorShapes.get(`${status} ${text.slice(0, 80)}`) ?? 0) + 1);
          else finding('4xx without {error: {code, message}}');
        }
      }
      // Pause/resume-all answer 200 on a read-only board but skip read-only queues (checked at the end).
      if (request.category === 'board:write' && status < 400 && !/^\/admin\/queues\/api\/queues\/(pause|resume)$/.test(request.path)) finding('the read-only board accepted a write');
      if (status === 202) {
        let id: unknown;
        try {
          id = JSON.parse(text).id;
        } catch {
          id = undefined;
        }
        if (typeof id === 'string') {
          acceptedIds.push(id);
          acceptedCategory.set(id, request.category);
        }
        else finding('202 without a job id');
        if (request.expect === 'invalid') finding('an invalid request was accepted');
        if (request.expect === 'valid' && typeof id === 'string') validAccepted.push(id);
      } else if (request.expect === 'valid') {
        finding('a valid job was not accepted');
      }
    }

    const workers = Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        if (next >= TOTAL) return;
        const index = next++;
        // Generated on the spot (synchronously, in slot order), so the seed replays the same run.
        await sendOne(generate(index, special));
      }
    });
    await Promise.all(workers);
    const fuzzMs = Date.now() - startedAt;

    // Requests fetch could not even send do not count: top up with ones that can be sent.
    let extra = 0;
    while (sent < TOTAL && extra < TOTAL) {
      extra += 1;
      await sendOne(generate(TOTAL + extra, special));
    }

    // The API survived and answers; so did every worker (hostile jobs must not crash them).
    const api = stack.apps.find((app) => app.app === 'api')!;
    const dead = stack.apps.filter((app) => app.child.exitCode !== null || app.child.signalCode !== null).map((app) => `${app.name} (exit ${app.child.exitCode ?? app.child.signalCode})`);
    const health = await fetch(`${stack.baseUrl}/healthz`);
    // The read-only board changed nothing: no queue paused.
    const board = await stack.api('/admin/queues/api/queues');
    const boardQueues = (board.json?.queues ?? []) as Array<{ name: string; isPaused: boolean }>;

    // Clean-up of everything accepted: cancel (or it has already ended), then every job ends with
    // its instances terminated, and no instance is left.
    const cancelStatus = new Map<string, number>();
    const preCancel = new Map<string, string>();
    for (const id of acceptedIds) {
      const before = await stack.api(`/v1/jobs/${id}`);
      preCancel.set(id, `${before.json?.status}${before.json?.error ? ` (${before.json.error.code}: ${String(before.json.error.message).slice(0, 200)})` : ''}`);
      const cancel = await stack.api(`/v1/jobs/${id}/cancel`, { method: 'POST' });
      cancelStatus.set(id, cancel.status);
      if (cancel.status !== 200 && cancel.status !== 409) findings.push({ problem: `cancel answered ${cancel.status}`, signature: `cancel answered ${cancel.status}`, request: `POST /v1/jobs/${id}/cancel`, status: cancel.status, response: cancel.text.slice(0, 300) });
    }
    const isOpen = (job: any) => {
      const instances = [...(job.retiredInstances ?? []), ...(job.instance ? [job.instance] : [])];
      return !TERMINAL.includes(job.status) || instances.some((instance: { terminatedAt: string | null }) => !instance.terminatedAt);
    };
    const ended = await waitFor(async () => {
      const jobs = await Promise.all(acceptedIds.map(async (id) => (await stack.api(`/v1/jobs/${id}`)).json));
      return jobs.filter(isOpen).length === 0 && stack.lambda.state.aliveInstances().length === 0 ? jobs : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500, description: 'every accepted job to end with its instances terminated and no instance alive' }).catch((error: Error) => error);
    if (ended instanceof Error) {
      // Say which jobs never ended, and how far they got.
      for (const id of acceptedIds) {
        const job = (await stack.api(`/v1/jobs/${id}`)).json;
        if (!job || !isOpen(job)) continue;
        const events = ((await stack.api(`/v1/jobs/${id}/events`)).json?.data ?? []) as Array<{ type: string; stage: string; message: string }>;
        findings.push({
          problem: 'an accepted job never ended', signature: `an accepted job never ended [${acceptedCategory.get(id)}]`,
          request: `${acceptedCategory.get(id)} job ${id} (${job.name}) cancel answered ${cancelStatus.get(id)}`,
          response: `status ${job.status}, instance ${job.instance ? `${job.instance.status} terminatedAt=${job.instance.terminatedAt}` : 'none'}; events: ${events.slice(-4).map((e) => `${e.stage}/${e.type}: ${e.message.slice(0, 120)}`).join(' | ')}`,
        });
      }
    }

    const totalMs = Date.now() - startedAt;
    const statusLine = [...byStatus.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([status, n]) => `${status}: ${n}`).join(', ');
    process.stdout.write(`[api-fuzz] sent ${sent} requests in ${(fuzzMs / 1000).toFixed(1)} s (${notSendable} generated ones fetch refused to send); by status: ${statusLine}\n`);
    for (const [category, counts] of [...byCategory.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      process.stdout.write(`[api-fuzz]   ${category}: ${[...counts.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ')}\n`);
    }
    process.stdout.write(`[api-fuzz] slowest answer ${slowest.ms} ms: ${slowest.request}\n`);
    process.stdout.write(`[api-fuzz] accepted ${acceptedIds.length} jobs (${validAccepted.length} of the ${validSlots.size} valid ones); cancel answers: ${JSON.stringify(countValues([...cancelStatus.values()]))}; status before cancel: ${JSON.stringify(countValues([...preCancel.values()]))}\n`);
    if (boardErrorShapes.size) process.stdout.write(`[api-fuzz] Bull Board's own 4xx bodies (not {error: {code, message}}): ${JSON.stringify(Object.fromEntries(boardErrorShapes))}\n`);
    if (!(ended instanceof Error)) {
      process.stdout.write(`[api-fuzz] final job statuses: ${JSON.stringify(countValues(ended.map((job: { status: string }) => job.status)))}; clean-up done ${((Date.now() - startedAt - fuzzMs) / 1000).toFixed(1)} s after the fuzz, ${(totalMs / 1000).toFixed(1)} s in all\n`);
      for (const job of ended) {
        const category = acceptedCategory.get(job.id);
        if (category === 'job:valid') continue;
        const events = ((await stack.api(`/v1/jobs/${job.id}/events`)).json?.data ?? []) as Array<{ type: string; stage: string; message: string }>;
        const story = events.filter((e) => e.type !== 'status').slice(-4).map((e) => `${e.stage}/${e.type}: ${e.message.slice(0, 160)}`).join(' | ');
        process.stdout.write(`[api-fuzz]   accepted ${category} job ${job.name ?? job.id}: before cancel ${preCancel.get(job.id)}; now ${job.status}${job.error ? ` (${job.error.code}: ${String(job.error.message).slice(0, 200)})` : ''}; last events: ${story}\n`);
      }
    }

    // An accepted job is one the service took on: before the cancel it must not have failed (valid
    // jobs sleep 60 s, so they were running or had just succeeded), nor had a staging or training
    // step retried or its host declared unreachable for anything but a network or SSH hiccup (what
    // the job itself holds must never make a step fail). Relaunches while provisioning are about
    // instances, not the job's content.
    for (const id of acceptedIds) {
      const before = preCancel.get(id) ?? '';
      const what = `${acceptedCategory.get(id)} job ${id}`;
      if (/^(failed|cancelled)/.test(before)) findings.push({ problem: `an accepted job had already ended: ${before}`, signature: `an accepted job had already ended [${acceptedCategory.get(id)}]`, request: what });
      const events = ((await stack.api(`/v1/jobs/${id}/events`)).json?.data ?? []) as Array<{ type: string; stage: string; message: string }>;
      const troubles = events.filter((e) => ['staging_in', 'training', 'staging_out'].includes(e.stage) && (e.type === 'retry' || e.type === 'unreachable')
        // SSH and SFTP trouble under load (sshd busy, a subsystem that did not start) names the host.
        && !/ubuntu@|@\d+\.\d+\.\d+\.\d+|timed? ?out|ECONN|EHOST|connect|handshake|socket|subsystem|ssh_/i.test(e.message));
      if (troubles.length) {
        findings.push({
          problem: 'an accepted job hit a non-network error', signature: `an accepted job hit a non-network error [${acceptedCategory.get(id)}]`, request: what,
          response: troubles.slice(0, 3).map((e) => `${e.stage}/${e.type}: ${e.message}`).join(' | '),
        });
      }
    }
    const grouped = new Map<string, Finding[]>();
    for (const finding of findings) grouped.set(finding.signature, [...(grouped.get(finding.signature) ?? []), finding]);
    const report = [...grouped.entries()]
      .sort(([, a], [, b]) => b.length - a.length)
      .map(([signature, list]) => `${list.length} × ${signature}\n${list.slice(0, 3).map((f) => `    ${f.request}\n      -> ${f.status ?? ''} ${JSON.stringify(f.response ?? '')}`).join('\n')}`)
      .join('\n');
    // Why the API answered 5xx, from its own log (the body says only "internal_error").
    const apiErrors = countValues(stack.appLogs().split('\n').filter((line) => line.includes('"msg":"request failed"')).map((line) => {
      try {
        const entry = JSON.parse(line);
        return `${entry.err?.type ?? ''}: ${String(entry.err?.message ?? '').slice(0, 120)} (status ${entry.err?.status ?? entry.err?.statusCode ?? '-'}, type ${entry.err?.type ?? '-'})`;
      } catch {
        return line.slice(0, 160);
      }
    }));
    if (Object.keys(apiErrors).length) process.stdout.write(`[api-fuzz] errors the API logged for its 5xx answers: ${JSON.stringify(apiErrors, null, 1)}\n`);

    expect(report).toBe('');
    expect(sent).toBeGreaterThanOrEqual(TOTAL);
    expect(dead).toEqual([]);
    expect(board.status).toBe(200);
    expect(boardQueues.length).toBeGreaterThan(0);
    expect(boardQueues.filter((queue) => queue.isPaused).map((queue) => queue.name)).toEqual([]);
    expect(api.child.exitCode).toBeNull();
    expect(health.status).toBe(200);
    expect(validAccepted).toHaveLength(validSlots.size);
    if (ended instanceof Error) throw ended;
    expect(stack.lambda.state.aliveInstances()).toEqual([]);
  });
});

function countValues(values: Array<string | number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const value of values) out[String(value)] = (out[String(value)] ?? 0) + 1;
  return out;
}
