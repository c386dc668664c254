import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { bearerTenant, type ApiKeyRing } from './auth';
import { HttpError } from './http-error';
import { KEY_ROLES, type Tenant } from './keys';

/**
 * Operators' browser sessions for Bull Board. A browser cannot send `Authorization: Bearer`, so an
 * admin key is exchanged once (login-page.ts) for a random session id in an HttpOnly cookie. Redis
 * holds only the id's SHA-256, so a Redis dump does not hand out live cookies; the cookie also
 * carries an HMAC of the id, so a forged cookie is refused without a Redis round trip.
 */
export const SESSION_COOKIE = 'itk_session';
/** The login, logout and Bull Board pages see the cookie; nothing under /v1 does. */
export const SESSION_COOKIE_PATH = '/admin';
export const LOGIN_PATH = '/admin/login';
export const LOGOUT_PATH = '/admin/logout';

const sessionSchema = z.object({ name: z.string().min(1), role: z.enum(KEY_ROLES) });
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

/** The session cookie's value in the request, if any (the first, the most specific path). */
export function sessionCookieOf(req: Request): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === SESSION_COOKIE) return value.join('=');
  }
  return null;
}

export function sessionCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=${SESSION_COOKIE_PATH}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=${SESSION_COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Strict`;
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
    const tenant = session?.role === 'admin' ? currentAdmin(ring, session.name) : null;
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

/** A browser navigating to a page (as opposed to a script or the board's own API calls). */
function isPageRequest(req: Request): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && /\btext\/html\b/i.test(req.headers.accept ?? '');
}
