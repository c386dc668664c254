/**
 * The shapes the client sends and receives, all from `@inno-train/schemas` (the same zod schemas
 * the API answers with and its OpenAPI document is generated from), so they cannot drift.
 */
import type { AdminUsage, JobEventList, jobSubmissionObjectSchema, PublicJob, TenantUsage } from '@inno-train/schemas';
import type { z } from 'zod';

export type { AdminUsage, ApiErrorCode, JobEventList, JobList, TenantUsage } from '@inno-train/schemas';

/**
 * The body of POST /v1/jobs, as the caller writes it (defaults still optional). From the object
 * schema: the exported `jobSubmissionSchema` starts with `z.unknown()` (its reserved-key check), so
 * its input type is `unknown`.
 */
export type CreateJobBody = z.input<typeof jobSubmissionObjectSchema>;

/** A job as GET /v1/jobs/:id shows it. */
export type Job = PublicJob;
export type JobStatus = Job['status'];
export type JobEvent = JobEventList['data'][number];
/** GET /v1/usage: one tenant's month for a client key, every tenant's (`{data}`) for an admin key. */
export type Usage = TenantUsage | AdminUsage;

/** Statuses a job never leaves. Finished is not settled: its instance may still be billing (`settledAt`). */
export const FINISHED_JOB_STATUSES = ['succeeded', 'failed', 'cancelled'] as const satisfies readonly JobStatus[];

export function isFinished(job: Pick<Job, 'status'>): boolean {
  return (FINISHED_JOB_STATUSES as readonly string[]).includes(job.status);
}

/** Every instance of the finished job is confirmed terminated and `cost.final` is true. */
export function isSettled(job: Pick<Job, 'settledAt'>): boolean {
  // typeof, not `!== null`: an older API without the field must not read as settled.
  return typeof job.settledAt === 'string';
}

export interface ListParams {
  status?: JobStatus;
  /**
   * Jobs per page (1 to 200).
   * @defaultValue 50 (the API's)
   */
  limit?: number;
  /** Start after this job id (the last id of the previous page). */
  after?: string;
  /** Admin keys only: one tenant's jobs. */
  createdBy?: string;
}

export interface CallOptions {
  /** Aborting stops the call (and its retries) and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface CreateOptions extends CallOptions {
  /**
   * Sent as Idempotency-Key with every try of this submission (1 to 255 visible ASCII characters;
   * the API keeps it 24 h per API key). Pass your own to make retries across process restarts safe.
   * @defaultValue a random UUID per `create` call
   */
  idempotencyKey?: string;
}

export interface WaitOptions extends CallOptions {
  /**
   * Pause between polls, in ms.
   * @defaultValue 2000
   */
  intervalMs?: number;
  /**
   * Give up after this many ms with an InnoTrainWaitTimeoutError carrying the last job seen.
   * @defaultValue no limit (every job settles: the service always gives its instances back)
   */
  timeoutMs?: number;
  /** Called with every job polled (awaited before the next poll), the settled one included. */
  onUpdate?: (job: Job) => void | Promise<void>;
}
