/**
 * What a job carries into the host, as the API lets it through, with hostile values: env keys and
 * values, input names, S3 key segments, and the paths stage-in writes them to.
 */
import fc from 'fast-check';
import { RESERVED_ENV_KEYS } from '@inno-train/schemas';
import { arbitraryValue, forLane, hostileString, payloadMix, withoutNul } from './shell-hostile-strings';
import { wellFormed } from './well-formed';

/**
 * Keys bash itself gives a meaning to (read-only, dynamic or changing how bash runs): assigning
 * them is not a quoting question, so the env property leaves them out (see the report).
 */
export const BASH_SPECIAL = new Set([
  '_',
  'BASH',
  'BASHOPTS',
  'BASHPID',
  'BASH_ENV',
  'CDPATH',
  'COLUMNS',
  'DIRSTACK',
  'ENV',
  'EPOCHREALTIME',
  'EPOCHSECONDS',
  'EUID',
  'FUNCNAME',
  'GLOBIGNORE',
  'GROUPS',
  'HISTCMD',
  'HOSTNAME',
  'HOSTTYPE',
  'IFS',
  'LANG',
  'LINENO',
  'LINES',
  'MACHTYPE',
  'OLDPWD',
  'OPTARG',
  'OPTERR',
  'OPTIND',
  'OSTYPE',
  'PIPESTATUS',
  'POSIXLY_CORRECT',
  'PPID',
  'PROMPT_COMMAND',
  'PWD',
  'PYTHONUNBUFFERED',
  'RANDOM',
  'REPLY',
  'SECONDS',
  'SHELLOPTS',
  'SHLVL',
  'SRANDOM',
  'TIMEFORMAT',
  'TMOUT',
  'TMPDIR',
  'UID',
]);
export const BASH_SPECIAL_PREFIXES = ['BASH_', 'COMP_', 'LC_', 'LD_', 'HIST', 'PS', 'READLINE_', 'COPROC'];

export const envKey = fc
  .stringMatching(/^[A-Z_][A-Z0-9_]{0,30}$/)
  .filter((key) => !RESERVED_ENV_KEYS.has(key) && !key.startsWith('INPUT_') && !key.startsWith('INNO_'))
  .filter((key) => !BASH_SPECIAL.has(key) && !BASH_SPECIAL_PREFIXES.some((prefix) => key.startsWith(prefix)));

/** Env values as the API accepts them: at most 8192 UTF-16 units, no NUL (the schema's limit). */
export const envValue = arbitraryValue.map((value) => wellFormed(value.slice(0, 8192)));

/** An S3 key's last segment as the API lets it through: no control characters, no '/'. */
export const keySegment = fc
  .oneof(hostileString, payloadMix, withoutNul(fc.string({ unit: 'grapheme', maxLength: 40 })))
  .map((value) => wellFormed(value.replace(/[\u0000-\u001f\u007f-\u009f/]/g, '_').slice(0, 200)))
  .filter((value) => value !== '' && value !== '.' && value !== '..');

export const inputName = fc.stringMatching(/^[a-z][a-z0-9_]{0,31}$/);

/** One to six env variables with hostile values, canaries named for the lane. */
export const envFor = (lane: number) => fc.dictionary(envKey, forLane(envValue, lane), { minKeys: 1, maxKeys: 6 });

/** Up to three inputs: objects or prefixes whose last segment is hostile, canaries named for the lane. */
export const inputsFor = (lane: number) =>
  fc.dictionary(
    inputName,
    fc
      .tuple(forLane(keySegment, lane), fc.boolean())
      .map(([segment, prefix]) => (prefix ? `s3://bucket/data/${segment}/` : `s3://bucket/data/${segment}`)),
    { maxKeys: 3 },
  );

/** A path under inputs/ of one to three hostile segments, canaries named for the lane. */
export const inputRelPathFor = (lane: number) =>
  fc
    .array(
      forLane(keySegment, lane).map((s) => wellFormed(s.slice(0, 60))),
      { minLength: 1, maxLength: 3 },
    )
    .map((segments) => `inputs/${segments.join('/')}`);
