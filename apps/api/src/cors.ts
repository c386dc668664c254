import type { NextFunction, Request, Response } from 'express';

/** What a browser page may send: the API's own methods and the headers its clients set. */
const ALLOWED_METHODS = 'GET, POST, DELETE';
const ALLOWED_HEADERS = 'authorization, content-type, idempotency-key, x-request-id';
/** Headers a page's script may read besides the CORS-safelisted ones. */
const EXPOSED_HEADERS = 'RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-Id, Idempotent-Replayed, Location';
/** Browsers cache a preflight this long (Chromium caps it at 7200). */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/**
 * CORS for the origins in CORS_ORIGINS, and for nobody else. Keys travel as `Authorization: Bearer`,
 * never as cookies, so there is no credentials mode: a page on an allowed origin still needs a key,
 * and a page elsewhere gets no CORS headers (its browser then hides every answer from it).
 *
 * A preflight (OPTIONS with Access-Control-Request-Method) carries no key by design, so an allowed
 * origin's preflight is answered here, before authentication; any other preflight goes on to the
 * routes like any request, and is refused there.
 */
export function corsFor(origins: string[]) {
  // Browsers send the serialised origin (lowercase, no default port); configured ones are written by hand.
  const allowed = new Set(origins.map((origin) => new URL(origin).origin));
  return (req: Request, res: Response, next: NextFunction) => {
    // Answers differ by Origin: a cache must not hand one origin's answer to another.
    res.vary('Origin');
    const origin = req.headers.origin;
    if (origin === undefined || !allowed.has(origin)) return next();
    res.setHeader('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS);
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_SECONDS));
      res.status(204).end();
      return;
    }
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    next();
  };
}
