/**
 * The job console at /console: a login door for any key (client or admin), one HTML page drawn by
 * plain scripts, and the data those scripts read at /console/api. The data routes are /v1's own job
 * routes (routes.ts), behind the console's session cookie instead of a bearer key, so every tenancy
 * rule (loadJob, the list's owner filter, the stream's per-tenant limits) is the same code: another
 * tenant's job is the same 404 here as on /v1.
 */
import express, { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { callerOf, type ApiKeyRing } from '../auth';
import { HttpError } from '../http-error';
import { consoleLoginPages, sameOriginOnly } from '../login-page';
import { jobRoutes } from '../routes';
import { consoleGate, type SessionStore } from '../session';
import type { RateCounter } from '../guard';
import { loadConsoleAssets } from './assets';

/** Everything jobRoutes takes, plus what the console's own door needs. */
export type ConsoleDeps = Parameters<typeof jobRoutes>[0] & {
  ring: ApiKeyRing;
  sessions: SessionStore;
  rateCounter: RateCounter;
  /** The per-key rate limit of /v1: the console's reads spend the same tenant's tokens. */
  rateLimit: RequestHandler;
};

/**
 * The console's pages: scripts and styles from this origin only (no inline script, nothing from a
 * CDN), data from this origin only, never framed. `same-origin` referrers, as on the login page: under
 * `no-referrer`, Chromium sends `Origin: null` with a same-origin POST, which the cancel guard refuses.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The header every state-changing console request must carry. A page on another site cannot set a
 * custom header on a request to us without a CORS preflight, which /console never grants; together
 * with the SameSite=Strict cookie and the Origin check, a cross-site form cannot cancel a job.
 */
export const CONSOLE_REQUEST_HEADER = 'X-Inno-Console';

/**
 * What the console may ask of jobRoutes: reads of jobs (an output's redirect and a checkpoint's
 * download links among them), and one write, cancel. Submitting, deleting, retrying, webhooks and
 * usage stay on /v1 with a key.
 */
const CONSOLE_READS = /^\/jobs(\/[^/]+(\/(events|logs|stream|metrics|outputs(\/.+)?|checkpoints(\/[^/]+\/download)?))?)?$/;
const CONSOLE_WRITES = /^\/jobs\/[^/]+\/cancel$/;

/** Mounted at /console by app.ts. */
export function consoleRoutes(deps: ConsoleDeps): Router {
  const router = Router({ caseSensitive: true });
  const assets = loadConsoleAssets();
  const gate = consoleGate(deps.ring, deps.sessions);

  router.use(consoleLoginPages(deps));
  router.get('/assets/:name', (req, res) => assets.serve(req, res));

  const sendIndex = (_req: Request, res: Response) => {
    res.set({ 'Content-Security-Policy': CONSOLE_CSP, 'Referrer-Policy': 'same-origin', 'Cache-Control': 'no-store' });
    res.type('html').send(assets.indexHtml);
  };
  router.get('/', gate, sendIndex);
  router.get('/jobs/:id', gate, sendIndex);

  router.use('/api', gate, deps.rateLimit, onlyConsoleRequests, express.json({ limit: '1kb' }), consoleApi(deps));
  return router;
}

/** /console/api: who is logged in, then the allowed part of /v1's job routes. */
function consoleApi(deps: ConsoleDeps): Router {
  const router = Router({ caseSensitive: true });
  // The tenant's name and role, for the page header: neither is a secret (the key never is shown).
  router.get('/session', (_req, res) => {
    const { name, role } = callerOf(res);
    res.json({ name, role });
  });
  router.use(jobRoutes(deps));
  return router;
}

/** Reads pass; cancel passes when it comes from a console page; anything else the console does not do. */
function onlyConsoleRequests(req: Request, res: Response, next: NextFunction) {
  const read = req.method === 'GET' || req.method === 'HEAD';
  if (read && (CONSOLE_READS.test(req.path) || req.path === '/session')) return next();
  if (req.method === 'POST' && CONSOLE_WRITES.test(req.path)) {
    if (req.get(CONSOLE_REQUEST_HEADER) !== '1') {
      return next(
        new HttpError(403, 'cross_origin', `A console write must carry ${CONSOLE_REQUEST_HEADER}: 1 (sent by the console's pages)`),
      );
    }
    return sameOriginOnly(req, res, next);
  }
  next(new HttpError(404, 'not_found', 'No such route in the console; use /v1 with an API key'));
}
