import express, { type NextFunction, type Request, type Response } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { scrubSecrets, type Logger } from '@inno-train/core';
import type { JobStore, MetricsStore } from '@inno-train/job-store';
import type { StageQueues } from '@inno-train/workflow';
import { bearerAuth, createKeyRing } from './auth';
import { consoleRoutes } from './console/console-routes';
import { corsFor } from './cors';
import type { KeyEntry } from './keys';
import { rateLimitPerKey, requestContext, type RateCounter } from './guard';
import { HttpError, httpStatusOf } from './http-error';
import { operatorPages } from './login-page';
import { buildOpenApiDocument } from './openapi';
import { jobRoutes } from './routes';
import { LOGOUT_PATH, operatorGate, type SessionStore } from './session';
import type { CheckpointLinker } from './checkpoint-routes';
import type { InputChecker } from './submit';
import type { StreamHub } from './stream-hub';
import type { WebhookApi } from './webhook-routes';

export interface ApiDeps {
  store: JobStore;
  queues: StageQueues;
  storage: InputChecker & CheckpointLinker;
  defaultBucket: string;
  /** Every key the API accepts, with its tenant (loadKeyEntries). */
  keys: KeyEntry[];
  logger: Logger;
  /** Answers whether Redis is reachable, for /healthz. */
  ping: () => Promise<boolean>;
  /** Requests per minute per API key (0 = unlimited), as token buckets in `rateCounter`. */
  rateLimitPerMinute: number;
  /** The buckets of the per-key limit, and of login attempts per client address. */
  rateCounter: RateCounter;
  /** Origins a browser page may call /v1 from (CORS_ORIGINS); unset or empty: no CORS headers at all. */
  corsOrigins?: string[];
  /** Operators' browser sessions; unset: no login page, Bull Board takes bearer admin keys only. */
  sessions?: SessionStore;
  /** The process's live job streams and their wake-ups (compose makes it); unset: streams re-read on a timer only. */
  streams?: StreamHub;
  /** The jobs' metric series (GET /v1/jobs/:id/metrics); compose always passes it, apps built for other tests may not. */
  metrics?: MetricsStore;
  /** Webhook endpoints and the registration-time URL guard (/v1/webhooks); unset: no webhook routes (some tests). */
  webhooks?: WebhookApi;
}

/** Largest request body; an inline script may take up to half of it. */
export const MAX_BODY_BYTES = 1024 * 1024;

export const BULL_BOARD_PATH = '/admin/queues';

/** Builds the Express app; `main.ts` listens. Tests drive this factory with supertest. */
export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // The document's paths are exact: /v1/JOBS is not /v1/jobs (Express would answer both).
  app.set('case sensitive routing', true);
  const ring = createKeyRing(deps.keys);
  const auth = bearerAuth(ring);

  app.use(requestContext(deps.logger));
  if (deps.corsOrigins?.length) app.use(['/v1', '/healthz'], corsFor(deps.corsOrigins));
  app.get('/healthz', async (_req, res) => {
    const redis = await deps.ping().catch(() => false);
    res.status(redis ? 200 : 503).json({ status: redis ? 'ok' : 'unavailable', redis });
  });
  // Liveness never looks at Redis: an outage must not get every replica restarted.
  app.get('/livez', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Readiness: can this replica serve requests now? The API has no workers, so that is Redis.
  app.get('/readyz', async (_req, res) => {
    const redis = await deps.ping().catch(() => false);
    res.status(redis ? 200 : 503).json({ status: redis ? 'ok' : 'unavailable', redis });
  });

  // The contract is public: clients fetch it before they have a key, so it is mounted before /v1's auth.
  app.get('/v1/openapi.json', (_req, res) => {
    res.json(buildOpenApiDocument());
  });

  const limit = rateLimitPerKey(deps.rateCounter, deps.rateLimitPerMinute);
  app.use('/v1', auth, limit, express.json({ limit: MAX_BODY_BYTES }), jobRoutes({ ...deps, ring }));
  if (deps.sessions) app.use(operatorPages({ ring, sessions: deps.sessions, rateCounter: deps.rateCounter, boardPath: BULL_BOARD_PATH }));
  if (deps.sessions) app.use('/console', consoleRoutes({ ...deps, ring, sessions: deps.sessions, rateLimit: limit }));
  app.use(BULL_BOARD_PATH, operatorGate(ring, deps.sessions), limit, readOnly, bullBoard(deps.queues, deps.sessions !== undefined));

  app.use((_req, _res, next) => next(new HttpError(404, 'not_found', 'No such route')));
  app.use(errorHandler(deps.logger));
  return app;
}

/**
 * The board only shows: its read-only mode hides the buttons, but some of its write routes still
 * answered (a fuzzed `PUT .../queues/./resume` got 200), so nothing but reads reaches it at all.
 */
function readOnly(req: Request, res: Response, next: NextFunction) {
  if (req.method === 'GET' || req.method === 'HEAD') return next();
  res.set('Allow', 'GET, HEAD');
  next(new HttpError(405, 'method_not_allowed', 'Bull Board is read-only here'));
}

/** Bull Board shows every tenant's jobs: admins only (operatorGate). */
function bullBoard(queues: StageQueues, withLogout: boolean) {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  // Read-only: a retry or delete from the board would bypass the workflow's own state.
  createBullBoard({
    queues: Object.values(queues).map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    serverAdapter,
    options: { uiConfig: withLogout ? { miscLinks: [{ text: 'Log out', url: LOGOUT_PATH }] } : {} },
  });
  return serverAdapter.getRouter() as express.Router;
}

/** body-parser's error types, as the stable codes clients see. */
const CLIENT_ERROR_CODES: Record<string, string> = {
  'entity.parse.failed': 'invalid_json',
  'entity.too.large': 'payload_too_large',
  'encoding.unsupported': 'unsupported_media_type',
  'charset.unsupported': 'unsupported_media_type',
  'entity.verify.failed': 'bad_request',
  'request.aborted': 'bad_request',
};

/**
 * Errors Express and body-parser raise for a bad request (malformed JSON, a body encoding or
 * charset we do not take, a path with broken percent-encoding) carry a 4xx status: answer it,
 * never a 500. Our own HttpErrors are handled by the general path.
 */
function asClientError(error: unknown): { status: number; code: string; message: string } | null {
  if (error instanceof HttpError) return null;
  const err = error as { status?: unknown; statusCode?: unknown; type?: unknown; message?: unknown };
  const status = typeof err.status === 'number' ? err.status : typeof err.statusCode === 'number' ? err.statusCode : null;
  if (status === null || status < 400 || status > 499) return null;
  const code =
    (typeof err.type === 'string' && CLIENT_ERROR_CODES[err.type]) ||
    (status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request');
  return { status, code, message: scrubSecrets(typeof err.message === 'string' ? err.message : 'Bad request').slice(0, 500) };
}

/** The id requestContext gave this request: in the error body so a client can quote it with the message. */
function requestIdOf(res: Response): string {
  return String(res.locals.requestId);
}

function errorHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const clientError = asClientError(error);
    if (clientError) {
      res.status(clientError.status).json({ error: { code: clientError.code, message: clientError.message, requestId: requestIdOf(res) } });
      return;
    }
    const status = httpStatusOf(error);
    const err = error instanceof Error ? error : new Error(String(error));
    if (status >= 500) logger.error({ err, path: req.path, requestId: res.locals.requestId }, 'request failed');
    if (status === 503) res.setHeader('Retry-After', '5');
    const code = (error as { code?: unknown }).code;
    const details = (error as { details?: unknown }).details;
    res.status(status).json({
      error: {
        code: typeof code === 'string' && status < 500 ? code : status === 503 ? 'unavailable' : 'internal_error',
        message: status < 500 ? scrubSecrets(err.message) : 'The service could not complete the request; try again later',
        ...(details !== undefined && status < 500 ? { details } : {}),
        requestId: requestIdOf(res),
      },
    });
  };
}
