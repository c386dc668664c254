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

/**
 * Keys are compared as SHA-256 digests with timingSafeEqual, so neither the content nor the length
 * of a key leaks through timing. A key's id is a short digest prefix: safe to store on job records.
 */
export function createKeyRing(keys: string[]): ApiKeyRing {
  const digests = keys.map((key) => ({ digest: digest(key), id: `key_${digest(key).toString('hex').slice(0, 12)}` }));
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
