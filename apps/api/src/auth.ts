import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { HttpError } from './http-error';

export interface ApiKeyRing {
  /** The id of the key that matches, or null. Constant time in the key's content. */
  identify(presented: string): string | null;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** A configured key given as its SHA-256 (`sha256:<64 hex>`), so the plain key need not be stored. */
const HASHED_KEY = /^sha256:([0-9a-f]{64})$/;

/**
 * Keys are compared as SHA-256 digests with timingSafeEqual, so neither the content nor the length
 * of a key leaks through timing. A key's id is a short digest prefix: safe to store on job records.
 * Configured entries are plain keys or `sha256:<hex>` digests of them.
 */
export function createKeyRing(keys: string[]): ApiKeyRing {
  const digests = keys.map((key) => {
    const hashed = HASHED_KEY.exec(key);
    const value = hashed ? Buffer.from(hashed[1]!, 'hex') : digest(key);
    return { digest: value, id: `key_${value.toString('hex').slice(0, 12)}` };
  });
  return {
    identify(presented) {
      const candidate = digest(presented);
      let match: string | null = null;
      for (const entry of digests) {
        if (timingSafeEqual(entry.digest, candidate)) match = entry.id;
      }
      return match;
    },
  };
}

export function bearerAuth(ring: ApiKeyRing) {
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const keyId = match?.[1] ? ring.identify(match[1]) : null;
    if (!keyId) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      next(new HttpError(401, 'unauthorized', 'A valid API key is required: Authorization: Bearer <key>'));
      return;
    }
    res.locals.keyId = keyId;
    next();
  };
}
