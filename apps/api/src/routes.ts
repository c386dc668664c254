import { Router, type Request, type Response } from 'express';
import type { JobStore } from '@inno-train/job-store';
import {
  JOB_ID_PATTERN,
  jobEventQuerySchema,
  jobListQuerySchema,
  jobLogQuerySchema,
  settledAt,
  toPublicJob,
  type JobRecord,
} from '@inno-train/schemas';
import { cancelJob, type StageQueues } from '@inno-train/workflow';
import { isTerminal } from '@inno-train/workflow-constants';
import type { z } from 'zod';
import { callerOf, isAdmin, type ApiKeyRing } from './auth';
import { HttpError } from './http-error';
import { submitJob, validationDetails, type SubmitDeps } from './submit';
import { usageOf } from './usage';

/**
 * The job named in the path, if the caller may see it: its owner or an admin. Another tenant's job
 * answers exactly like a missing one, so ids cannot be probed across tenants.
 */
async function loadJob(store: JobStore, req: Request, res: Response): Promise<JobRecord> {
  const raw = req.params.id;
  const id = typeof raw === 'string' ? raw : '';
  const job = JOB_ID_PATTERN.test(id) ? await store.get(id) : null;
  if (!job || !(isAdmin(res) || job.createdBy === callerOf(res).name)) {
    throw new HttpError(404, 'job_not_found', `Job ${JSON.stringify(id.slice(0, 64))} does not exist`);
  }
  return job;
}

export type JobRoutesDeps = SubmitDeps & { store: JobStore; queues: StageQueues; ring: ApiKeyRing };

export function jobRoutes(deps: JobRoutesDeps): Router {
  const router = Router();

  router.post('/jobs', async (req, res) => {
    const { job, replayed } = await submitJob(deps, req.body, callerOf(res), req.get('idempotency-key'));
    if (replayed) res.set('Idempotent-Replayed', 'true');
    res.set('Location', `/v1/jobs/${job.id}`);
    res.status(202).json(toPublicJob(job));
  });

  router.get('/jobs', async (req, res) => {
    const query = jobListQuerySchema.safeParse(req.query);
    if (!query.success) throw new HttpError(400, 'invalid_request', 'Invalid query', validationDetails(query.error));
    const { createdBy, ...rest } = query.data;
    if (createdBy !== undefined && !isAdmin(res)) {
      throw new HttpError(400, 'invalid_request', 'Invalid query', [
        { path: 'createdBy', message: 'only admin keys may filter by tenant' },
      ]);
    }
    const owner = isAdmin(res) ? createdBy : callerOf(res).name;
    const page = await deps.store.list({ ...rest, ...(owner !== undefined ? { createdBy: owner } : {}) });
    res.json({ data: page.jobs.map(toPublicJob), hasMore: page.hasMore });
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

  router.get('/jobs/:id/events', async (req, res) => {
    const job = await loadJob(deps.store, req, res);
    const query = parseQuery(jobEventQuerySchema, req);
    const page = await deps.store.eventPage(job.id, query.after, query.limit);
    res.json({ data: page.events, hasMore: page.hasMore });
  });

  router.get('/jobs/:id/logs', async (req, res) => {
    const job = await loadJob(deps.store, req, res);
    await sendLog(deps.store, job.id, req, res);
  });

  router.get('/usage', async (_req, res) => {
    const tenants = isAdmin(res) ? deps.ring.tenants() : [callerOf(res)];
    const data = await Promise.all(tenants.map((tenant) => usageOf(deps.store, tenant)));
    res.json(isAdmin(res) ? { data } : data[0]);
  });

  // A known path asked with a method it does not take: 405 naming the ones it does.
  for (const [path, methods] of Object.entries(ROUTE_METHODS)) router.all(path, methodNotAllowed(methods));
  return router;
}

function parseQuery<T extends z.ZodType>(schema: T, req: Request): z.output<T> {
  const query = schema.safeParse(req.query);
  if (!query.success) throw new HttpError(400, 'invalid_request', 'Invalid query', validationDetails(query.error));
  return query.data;
}

/**
 * The job's output from `?offset=` or a `Range: bytes=N-` (206), with where it starts, how much the
 * job printed in all, and whether the stored tail no longer holds the beginning.
 */
async function sendLog(store: JobStore, jobId: string, req: Request, res: Response): Promise<void> {
  const { offset } = parseQuery(jobLogQuerySchema, req);
  const range = req.headers.range === undefined ? null : /^bytes=(\d+)-$/.exec(req.headers.range);
  if (req.headers.range !== undefined && !range) {
    throw new HttpError(400, 'invalid_request', 'Only a Range of the form bytes=N- is supported', [
      { path: 'Range', message: 'use bytes=N-' },
    ]);
  }
  const from = range ? Number(range[1]) : (offset ?? 0);
  const log = await store.logFrom(jobId, from);
  res.set({ 'X-Log-Size': String(log.size), 'X-Log-Offset': String(log.start), 'X-Log-Truncated': String(log.truncated) });
  res.set('Accept-Ranges', 'bytes');
  if (range && from >= log.size && log.size > 0) {
    res.set('Content-Range', `bytes */${log.size}`);
    throw new HttpError(416, 'range_not_satisfiable', `The log has ${log.size} bytes; a range must start before that`);
  }
  res.type('text/plain; charset=utf-8');
  if (!range) return void res.send(log.text);
  if (log.text.length > 0) res.set('Content-Range', `bytes ${log.start}-${log.start + log.text.length - 1}/${log.size}`);
  res.status(log.text.length > 0 ? 206 : 200).send(log.text);
}

/** The methods each /v1 path answers (HEAD comes with GET). */
export const ROUTE_METHODS: Record<string, string[]> = {
  '/jobs': ['GET', 'POST'],
  '/jobs/:id': ['GET', 'DELETE'],
  '/jobs/:id/cancel': ['POST'],
  '/jobs/:id/events': ['GET'],
  '/jobs/:id/logs': ['GET'],
  '/usage': ['GET'],
};

function methodNotAllowed(methods: string[]) {
  const allow = [...methods, ...(methods.includes('GET') ? ['HEAD'] : [])].join(', ');
  return (req: Request, res: Response) => {
    res.set('Allow', allow);
    throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed here; use ${allow}`);
  };
}
