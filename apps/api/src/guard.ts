import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { Logger } from '@inno-train/core';
import type { Redis } from 'ioredis';
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

/** One request's answer from a token bucket. */
export interface RateAnswer {
  allowed: boolean;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Seconds until the bucket is full again (RateLimit-Reset). */
  resetSeconds: number;
  /** Seconds until the next token, when refused (Retry-After); 0 when allowed. */
  retryAfterSeconds: number;
}

/**
 * Token buckets shared by every API replica: bucket `id` holds up to `perMinute` tokens and gains
 * `perMinute / 60` a second. A fixed window let a client spend its whole minute at 0:59 and again at
 * 1:00 (twice the limit in two seconds); a bucket refills evenly, so a burst is never more than one
 * minute's worth.
 */
export interface RateCounter {
  /** Takes one token from bucket `id` if it has one. */
  take(id: string, perMinute: number): Promise<RateAnswer>;
}

/** A bucket per tenant name (tenant names hold no ':', so they never meet other bucket kinds). */
export const tenantBucket = (tenantName: string) => `key:${tenantName}`;

/**
 * The per-key limit. Every answer to an authenticated request says where the caller stands
 * (RateLimit-Limit, -Remaining, -Reset); a refusal also says when to retry.
 */
export function rateLimitPerKey(counter: RateCounter, perMinute: number) {
  return async (_req: Request, res: Response, next: NextFunction) => {
    if (perMinute <= 0) return next();
    const answer = await counter.take(tenantBucket(res.locals.keyId as string), perMinute);
    setRateLimitHeaders(res, perMinute, answer);
    if (!answer.allowed) {
      return next(new HttpError(429, 'rate_limited', `More than ${perMinute} requests a minute for this API key; slow down`));
    }
    next();
  };
}

export function setRateLimitHeaders(res: Response, perMinute: number, answer: RateAnswer): void {
  res.setHeader('RateLimit-Limit', String(perMinute));
  res.setHeader('RateLimit-Remaining', String(answer.remaining));
  res.setHeader('RateLimit-Reset', String(answer.resetSeconds));
  if (!answer.allowed) res.setHeader('Retry-After', String(answer.retryAfterSeconds));
}

/**
 * One atomic take from a bucket kept as a hash {tokens, ts}. A missing bucket is a full one, so the
 * key expires once the bucket would be full again and idle callers leave nothing behind.
 *
 * KEYS: bucket. ARGV: capacity (tokens a minute), now (ms). Returns {allowed 1/0, whole tokens left,
 * ms until full, ms until the next token}.
 */
const TAKE_TOKEN_SCRIPT = `
local capacity, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local perMs = capacity / 60000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]), tonumber(state[2])
if tokens == nil or ts == nil then tokens, ts = capacity, now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * perMs)
ts = math.max(ts, now)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
local untilFull = math.ceil((capacity - tokens) / perMs)
local untilNext = 0
if allowed == 0 then untilNext = math.ceil((1 - tokens) / perMs) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], untilFull + 1000)
return { allowed, math.floor(tokens), untilFull, untilNext }
`;

/**
 * The Redis-backed buckets, `${namespace}:ratelimit:<id>`. Time is this process's clock (`now`,
 * injectable so tests can stand at a window edge); a replica whose clock runs behind the stored
 * timestamp refills nothing until it catches up (`ts` never moves back), so skew cannot mint tokens.
 */
export function redisRateCounter(redis: Pick<Redis, 'eval'>, namespace: string, now: () => number = Date.now): RateCounter {
  return {
    async take(id, perMinute) {
      const reply = await redis.eval(TAKE_TOKEN_SCRIPT, 1, `${namespace}:ratelimit:${id}`, perMinute, Math.floor(now()));
      const [allowed, remaining, untilFullMs, untilNextMs] = (reply as number[]).map(Number) as [number, number, number, number];
      return {
        allowed: allowed === 1,
        remaining,
        resetSeconds: Math.ceil(untilFullMs / 1000),
        retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(untilNextMs / 1000)),
      };
    },
  };
}
