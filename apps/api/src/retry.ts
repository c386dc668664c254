/**
 * POST /v1/jobs/:id/retry: a new job from the stored request of an earlier one, with some fields
 * replaced. It goes through submit like any new job (validation, prefixes, inputs, budget,
 * Idempotency-Key), so a retry can do nothing a submission could not.
 */
import { jobRetryRequestSchema, jobSubmissionObjectSchema, type JobRecord } from '@inno-train/schemas';
import { HttpError } from './http-error';
import type { Tenant } from './keys';
import { submitJob, validationDetails, type SubmitDeps, type SubmitResult } from './submit';

const SUBMISSION_FIELDS = Object.keys(jobSubmissionObjectSchema.shape);

/**
 * The submission the job was made from: its stored spec, submission fields only. An outputUri the
 * service chose for it (…/jobs/<id>/output/) is left out so the new job gets its own, and earlier
 * outputs are not overwritten.
 */
export function storedRequestOf(job: JobRecord): Record<string, unknown> {
  const spec = job.spec as unknown as Record<string, unknown>;
  const request = Object.fromEntries(SUBMISSION_FIELDS.filter((field) => spec[field] !== undefined).map((field) => [field, spec[field]]));
  if (job.spec.outputUri.endsWith(`/jobs/${job.id}/output/`)) delete request.outputUri;
  return request;
}

export async function retryJob(
  deps: SubmitDeps,
  original: JobRecord,
  body: unknown,
  tenant: Tenant,
  idempotencyKey?: string,
): Promise<SubmitResult> {
  const parsed = jobRetryRequestSchema.safeParse(body ?? {});
  if (!parsed.success) {
    const details = validationDetails(parsed.error);
    throw new HttpError(
      400,
      'invalid_request',
      `Invalid retry: ${[...new Set(details.map((d) => d.path || '(body)'))].join(', ')}`,
      details,
    );
  }
  // The fields as sent (parsing fills defaults in, e.g. inputs: {}, which must not replace stored ones).
  const given = ((body as { overrides?: Record<string, unknown> } | undefined)?.overrides ?? {}) as Record<string, unknown>;
  const request = { ...storedRequestOf(original), ...given };
  return submitJob(deps, request, tenant, idempotencyKey, { retryOf: original.id });
}
