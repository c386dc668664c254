import { Router, type Request } from 'express';
import type { JobStore } from '@inno-train/job-store';
import { toPublicJob } from '@inno-train/schemas';
import { cancelJob, type StageQueues } from '@inno-train/workflow';
import { isTerminal, JOB_STATUSES } from '@inno-train/workflow-constants';
import { z } from 'zod';
import { HttpError } from './http-error';
import { submitJob, validationDetails, type SubmitDeps } from './submit';

const listQuerySchema = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  after: z
    .string()
    .regex(/^j[0-9a-z]{22}$/, 'must be a job id')
    .optional(),
});

const jobIdSchema = z.string().regex(/^j[0-9a-z]{22}$/);

async function loadJob(store: JobStore, req: Request) {
  const raw = req.params.id;
  const id = typeof raw === 'string' ? raw : '';
  const job = jobIdSchema.safeParse(id).success ? await store.get(id) : null;
  if (!job) throw new HttpError(404, 'job_not_found', `Job ${JSON.stringify(id.slice(0, 64))} does not exist`);
  return job;
}

export function jobRoutes(deps: SubmitDeps & { store: JobStore; queues: StageQueues }): Router {
  const router = Router();

  router.post('/jobs', async (req, res) => {
    const { job, replayed } = await submitJob(deps, req.body, (res.locals.keyId as string | undefined) ?? null, req.get('idempotency-key'));
    if (replayed) res.set('Idempotent-Replayed', 'true');
    res.status(202).json(toPublicJob(job));
  });

  router.get('/jobs', async (req, res) => {
    const query = listQuerySchema.safeParse(req.query);
    if (!query.success) throw new HttpError(400, 'invalid_request', 'Invalid query', validationDetails(query.error));
    const page = await deps.store.list(query.data);
    res.json({ data: page.jobs.map(toPublicJob), hasMore: page.hasMore });
  });

  router.get('/jobs/:id', async (req, res) => {
    res.json(toPublicJob(await loadJob(deps.store, req)));
  });

  router.post('/jobs/:id/cancel', async (req, res) => {
    const job = await loadJob(deps.store, req);
    if (isTerminal(job.status)) throw new HttpError(409, 'job_finished', `Job ${job.id} already ended (${job.status})`);
    const { job: updated, changed } = await cancelJob(deps, job.id);
    if (!changed) throw new HttpError(409, 'job_finished', `Job ${job.id} already ended (${updated.status})`);
    res.json(toPublicJob(updated));
  });

  router.get('/jobs/:id/events', async (req, res) => {
    const job = await loadJob(deps.store, req);
    res.json({ data: await deps.store.events(job.id) });
  });

  router.get('/jobs/:id/logs', async (req, res) => {
    const job = await loadJob(deps.store, req);
    res.type('text/plain; charset=utf-8').send(await deps.store.log(job.id));
  });

  return router;
}
