/**
 * `resumeFrom` on submit: the checkpoint another job of the same owner synced, looked up once and
 * copied into the new job's record, so the new job does not depend on that job's record later.
 * A job of another owner answers exactly like a missing one (ids cannot be probed across tenants),
 * and an admin key is its own owner here too: a checkpoint is data, and data stays with its owner.
 */
import type { JobStore } from '@inno-train/job-store';
import { checkpointToResume, type JobRecord, type JobSubmission } from '@inno-train/schemas';
import { HttpError } from './http-error';
import type { Tenant } from './keys';

/** The checkpoint to restore before the first training start, or null when none was asked for. */
export async function resolveResumeSource(
  store: Pick<JobStore, 'get'>,
  resumeFrom: JobSubmission['resumeFrom'],
  tenant: Pick<Tenant, 'name'>,
): Promise<JobRecord['resumeSource']> {
  if (!resumeFrom) return null;
  const source = await store.get(resumeFrom.jobId);
  if (!source || source.createdBy !== tenant.name) {
    throw refused('resumeFrom.jobId', `resumeFrom: job ${JSON.stringify(resumeFrom.jobId)} does not exist`);
  }
  const wanted = resumeFrom.checkpoint;
  const checkpoint = wanted === undefined ? checkpointToResume(source.checkpoints) : source.checkpoints.find((c) => c.name === wanted);
  if (!checkpoint) {
    const what = wanted === undefined ? 'any checkpoint' : `a checkpoint named ${JSON.stringify(wanted)}`;
    throw refused(
      wanted === undefined ? 'resumeFrom.jobId' : 'resumeFrom.checkpoint',
      `resumeFrom: job ${source.id} has not synced ${what} (GET /v1/jobs/${source.id}/checkpoints lists them)`,
    );
  }
  return { ...checkpoint, jobId: source.id };
}

function refused(path: string, message: string): HttpError {
  return new HttpError(400, 'invalid_input', message, [{ path, message }]);
}
