import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { ApiKeyRing } from './auth';
import { setRateLimitHeaders, type RateCounter } from './guard';
import { HttpError } from './http-error';
import { clearedSessionCookie, LOGIN_PATH, LOGOUT_PATH, sessionCookie, sessionCookieOf, type SessionStore } from './session';

/** Login attempts a minute from one client address, whatever their outcome: keys cannot be guessed at speed. */
export const LOGIN_ATTEMPTS_PER_MINUTE = 10;

/** Plain pages: no script at all, styles inline, forms post only to this origin, never framed or cached. */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export interface OperatorPagesDeps {
  ring: ApiKeyRing;
  sessions: SessionStore;
  /** The buckets of the per-key limit; login attempts use their own, per client address. */
  rateCounter: RateCounter;
  /** Where a successful login lands (Bull Board). */
  boardPath: string;
}

/**
 * GET/POST /admin/login and /admin/logout: an admin key becomes a session cookie and back. The
 * submitted key is never written back into a page, a header or a log line: every answer is one of a
 * few fixed texts.
 */
export function operatorPages(deps: OperatorPagesDeps): Router {
  const router = Router({ caseSensitive: true });
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 4 });

  router.get(LOGIN_PATH, (req, res) => {
    sendPage(res, 200, loginPage(req.query.out === '1' ? { notice: 'You have logged out.' } : {}));
  });
  router.post(LOGIN_PATH, sameOriginOnly, loginAttemptLimit(deps.rateCounter), form, async (req, res) => {
    const body = req.body as { key?: unknown } | undefined;
    const key = typeof body?.key === 'string' ? body.key.trim() : '';
    const tenant = key ? deps.ring.identify(key) : null;
    if (!tenant) return sendPage(res, 401, loginPage({ error: 'That key was not accepted.' }));
    if (tenant.role !== 'admin') return sendPage(res, 403, loginPage({ error: 'This key cannot open the operator pages.' }));
    // A fresh id at every login; a session the browser still held is ended, not reused.
    const previous = sessionCookieOf(req);
    if (previous !== null) await deps.sessions.end(previous);
    const cookie = await deps.sessions.create({ name: tenant.name, role: tenant.role });
    res.locals.keyId = tenant.name;
    res.append('Set-Cookie', sessionCookie(cookie, deps.sessions.ttlSeconds, isHttps(req)));
    res.redirect(303, deps.boardPath);
  });
  router.get(LOGOUT_PATH, (_req, res) => sendPage(res, 200, logoutPage()));
  router.post(LOGOUT_PATH, sameOriginOnly, async (req, res) => {
    const cookie = sessionCookieOf(req);
    if (cookie !== null) await deps.sessions.end(cookie);
    res.append('Set-Cookie', clearedSessionCookie());
    res.redirect(303, `${LOGIN_PATH}?out=1`);
  });
  return router;
}

/**
 * Browsers send `Origin` with every POST; one naming another site is a cross-site form (logging a
 * victim in or out), refused. Without `Origin` the caller is a script, which could send the key as
 * a bearer anyway. Behind a proxy, the proxy must pass the original Host through.
 */
function sameOriginOnly(req: Request, _res: Response, next: NextFunction) {
  const origin = req.headers.origin;
  if (origin === undefined || (req.headers.host !== undefined && hostOf(origin) === req.headers.host.toLowerCase())) return next();
  next(new HttpError(403, 'cross_origin', 'This form only takes posts from its own pages'));
}

function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null; // `Origin: null` (a sandboxed or privacy-sensitive context) names no host
  }
}

/**
 * `Secure` when the browser is on https: the connection itself, or, behind a TLS-terminating proxy,
 * the page the form was posted from (the browser's own `Origin`, which a page cannot fake).
 */
function isHttps(req: Request): boolean {
  return req.secure || (req.headers.origin ?? '').startsWith('https://');
}

function loginAttemptLimit(counter: RateCounter) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const answer = await counter.take(`login:${req.ip ?? 'unknown'}`, LOGIN_ATTEMPTS_PER_MINUTE);
    setRateLimitHeaders(res, LOGIN_ATTEMPTS_PER_MINUTE, answer);
    if (answer.allowed) return next();
    sendPage(res, 429, loginPage({ error: `Too many login attempts from this address; try again in ${answer.retryAfterSeconds} s.` }));
  };
}

function sendPage(res: Response, status: number, html: string): void {
  res.setHeader('Content-Security-Policy', PAGE_CSP);
  // Under the API's `no-referrer`, Chromium sends `Origin: null` with these pages' own form posts,
  // which sameOriginOnly must refuse; `same-origin` still sends no referrer to any other site.
  res.setHeader('Referrer-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-store');
  res.status(status).type('html').send(html);
}

const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; background: #f4f5f7; color: #1f2430; margin: 0; }
  main { max-width: 26rem; margin: 12vh auto; background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px #0002; }
  h1 { font-size: 1.3rem; margin: 0 0 .5rem; }
  label { display: block; margin: 1rem 0 .25rem; font-weight: 600; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; border: 1px solid #a0a6b4; border-radius: 4px; }
  button { margin-top: 1rem; padding: .5rem 1.2rem; font: inherit; background: #2750b8; color: #fff; border: 0; border-radius: 4px; }
  .error { color: #a1141e; background: #fdecee; padding: .5rem .75rem; border-radius: 4px; }
  .notice { color: #185c2e; background: #e8f6ec; padding: .5rem .75rem; border-radius: 4px; }
  .note { color: #5a6070; font-size: .9rem; }`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><style>${STYLE}</style></head>
<body><main>
${body}
</main></body>
</html>
`;
}

/** The login form; `error` and `notice` are fixed texts of this file, never request data. */
export function loginPage(message: { error?: string; notice?: string } = {}): string {
  return page(
    'inno-train: operator login',
    `<h1>inno-train operators</h1>
<p>Bull Board shows every tenant's queues and jobs. Log in with an admin API key.</p>
${message.error ? `<p class="error" role="alert">${escapeHtml(message.error)}</p>` : ''}
${message.notice ? `<p class="notice" role="status">${escapeHtml(message.notice)}</p>` : ''}
<form method="post" action="${LOGIN_PATH}">
<label for="key">Admin API key</label>
<input id="key" name="key" type="password" autocomplete="off" spellcheck="false" required autofocus>
<button type="submit">Log in</button>
</form>
<p class="note">Scripts keep using <code>Authorization: Bearer &lt;key&gt;</code>.</p>`,
  );
}

export function logoutPage(): string {
  return page(
    'inno-train: log out',
    `<h1>Log out</h1>
<p>End this browser's operator session. Bull Board will ask for the key again.</p>
<form method="post" action="${LOGOUT_PATH}"><button type="submit">Log out</button></form>`,
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
