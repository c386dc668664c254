/**
 * Checkpoints (README, "Checkpoints"): what the job record keeps of the entries of CHECKPOINT_DIR
 * synced to S3, the sync's own state, and what `GET /v1/jobs/:id/checkpoints` answers.
 */
import { z } from 'zod';

/** One synced checkpoint as the record keeps it. */
export const syncedCheckpointSchema = z.object({
  /** The entry's name in CHECKPOINT_DIR (a directory such as `step-500`, or a file). */
  name: z.string().min(1),
  /** The trailing number of the name, if it has one. */
  step: z.number().int().min(0).nullable(),
  /** When the upload was verified in S3. */
  at: z.string().min(1),
  /** `<outputUri>checkpoints/<name>/` for a directory, `<outputUri>checkpoints/<name>` for a file. */
  uri: z.string().min(1),
  bytes: z.number().int().min(0),
  files: z.number().int().min(0),
  /** The listing (names, sizes, mtimes) that was uploaded: a later, different listing is synced again. */
  signature: z.string(),
});
export type SyncedCheckpoint = z.infer<typeof syncedCheckpointSchema>;

/** One file of an entry being uploaded: where it is under the job directory, its key and size. */
const plannedFileSchema = z.object({
  relPath: z.string().min(1),
  key: z.string().min(1),
  size: z.number().int().min(0),
  /**
   * A file over one part (TRANSFER.partSizeBytes): the id of the S3 multipart upload opened for it
   * before the plan was saved. Every rerun presigns its parts again into this same upload; the
   * settling completes it with the ETags the host reported, or aborts it.
   */
  uploadId: z.string().min(1).optional(),
});

/** An entry being uploaded: saved before the upload starts, so a rerun re-uploads into the same keys. */
export const plannedCheckpointSchema = z.object({
  name: z.string().min(1),
  signature: z.string(),
  uri: z.string().min(1),
  files: z.array(plannedFileSchema),
});
export type PlannedCheckpoint = z.infer<typeof plannedCheckpointSchema>;

export const checkpointSyncSchema = z.object({
  /** When (the monitor's clock, ms) the next round lists the host's CHECKPOINT_DIR. */
  nextRoundAt: z.number(),
  /** The host's clock (ms) at the last round's listing, and each entry's signature then. */
  listedAt: z.number().nullable(),
  seen: z.record(z.string(), z.string()),
  /** After a failed round (monitor's clock, ms), nothing is tried before this. */
  retryAt: z.number().default(0),
  /**
   * The sync after the command ended, before stage-out: when it started (monitor's clock, ms) and
   * whether its upload is planned (`syncing`) or it is over (`done`). Unset while training runs.
   */
  final: z.object({ since: z.number(), state: z.enum(['listing', 'syncing', 'done']) }).optional(),
  /** The upload in flight (one at a time; runId names its result file on the host), or null. */
  pending: z
    .object({ runId: z.string().regex(/^[a-z0-9]{1,32}$/), startedAt: z.string().min(1), entries: z.array(plannedCheckpointSchema) })
    .nullable(),
});
export type CheckpointSync = z.infer<typeof checkpointSyncSchema>;

/** A checkpoint as the API shows it. */
export const publicCheckpointSchema = z.object({
  name: z.string(),
  step: z.number().int().optional(),
  at: z.string(),
  uri: z.string(),
  bytes: z.number().int(),
  files: z.number().int(),
});
export type PublicCheckpoint = z.infer<typeof publicCheckpointSchema>;

/** `GET /v1/jobs/:id/checkpoints`. */
export const checkpointListSchema = z.object({ data: z.array(publicCheckpointSchema) });
export type CheckpointList = z.infer<typeof checkpointListSchema>;

/**
 * `GET /v1/jobs/:id/checkpoints/:name/download`: every file of one checkpoint, each with a short-lived
 * presigned GET. `path` is the file's place in the entry (`weights/model.safetensors` in a directory
 * entry; the entry's own name for a file entry), so `CHECKPOINT_DIR/<name>/<path>` (directory) or
 * `CHECKPOINT_DIR/<name>` (file) rebuilds it as the script wrote it.
 */
export const checkpointDownloadSchema = z.object({
  name: z.string(),
  kind: z.enum(['dir', 'file']).describe('a directory entry (files under it), or a single file'),
  files: z
    .array(
      z.object({
        path: z.string().describe('the file within the entry (a directory entry), or the entry name (a file entry)'),
        size: z.number().int(),
        url: z.string().describe('presigned S3 GET: fetch it without the Authorization header'),
      }),
    )
    .describe('in path order'),
  expiresAt: z.string().describe('when the URLs stop working (ISO 8601); ask again for fresh ones'),
});
export type CheckpointDownload = z.infer<typeof checkpointDownloadSchema>;

export function toPublicCheckpoint(checkpoint: SyncedCheckpoint): PublicCheckpoint {
  return {
    name: checkpoint.name,
    ...(checkpoint.step === null ? {} : { step: checkpoint.step }),
    at: checkpoint.at,
    uri: checkpoint.uri,
    bytes: checkpoint.bytes,
    files: checkpoint.files,
  };
}

/** The trailing number of a name (`step-500` → 500, `epoch3.pt` → null: the number is not last). */
export function checkpointStep(name: string): number | null {
  const match = /(\d+)$/.exec(name);
  if (!match) return null;
  const step = Number(match[1]);
  return Number.isSafeInteger(step) ? step : null;
}

/**
 * The checkpoint a job on a new instance resumes from: the highest step, or (no step in any name)
 * the one verified last. Null: none synced yet, the job starts fresh.
 */
export function checkpointToResume(checkpoints: readonly SyncedCheckpoint[]): SyncedCheckpoint | null {
  const later = (a: SyncedCheckpoint, b: SyncedCheckpoint) => (a.step !== b.step ? (a.step ?? -1) > (b.step ?? -1) : a.at >= b.at);
  let best: SyncedCheckpoint | null = null;
  for (const checkpoint of checkpoints) if (!best || later(checkpoint, best)) best = checkpoint;
  return best;
}

/**
 * The checkpoint stage-in restored into CHECKPOINT_DIR on the job's current instance (RESUME_FROM
 * points at it). `signature` is the restored files' paths and sizes (checkpointContentSignature in
 * the host protocol): an entry still holding exactly those is that copy, not a new checkpoint.
 */
export const resumedFromSchema = z.object({
  name: z.string().min(1),
  step: z.number().int().min(0).nullable(),
  kind: z.enum(['dir', 'file']),
  files: z.number().int().min(0),
  bytes: z.number().int().min(0),
  signature: z.string(),
});
export type ResumedFrom = z.infer<typeof resumedFromSchema>;

/** The most recently synced checkpoint (the last one verified), or null. */
export function latestCheckpoint(checkpoints: readonly SyncedCheckpoint[]): SyncedCheckpoint | null {
  let latest: SyncedCheckpoint | null = null;
  for (const checkpoint of checkpoints) if (!latest || checkpoint.at >= latest.at) latest = checkpoint;
  return latest;
}
