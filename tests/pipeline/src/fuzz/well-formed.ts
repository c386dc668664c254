/** A lone surrogate: a high one not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Replaces lone surrogates (a slice can cut a pair) with U+FFFD, as String.prototype.toWellFormed
 * does: a lone surrogate is not a string a client can send as UTF-8.
 */
export function wellFormed(value: string): string {
  return value.replace(LONE_SURROGATE, '\uFFFD');
}

/** encodeURIComponent, with lone surrogates made U+FFFD first (it throws on them). */
export function uriEncode(value: string): string {
  return encodeURIComponent(wellFormed(value));
}
