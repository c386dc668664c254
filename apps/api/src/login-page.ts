import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { ApiKeyRing } from './auth';
import { setRateLimitHeaders, type RateCounter } from './guard';
import { HttpError } from './http-error';
import type { Tenant } from './keys';
import {
  clearedSessionCookie,
  CONSOLE_DOOR,
  LOGOUT_PATH,
  OPERATOR_DOOR,
  sessionCookie,
  sessionCookieOf,
  type Session,
  type SessionDoor,
  type SessionStore,
} from './session';

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

/** The fixed texts of one door's pages (never request data). */
interface DoorTexts {
  title: string;
  heading: string;
  intro: string;
  keyLabel: string;
  refused: string;
  logoutIntro: string;
}

/** One login door: who may enter, the session it starts, where it lands, and its words. */
interface LoginDoor {
  door: SessionDoor;
  logoutPath: string;
  landingPath: string;
  /** Where the pages' router is mounted: its routes are the paths less this prefix. */
  mountedAt: string;
  admits(tenant: Tenant): boolean;
  sessionOf(tenant: Tenant): Session;
  texts: DoorTexts;
}

export const CONSOLE_LOGOUT_PATH = '/console/logout';

/**
 * GET/POST /admin/login and /admin/logout: an admin key becomes a session cookie and back. The
 * submitted key is never written back into a page, a header or a log line: every answer is one of a
 * few fixed texts.
 */
export function operatorPages(deps: OperatorPagesDeps): Router {
  return loginPages(deps, {
    door: OPERATOR_DOOR,
    logoutPath: LOGOUT_PATH,
    landingPath: deps.boardPath,
    mountedAt: '',
    admits: (tenant) => tenant.role === 'admin',
    sessionOf: (tenant) => ({ name: tenant.name, role: tenant.role }),
    texts: {
      title: 'inno-train: operator login',
      heading: 'inno-train operators',
      intro: "Bull Board shows every tenant's queues and jobs. Log in with an admin API key.",
      keyLabel: 'Admin API key',
      refused: 'This key cannot open the operator pages.',
      logoutIntro: "End this browser's operator session. Bull Board will ask for the key again.",
    },
  });
}

/**
 * GET/POST /console/login and /console/logout (the router is mounted at /console): any key, client
 * or admin, becomes a console session carrying its tenant; the console then shows what that key
 * would see on /v1.
 */
export function consoleLoginPages(deps: Omit<OperatorPagesDeps, 'boardPath'>): Router {
  return loginPages(deps, {
    door: CONSOLE_DOOR,
    logoutPath: CONSOLE_LOGOUT_PATH,
    landingPath: '/console',
    mountedAt: '/console',
    admits: () => true,
    sessionOf: (tenant) => ({ name: tenant.name, role: tenant.role, scope: 'console' }),
    texts: {
      title: 'inno-train: console login',
      heading: 'inno-train console',
      intro: "Your jobs, their logs and loss curves. Log in with your API key; an admin key shows every tenant's jobs.",
      keyLabel: 'API key',
      refused: 'This key cannot open the console.',
      logoutIntro: "End this browser's console session. The console will ask for the key again.",
    },
  });
}

function loginPages(deps: Omit<OperatorPagesDeps, 'boardPath'>, login: LoginDoor): Router {
  const router = Router({ caseSensitive: true });
  const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 4 });
  const route = (path: string) => path.slice(login.mountedAt.length);
  const pageOf = (message: PageMessage) => loginPage(message, login);

  router.get(route(login.door.loginPath), (req, res) => {
    sendPage(res, 200, pageOf(req.query.out === '1' ? { notice: 'You have logged out.' } : {}));
  });
  router.post(route(login.door.loginPath), sameOriginOnly, loginAttemptLimit(deps.rateCounter, pageOf), form, async (req, res) => {
    const body = req.body as { key?: unknown } | undefined;
    const key = typeof body?.key === 'string' ? body.key.trim() : '';
    const tenant = key ? deps.ring.identify(key) : null;
    if (!tenant) return sendPage(res, 401, pageOf({ error: 'That key was not accepted.' }));
    if (!login.admits(tenant)) return sendPage(res, 403, pageOf({ error: login.texts.refused }));
    // A fresh id at every login; a session the browser still held is ended, not reused.
    const previous = sessionCookieOf(req, login.door);
    if (previous !== null) await deps.sessions.end(previous);
    const cookie = await deps.sessions.create(login.sessionOf(tenant));
    res.locals.keyId = tenant.name;
    res.append('Set-Cookie', sessionCookie(cookie, deps.sessions.ttlSeconds, isHttps(req), login.door));
    res.redirect(303, login.landingPath);
  });
  router.get(route(login.logoutPath), (_req, res) => sendPage(res, 200, logoutPage(login)));
  router.post(route(login.logoutPath), sameOriginOnly, async (req, res) => {
    const cookie = sessionCookieOf(req, login.door);
    if (cookie !== null) await deps.sessions.end(cookie);
    res.append('Set-Cookie', clearedSessionCookie(login.door));
    res.redirect(303, `${login.door.loginPath}?out=1`);
  });
  return router;
}

/**
 * Browsers send `Origin` with every POST; one naming another site is a cross-site form (logging a
 * victim in or out), refused. Without `Origin` the caller is a script, which could send the key as
 * a bearer anyway. Behind a proxy, the proxy must pass the original Host through.
 */
export function sameOriginOnly(req: Request, _res: Response, next: NextFunction) {
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

function loginAttemptLimit(counter: RateCounter, pageOf: (message: PageMessage) => string) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const answer = await counter.take(`login:${req.ip ?? 'unknown'}`, LOGIN_ATTEMPTS_PER_MINUTE);
    setRateLimitHeaders(res, LOGIN_ATTEMPTS_PER_MINUTE, answer);
    if (answer.allowed) return next();
    sendPage(res, 429, pageOf({ error: `Too many login attempts from this address; try again in ${answer.retryAfterSeconds} s.` }));
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

type PageMessage = { error?: string; notice?: string };

/** The login form; `error` and `notice` are fixed texts of this file, never request data. */
function loginPage(message: PageMessage, login: LoginDoor): string {
  const { texts } = login;
  return page(
    texts.title,
    `<h1>${escapeHtml(texts.heading)}</h1>
<p>${escapeHtml(texts.intro)}</p>
${message.error ? `<p class="error" role="alert">${escapeHtml(message.error)}</p>` : ''}
${message.notice ? `<p class="notice" role="status">${escapeHtml(message.notice)}</p>` : ''}
<form method="post" action="${login.door.loginPath}">
<label for="key">${escapeHtml(texts.keyLabel)}</label>
<input id="key" name="key" type="password" autocomplete="off" spellcheck="false" required autofocus>
<button type="submit">Log in</button>
</form>
<p class="note">Scripts keep using <code>Authorization: Bearer &lt;key&gt;</code>.</p>`,
  );
}

function logoutPage(login: LoginDoor): string {
  return page(
    login.texts.title.replace('login', 'log out'),
    `<h1>Log out</h1>
<p>${escapeHtml(login.texts.logoutIntro)}</p>
<form method="post" action="${login.logoutPath}"><button type="submit">Log out</button></form>`,
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
