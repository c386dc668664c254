/**
 * Checkpoint sync on the host (scripts/checkpoints.sh): list CHECKPOINT_DIR with sizes and mtimes,
 * and start the upload of complete entries in the background, with presigned PUT URLs (transfer.sh
 * in stage-out mode, as outputs are moved). What is complete is decided by the monitor, not here.
 */
import { createHash } from 'node:crypto';
import { InnoError } from '@inno-train/core';
import { z } from 'zod';
import { jobDir, jobPath, JOB_LAYOUT } from './layout';
import { renderScript } from './render';
import { renderStageOutScript } from './transfer/stage-out';
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

export interface CheckpointUpload {
  /** Relative to CHECKPOINT_DIR, e.g. `step-500/model.pt`. */
  path: string;
  /** A presigned PUT URL. */
  url: string;
}

/** The upload script of one run: one presigned PUT per file (transfer.sh, stage-out mode). */
export function renderCheckpointSyncScript(
  jobId: string,
  runId: string,
  uploads: readonly CheckpointUpload[],
  parallelism: number,
): string {
  return renderStageOutScript({
    jobDir: jobDir(jobId),
    statusFile: checkpointResultFile(runId),
    parallelism,
    uploads: uploads.map((upload) => ({ kind: 'put', relPath: `${JOB_LAYOUT.checkpoints}/${upload.path}`, url: upload.url })),
  });
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
