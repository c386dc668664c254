/**
 * Checkpoint sync on the host (scripts/checkpoints.sh): list CHECKPOINT_DIR with sizes and mtimes,
 * start the upload of complete entries in the background with presigned URLs (transfer.sh in
 * stage-out mode, as outputs are moved: one PUT per small file, UploadPart requests for the parts of
 * a large one), and read the run's result. What is complete is decided by the monitor, not here.
 */
import { createHash } from 'node:crypto';
import { InnoError } from '@inno-train/core';
import { z } from 'zod';
import { jobDir, jobPath, JOB_LAYOUT } from './layout';
import { renderScript } from './render';
import { stageOutResultSchema, type StageOutStatus } from './transfer/result';
import { renderStageOutScript, type StageOutUpload } from './transfer/stage-out';
import { checkRelPath } from './transfer/validate';

/** The file a script writes into an entry to say "this checkpoint is complete". Never uploaded. */
export const CHECKPOINT_MARKER = '.complete';

/** Where the rendered upload script goes, relative to the job directory. */
const SYNC_SCRIPT = `${JOB_LAYOUT.meta}/checkpoint-sync.sh`;
const RUN_ID = /^[a-z0-9]{1,32}$/;

/** The upload run's result file, relative to the job directory (one per run: an old one is never mistaken for it). */
export function checkpointResultFile(runId: string): string {
  if (!RUN_ID.test(runId)) throw new InnoError('invalid_run_id', `Not a checkpoint sync run id: ${JSON.stringify(runId)}`);
  return `${JOB_LAYOUT.meta}/checkpoint-sync.${runId}.result`;
}

/** Where renderCheckpointSyncScript's output is uploaded, relative to the home. */
export function checkpointSyncScriptPath(jobId: string): string {
  return jobPath(jobId, SYNC_SCRIPT);
}

/** Lists CHECKPOINT_DIR and says whether the upload run `runId` is running, done, or neither. */
export function listCheckpointsCommand(jobId: string, runId: string): string {
  return renderScript(
    'checkpoints.sh',
    { MODE: 'list', JOB_DIR: jobDir(jobId), RESULT_FILE: checkpointResultFile(runId) },
    { label: 'checkpoints' },
  );
}

/** Starts the uploaded sync script detached at the lowest priority, unless one is running. */
export function startCheckpointSyncCommand(jobId: string): string {
  return renderScript(
    'checkpoints.sh',
    { MODE: 'start', JOB_DIR: jobDir(jobId), RESULT_FILE: checkpointResultFile('none') },
    { label: 'checkpoints' },
  );
}

/** Where a checkpoint file is, relative to the job directory: the key of its parts in the run's result. */
export function checkpointJobPath(path: string): string {
  return `${JOB_LAYOUT.checkpoints}/${path}`;
}

/**
 * One file of an upload run: one presigned PUT, or (a file over one part) presigned UploadPart
 * URLs of the multipart upload the monitor opened, parts numbered 1..n and cut at (k - 1) * partSize.
 */
export type CheckpointUpload =
  | {
      /** Relative to CHECKPOINT_DIR, e.g. `step-500/model.pt`. */
      path: string;
      /** A presigned PUT URL. */
      url: string;
    }
  | {
      path: string;
      /** Bytes per part (the last one may be shorter). */
      partSize: number;
      /** Presigned UploadPart URLs, one per part. */
      parts: { partNumber: number; url: string }[];
    };

/**
 * The upload script of one run (transfer.sh, stage-out mode, as outputs go up): its result file
 * (checkpointResultFile) carries the ETags of every multipart file whose parts all went up, under
 * checkpointJobPath(path), for the monitor to complete the upload with.
 */
export function renderCheckpointSyncScript(
  jobId: string,
  runId: string,
  uploads: readonly CheckpointUpload[],
  connections: number,
): string {
  return renderStageOutScript({
    jobDir: jobDir(jobId),
    statusFile: checkpointResultFile(runId),
    connections,
    uploads: uploads.map((upload): StageOutUpload =>
      'url' in upload
        ? { kind: 'put', relPath: checkpointJobPath(upload.path), url: upload.url }
        : { kind: 'multipart', relPath: checkpointJobPath(upload.path), partSize: upload.partSize, parts: upload.parts },
    ),
  });
}

/** Prints the result file of the upload run `runId` (nothing when there is none). */
export function readCheckpointResultCommand(jobId: string, runId: string): string {
  return renderScript(
    'checkpoints.sh',
    { MODE: 'result', JOB_DIR: jobDir(jobId), RESULT_FILE: checkpointResultFile(runId) },
    { label: 'checkpoints' },
  );
}

/**
 * Parses readCheckpointResultCommand's answer: null when the run left no result; a result that is
 * not one (truncated, foreign) throws.
 */
export function parseCheckpointResult(stdout: string | Buffer): StageOutStatus | null {
  const text = (typeof stdout === 'string' ? stdout : stdout.toString('utf8')).trim();
  if (text === '') return null;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InnoError('invalid_result', `The checkpoint upload result is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  }
  const parsed = stageOutResultSchema.safeParse(json);
  if (!parsed.success) throw new InnoError('invalid_result', `Malformed checkpoint upload result: ${parsed.error.message.slice(0, 300)}`);
  return parsed.data;
}

export interface CheckpointFile {
  /** Relative to the entry (for an entry that is a file: its own name). */
  path: string;
  size: number;
  mtimeMs: number;
}

/**
 * An entry's files by path and size only (no mtimes): what stage-in restored from S3 and what the
 * monitor lists on the new host compare equal with it, so a restored copy is not synced as new.
 */
export function checkpointContentSignature(files: readonly Pick<CheckpointFile, 'path' | 'size'>[]): string {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const hash = createHash('sha256');
  for (const file of sorted) hash.update(`${file.path}\0${file.size}\0`);
  return hash.digest('hex').slice(0, 32);
}

/** One top-level entry of CHECKPOINT_DIR as listed. */
export interface ListedCheckpoint {
  name: string;
  kind: 'dir' | 'file';
  /** Regular files, the marker excluded. */
  files: CheckpointFile[];
  /** The entry holds the marker file. */
  marker: boolean;
  /** The newest mtime among the entry, its directories and its files (the marker included). */
  newestMtimeMs: number;
}

export interface CheckpointListing {
  /** The host's clock when listed, in ms. */
  now: number;
  sync: 'none' | 'running' | 'done';
  /** Entries in name order; hidden ones (a leading `.`, the usual temporary names) are left out. */
  entries: ListedCheckpoint[];
}

const HEAD = z.tuple([z.string().regex(/^now=\d+$/), z.enum(['sync=none', 'sync=running', 'sync=done']), z.literal('--')]);

/** Parses listCheckpointsCommand's answer; a malformed one throws. */
export function parseCheckpointListing(stdout: string | Buffer): CheckpointListing {
  const text = typeof stdout === 'string' ? stdout : stdout.toString('utf8');
  const lines = text.split('\n');
  const head = HEAD.safeParse(lines.slice(0, 3));
  if (!head.success) throw new InnoError('invalid_listing', `Malformed checkpoint listing ${JSON.stringify(text.slice(0, 120))}`);
  const now = Number(head.data[0].slice('now='.length));
  const sync = head.data[1].slice('sync='.length) as CheckpointListing['sync'];
  const body = lines.slice(3).join('\n');
  const records = body.split('\0');
  if ((records.pop() ?? '') !== '') throw new InnoError('invalid_listing', 'The checkpoint listing ended in the middle of a record');
  const entries = new Map<string, ListedCheckpoint>();
  for (const record of records) {
    const match = /^([fd])\t(\d+)\t(\d+(?:\.\d+)?)\t([\s\S]+)$/.exec(record);
    if (!match) throw new InnoError('invalid_listing', `Malformed checkpoint record ${JSON.stringify(record.slice(0, 200))}`);
    const [, type, size, mtime, path] = match as unknown as [string, 'f' | 'd', string, string, string];
    checkRelPath(path, 'listed checkpoint');
    const slash = path.indexOf('/');
    const name = slash < 0 ? path : path.slice(0, slash);
    if (name.startsWith('.')) continue;
    const mtimeMs = Math.floor(Number(mtime) * 1000);
    let entry = entries.get(name);
    if (!entry) {
      entry = { name, kind: 'dir', files: [], marker: false, newestMtimeMs: 0 };
      entries.set(name, entry);
    }
    entry.newestMtimeMs = Math.max(entry.newestMtimeMs, mtimeMs);
    if (slash < 0) {
      entry.kind = type === 'd' ? 'dir' : 'file';
      if (type === 'f') entry.files.push({ path: name, size: Number(size), mtimeMs });
    } else if (type === 'f') {
      const inner = path.slice(slash + 1);
      if (inner === CHECKPOINT_MARKER) entry.marker = true;
      else entry.files.push({ path: inner, size: Number(size), mtimeMs });
    }
  }
  return { now, sync, entries: [...entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
}
