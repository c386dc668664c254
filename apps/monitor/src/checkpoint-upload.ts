/**
 * The S3 side of a checkpoint upload run (checkpoint-sync.ts decides when one runs): its plan, with
 * a multipart upload opened for every file over one part; the presigned URLs handed to the host
 * script; and, once the run has ended, the completion of each multipart upload with the ETags the
 * host reported. It is stage-out's path for outputs (apps/transfer/src/stage-out.ts), with the same
 * host script (transfer.sh in stage-out mode) and result: no byte passes through the monitor, and
 * nothing but presigned URLs reaches the host.
 *
 * The uploads are opened just before the plan is saved, and saved with it (`uploadId` on each
 * planned file): every rerun (monitor killed, host script gone) presigns the parts again into the
 * same uploads and never opens new ones. A monitor killed between opening them and saving the plan
 * leaves them open with no record naming them. They cost only their parts' storage and are left to
 * the bucket's lifecycle rule (AbortIncompleteMultipartUpload); a save that fails aborts them.
 * The uploads of entries that did not sync are aborted only AFTER the settled plan is saved, so a
 * rerun of the settling never meets an aborted upload in a live plan: a gone upload (NoSuchUpload)
 * there is one an earlier settling of the same plan completed, and the size check decides.
 */
import { randomBytes } from 'node:crypto';
import { coerceError, InnoError, isoNow } from '@inno-train/core';
import type { HostExecutor } from '@inno-train/host-port';
import {
  checkpointJobPath,
  checkpointSyncScriptPath,
  parseCheckpointResult,
  readCheckpointResultCommand,
  renderCheckpointSyncScript,
  startCheckpointSyncCommand,
  type CheckpointUpload,
  type StageOutStatus,
} from '@inno-train/host-protocol';
import type { JobStore } from '@inno-train/job-store';
import type { CheckpointSync, JobRecord, PlannedCheckpoint } from '@inno-train/schemas';
import { parseS3Uri } from '@inno-train/storage';
import type { HostTarget } from '@inno-train/workflow';
import { presignLifetimeSeconds, TRANSFER, type WorkflowTimings } from '@inno-train/workflow-constants';
import type { EntryToSync } from './checkpoint-decision';

/** The S3 operations checkpoint sync uses: presigning, listing and multipart bookkeeping, never bodies. */
export interface CheckpointStorage {
  presignPut(bucket: string, key: string, expiresSeconds: number): Promise<string>;
  listPrefix(bucket: string, prefix: string): Promise<{ key: string; size: number }[]>;
  createMultipartUpload(bucket: string, key: string): Promise<string>;
  presignUploadPart(bucket: string, key: string, uploadId: string, partNumber: number, expiresSeconds: number): Promise<string>;
  completeMultipartUpload(bucket: string, key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<unknown>;
  /** Idempotent: an upload already gone counts as aborted. */
  abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void>;
}

export interface CheckpointDeps {
  store: Pick<JobStore, 'update' | 'mustGet'>;
  shell: HostExecutor;
  storage: CheckpointStorage;
  timings: WorkflowTimings;
}

export type Pending = NonNullable<CheckpointSync['pending']>;
type PlannedFile = PlannedCheckpoint['files'][number];

/** S3's limit of parts in one multipart upload (transfer.sh's renderer refuses more too). */
const MAX_PARTS = 10_000;

/** The biggest checkpoint file that can be synced: MAX_PARTS parts of TRANSFER.partSizeBytes. */
export const MAX_CHECKPOINT_FILE_BYTES = MAX_PARTS * TRANSFER.partSizeBytes;

/** Files over one part go up in parts (as stage-out's outputs), the others in one PUT. */
export function isMultipart(size: number): boolean {
  return size > TRANSFER.partSizeBytes;
}

export function partCount(size: number): number {
  return Math.max(1, Math.ceil(size / TRANSFER.partSizeBytes));
}

/** An entry with a file beyond MAX_CHECKPOINT_FILE_BYTES, which no upload can take: not synced. */
export function isTooBig(item: EntryToSync): boolean {
  return item.entry.files.some((file) => file.size > MAX_CHECKPOINT_FILE_BYTES);
}

/** The run's plan: each entry's files, keys and sizes (no upload opened yet). */
export function planUpload(job: JobRecord, toSync: readonly EntryToSync[]): Pending {
  const { bucket, key: prefix } = parseS3Uri(job.spec.outputUri);
  return {
    runId: randomBytes(8).toString('hex'),
    startedAt: isoNow(),
    entries: toSync.map(({ entry, signature }): PlannedCheckpoint => {
      const base = `${prefix}checkpoints/${entry.name}`;
      return {
        name: entry.name,
        signature,
        uri: `s3://${bucket}/${base}${entry.kind === 'dir' ? '/' : ''}`,
        files: entry.files.map((file) => ({
          relPath: entry.kind === 'dir' ? `${entry.name}/${file.path}` : entry.name,
          key: entry.kind === 'dir' ? `${base}/${file.path}` : base,
          size: file.size,
        })),
      };
    }),
  };
}

/**
 * Plans the run, opens a multipart upload for each file over one part and hands the plan, ids
 * included, to `save`. When opening or saving fails, the uploads opened are aborted and it throws.
 */
export async function openPlan(
  deps: CheckpointDeps,
  job: JobRecord,
  toSync: readonly EntryToSync[],
  save: (pending: Pending) => Promise<void>,
): Promise<Pending> {
  const { bucket } = parseS3Uri(job.spec.outputUri);
  const planned = planUpload(job, toSync);
  const opened: PlannedFile[] = [];
  const entries: PlannedCheckpoint[] = [];
  try {
    for (const entry of planned.entries) {
      const files: PlannedFile[] = [];
      for (const file of entry.files) {
        if (!isMultipart(file.size)) {
          files.push(file);
          continue;
        }
        const withId = { ...file, uploadId: await deps.storage.createMultipartUpload(bucket, file.key) };
        opened.push(withId);
        files.push(withId);
      }
      entries.push({ ...entry, files });
    }
    const pending = { ...planned, entries };
    await save(pending);
    return pending;
  } catch (caught) {
    // A save that failed after all (its answer lost) leaves a plan naming aborted uploads: the
    // host's parts are then refused, and the entries are synced again next round.
    await abortFiles(deps, bucket, opened);
    throw caught;
  }
}

/** Presigns the run's PUTs and parts, uploads its script and starts it detached (a no-op while one runs). */
export async function startUpload(deps: CheckpointDeps, job: JobRecord, pending: Pending, target: HostTarget): Promise<void> {
  const { bucket } = parseS3Uri(job.spec.outputUri);
  const expires = presignLifetimeSeconds(deps.timings);
  const uploads: CheckpointUpload[] = [];
  for (const entry of pending.entries) {
    for (const file of entry.files) {
      const uploadId = file.uploadId;
      if (uploadId === undefined) {
        uploads.push({ path: file.relPath, url: await deps.storage.presignPut(bucket, file.key, expires) });
        continue;
      }
      const parts = await Promise.all(
        Array.from({ length: partCount(file.size) }, async (_, i) => ({
          partNumber: i + 1,
          url: await deps.storage.presignUploadPart(bucket, file.key, uploadId, i + 1, expires),
        })),
      );
      uploads.push({ path: file.relPath, partSize: TRANSFER.partSizeBytes, parts });
    }
  }
  const script = renderCheckpointSyncScript(job.id, pending.runId, uploads, TRANSFER.checkpointConnections);
  await deps.shell.upload(target, checkpointSyncScriptPath(job.id), script, 0o700, { label: 'train:checkpoints-upload-script' });
  await deps.shell.exec(target, startCheckpointSyncCommand(job.id), {
    timeoutMs: deps.timings.sshCommandTimeoutMs,
    label: 'train:checkpoints-start',
  });
}

/**
 * The run has ended: completes each multipart upload with the ETags its result reports. Returns,
 * per entry name, why the entry cannot be synced (a file whose parts did not all go up, or a
 * completion S3 refused). A retryable failure (S3 or SSH unavailable) throws: the plan is kept and
 * the settling is tried again on a later poll, the uploads still open.
 */
export async function completeUploads(
  deps: CheckpointDeps,
  job: JobRecord,
  pending: Pending,
  target: HostTarget,
): Promise<Map<string, string>> {
  const problems = new Map<string, string>();
  const multipart = pending.entries.flatMap((entry) => entry.files.filter((file) => file.uploadId).map((file) => ({ entry, file })));
  if (multipart.length === 0) return problems;
  const { bucket } = parseS3Uri(job.spec.outputUri);
  const result = await readResult(deps, job, pending, target);
  for (const { entry, file } of multipart) {
    if (problems.has(entry.name)) continue;
    const problem = typeof result === 'string' ? result : await completeFile(deps, bucket, file, result);
    if (problem !== null) problems.set(entry.name, `${JSON.stringify(file.relPath)}: ${problem}`);
  }
  return problems;
}

/** The run's result, or why it cannot be used. */
async function readResult(deps: CheckpointDeps, job: JobRecord, pending: Pending, target: HostTarget): Promise<StageOutStatus | string> {
  const parts = pending.entries.reduce((sum, entry) => sum + entry.files.reduce((n, file) => n + partCount(file.size), 0), 0);
  // About 60 bytes a part and a failure line a file; the default cap (1 MiB) is 15,000 parts.
  const maxOutputBytes = 1024 * 1024 + parts * 128;
  const out = await deps.shell.exec(target, readCheckpointResultCommand(job.id, pending.runId), {
    timeoutMs: deps.timings.sshCommandTimeoutMs,
    label: 'train:checkpoints-result',
    maxOutputBytes,
  });
  if (out.exitCode !== 0) {
    throw new InnoError('host_command_failed', `Reading the checkpoint upload result failed (exit ${out.exitCode})`, { retryable: true });
  }
  if (out.stdoutTruncated) return `the upload result is over ${maxOutputBytes} bytes`;
  try {
    return parseCheckpointResult(out.stdout) ?? 'the upload run left no result';
  } catch (caught) {
    return coerceError(caught).message;
  }
}

/** Completes one file's multipart upload; null when done (or done before), else why not. */
async function completeFile(deps: CheckpointDeps, bucket: string, file: PlannedFile, status: StageOutStatus): Promise<string | null> {
  const path = checkpointJobPath(file.relPath);
  const parts = status.parts[path];
  const expected = partCount(file.size);
  if (!parts || parts.length !== expected) {
    const failure = status.failed.find((failed) => failed.path === path);
    return failure ? failure.reason.slice(0, 300) : `${parts?.length ?? 0} of ${expected} parts reported`;
  }
  try {
    await deps.storage.completeMultipartUpload(bucket, file.key, file.uploadId!, parts);
    return null;
  } catch (caught) {
    const { code, retryable } = caught as { code?: unknown; retryable?: unknown };
    // Uploads of a live plan are never aborted (see the file comment): a gone one was completed
    // by an earlier settling of this plan, killed before it saved. The size check decides.
    if (code === 'storage_upload_not_found') return null;
    if (retryable === true) throw caught;
    return `S3 refused to complete its multipart upload: ${coerceError(caught).message.slice(0, 300)}`;
  }
}

/** Aborts the multipart uploads of these entries; best effort (the lifecycle rule is the backstop). */
export async function abortUploads(deps: CheckpointDeps, job: JobRecord, entries: readonly PlannedCheckpoint[]): Promise<void> {
  const { bucket } = parseS3Uri(job.spec.outputUri);
  await abortFiles(
    deps,
    bucket,
    entries.flatMap((entry) => entry.files),
  );
}

async function abortFiles(deps: CheckpointDeps, bucket: string, files: readonly PlannedFile[]): Promise<void> {
  for (const file of files) {
    if (file.uploadId !== undefined) await deps.storage.abortMultipartUpload(bucket, file.key, file.uploadId).catch(() => undefined);
  }
}
