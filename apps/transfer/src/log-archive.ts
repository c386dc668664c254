/**
 * The training log's archive at stage-out: the host's whole train.log goes up with the outputs, to
 * the service's bucket (logArchiveKey), so the log outlives the host and the capped copy in Redis. A
 * log that does not make it never fails the job: an event says why and the stored copy is kept.
 */
import { isoNow, type Logger } from '@inno-train/core';
import { JOB_LAYOUT, type StageOutUpload } from '@inno-train/host-protocol';
import type { JobRecord } from '@inno-train/schemas';
import { parseS3Uri } from '@inno-train/storage';
import { TRANSFER } from '@inno-train/workflow-constants';
import type { TransferStatus } from './decide';
import type { TransferDeps } from './stage-in';

const MAX_LOG_PARTS = 10_000;

/** The training log's upload, as the record keeps it (JobRecord.logArchive). */
export type LogArchive = NonNullable<JobRecord['logArchive']>;

/** Where a job's whole train.log is archived in the service's bucket: logs outlive the host and Redis. */
export function logArchiveKey(jobId: string): string {
  return `jobs/${jobId}/logs/train.log`;
}

/** The script's entry for the log: one presigned PUT, or presigned parts of its multipart upload. */
export async function logUpload(deps: TransferDeps, log: LogArchive, expires: number): Promise<StageOutUpload> {
  const { bucket, key } = parseS3Uri(log.uri);
  if (!log.uploadId) return { kind: 'put', relPath: JOB_LAYOUT.trainLog, url: await deps.storage.presignPut(bucket, key, expires) };
  const count = Math.max(1, Math.ceil(log.size / TRANSFER.partSizeBytes));
  const parts = await Promise.all(
    Array.from({ length: count }, async (_, i) => ({
      partNumber: i + 1,
      url: await deps.storage.presignUploadPart(bucket, key, log.uploadId!, i + 1, expires),
    })),
  );
  return {
    kind: 'multipart',
    relPath: JOB_LAYOUT.trainLog,
    partSize: TRANSFER.partSizeBytes,
    parts,
    uploadId: log.uploadId,
    size: log.size,
  };
}

/**
 * The log's place in the plan: the service's bucket, a multipart upload when it is over one part.
 * Null when there is nothing to archive (no bucket configured, no train.log) or S3 refused to open
 * the upload: the log is then not archived, which must not stop the outputs.
 */
export async function planLog(deps: TransferDeps, job: JobRecord, size: number | null, logger: Logger): Promise<LogArchive | null> {
  if (!deps.logBucket || size === null) return null;
  const key = logArchiveKey(job.id);
  const uri = `s3://${deps.logBucket}/${key}`;
  try {
    // S3's limit of parts (the script's too): a bigger log cannot go up in this part size.
    if (size > MAX_LOG_PARTS * TRANSFER.partSizeBytes) throw new Error(`${size} bytes is more than ${MAX_LOG_PARTS} parts`);
    const uploadId = size > TRANSFER.partSizeBytes ? await deps.storage.createMultipartUpload(deps.logBucket, key) : undefined;
    return { uri, size, ...(uploadId ? { uploadId } : {}), archivedAt: null };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    logger.warn({ err: error, uri }, 'could not open the upload of the training log; it will not be archived');
    await deps.store.appendEvent(job.id, {
      type: 'transfer',
      stage: 'staging_out',
      message: `The training log will not be archived to ${uri}: ${reason}`,
      data: { uri, reason },
    });
    return null;
  }
}

export async function abortLogUpload(deps: TransferDeps, log: LogArchive): Promise<void> {
  const { bucket, key } = parseS3Uri(log.uri);
  await deps.storage.abortMultipartUpload(bucket, key, log.uploadId!).catch(() => undefined);
}

/** Completes the log's multipart upload; returns why the log did not make it (null: it may have, checkLogArchive looks). */
export async function completeLogUpload(deps: TransferDeps, log: LogArchive | null, status: TransferStatus): Promise<string | null> {
  if (!log?.uploadId || log.archivedAt) return null;
  const parts = status.parts?.[JOB_LAYOUT.trainLog];
  if (!parts || parts.length === 0) return 'no parts recorded';
  const { bucket, key } = parseS3Uri(log.uri);
  try {
    await deps.storage.completeMultipartUpload(
      bucket,
      key,
      log.uploadId,
      [...parts].sort((a, b) => a.partNumber - b.partNumber),
    );
    return null;
  } catch (error) {
    // As for outputs: a rerun after a completion finds the upload gone and the object in place.
    if ((error as { code?: unknown }).code === 'storage_upload_not_found') return null;
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Whether the log is in S3 with the planned size (verified like the outputs). When it is not, the
 * job goes on: an event says why, an open multipart upload is aborted, and the API keeps serving
 * the stored copy. Returns the archive to record, or null.
 */
export async function checkLogArchive(
  deps: TransferDeps,
  job: JobRecord,
  problem: string | null,
  logger: Logger,
): Promise<LogArchive | null> {
  const log = job.logArchive;
  if (!log) return null;
  if (log.archivedAt) return log;
  const { bucket, key } = parseS3Uri(log.uri);
  let reason = problem;
  if (reason === null) {
    try {
      const stored = (await deps.storage.listPrefix(bucket, key)).find((object) => object.key === key);
      if (stored?.size !== log.size) reason = stored ? `${stored.size} bytes in S3, expected ${log.size}` : 'not in S3';
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
    }
  }
  if (reason === null) return { uri: log.uri, size: log.size, archivedAt: isoNow() };
  logger.warn({ uri: log.uri, reason }, 'the training log was not archived; the job goes on');
  if (log.uploadId) await abortLogUpload(deps, log);
  await deps.store.appendEvent(job.id, {
    type: 'transfer',
    stage: 'staging_out',
    message: `The training log was not archived to ${log.uri} (${reason}); the stored copy of the log is kept`,
    data: { uri: log.uri, reason },
  });
  return null;
}
