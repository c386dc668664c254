import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { Logger } from '@inno-train/core';
import { HttpError } from './http-error';

const INCOMING_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Every response carries a request id (the caller's, if it sent a sane one) and the headers an
 * API that never serves pages should send; every request is logged once with its id and key id.
 */
export function requestContext(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const incoming = req.header('x-request-id');
    const requestId = incoming && INCOMING_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    if (!req.path.startsWith('/admin/')) {
      res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
      res.setHeader('Cache-Control', 'no-store');
    }
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info(
        {
          requestId,
          method: req.method,
          path: req.path,
          status: res.statusCode,
          ms: Math.round(ms * 10) / 10,
          keyId: res.locals.keyId ?? null,
        },
        'request',
      );
    });
    next();
  };
}

export interface RateCounter {
  /** Counts one request for `keyId` in the current window; returns the count so far. */
  hit(keyId: string, windowSeconds: number): Promise<number>;
}

/** A fixed-window limit per API key, shared by every API replica through the counter (Redis). */
export function rateLimitPerKey(counter: RateCounter, perMinute: number) {
  return async (_req: Request, res: Response, next: NextFunction) => {
    if (perMinute <= 0) return next();
    const keyId = res.locals.keyId as string;
    const count = await counter.hit(keyId, 60);
    res.setHeader('RateLimit-Limit', String(perMinute));
    res.setHeader('RateLimit-Remaining', String(Math.max(0, perMinute - count)));
    if (count > perMinute) {
      res.setHeader('Retry-After', String(60 - (Math.floor(Date.now() / 1000) % 60)));
      return next(new HttpError(429, 'rate_limited', `More than ${perMinute} requests in a minute for this API key; slow down`));
    }
    next();
  };
}

/** The Redis-backed counter: one key per API key per minute, expiring with its window. */
export function redisRateCounter(
  redis: { incr(key: string): Promise<number>; expire(key: string, seconds: number): Promise<number> },
  namespace: string,
): RateCounter {
  return {
    async hit(keyId, windowSeconds) {
      const window = Math.floor(Date.now() / 1000 / windowSeconds);
      const key = `${namespace}:ratelimit:${keyId}:${window}`;
      const count = await redis.incr(key);
      if (count === 1) await redis.expire(key, windowSeconds + 1);
      return count;
    },
  };
}
