import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { HttpError } from './http-error';
import { digestOf, tenantOf, type KeyEntry, type Tenant } from './keys';

export interface ApiKeyRing {
  /** The tenant whose key matches, or null. Constant time in the key's content. */
  identify(presented: string): Tenant | null;
  /** Every configured tenant (for admins' usage view). */
  tenants(): Tenant[];
}

/**
 * Keys are compared as SHA-256 digests with timingSafeEqual, every entry every time, so neither the
 * content nor the length of a key leaks through timing.
 */
export function createKeyRing(entries: KeyEntry[]): ApiKeyRing {
  const tenants = entries.map(tenantOf);
  return {
    identify(presented) {
      const candidate = digestOf(presented);
      let match: Tenant | null = null;
      entries.forEach((entry, index) => {
        if (timingSafeEqual(entry.digest, candidate)) match = tenants[index]!;
      });
      return match;
    },
    tenants: () => tenants,
  };
}

/** The caller, once authenticated (res.locals.tenant). */
export function callerOf(res: Response): Tenant {
  const tenant = res.locals.tenant as Tenant | undefined;
  if (!tenant) throw new HttpError(401, 'unauthorized', 'A valid API key is required: Authorization: Bearer <key>');
  return tenant;
}

export function isAdmin(res: Response): boolean {
  return (res.locals.tenant as Tenant | undefined)?.role === 'admin';
}

/** The tenant of a `Authorization: Bearer <key>` header, or null. */
export function bearerTenant(ring: ApiKeyRing, req: Request): Tenant | null {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1] ? ring.identify(match[1]) : null;
}

/** Sets res.locals.tenant (and keyId, the tenant's name, for logs) or answers 401. */
export function bearerAuth(ring: ApiKeyRing) {
  return (req: Request, res: Response, next: NextFunction) => {
    const tenant = bearerTenant(ring, req);
    if (!tenant) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      next(new HttpError(401, 'unauthorized', 'A valid API key is required: Authorization: Bearer <key>'));
      return;
    }
    res.locals.tenant = tenant;
    res.locals.keyId = tenant.name;
    next();
  };
}
