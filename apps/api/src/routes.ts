import { Router, type Request, type Response } from 'express';
import type { JobStore } from '@inno-train/job-store';
import { jobEventQuerySchema, jobListQuerySchema, metadataFilters, settledAt, toPublicJob } from '@inno-train/schemas';
import { cancelJob, type StageQueues } from '@inno-train/workflow';
import { isTerminal } from '@inno-train/workflow-constants';
import { callerOf, isAdmin, type ApiKeyRing } from './auth';
import { HttpError } from './http-error';
import { loadJob } from './load-job';
import { metricsRoutes, type MetricsRoutesDeps } from './metrics-routes';
import { sendLog } from './logs';
import { checkpointRoutes, type CheckpointLinker } from './checkpoint-routes';
import { redirectToOutput, requestedPath, sendOutputPage } from './outputs';
import { parseQuery } from './query';
import { retryJob } from './retry';
import { submitJob, validationDetails, type SubmitDeps } from './submit';
import { streamRoute } from './stream';
import { usageOf } from './usage';
import { webhookRoutes, type WebhookRouteDeps } from './webhook-routes';

export type JobRoutesDeps = SubmitDeps & {
  store: JobStore;
  queues: StageQueues;
  ring: ApiKeyRing;
  /** Presigned GETs for outputs and checkpoints, and the listing of a checkpoint's files. */
  storage: CheckpointLinker;
} & WebhookRouteDeps;

export function jobRoutes(deps: JobRoutesDeps & { metrics?: MetricsRoutesDeps['metrics'] }): Router {
  const router = Router({ caseSensitive: true });

  router.post('/jobs', async (req, res) => {
    const { job, replayed } = await submitJob(deps, req.body, callerOf(res), req.get('idempotency-key'));
    if (replayed) res.set('Idempotent-Replayed', 'true');
    res.set('Location', `/v1/jobs/${job.id}`);
    res.status(202).json(toPublicJob(job));
  });

  router.get('/jobs', async (req, res) => {
    const filters = listFilters(req, isAdmin(res));
    const owner = isAdmin(res) ? filters.createdBy : callerOf(res).name;
    const { createdBy: _asked, ...rest } = filters;
    const page = await deps.store.list({ ...rest, ...(owner !== undefined ? { createdBy: owner } : {}) });
    res.json({ data: page.jobs.map(toPublicJob), hasMore: page.hasMore, nextAfter: page.nextAfter });
  });

  router.get('/jobs/:id', async (req, res) => {
    res.json(toPublicJob(await loadJob(deps.store, req, res)));
  });

  router.delete('/jobs/:id', async (req, res) => {
    const job = await loadJob(deps.store, req, res);
    const removed = await deps.store.remove(job.id, (current) => settledAt(current) !== null);
    if (removed.outcome === 'missing') throw new HttpError(404, 'job_not_found', `Job ${JSON.stringify(job.id)} does not exist`);
    if (removed.outcome === 'refused') {
      const why = isTerminal(removed.job.status) ? 'its instances are still being given back' : `it is still ${removed.job.status}`;
      throw new HttpError(409, 'job_not_finished', `Job ${job.id} cannot be deleted yet: ${why}`);
    }
    res.status(204).end();
  });

  router.post('/jobs/:id/cancel', async (req, res) => {
    const job = await loadJob(deps.store, req, res);
    // Cancelling is idempotent: a job already cancelled answers as the first cancel did.
    const updated = isTerminal(job.status) ? job : (await cancelJob(deps, job.id)).job;
    if (updated.status !== 'cancelled') throw new HttpError(409, 'job_finished', `Job ${job.id} already ended (${updated.status})`);
    res.json(toPublicJob(updated));
  });

  router.post('/jobs/:id/retry', async (req, res) => {
    const original = await loadJob(deps.store, req, res);
    const { job, replayed } = await retryJob(deps, original, req.body, callerOf(res), req.get('idempotency-key'));
    if (replayed) res.set('Idempotent-Replayed', 'true');
    res.set('Location', `/v1/jobs/${job.id}`);
    res.status(202).json(toPublicJob(job));
  });

  router.get('/jobs/:id/outputs', async (req, res) => {
    sendOutputPage(await loadJob(deps.store, req, res), req, res);
  });

  router.get('/jobs/:id/outputs/*path', async (req, res) => {
    const job = await loadJob(deps.store, req, res);
    await redirectToOutput(deps.storage, job, requestedPath(req), res);
  });

  router.get('/jobs/:id/events', async (req, res) => {
    const job = await loadJob(deps.store, req, res);
    const query = parseQuery(jobEventQuerySchema, req);
    const page = await deps.store.eventPage(job.id, query.after, query.limit);
    res.json({ data: page.events, hasMore: page.hasMore });
  });

  router.get('/jobs/:id/logs', async (req, res) => {
    const job = await loadJob(deps.store, req, res);
    await sendLog(deps, job, req, res);
  });

  router.get('/jobs/:id/stream', streamRoute(deps));

  router.get('/usage', async (_req, res) => {
    const tenants = isAdmin(res) ? deps.ring.tenants() : [callerOf(res)];
    const data = await Promise.all(tenants.map((tenant) => usageOf(deps.store, tenant)));
    res.json(isAdmin(res) ? { data } : data[0]);
  });

  router.use(webhookRoutes(deps));

  router.use(checkpointRoutes(deps));

  if (deps.metrics) router.use(metricsRoutes({ store: deps.store, metrics: deps.metrics }));

  // A known path asked with a method it does not take: 405 naming the ones it does.
  for (const [path, methods] of Object.entries(ROUTE_METHODS)) router.all(path, methodNotAllowed(methods));
  return router;
}

/** GET /v1/jobs's filters: the query's own parameters and its `metadata.<key>=<value>` ones. */
function listFilters(req: Request, admin: boolean) {
  const { metadata, rest, problems } = metadataFilters(req.query as Record<string, unknown>);
  const query = jobListQuerySchema.safeParse(rest);
  // A bad entry of a comma-separated status names the parameter and the value, not an index.
  const statuses = typeof rest.status === 'string' ? rest.status.split(',') : [];
  const queryDetails = (query.success ? [] : validationDetails(query.error)).map((detail) => {
    const index = /^status\.(\d+)$/.exec(detail.path);
    return index ? { path: 'status', message: `${JSON.stringify(statuses[Number(index[1])])}: ${detail.message}` } : detail;
  });
  const details = [...queryDetails, ...problems];
  if (query.success && query.data.createdBy !== undefined && !admin) {
    details.push({ path: 'createdBy', message: 'only admin keys may filter by tenant' });
  }
  if (!query.success || details.length > 0) throw new HttpError(400, 'invalid_request', 'Invalid query', details);
  const { status, ...filters } = query.data;
  return { ...filters, ...(status ? { statuses: status } : {}), metadata };
}

/** The methods each /v1 path answers (HEAD comes with GET). */
export const ROUTE_METHODS: Record<string, string[]> = {
  '/jobs': ['GET', 'POST'],
  '/jobs/:id': ['GET', 'DELETE'],
  '/jobs/:id/cancel': ['POST'],
  '/jobs/:id/retry': ['POST'],
  '/jobs/:id/outputs': ['GET'],
  '/jobs/:id/checkpoints': ['GET'],
  '/jobs/:id/checkpoints/:name/download': ['GET'],
  '/jobs/:id/outputs/*path': ['GET'],
  '/jobs/:id/events': ['GET'],
  '/jobs/:id/logs': ['GET'],
  '/jobs/:id/stream': ['GET'],
  '/jobs/:id/metrics': ['GET'],
  '/usage': ['GET'],
  '/webhooks': ['GET', 'POST'],
  '/webhooks/:id': ['DELETE'],
  '/webhooks/:id/deliveries': ['GET'],
};

function methodNotAllowed(methods: string[]) {
  const allow = [...methods, ...(methods.includes('GET') ? ['HEAD'] : [])].join(', ');
  return (req: Request, res: Response) => {
    res.set('Allow', allow);
    throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed here; use ${allow}`);
  };
}
