/**
 * Strings that must never reach a shell unquoted, as fast-check arbitraries: shell
 * metacharacters, quoting, whitespace, control characters and tricky unicode, payloads that
 * create a canary file if they run, all of unicode, and very long strings. None holds a NUL
 * (`valueWithNul` adds some on purpose).
 */
import fc from 'fast-check';
import { wellFormed } from './well-formed';

/** Shell metacharacters, quoting, whitespace, control characters (no NUL) and tricky unicode. */
export const SHELL_HOSTILE_CHARS = [
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
  ',',
  '-',
  '+',
  '@',
  ':',
  '.',
  '/',
  '\x01',
  '\x07',
  '\x1b',
  '\x7f',
  '\x85',
  '\xa0',
  'a',
  'Z',
  '0',
  'é',
  'ß',
  '世',
  '\u0301' /* combining acute */,
  '\u200b' /* zero width space */,
  '\u200e' /* LRM */,
  '\u200f' /* RLM */,
  '\u202e' /* RLO */,
  '\u2028' /* line separator */,
  '\ufeff' /* BOM */,
  '\ufffd',
  '🚀',
  '👩‍👩‍👧',
  '𝕏',
  'ע',
  'ب',
];

/** Strings that run a command (creating a canary) if they reach the shell unquoted. */
export const CANARY_PAYLOADS = [
  '$(touch ~/canary)',
  '$(touch /tmp/canary)',
  '`touch ~/canary`',
  '`touch /tmp/canary`',
  "'; touch ~/canary; '",
  '"; touch ~/canary; "',
  '\'"$(touch /tmp/canary)"\'',
  '; touch ~/canary',
  '&& touch ~/canary',
  '|| touch ~/canary',
  '| touch ~/canary',
  '& touch /tmp/canary &',
  '\ntouch ~/canary\n',
  '\r\ntouch /tmp/canary\r\n',
  '$(touch${IFS}/tmp/canary)',
  '<(touch ~/canary)',
  '>(touch /tmp/canary)',
  '> ~/canary',
  '>>/tmp/canary',
  "\\'$(touch ~/canary)\\'",
  "'\\''$(touch ~/canary)'\\''",
  '${x:-$(touch ~/canary)}',
  '$((1+$(touch ~/canary)))',
  "$'\\x27'; touch ~/canary",
  '\\\n$(touch ~/canary)',
  '!!; touch ~/canary',
  '{touch,~/canary}',
  '*',
  '~',
  '~root',
  '$HOME',
  '${PATH}',
  '$IFS',
  '$0',
  '$$',
  '$@',
  '-n',
  '--',
  '%s%n%d',
  '\\',
  "'",
  '"',
  '',
];

export const hostileChar = fc.constantFrom(...SHELL_HOSTILE_CHARS);
export const hostileString = fc.string({ unit: hostileChar, maxLength: 200 });

/** The same strings with every NUL made U+2400 (the symbol for NUL). */
export function withoutNul(arb: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return arb.map((value) => value.replace(/\0/g, '\u2400'));
}

export const payloadMix = fc
  .array(fc.oneof(fc.constantFrom(...CANARY_PAYLOADS), hostileString), { minLength: 1, maxLength: 6 })
  .map((parts) => parts.join(''));

export const veryLong = fc
  .tuple(
    fc.oneof(
      hostileString.filter((s) => s.length > 0),
      fc.constantFrom(...CANARY_PAYLOADS).filter((s) => s.length > 0),
      withoutNul(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 })),
    ),
    fc.integer({ min: 1_000, max: 20_000 }),
  )
  .map(([chunk, length]) => chunk.repeat(Math.ceil(length / chunk.length)).slice(0, length))
  // A slice may cut a surrogate pair: a lone surrogate is not a string a client can send as UTF-8.
  .map(wellFormed);

/** One arbitrary string without NUL: hostile alphabets, all of unicode, payloads, very long. */
export const arbitraryValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 3, arbitrary: payloadMix },
  { weight: 2, arbitrary: withoutNul(fc.string({ unit: 'binary', maxLength: 300 })) },
  { weight: 2, arbitrary: withoutNul(fc.string({ unit: 'grapheme', maxLength: 100 })) },
  { weight: 1, arbitrary: withoutNul(fc.string({ unit: 'grapheme-composite', maxLength: 100 })) },
  { weight: 1, arbitrary: withoutNul(fc.string({ unit: 'binary-ascii', maxLength: 300 })) },
  { weight: 1, arbitrary: fc.constantFrom(...CANARY_PAYLOADS) },
  { weight: 1, arbitrary: veryLong },
);

/** Up to 500 characters of a value, one to three NUL bytes, up to 500 more. */
export const valueWithNul = fc
  .tuple(
    arbitraryValue.map((v) => v.slice(0, 500)),
    fc.array(fc.constant('\0'), { minLength: 1, maxLength: 3 }),
    arbitraryValue.map((v) => v.slice(0, 500)),
  )
  .map(([before, nuls, after]) => `${before}${nuls.join('')}${after}`);

/**
 * The same strings, with every canary a payload would create renamed to the lane's own: lanes run
 * at once, and each looks only for its own canaries and the plain ones (see canaryCheck).
 */
export function forLane(arb: fc.Arbitrary<string>, lane: number): fc.Arbitrary<string> {
  return arb.map((value) => value.split('canary').join(`canary-L${lane}`));
}
