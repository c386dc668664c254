/**
 * Job submissions for the API fuzz: a schema-valid base, valid jobs carrying hostile values where
 * the schema allows any string, and the mutations applied to the base (those that certainly make it
 * invalid, and those that may or may not).
 */
import { BUCKET } from '../stack';
import { anyJson, anyString, badName, deepJsonText, wrongType, type ValueSource } from './api-values';

/** The script of every job the fuzz submits: accepted ones are still running when the run ends. */
export const SLEEP_SCRIPT = 'import time\ntime.sleep(60)\n';
/** An object the fuzz puts in the bucket before the run, named as an input of every base body. */
export const DATA_KEY = 'fuzz/data.bin';
/** A prefix with one object under it, named as a prefix input of every base body. */
export const PREFIX_KEY = 'fuzz/prefix/';

/** What a body is while it is being mutated: any JSON, keyed loosely. */
export type JobBody = Record<string, any>;
/** A change to a body; `r` supplies whatever randomness it needs. */
export type Mutation = (body: JobBody, r: ValueSource) => void;

export const SCHEMA_KEYS = [
  'name',
  'instance',
  'inputs',
  'script',
  'command',
  'config',
  'env',
  'outputUri',
  'maxRuntimeSeconds',
  'maxCostUsd',
  'metadata',
  'retry',
];

export function baseBody(r: ValueSource): JobBody {
  return {
    name: `fuzz-${r.int(0, 1e6)}`,
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

/** Keys a submission may not use anywhere (a 400 naming them): a valid body renames them. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function withoutReservedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutReservedKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [RESERVED_KEYS.has(key) ? `${key}_` : key, withoutReservedKeys(inner)]),
  );
}

/** A valid job: hostile values where the schema allows any string (env, metadata, config); never NUL, which the schema refuses. */
export function validBody(r: ValueSource): JobBody {
  const body = baseBody(r);
  body.name = r.pick(['a', 'fuzz.valid_job-1', `v${r.int(0, 1e9)}`, 'Z'.repeat(64)]);
  body.env = Object.fromEntries(
    Array.from({ length: r.int(1, 5) }, (_, i) => [`FUZZ_${i}`, anyString(r, false).replace(/\0/g, '').slice(0, 2000)]),
  );
  body.metadata = Object.fromEntries(
    Array.from({ length: r.int(0, 4) }, (_, i) => [
      `k${i}.${r.pick(['a', 'b-c', 'd_e'])}`,
      anyString(r, false).replace(/\0/g, '').slice(0, 1024),
    ]),
  );
  body.config = withoutReservedKeys(
    Object.fromEntries(Array.from({ length: r.int(0, 4) }, () => [anyString(r, false).slice(0, 40), anyJson(r, 1)])),
  ) as Record<string, unknown>;
  if (r.chance(0.3)) delete body.instance.regions;
  if (r.chance(0.3)) delete body.instance.fallbackTypes;
  if (r.chance(0.3)) delete body.command;
  if (r.chance(0.3)) delete body.outputUri;
  if (r.chance(0.3)) delete body.maxCostUsd;
  if (r.chance(0.2)) delete body.inputs.more;
  return body;
}

/** A top-level key the schema does not know ("__proto__" would set the prototype, not a key). */
export function unknownKey(r: ValueSource): string {
  const key = r.pick(['unknown', 'Name', 'NAME', 'id', 'status', '__proto__x', anyString(r, false).slice(0, 30)]);
  return SCHEMA_KEYS.includes(key) || key === '__proto__' ? `${key}_` : key;
}

/** Mutations each of which certainly makes the submission invalid. */
export const INVALIDATING: Mutation[] = [
  (b) => delete b.instance,
  (b) => delete b.script,
  (b) => delete b.instance.type,
  (b) => {
    b.script = { filename: 'train.py' };
  },
  (b) => {
    b.script = { inline: SLEEP_SCRIPT, uri: `s3://${BUCKET}/x.py` };
  },
  (b) => {
    b.script.inline = '';
  },
  (b, r) => {
    b[unknownKey(r)] = anyJson(r);
  },
  (b, r) => {
    b.instance[r.pick(['gpu', 'types', 'region', 'x'])] = anyJson(r);
  },
  (b, r) => {
    b.script[r.pick(['interpreter', 'args', 'x'])] = anyJson(r);
  },
  (b, r) => {
    b.name = badName(r);
  },
  (b, r) => {
    b.name = 'n'.repeat(r.int(65, 5000));
  },
  (b, r) => {
    b.instance.type = r.pick([badName(r), 'GPU_1X_A10', '', '_gpu', 'a'.repeat(65)]);
  },
  (b, r) => {
    b.instance.regions = r.pick([[], [badName(r)], Array.from({ length: 33 }, () => 'us-east-1'), ['US-EAST-1'], ['-us']]);
  },
  (b, r) => {
    b.instance.fallbackTypes = r.pick([[badName(r)], Array.from({ length: 9 }, () => 'gpu_1x_a10')]);
  },
  (b, r) => {
    b.instance.capacityWaitSeconds = r.pick([-1, 1.5, 604_801, 1e20]);
  },
  (b, r) => {
    b.inputs = { [r.pick([badName(r), 'Train', '1train', '_x', 'a'.repeat(33), ''])]: `s3://${BUCKET}/${DATA_KEY}` };
  },
  (b) => {
    b.inputs = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`i${i}`, `s3://${BUCKET}/${DATA_KEY}`]));
  },
  (b, r) => {
    b.inputs = {
      data: r.pick([
        'http://x/y',
        's3:/x/y',
        's3://',
        `s3://${BUCKET}/a b`,
        `s3://${BUCKET}/${'k'.repeat(1100)}`,
        '',
        `S3://${BUCKET}/x`,
        `s3://${BUCKET}/x\ny`,
      ]),
    };
  },
  (b, r) => {
    b.script.filename = r.pick([badName(r), '-rf', '.hidden', '', 'f'.repeat(129), 'a/b.py', '../train.py']);
  },
  (b, r) => {
    b.command = r.pick(['', 'x'.repeat(16_385)]);
  },
  (b, r) => {
    b.env = { [r.pick([badName(r), '1ABC', '', 'A-B', 'a.b', 'X'.repeat(129)])]: '1' };
  },
  (b, r) => {
    b.env = {
      [r.pick(['JOB_ID', 'JOB_DIR', 'INPUT_DIR', 'CONFIG_PATH', 'OUTPUT_DIR', 'HOME', 'PATH', 'USER', 'SHELL', 'INPUT_X', 'INNO_Y'])]:
        anyString(r, false).slice(0, 100),
    };
  },
  (b) => {
    b.env = { OK: 'v'.repeat(8193) };
  },
  (b) => {
    b.env = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`E${i}`, '1']));
  },
  (b, r) => {
    b.env = { OK: wrongType(r, 'string') };
  },
  (b, r) => {
    b.outputUri = r.pick(['s3://b/no-slash', 'http://x/', '', 's3://b/a b/', '/local/']);
  },
  (b, r) => {
    b.maxRuntimeSeconds = r.pick([0, -1, 1.5, 2_592_001, 1e300]);
  },
  (b, r) => {
    b.maxCostUsd = r.pick([0, -1, 1_000_001, -1e-9]);
  },
  (b, r) => {
    b.retry = r.pick([{ onHostLost: 6 }, { onHostLost: -1 }, { onHostLost: 1.5 }, { onHostLost: 1, extra: 1 }, [], 'always']);
  },
  (b, r) => {
    b.metadata = { [r.pick([badName(r), '', '-x', '.x', 'm'.repeat(65)])]: 'v' };
  },
  (b, r) => {
    b.metadata = { team: r.pick([wrongType(r, 'string'), 'v'.repeat(1025)]) };
  },
  (b) => {
    b.metadata = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`m${i}`, 'v']));
  },
  // null is not "absent": optional fields are not nullable.
  (b, r) => {
    b[r.pick(SCHEMA_KEYS)] = null;
  },
  (b, r) => {
    b.instance = wrongType(r, 'object');
  },
  (b, r) => {
    b.script = wrongType(r, 'object');
  },
  (b, r) => {
    b.name = wrongType(r, 'string');
  },
  (b, r) => {
    b.command = wrongType(r, 'string');
  },
  (b, r) => {
    b.maxRuntimeSeconds = wrongType(r, 'number');
  },
  (b, r) => {
    b.maxCostUsd = wrongType(r, 'number');
  },
  (b, r) => {
    b.outputUri = wrongType(r, 'string');
  },
  (b, r) => {
    b.inputs = r.pick([wrongType(r, 'object'), { data: wrongType(r, 'string') }]);
  },
  (b, r) => {
    b.instance.regions = wrongType(r, 'array');
  },
  (b, r) => {
    b.env = r.pick([[], 'A=1', 1, ['A=1']]);
  },
  (b, r) => {
    b.metadata = r.pick([[], 'team=x', 1, [['team', 'x']]]);
  },
  (b, r) => {
    b.config = r.pick(['epochs: 1', 1, true]);
  },
];

/** Mutations that may or may not invalidate: hostile and huge values in free-form fields, removals. */
export const CHAOS: Mutation[] = [
  (b, r) => {
    b.command = anyString(r);
  },
  (b, r) => {
    b.script.inline = anyString(r);
  },
  (b, r) => {
    b.env = { [r.pick(['A', 'B_1', '_x'])]: anyString(r) };
  },
  (b, r) => {
    b.metadata = { team: anyString(r) };
  },
  (b, r) => {
    b.config = { [anyString(r, false).slice(0, 100)]: anyJson(r) };
  },
  (b, r) => {
    b.config = anyJson(r);
  },
  (b, r) => {
    b[r.pick(SCHEMA_KEYS)] = anyJson(r);
  },
  (b, r) => {
    delete b[r.pick(SCHEMA_KEYS)];
  },
  (b, r) => {
    b.instance.regions = Array.from({ length: r.int(0, 3) }, () => anyString(r, false).slice(0, 70));
  },
  (b, r) => {
    b.inputs = { [r.pick(['data', 'x', anyString(r, false).slice(0, 40)])]: `s3://${anyString(r, false).slice(0, 100)}` };
  },
];

/** The JSON text of `body` with a deeply nested value at one place (certainly invalid or not). */
export function withDeepValue(r: ValueSource, body: JobBody, where: 'config' | 'unknown' | 'env', depth: number): string {
  const marker = '"__DEEP__"';
  if (where === 'config') body.config = { deep: '__DEEP__' };
  if (where === 'unknown') body.deep = '__DEEP__';
  if (where === 'env') body.env = { DEEP: '__DEEP__' };
  return JSON.stringify(body).replace(marker, deepJsonText(r, depth));
}
