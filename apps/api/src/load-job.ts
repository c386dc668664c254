import type { Request, Response } from 'express';
import type { JobStore } from '@inno-train/job-store';
import { JOB_ID_PATTERN, type JobRecord } from '@inno-train/schemas';
import { callerOf, isAdmin } from './auth';
import { HttpError } from './http-error';

/**
 * The job named in the path, if the caller may see it: its owner or an admin. Another tenant's job
 * answers exactly like a missing one, so ids cannot be probed across tenants.
 */
export async function loadJob(store: JobStore, req: Request, res: Response): Promise<JobRecord> {
  const raw = req.params.id;
  const id = typeof raw === 'string' ? raw : '';
  const job = JOB_ID_PATTERN.test(id) ? await store.get(id) : null;
  if (!job || !(isAdmin(res) || job.createdBy === callerOf(res).name)) {
    throw new HttpError(404, 'job_not_found', `Job ${JSON.stringify(id.slice(0, 64))} does not exist`);
  }
  return job;
}
