import { mediaTypeOf, type Exchange } from './validator';

/** An answer as any HTTP client hands it over: the text of its body, headers with lower-case names. */
export interface ReceivedAnswer {
  method: string;
  /** The URL the request went to (absolute, or a path: only the path is read). */
  url: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as text ('' for none). */
  text: string;
}

const isJsonMediaType = (mediaType: string) => mediaType === 'application/json' || mediaType.endsWith('+json');

/** The exchange the validator reads: JSON bodies parsed (or the parse error kept), other bodies as text. */
export function exchangeOf(answer: ReceivedAnswer): Exchange {
  const base = {
    method: answer.method.toUpperCase(),
    path: new URL(answer.url, 'http://answer.invalid').pathname,
    status: answer.status,
    headers: answer.headers,
  };
  if (!isJsonMediaType(mediaTypeOf(answer.headers)) || base.method === 'HEAD') return { ...base, body: answer.text };
  try {
    return { ...base, body: JSON.parse(answer.text) as unknown };
  } catch (error) {
    return { ...base, body: answer.text, bodyError: error instanceof Error ? error.message : String(error) };
  }
}

/** A fetch `Headers` as the plain record the validator reads (names are lower case already). */
export const headersOf = (headers: Headers): Record<string, string> => Object.fromEntries(headers.entries());
