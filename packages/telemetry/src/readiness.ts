/** What /readyz answers: ready when every check passed, and each check by name. */
export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
}

/** One readiness check; a throw or a timeout counts as not ready. */
export type ReadinessCheck = () => boolean | Promise<boolean>;

/** Each check gets this long before it counts as failed (a probe must answer quickly). */
export const READINESS_TIMEOUT_MS = 1000;

async function within(check: ReadinessCheck, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([Promise.resolve().then(check), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every check at once, each under its own timeout. */
export async function checkReadiness(checks: Record<string, ReadinessCheck>, timeoutMs = READINESS_TIMEOUT_MS): Promise<Readiness> {
  const names = Object.keys(checks);
  const results = await Promise.all(names.map((name) => within(checks[name]!, timeoutMs)));
  const byName = Object.fromEntries(names.map((name, i) => [name, results[i] === true]));
  return { ready: results.every(Boolean), checks: byName };
}

/** An ioredis client as far as the check needs it. */
export interface PingableRedis {
  status: string;
  ping(): Promise<string>;
}

/**
 * Redis answers PING. A client that is not connected fails at once: a worker's client queues
 * commands while Redis is away (BullMQ needs that), and a probe must not add to that queue.
 */
export function redisCheck(redis: PingableRedis): ReadinessCheck {
  return async () => redis.status === 'ready' && (await redis.ping()) === 'PONG';
}
