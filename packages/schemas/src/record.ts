/**
 * The job record: the source of truth for a job, kept in the job store. It is read back from
 * Redis as text, so it is parsed here (graphile's rule: `unknown` until checked), with defaults for
 * fields older records lack. Unknown fields are kept, so a newer writer's fields survive an older
 * reader's update.
 */
import { JOB_STATUSES, STAGE_NAMES, type JobEventType } from '@inno-train/workflow-constants';
import { z } from 'zod';
import { jobErrorCodeSchema } from './error-codes';
import type { JobSubmission } from './submission';
import { checkpointSyncSchema, resumedFromSchema, syncedCheckpointSchema } from './checkpoints';

const isoTime = z.string().min(1);

export const jobErrorSchema = z.object({
  code: jobErrorCodeSchema,
  message: z.string(),
  stage: z.enum(STAGE_NAMES),
});

export type JobError = z.infer<typeof jobErrorSchema>;

export const instanceInfoSchema = z.looseObject({
  id: z.string().min(1),
  type: z.string(),
  region: z.string(),
  ip: z.string().nullable(),
  status: z.string(),
  launchedAt: isoTime,
  terminatedAt: isoTime.nullable(),
  priceCentsPerHour: z.number().nullable(),
  /** Give up on this instance if it is not ready by then (depends on its size). */
  bootDeadlineAt: isoTime.optional(),
  /** SHA-256 of the host key seen at the first SSH connection; every later connection must match. */
  hostKeyFingerprint: z.string().optional(),
  /** When a terminate call for it was first accepted: billing stops there. */
  terminateRequestedAt: isoTime.optional(),
  /** Why it was given back before the job ended (unhealthy, never answered SSH, ...). */
  retiredReason: z.string().optional(),
});

export type InstanceInfo = z.infer<typeof instanceInfoSchema>;

/** The latest metrics record printed by the training script. */
export interface Progress {
  step: number;
  totalSteps?: number;
  epoch?: number;
  loss?: number;
  [metric: string]: number | undefined;
}

const progressSchema = z
  .record(z.string(), z.number())
  .refine((p) => typeof p.step === 'number', 'progress needs a step') as unknown as z.ZodType<Progress>;

/** The transfer statuses whose stage reports how far its copy has got. */
export const TRANSFER_STAGES = ['staging_in', 'staging_out'] as const;

/**
 * How far the current (or last) transfer has got, as the stage read it from the host's progress
 * file: bytes and files copied of those planned, and the recent rate.
 */
export const transferProgressSchema = z.object({
  /** The status the transfer ran in. */
  stage: z.enum(TRANSFER_STAGES),
  /** Bytes copied so far. */
  bytesDone: z.number().int().min(0),
  /** Bytes the transfer moves in all; 0 while not yet known. */
  bytesTotal: z.number().int().min(0),
  /** The recent rate, in bytes per second (may be fractional); 0 when unknown. */
  bytesPerSecond: z.number().min(0),
  /** Files copied completely so far. */
  filesDone: z.number().int().min(0),
  /** Files the transfer moves in all. */
  files: z.number().int().min(0),
  /** When the stage last read these figures. */
  updatedAt: isoTime,
});

export type TransferProgress = z.infer<typeof transferProgressSchema>;

export interface OutputObject {
  key: string;
  size: number;
}

/** What the job asked for, after defaults were applied at submit. */
export interface JobSpec extends Omit<JobSubmission, 'script' | 'outputUri'> {
  script: { inline: string; filename: string } | { uri: string; filename: string };
  command: string;
  outputUri: string;
}

/**
 * The spec was validated in full at submit; on read only its shape is checked (the submission's
 * refinements, e.g. config depth, would cost every read of every job).
 */
const jobSpecSchema = z.looseObject({
  instance: z.looseObject({ type: z.string() }),
  inputs: z.record(z.string(), z.string()),
  script: z.union([z.looseObject({ inline: z.string(), filename: z.string() }), z.looseObject({ uri: z.string(), filename: z.string() })]),
  command: z.string(),
  outputUri: z.string(),
}) as unknown as z.ZodType<JobSpec>;

export const tenantLimitsSchema = z.object({
  /** Jobs of the tenant past `queued` at once. */
  maxConcurrentJobs: z.number().int().min(1).nullable(),
  /** The tenant's spend per calendar month (UTC), in USD. */
  monthlyBudgetUsd: z.number().positive().nullable(),
});
export type TenantLimits = z.infer<typeof tenantLimitsSchema>;

export const jobRecordSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string().nullable(),
  status: z.enum(JOB_STATUSES),
  createdAt: isoTime,
  updatedAt: isoTime,
  startedAt: isoTime.nullable(),
  finishedAt: isoTime.nullable(),
  spec: jobSpecSchema,
  instance: instanceInfoSchema.nullable(),
  /** Instances given up before the job ended (bad boots, lost hosts): torn down and billed too. */
  retiredInstances: z.array(instanceInfoSchema).default([]),
  /**
   * When teardown last found every instance of the ended job confirmed terminated, after looking
   * for instances launched but never recorded. Unset on records older than this field.
   */
  settledAt: isoTime.nullable().optional(),
  /** Launches made for this job so far. */
  launchAttempts: z.number().int().min(0).optional(),
  /**
   * Set just before a launch call and cleared once its answer is saved (or it failed): while set,
   * an instance may exist that the record does not know yet, so teardown must not call the job settled.
   */
  launchInFlightSince: isoTime.nullable().optional(),
  /** The job this one re-runs (POST /v1/jobs/:id/retry), if any. */
  retryOf: z.string().nullable().default(null),
  /** How many times the job started over on a new instance (host lost or preempted). */
  hostRestarts: z.number().int().min(0).default(0),
  /** How many of those restarts were for an instance the cloud reported preempted (retry.onPreempted). */
  preemptions: z.number().int().min(0).default(0),
  /** The stage-out plan (keys, sizes, multipart upload ids), fixed once so a rerun reuses its uploads. */
  stageOutPlan: z
    .array(
      z.object({
        relPath: z.string(),
        key: z.string(),
        size: z.number(),
        uploadId: z.string().optional(),
        /** Bytes per part of the multipart upload (uploadPartSize); absent in older plans: 8 MiB. */
        partSize: z.number().int().min(1).optional(),
      }),
    )
    .optional(),
  /**
   * The host's whole train.log, uploaded at stage-out to the service's bucket (`jobs/<id>/logs/train.log`):
   * planned with the outputs (uploadId while a multipart upload is open), `archivedAt` set once the
   * object is in S3 with `size` bytes. The API answers a log request from it when the stored copy in
   * Redis cannot (capped); retention deletes records, never this object. Null: none planned.
   */
  logArchive: z
    .object({ uri: z.string(), size: z.number().int().min(0), uploadId: z.string().optional(), archivedAt: isoTime.nullable() })
    .nullable()
    .default(null),
  /** The checkpoints synced to S3 while training ran (README, "Checkpoints"), oldest first. */
  checkpoints: z.array(syncedCheckpointSchema).default([]),
  /** The checkpoint sync's own state: the last listing and the upload in flight. Null: none yet. */
  checkpointSync: checkpointSyncSchema.nullable().default(null),
  /**
   * The checkpoint `resumeFrom` named, as the other job had synced it when this one was submitted
   * (a copy: that job may be deleted since). Stage-in restores it while this job has none of its own.
   */
  resumeSource: syncedCheckpointSchema.extend({ jobId: z.string() }).nullable().default(null),
  /** The checkpoint restored on the current instance by stage-in (after a restart on a new host). Null: started fresh. */
  resumedFrom: resumedFromSchema.nullable().default(null),
  progress: progressSchema.nullable(),
  /**
   * The latest transfer figures (staging_in, staging_out); null until a transfer reports, and the
   * last one stays after its stage. The figures come from a file on the host, so a malformed value
   * reads as null rather than making the whole record unreadable: it is advisory, the job is not.
   */
  transfer: transferProgressSchema.nullable().catch(null),
  outputs: z.array(z.object({ key: z.string(), size: z.number() })),
  error: jobErrorSchema.nullable(),
  /** A failure seen during training, reported once partial outputs have been staged out. */
  pendingError: jobErrorSchema.nullable(),
  cancelRequested: z.boolean(),
  /** The tenant whose key created the job (its name, never the key): it owns the job. */
  createdBy: z.string().nullable(),
  /** The tenant's limits when the job was submitted: stages enforce these (null: no limit). */
  limits: tenantLimitsSchema.default({ maxConcurrentJobs: null, monthlyBudgetUsd: null }),
  training: z.object({ startedAt: isoTime.nullable(), exitCode: z.number().int().nullable() }),
  metadata: z.record(z.string(), z.string()),
});

/** A job record as read (defaults applied). */
export type JobRecord = z.output<typeof jobRecordSchema>;
/** A job record as written by its creator (fields with defaults may be left out). */
export type NewJobRecord = z.input<typeof jobRecordSchema>;

/**
 * A new job record: queued, nothing run yet. The API creates every job with it, and tests build
 * theirs from it (with `patch`), so a field added to the record is added in one place.
 */
export function createJobRecord(
  fields: {
    id: string;
    spec: JobSpec;
    name?: string | null;
    createdBy?: string | null;
    limits?: TenantLimits;
    metadata?: Record<string, string>;
    retryOf?: string | null;
    resumeSource?: JobRecord['resumeSource'];
    now?: string;
  },
  patch: Partial<JobRecord> = {},
): JobRecord {
  const now = fields.now ?? new Date().toISOString();
  return {
    id: fields.id,
    name: fields.name ?? null,
    status: 'queued',
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    finishedAt: null,
    spec: fields.spec,
    instance: null,
    retiredInstances: [],
    hostRestarts: 0,
    preemptions: 0,
    retryOf: fields.retryOf ?? null,
    logArchive: null,
    checkpoints: [],
    checkpointSync: null,
    resumeSource: fields.resumeSource ?? null,
    resumedFrom: null,
    progress: null,
    transfer: null,
    outputs: [],
    error: null,
    pendingError: null,
    cancelRequested: false,
    createdBy: fields.createdBy ?? null,
    limits: fields.limits ?? { maxConcurrentJobs: null, monthlyBudgetUsd: null },
    training: { startedAt: null, exitCode: null },
    metadata: fields.metadata ?? {},
    ...patch,
  };
}

/** Parses a stored record; a record that does not parse is corrupt (or foreign) and says why. */
export function parseJobRecord(raw: string): JobRecord {
  const result = jobRecordSchema.safeParse(JSON.parse(raw));
  if (result.success) return result.data;
  const first = result.error.issues[0];
  throw new Error(`Stored job record is invalid at ${first?.path.join('.') || '(root)'}: ${first?.message ?? 'unknown problem'}`);
}

/** Every instance the job has had: the ones given back before, then the current one. */
export function instancesOf(job: Pick<JobRecord, 'instance' | 'retiredInstances'>): InstanceInfo[] {
  return [...job.retiredInstances, ...(job.instance ? [job.instance] : [])];
}

/** Cloud statuses of an instance that is gone or going: never to be waited on or adopted. */
export const GONE_INSTANCE_STATUSES: ReadonlySet<string> = new Set(['terminated', 'terminating', 'preempted']);

export function isInstanceGone(status: string): boolean {
  return GONE_INSTANCE_STATUSES.has(status);
}

export interface JobEvent {
  at: string;
  type: JobEventType;
  stage: JobError['stage'];
  message: string;
  data?: Record<string, unknown>;
}
