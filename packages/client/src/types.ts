/**
 * The shapes the client sends and receives, all from `@inno-train/schemas` (the same zod schemas
 * the API answers with and its OpenAPI document is generated from), so they cannot drift.
 */
import type {
  AdminUsage,
  JobMetricsQuery,
  WebhookCreate,
  webhookCreatedSchema,
  webhookDeliveryListSchema,
  webhookListSchema,
  JobEventList,
  jobListQuerySchema,
  jobOutputQuerySchema,
  JobRetryRequest,
  jobSubmissionObjectSchema,
  PublicJob,
  TenantUsage,
} from '@inno-train/schemas';
import type { z } from 'zod';

export type {
  AdminUsage,
  ApiErrorCode,
  CheckpointDownload,
  CheckpointList,
  JobEventList,
  JobList,
  JobMetricsPage,
  JobOutput,
  JobOutputList,
  MetricPoint,
  TenantUsage,
  WebhookDelivery,
  WebhookEventType,
  WebhookView,
} from '@inno-train/schemas';

/**
 * The body of POST /v1/jobs, as the caller writes it (defaults still optional). From the object
 * schema: the exported `jobSubmissionSchema` starts with `z.unknown()` (its reserved-key check), so
 * its input type is `unknown`.
 */
export type CreateJobBody = z.input<typeof jobSubmissionObjectSchema>;

/**
 * The body of POST /v1/jobs/:id/retry: `overrides` replace whole fields of the stored request (an
 * `instance` replaces the whole instance); an outputUri the service chose is chosen anew.
 */
export type RetryJobBody = JobRetryRequest;

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

/** GET /v1/jobs's query as the API reads it (strings); ListParams is what callers write. */
type ListQuery = z.input<typeof jobListQuerySchema>;

export interface ListParams {
  /** One status, or several (any of them matches): sent comma-separated. */
  status?: JobStatus | readonly JobStatus[];
  /** Only jobs with exactly this name. */
  name?: ListQuery['name'];
  /** Only jobs whose metadata has every one of these key/value pairs (sent as `metadata.<key>=<value>`, at most 8). */
  metadata?: Readonly<Record<string, string>>;
  /** Only jobs created at or after this time (a Date, or an ISO 8601 string sent as is). */
  createdAfter?: Date | string;
  /** Only jobs created before this time (a Date, or an ISO 8601 string sent as is). */
  createdBefore?: Date | string;
  /**
   * Jobs per page (1 to 200). With filters a page can hold fewer, even none, while `hasMore` is true.
   * @defaultValue 50 (the API's)
   */
  limit?: number;
  /** Start after this point: the previous page's `nextAfter`. */
  after?: ListQuery['after'];
  /** Admin keys only: one tenant's jobs. */
  createdBy?: ListQuery['createdBy'];
}

/** GET /v1/jobs/:id/outputs's query. */
export interface OutputListParams {
  /** Start after this path (the last path of the previous page). */
  after?: z.input<typeof jobOutputQuerySchema>['after'];
  /**
   * Outputs per page (1 to 1000).
   * @defaultValue 100 (the API's)
   */
  limit?: number;
}

export interface CallOptions {
  /** Aborting stops the call (and its retries) and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface CreateOptions extends CallOptions {
  /**
   * Sent as Idempotency-Key with every try of this submission (1 to 255 visible ASCII characters;
   * the API keeps it 24 h per API key). Pass your own to make retries across process restarts safe.
   * @defaultValue a random UUID per `create` (or `retry`) call
   */
  idempotencyKey?: string;
}

/** What a submission answered, beyond the job: whether it was made now or by an earlier try. */
export interface Submitted {
  job: Job;
  /**
   * True when the API answered with the job an earlier request with the same Idempotency-Key made
   * (`Idempotent-Replayed: true`): a retry after a lost answer, or the same key used again.
   */
  replayed: boolean;
  /** The answer's X-Request-Id: quote it when reporting a problem. */
  requestId: string | null;
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

/** GET /v1/jobs/:id/metrics's query. */
export interface MetricsParams {
  /** The last step already seen: the page starts after it (unset: from the first step). */
  after?: JobMetricsQuery['after'];
  /**
   * Points per page (1 to 1000).
   * @defaultValue 1000 (the API's)
   */
  limit?: number;
}

/** POST /v1/webhooks's body: an https `url`, and the event types to receive (unset: all of them). */
export type CreateWebhookBody = WebhookCreate;
/** POST /v1/webhooks's answer: the endpoint and, this once, its signing secret (`whsec_...`). */
export type CreatedWebhook = z.infer<typeof webhookCreatedSchema>;
export type WebhookList = z.infer<typeof webhookListSchema>;
export type WebhookDeliveryList = z.infer<typeof webhookDeliveryListSchema>;

/**
 * One message of GET /v1/jobs/:id/stream. `id` is the stream's cursor after this message: pass the
 * last one seen as `lastEventId` to resume after it.
 */
export type StreamMessage =
  /** The job's status, when it differs from the last one sent (the first message of a stream). */
  | { type: 'status'; id: string; status: JobStatus }
  /** The latest metrics record (the job's `progress`), when it changed. */
  | { type: 'progress'; id: string; progress: Job['progress'] }
  /** One job event, as `jobs.events` lists it; every one, in order. */
  | { type: 'event'; id: string; event: JobEvent }
  /** New output from byte `offset` of everything the job printed (at most 64 KiB a message). */
  | { type: 'log'; id: string; offset: number; text: string }
  /** The job is settled and everything before it was sent; the iterator ends after it. */
  | { type: 'end'; id: string; status: JobStatus; settledAt: string };

export type StreamMessageType = StreamMessage['type'];

export interface FollowOptions extends CallOptions {
  /** Resume after this message (a `StreamMessage.id`): only what follows it is sent. */
  lastEventId?: string;
  /**
   * A connection that brings no byte (the API pings every 15 s) for this long, in ms, is taken as
   * dropped and made again.
   * @defaultValue 45000
   */
  idleTimeoutMs?: number;
}

/** Just what validation needs of a zod schema, so this file does not depend on zod's types. */
export interface ResponseSchema {
  safeParse(value: unknown): { success: boolean; error?: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}
