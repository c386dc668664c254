/**
 * The fields of a job submission that the service uses unquoted or as file names, with the
 * pattern each must match, and candidate values for them: near the patterns (so some pass), with
 * metacharacters, unicode and line ends mixed in.
 */
import fc from 'fast-check';
import { arbitraryValue, hostileChar } from './shell-hostile-strings';

/** What every such field may hold at most: nothing a shell would read specially. */
export const SAFE_NAME = /^[A-Za-z0-9._-]+$/;

export const FIELD_PATTERNS = {
  name: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
  inputName: /^[a-z][a-z0-9_]{0,31}$/,
  envKey: /^[A-Za-z_][A-Za-z0-9_]*$/,
  filename: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
  uriScriptFilename: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
  metadataKey: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
} as const;

export type SubmissionField = keyof typeof FIELD_PATTERNS;

export const SUBMISSION_FIELDS = Object.keys(FIELD_PATTERNS) as SubmissionField[];

/** A submission that is valid but for `value` in `field`. */
export function submissionWith(field: SubmissionField, value: string) {
  const body = {
    name: 'ok',
    instance: { type: 'gpu_1x_a10' },
    inputs: { train: 's3://bucket/data/train.jsonl' } as Record<string, string>,
    script: { inline: 'print(1)', filename: 'train.py' } as Record<string, string>,
    env: { OK: '1' } as Record<string, string>,
    metadata: { team: 'x' } as Record<string, string>,
  };
  // As JSON.parse would build it: the value is an own property even when it is "__proto__".
  const record = (key: string, v: string) => JSON.parse(JSON.stringify({ [key]: v })) as Record<string, string>;
  if (field === 'name') body.name = value;
  if (field === 'inputName') body.inputs = record(value, 's3://bucket/data/train.jsonl');
  if (field === 'envKey') body.env = record(value, '1');
  if (field === 'filename') body.script = { inline: 'print(1)', filename: value };
  if (field === 'uriScriptFilename') body.script = { uri: 's3://bucket/scripts/train.py', filename: value };
  if (field === 'metadataKey') body.metadata = record(value, 'x');
  return body;
}

/** What of the field reached the parsed submission (what the service then uses). */
export function reachedValues(field: SubmissionField, data: any): string[] {
  if (field === 'name') return [data.name];
  if (field === 'inputName') return Object.keys(data.inputs);
  if (field === 'envKey') return Object.keys(data.env ?? {});
  if (field === 'filename' || field === 'uriScriptFilename') return [data.script.filename];
  return Object.keys(data.metadata ?? {});
}

/** Fields whose value is a record key: one the schema drops silently reaches nothing. */
export function isRecordKey(field: SubmissionField): boolean {
  return field !== 'name' && field !== 'filename' && field !== 'uriScriptFilename';
}

// Strings near the patterns (so some pass), with metacharacters, unicode and line ends mixed in.
const nearPattern = fc.string({
  unit: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...'abcxyzABCXYZ019_.-') }, { weight: 1, arbitrary: hostileChar }),
  maxLength: 140,
});

export const fieldCandidate = fc.oneof(
  { weight: 4, arbitrary: nearPattern },
  { weight: 2, arbitrary: arbitraryValue.map((v) => v.slice(0, 300)) },
  {
    weight: 1,
    arbitrary: fc.tuple(nearPattern, fc.constantFrom('\n', '\r\n', '\u2028', ' ', '\0', '$(id)', '\u200f')).map(([v, end]) => `${v}${end}`),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 70 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      'hasOwnProperty',
      '-rf',
      '--',
      '.',
      '..',
      '...',
      '-',
      '_',
      'a\nb',
      'ok\n',
    ),
  },
);
