/**
 * Hostile values for fuzzing the API: strings made of shell metacharacters, control characters and
 * tricky unicode, injection payloads, huge strings, odd numbers, random JSON, deep nesting and
 * values of the wrong type. Every choice comes from the run's seeded `Random`.
 */
import fc from 'fast-check';
import type { Random } from './random';

export const HOSTILE_CHARS = [
  "'",
  '"',
  '$',
  '(',
  ')',
  '`',
  ';',
  '|',
  '&',
  '\n',
  '\r',
  '\t',
  '\\',
  '*',
  '?',
  '[',
  ']',
  '{',
  '}',
  '~',
  '!',
  '#',
  '<',
  '>',
  ' ',
  '%',
  '=',
  '^',
  '/',
  '.',
  '-',
  '\x01',
  '\x1b',
  '\x7f',
  '\u0085',
  'é',
  '世',
  '\u200b',
  '\u200f',
  '\u202e',
  '\u2028',
  '\ufeff',
  '🚀',
  '👩‍👩‍👧',
  'ע',
];

export const PAYLOADS = [
  '$(touch ~/canary)',
  '`touch /tmp/canary`',
  "'; touch ~/canary; '",
  '"; touch ~/canary; "',
  '\ntouch ~/canary\n',
  '&& reboot',
  '../../../../etc/passwd',
  '..',
  '.',
  '/',
  '\\',
  '%00',
  '%2e%2e%2f',
  '{{7*7}}',
  '${jndi:ldap://x/a}',
  '<script>alert(1)</script>',
  "' OR '1'='1",
  '__proto__',
  'constructor',
  'prototype',
  'NaN',
  'undefined',
  'null',
  '-1',
  '1e309',
  '\u0000',
  '\ud800',
  '\udfff',
];

/** Strings drawn once per run by fast-check (from the run's seed), to pick from. */
export interface StringPools {
  hostile: string[];
  binary: string[];
  grapheme: string[];
  ascii: string[];
}

export function stringPools(seed: number): StringPools {
  const sample = <T>(arb: fc.Arbitrary<T>, n: number, offset: number) => fc.sample(arb, { seed: seed + offset, numRuns: n });
  return {
    hostile: sample(fc.string({ unit: fc.constantFrom(...HOSTILE_CHARS), minLength: 1, maxLength: 60 }), 600, 1),
    binary: sample(fc.string({ unit: 'binary', maxLength: 60 }), 300, 2),
    grapheme: sample(fc.string({ unit: 'grapheme', maxLength: 40 }), 300, 3),
    ascii: sample(fc.string({ unit: 'binary-ascii', maxLength: 60 }), 300, 4),
  };
}

/** The randomness hostile values are made from: the seeded PRNG and the run's string pools. */
export interface ValueSource extends Random {
  pools: StringPools;
}

/** Any string, hostile more often than not; occasionally huge (up to ~1.5 MB). */
export function anyString(r: ValueSource, allowHuge = true): string {
  const roll = r.next();
  if (allowHuge && roll < 0.01) return hugeString(r, r.int(100_000, 1_500_000));
  if (roll < 0.05) return hugeString(r, r.int(1_000, 20_000));
  if (roll < 0.35) return r.pick(r.pools.hostile);
  if (roll < 0.5) return r.pick(PAYLOADS);
  if (roll < 0.65) return r.pick(r.pools.binary);
  if (roll < 0.8) return r.pick(r.pools.grapheme);
  if (roll < 0.9) return r.pick(r.pools.ascii);
  return r.pick(['', ' ', 'ok', 'a'.repeat(65), 'x'.repeat(r.int(1, 300))]);
}

export function hugeString(r: ValueSource, length: number): string {
  const chunk = r.pick([...r.pools.hostile, ...PAYLOADS.filter((p) => p !== '')]);
  return chunk.repeat(Math.ceil(length / chunk.length)).slice(0, length);
}

/** A string certainly outside [A-Za-z0-9._-]: a metacharacter or non-ASCII character is put in. */
export function badName(r: ValueSource): string {
  const base = r.chance(0.5) ? anyString(r, false).slice(0, 200) : 'name';
  const bad = r.pick(["'", '"', '$', '(', '`', ';', '|', '&', '\n', ' ', '*', '~', '/', '\\', 'é', '🚀', '\u200f', '\0', '!', '#', '<']);
  const at = r.int(0, base.length);
  return `${base.slice(0, at)}${bad}${base.slice(at)}`;
}

export function anyNumber(r: Random): number {
  return r.pick([
    0,
    -1,
    1,
    1.5,
    -0.5,
    1e308,
    -1e308,
    2 ** 53 + 1,
    Number.MAX_SAFE_INTEGER,
    1e-300,
    604_801,
    2_592_001,
    1_000_001,
    r.int(-1e9, 1e9),
  ]);
}

export function anyJson(r: ValueSource, depth = 0): unknown {
  const roll = r.next();
  if (depth > 3 || roll < 0.2) return anyString(r, false).slice(0, 500);
  if (roll < 0.35) return anyNumber(r);
  if (roll < 0.45) return r.pick([true, false, null]);
  if (roll < 0.7) return Array.from({ length: r.int(0, 4) }, () => anyJson(r, depth + 1));
  return Object.fromEntries(Array.from({ length: r.int(0, 4) }, () => [anyString(r, false).slice(0, 50), anyJson(r, depth + 1)]));
}

/** Nested arrays/objects `depth` levels deep, as JSON text (built as text: no recursion here). */
export function deepJsonText(r: Random, depth: number, leaf = '1'): string {
  const kind = r.pick(['array', 'object', 'mixed']);
  const open = kind === 'array' ? '[' : kind === 'object' ? '{"a":' : null;
  if (open) return `${open.repeat(depth)}${leaf}${(open === '[' ? ']' : '}').repeat(depth)}`;
  return `${'{"a":['.repeat(depth)}${leaf}${']}'.repeat(depth)}`;
}

/** Something of a type other than `kind`. */
export function wrongType(r: ValueSource, kind: 'string' | 'number' | 'object' | 'array'): unknown {
  const options: unknown[] = [];
  if (kind !== 'string') options.push(anyString(r, false).slice(0, 100), '', '1');
  if (kind !== 'number') options.push(anyNumber(r), 0, -1);
  if (kind !== 'object') options.push({}, { a: 1 });
  if (kind !== 'array') options.push([], ['x'], [{}]);
  options.push(true, false, null);
  return r.pick(options);
}
