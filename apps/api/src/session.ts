import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { bearerTenant, type ApiKeyRing } from './auth';
import { HttpError } from './http-error';
import { KEY_ROLES, type Tenant } from './keys';

/**
 * Browser sessions: operators' for Bull Board (admin keys, /admin) and every tenant's for the job
 * console (any key, /console). A browser cannot send `Authorization: Bearer`, so a key is exchanged
 * once (login-page.ts) for a random session id in an HttpOnly cookie. Redis
 * holds only the id's SHA-256, so a Redis dump does not hand out live cookies; the cookie also
 * carries an HMAC of the id, so a forged cookie is refused without a Redis round trip.
 */
export const SESSION_COOKIE = 'itk_session';
/** The login, logout and Bull Board pages see the cookie; nothing under /v1 does. */
export const SESSION_COOKIE_PATH = '/admin';
export const LOGIN_PATH = '/admin/login';
export const LOGOUT_PATH = '/admin/logout';

/**
 * Which door a cookie opens: its own name and path, so a browser sends the operator cookie only to
 * /admin and the console's only to /console, and neither ever to /v1.
 */
export interface SessionDoor {
  cookieName: string;
  cookiePath: string;
  loginPath: string;
}

export const OPERATOR_DOOR: SessionDoor = { cookieName: SESSION_COOKIE, cookiePath: SESSION_COOKIE_PATH, loginPath: LOGIN_PATH };
export const CONSOLE_DOOR: SessionDoor = { cookieName: 'itk_console', cookiePath: '/console', loginPath: '/console/login' };

/**
 * `scope: 'console'` marks a console session (any role); operator sessions have none (records from
 * before the console have none either). The board admits only unscoped admin sessions, so a client's
 * console cookie renamed by hand opens nothing there.
 */
const sessionSchema = z.object({ name: z.string().min(1), role: z.enum(KEY_ROLES), scope: z.literal('console').optional() });
export type Session = z.infer<typeof sessionSchema>;

/** `<id>.<signature>`: 32 random bytes and an HMAC-SHA256, both base64url (43 characters each). */
const COOKIE_VALUE = /^([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})$/;

export interface SessionStore {
  /** How long a session lasts from its login (API_SESSION_TTL_MINUTES). */
  readonly ttlSeconds: number;
  /** Starts a session; returns the cookie value. */
  create(session: Session): Promise<string>;
  /** The session a cookie value names, if its signature holds and it has neither ended nor expired. */
  read(cookieValue: string): Promise<Session | null>;
  /** Ends the session a cookie value names, if it is one of ours. */
  end(cookieValue: string): Promise<void>;
}

export interface SessionStoreOptions {
  redis: Pick<Redis, 'get' | 'set' | 'del'>;
  namespace: string;
  ttlMinutes: number;
}

/** Sessions in Redis, shared by every API replica: one logs in, any other serves the board. */
export function redisSessionStore({ redis, namespace, ttlMinutes }: SessionStoreOptions): SessionStore {
  const ttlSeconds = ttlMinutes * 60;
  const hmacSecret = sharedSecret(redis, `${namespace}:session-secret`);
  const entryKey = (id: string) => `${namespace}:session:${createHash('sha256').update(id).digest('hex')}`;
  const sign = (key: Buffer, id: string) => createHmac('sha256', key).update(id).digest('base64url');

  /** The id of a well-formed cookie value whose signature holds, else null. */
  async function verifiedId(cookieValue: string): Promise<string | null> {
    const match = COOKIE_VALUE.exec(cookieValue);
    if (!match) return null;
    const [, id, signature] = match as unknown as [string, string, string];
    return timingSafeEqual(Buffer.from(sign(await hmacSecret(), id)), Buffer.from(signature)) ? id : null;
  }

  return {
    ttlSeconds,
    async create(session) {
      const id = randomBytes(32).toString('base64url');
      await redis.set(entryKey(id), JSON.stringify(sessionSchema.parse(session)), 'EX', ttlSeconds);
      return `${id}.${sign(await hmacSecret(), id)}`;
    },
    async read(cookieValue) {
      const id = await verifiedId(cookieValue);
      if (!id) return null;
      const raw = await redis.get(entryKey(id));
      if (raw === null) return null;
      try {
        const parsed = sessionSchema.safeParse(JSON.parse(raw));
        return parsed.success ? parsed.data : null;
      } catch {
        return null;
      }
    },
    async end(cookieValue) {
      const id = await verifiedId(cookieValue);
      if (id) await redis.del(entryKey(id));
    },
  };
}

/**
 * The HMAC secret: made once for the whole deployment (SET NX, so replicas starting together agree
 * on the first one written), then kept in memory. It is read again every minute, so that if Redis is
 * emptied and another replica makes a new one, this replica follows within a minute instead of
 * refusing that replica's cookies until it restarts. A failed read is not kept: the next request retries.
 */
function sharedSecret(redis: SessionStoreOptions['redis'], key: string, refreshMs = 60_000) {
  let cached: { secret: Promise<Buffer>; readAt: number } | undefined;
  const load = async () => {
    await redis.set(key, randomBytes(32).toString('base64'), 'NX');
    const stored = await redis.get(key);
    if (!stored) throw new Error('The session secret vanished from Redis while it was being read');
    return Buffer.from(stored, 'base64');
  };
  return () => {
    if (!cached || Date.now() - cached.readAt > refreshMs) {
      const secret = load();
      cached = { secret, readAt: Date.now() };
      secret.catch(() => {
        if (cached?.secret === secret) cached = undefined;
      });
    }
    return cached.secret;
  };
}

/** The door's session cookie value in the request, if any (the first, the most specific path). */
export function sessionCookieOf(req: Request, door: SessionDoor = OPERATOR_DOOR): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === door.cookieName) return value.join('=');
  }
  return null;
}

export function sessionCookie(value: string, maxAgeSeconds: number, secure: boolean, door: SessionDoor = OPERATOR_DOOR): string {
  const attributes = `Path=${door.cookiePath}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  return `${door.cookieName}=${value}; ${attributes}`;
}

export function clearedSessionCookie(door: SessionDoor = OPERATOR_DOOR): string {
  return `${door.cookieName}=; Path=${door.cookiePath}; Max-Age=0; HttpOnly; SameSite=Strict`;
}

/**
 * Bull Board's door. A request that sends `Authorization` is judged by its key alone (scripts: 401
 * for a wrong key, 403 `admin_only` for a client's); otherwise a session cookie may admit it. The
 * session's tenant must still be an admin in the running configuration, so a key removed or demoted
 * in the keys file ends its sessions at the next restart. A browser without either is sent to the
 * login page; anything else gets the Bearer challenge.
 */
export function operatorGate(ring: ApiKeyRing, sessions: SessionStore | undefined) {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (req.headers.authorization !== undefined) return admitByKey(ring, req, res, next);
    const cookie = sessionCookieOf(req);
    const session = cookie !== null && sessions ? await sessions.read(cookie) : null;
    const tenant = session?.role === 'admin' && session.scope === undefined ? currentAdmin(ring, session.name) : null;
    if (tenant) {
      res.locals.tenant = tenant;
      res.locals.keyId = tenant.name;
      return next();
    }
    if (cookie !== null) res.append('Set-Cookie', clearedSessionCookie());
    if (sessions && isPageRequest(req)) return res.redirect(303, LOGIN_PATH);
    res.setHeader('WWW-Authenticate', 'Bearer');
    next(new HttpError(401, 'unauthorized', 'A valid admin key is required: Authorization: Bearer <key>, or log in at ' + LOGIN_PATH));
  };
}

function admitByKey(ring: ApiKeyRing, req: Request, res: Response, next: NextFunction) {
  const tenant = bearerTenant(ring, req);
  if (!tenant) {
    res.setHeader('WWW-Authenticate', 'Bearer');
    return next(new HttpError(401, 'unauthorized', 'A valid API key is required: Authorization: Bearer <key>'));
  }
  res.locals.tenant = tenant;
  res.locals.keyId = tenant.name;
  if (tenant.role !== 'admin') return next(new HttpError(403, 'admin_only', 'This page is for admin keys only'));
  next();
}

function currentAdmin(ring: ApiKeyRing, name: string): Tenant | null {
  return ring.tenants().find((tenant) => tenant.name === name && tenant.role === 'admin') ?? null;
}

/**
 * The console's door: its session cookie only (a bearer key is for /v1, and scripts use /v1). The
 * tenant is the running configuration's entry of that name, with its current role: a key removed
 * from the keys file ends its sessions at the next restart, and a demoted admin sees its own jobs
 * only. A browser without a session is sent to the console's login page; anything else gets 401.
 */
export function consoleGate(ring: ApiKeyRing, sessions: SessionStore) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const cookie = sessionCookieOf(req, CONSOLE_DOOR);
    const session = cookie !== null ? await sessions.read(cookie) : null;
    const tenant = session?.scope === 'console' ? (ring.tenants().find((known) => known.name === session.name) ?? null) : null;
    if (tenant) {
      res.locals.tenant = tenant;
      res.locals.keyId = tenant.name;
      return next();
    }
    if (cookie !== null) res.append('Set-Cookie', clearedSessionCookie(CONSOLE_DOOR));
    if (isPageRequest(req)) return res.redirect(303, CONSOLE_DOOR.loginPath);
    next(new HttpError(401, 'unauthorized', `Log in at ${CONSOLE_DOOR.loginPath} first`));
  };
}

/** A browser navigating to a page (as opposed to a script or the board's own API calls). */
export function isPageRequest(req: Request): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && /\btext\/html\b/i.test(req.headers.accept ?? '');
}
