import type { CloudInstanceTypeEntry } from '@inno-train/cloud-port';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { PUBLIC_REGION_CODES, regionOf } from './catalog';
import { SimApiError, instanceNotFound, invalidApiKey, invalidParameters } from './errors';
import { typeToWire, type InstanceStore } from './instances';
import type { RateLimiter } from './rate-limiter';
import type { SshKeyStore } from './ssh-keys';
import type { SimCounters, SimFaults } from './types';

export interface AppContext {
  apiKey: string;
  instances: InstanceStore;
  keys: SshKeyStore;
  limiter: RateLimiter | null;
  faults: SimFaults;
  counters: SimCounters;
  now: () => number;
  random: () => number;
  /** Resolves after ms, rejects when the simulator closes (so hung requests do not outlive it). */
  sleep: (ms: number) => Promise<void>;
}

const tagSchema = z.object({
  key: z
    .string()
    .max(55)
    .regex(/^[a-z][a-z0-9-:]+$/),
  value: z.string().max(128),
});

// Unknown fields are accepted: the simulator checks what the spec constrains, nothing more.
const launchSchema = z.looseObject({
  region_name: z.enum(PUBLIC_REGION_CODES),
  instance_type_name: z.string().min(1),
  ssh_key_names: z.array(z.string()).length(1, 'Exactly one SSH key must be specified.'),
  file_system_names: z.array(z.string()).optional(),
  hostname: z
    .string()
    .regex(/^[a-z0-9][0-9a-z-]{0,62}$/)
    .optional(),
  name: z.string().max(64).optional(),
  image: z.union([z.object({ id: z.string() }), z.object({ family: z.string() })]).optional(),
  user_data: z
    .string()
    .max(1024 * 1024)
    .optional(),
  tags: z.array(tagSchema).optional(),
  quantity: z.number().int().optional(),
});

const terminateSchema = z.looseObject({ instance_ids: z.array(z.string().min(1)).min(1) });
const addKeySchema = z.looseObject({ name: z.string().min(1).max(64), public_key: z.string().min(1).max(4096).optional() });

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {});
  if (!result.success) {
    throw invalidParameters(result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; '));
  }
  return result.data;
}

/** `GET /instances/{id}`-style keys for the request counters. */
export function endpointKey(method: string, path: string): string {
  const route = path
    .replace(/^\/api\/v1/, '')
    .replace(/^\/instances\/[^/]+\/?$/, '/instances/{id}')
    .replace(/^\/ssh-keys\/[^/]+\/?$/, '/ssh-keys/{id}');
  return `${method} ${route}`;
}

/** The key from `Bearer <key>`, `Basic base64(<key>:)` or `Basic <key>` (all three are documented). */
function presentedKeys(header: string | undefined): string[] {
  const match = /^(\w+)\s+(\S+)$/.exec(header?.trim() ?? '');
  if (!match) return [];
  const [, scheme = '', value = ''] = match;
  if (scheme.toLowerCase() === 'bearer') return [value];
  if (scheme.toLowerCase() !== 'basic') return [];
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  return [decoded.includes(':') ? decoded.slice(0, decoded.indexOf(':')) : decoded, value];
}

function guards(ctx: AppContext) {
  const authenticate = (req: Request, _res: Response, next: NextFunction): void => {
    next(presentedKeys(req.get('authorization')).includes(ctx.apiKey) ? undefined : invalidApiKey());
  };

  const rateLimit = (req: Request, _res: Response, next: NextFunction): void => {
    // The real 429 body is undocumented; this code and the Retry-After header are assumptions.
    const tooMany = (headers: Record<string, string>) =>
      new SimApiError(429, 'global/rate-limited', 'Too many requests.', 'Slow down and try again later.', headers);
    if (ctx.faults.rateLimitNext > 0) {
      ctx.faults.rateLimitNext -= 1;
      ctx.counters.tooManyRequests += 1;
      return next(tooMany({}));
    }
    const isLaunch = req.method === 'POST' && req.path === '/instance-operations/launch';
    const decision = ctx.limiter?.check(ctx.now(), isLaunch) ?? { ok: true };
    if (decision.ok) return next();
    ctx.counters.rateLimitViolations += 1;
    ctx.counters.tooManyRequests += 1;
    next(tooMany({ 'Retry-After': String(Math.ceil(decision.retryAfterMs / 1000)) }));
  };

  const injectFailures = (_req: Request, res: Response, next: NextFunction): void => {
    if (ctx.faults.failRate <= 0 || ctx.random() >= ctx.faults.failRate) return next();
    ctx.counters.injectedFailures += 1;
    const pick = ctx.random();
    if (pick < 1 / 3) return next(new SimApiError(500, 'global/internal-error', 'An internal server error occurred.', 'Try again later.'));
    if (pick < 2 / 3) return next(new SimApiError(503, 'provider/internal-unavailable', 'Provider unavailable', 'Try again shortly'));
    // A proxy in front of the API answers with HTML, not the envelope: clients must cope.
    res.status(502).type('html').send('<html><body><h1>502 Bad Gateway</h1></body></html>');
  };

  return { authenticate, rateLimit, injectFailures };
}

function consumeLaunchButFail(faults: SimFaults): boolean {
  if (faults.launchButFail === true) return true;
  if (typeof faults.launchButFail === 'number' && faults.launchButFail > 0) {
    faults.launchButFail -= 1;
    return true;
  }
  return false;
}

function launchRoute(ctx: AppContext) {
  return (req: Request, res: Response): void => {
    const body = parseBody(launchSchema, req.body);
    if (body.quantity !== undefined && body.quantity !== 1) throw invalidParameters('quantity: only one instance per launch.');
    if (body.file_system_names?.length) {
      throw new SimApiError(400, 'global/object-does-not-exist', 'File system does not exist.', 'This simulator has no file systems.');
    }
    const publicKeys = ctx.keys.publicKeysFor(body.ssh_key_names);
    if (ctx.faults.quotaExceeded) {
      throw new SimApiError(400, 'global/quota-exceeded', 'Quota exceeded.', 'Contact Support to increase your quota.');
    }
    if (ctx.faults.insufficientCapacity) {
      throw new SimApiError(
        400,
        'instance-operations/launch/insufficient-capacity',
        'Not enough capacity to fulfill launch request.',
        'Try again later.',
      );
    }
    const unhealthy = ctx.faults.nextLaunchStatus === 'unhealthy';
    const rec = ctx.instances.launch({
      regionName: body.region_name,
      instanceTypeName: body.instance_type_name,
      sshKeyNames: body.ssh_key_names,
      publicKeys,
      name: body.name,
      hostname: body.hostname,
      tags: body.tags ?? [],
      unhealthy,
    });
    if (unhealthy) ctx.faults.nextLaunchStatus = null;
    ctx.counters.launches += 1;
    if (consumeLaunchButFail(ctx.faults)) {
      ctx.counters.injectedFailures += 1;
      throw new SimApiError(500, 'global/internal-error', 'An internal server error occurred.', 'Try again later.');
    }
    res.json({ data: { instance_ids: [rec.id] } });
  };
}

function instanceRoutes(ctx: AppContext, router: express.Router): void {
  router.get('/instance-types', (_req, res) => {
    const entries = ctx.instances.types().map((type) => [
      type.name,
      {
        instance_type: typeToWire(type),
        regions_with_capacity_available: Object.entries(type.capacity)
          .filter(([, left]) => left > 0)
          .map(([name]) => regionOf(name)),
      } satisfies CloudInstanceTypeEntry,
    ]);
    res.json({ data: Object.fromEntries(entries) });
  });
  router.post('/instance-operations/launch', launchRoute(ctx));
  router.get('/instances', (_req, res) => {
    res.json({ data: ctx.instances.running().map((rec) => ctx.instances.toWire(rec)) });
  });
  router.get('/instances/:id', (req, res) => {
    const rec = ctx.instances.visible(String(req.params.id));
    if (!rec) throw instanceNotFound();
    res.json({ data: ctx.instances.toWire(rec) });
  });
  router.post('/instance-operations/terminate', async (req, res) => {
    const body = parseBody(terminateSchema, req.body);
    if (ctx.faults.hangTerminate > 0) await ctx.sleep(ctx.faults.hangTerminate);
    const terminated = await ctx.instances.terminate(body.instance_ids);
    ctx.counters.terminations += terminated.length;
    res.json({ data: { terminated_instances: terminated.map((rec) => ctx.instances.toWire(rec, 'terminating')) } });
  });
}

function sshKeyRoutes(ctx: AppContext, router: express.Router): void {
  router.get('/ssh-keys', (_req, res) => {
    res.json({ data: ctx.keys.list() });
  });
  router.post('/ssh-keys', (req, res) => {
    const body = parseBody(addKeySchema, req.body);
    res.json({ data: ctx.keys.add(body.name, body.public_key) });
  });
  router.delete('/ssh-keys/:id', (req, res) => {
    ctx.keys.remove(String(req.params.id));
    res.json({ data: {} });
  });
}

function handleError(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  if (res.headersSent || res.destroyed) return;
  if (err instanceof SimApiError) {
    res.set(err.headers).status(err.status).json(err.body());
    return;
  }
  // body-parser errors (malformed JSON, body too large) carry a 4xx status.
  const status = (err as { status?: unknown } | null)?.status;
  const apiError =
    typeof status === 'number' && status >= 400 && status < 500
      ? invalidParameters('The request body is not valid JSON.')
      : new SimApiError(500, 'global/internal-error', 'An internal server error occurred.', 'Try again later.');
  res.status(apiError.status).json(apiError.body());
}

export function createSimulatorApp(ctx: AppContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((req, _res, next) => {
    const key = endpointKey(req.method, req.path);
    ctx.counters.requests[key] = (ctx.counters.requests[key] ?? 0) + 1;
    next();
  });
  const { authenticate, rateLimit, injectFailures } = guards(ctx);
  const api = express.Router();
  api.use(authenticate, rateLimit, injectFailures);
  // The API reads JSON whatever the Content-Type says (`curl --data` sends a form type).
  api.use(express.json({ type: () => true, limit: '2mb' }));
  instanceRoutes(ctx, api);
  sshKeyRoutes(ctx, api);
  app.use('/api/v1', api);
  // Unknown routes answer a bare 404, not the envelope, so a wrong base URL cannot pass for "instance gone".
  app.use((_req, res) => {
    res.status(404).type('text').send('Not Found');
  });
  app.use(handleError);
  return app;
}
