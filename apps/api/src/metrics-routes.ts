import { Router } from 'express';
import type { JobStore, MetricsStore } from '@inno-train/job-store';
import { jobMetricsQuerySchema, type JobMetricsPage } from '@inno-train/schemas';
import { loadJob } from './load-job';
import { parseQuery } from './query';

export interface MetricsRoutesDeps {
  store: JobStore;
  metrics: MetricsStore;
}

/**
 * GET /jobs/:id/metrics (under /v1): a page of the job's metric series, by step. The job is loaded
 * first, so another tenant's job is a 404 whatever the query says.
 */
export function metricsRoutes(deps: MetricsRoutesDeps): Router {
  const router = Router({ caseSensitive: true });

  router.get('/jobs/:id/metrics', async (req, res) => {
    const job = await loadJob(deps.store, req, res);
    const query = parseQuery(jobMetricsQuerySchema, req);
    const page = await deps.metrics.page(job.id, query.after, query.limit);
    const body: JobMetricsPage = { data: page.points, hasMore: page.hasMore, stride: page.stride, total: page.total };
    res.json(body);
  });

  return router;
}
