import { Router } from 'express';
import type { JobStore } from '@inno-train/job-store';
import { toPublicCheckpoint, type CheckpointList } from '@inno-train/schemas';
import { loadJob } from './load-job';

/**
 * GET /jobs/:id/checkpoints (under /v1): the job's checkpoints synced to S3, oldest first. Owner-scoped
 * like every job route (loadJob): another tenant's job is a 404.
 */
export function checkpointRoutes(deps: { store: JobStore }): Router {
  const router = Router({ caseSensitive: true });
  router.get('/jobs/:id/checkpoints', async (req, res) => {
    const job = await loadJob(deps.store, req, res);
    const body: CheckpointList = { data: job.checkpoints.map(toPublicCheckpoint) };
    res.json(body);
  });
  return router;
}
