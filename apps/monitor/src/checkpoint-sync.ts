/**
 * Checkpoint sync during training (README, "Checkpoints"), run by the training poll: every
 * checkpoint.syncSeconds it lists the host's CHECKPOINT_DIR (one short SSH call), decides which
 * entries are complete (checkpoint-decision.ts), and has the host upload them in the background
 * with presigned PUT URLs, at the lowest priority. On a later poll, once the host's upload run has
 * ended, S3 is listed: an entry is recorded as synced only when every file is there with its size.
 *
 * The plan (entries, keys, sizes, run id) is saved on the record before the upload starts, like
 * stageOutPlan: a monitor killed at any line finds it, sees no run on the host (no lock, no result)
 * and starts it again with fresh URLs into the same keys (a PUT of the same bytes is idempotent).
 * A failure is an event and a retry next round; it never fails the job.
 */
import { randomBytes } from 'node:crypto';
import { coerceError, crashPoint, isoNow, type Logger } from '@inno-train/core';
import type { HostExecutor } from '@inno-train/host-port';
import {
  checkpointSyncScriptPath,
  listCheckpointsCommand,
  parseCheckpointListing,
  renderCheckpointSyncScript,
  startCheckpointSyncCommand,
} from '@inno-train/host-protocol';
import type { JobStore } from '@inno-train/job-store';
import {
  checkpointStep,
  DEFAULT_CHECKPOINT_SYNC_SECONDS,
  type CheckpointSync,
  type JobRecord,
  type PlannedCheckpoint,
  type SyncedCheckpoint,
} from '@inno-train/schemas';
import { parseS3Uri } from '@inno-train/storage';
import type { HostTarget } from '@inno-train/workflow';
import { presignLifetimeSeconds, TRANSFER, type WorkflowTimings } from '@inno-train/workflow-constants';
import { decideFinal, decideRound, verifyEntry, type EntryToSync } from './checkpoint-decision';

/** The S3 operations checkpoint sync uses: presigning and listing, never bodies. */
export interface CheckpointStorage {
  presignPut(bucket: string, key: string, expiresSeconds: number): Promise<string>;
  listPrefix(bucket: string, prefix: string): Promise<{ key: string; size: number }[]>;
}

export interface CheckpointDeps {
  store: Pick<JobStore, 'update' | 'mustGet'>;
  shell: HostExecutor;
  storage: CheckpointStorage;
  timings: WorkflowTimings;
}

/** S3's limit for one PUT: a bigger file would need a multipart upload, which checkpoints do not have yet. */
const MAX_PUT_BYTES = 5 * 1024 ** 3;

type Pending = NonNullable<CheckpointSync['pending']>;
type TransferEvent = { type: 'transfer'; stage: 'training'; message: string };

const IDLE: CheckpointSync = { nextRoundAt: 0, listedAt: null, seen: {}, retryAt: 0, pending: null };

export function syncSecondsOf(job: JobRecord): number {
  return job.spec.checkpoint?.syncSeconds ?? DEFAULT_CHECKPOINT_SYNC_SECONDS;
}

/** One turn of the sync, if one is due. Never throws: a failure is evented and retried next round. */
export async function syncCheckpoints(deps: CheckpointDeps, job: JobRecord, target: HostTarget, logger: Logger): Promise<void> {
  const now = Date.now();
  const state = job.checkpointSync ?? IDLE;
  if (now < state.retryAt || (now < state.nextRoundAt && !state.pending)) return;
  try {
    await turn(deps, job, state, target, now >= state.nextRoundAt);
  } catch (caught) {
    const error = coerceError(caught);
    const retryAt = Date.now() + syncSecondsOf(job) * 1000;
    logger.warn({ err: error }, `Checkpoint sync of job ${job.id} failed; retrying in ${syncSecondsOf(job)} s`);
    await deps.store.update(job.id, (current) => ({ ...current, checkpointSync: { ...(current.checkpointSync ?? IDLE), retryAt } }), [
      { type: 'transfer', stage: 'training', message: `Checkpoint sync failed, retrying next round: ${error.message.slice(0, 300)}` },
    ]);
  }
}

async function turn(deps: CheckpointDeps, job: JobRecord, initial: CheckpointSync, target: HostTarget, round: boolean): Promise<void> {
  let state = initial;
  const listing = parseCheckpointListing(
    (
      await deps.shell.exec(target, listCheckpointsCommand(job.id, state.pending?.runId ?? 'none'), {
        timeoutMs: deps.timings.sshCommandTimeoutMs,
        label: 'train:checkpoints-list',
      })
    ).stdout,
  );
  if (state.pending && listing.sync === 'done') {
    state = await settle(deps, job, state, state.pending);
  } else if (state.pending && listing.sync === 'none') {
    // Planned and not running, not ended: the monitor died before (or while) starting it.
    await startUpload(deps, job, state.pending, target);
  }
  if (!round) return;
  const syncSeconds = syncSecondsOf(job);
  const synced = Object.fromEntries((await deps.store.mustGet(job.id)).checkpoints.map((c) => [c.name, c.signature]));
  const decision = decideRound({
    listing,
    previous: { listedAt: state.listedAt, seen: state.seen },
    synced,
    syncSeconds,
    restored: job.resumedFrom,
  });
  const next: CheckpointSync = { ...state, nextRoundAt: Date.now() + syncSeconds * 1000, listedAt: listing.now, seen: decision.seen };
  const tooBig = decision.toSync.filter((item) => item.entry.files.some((file) => file.size > MAX_PUT_BYTES));
  const toSync = state.pending ? [] : decision.toSync.filter((item) => !tooBig.includes(item));
  const events = tooBig.map(tooBigEvent);
  if (toSync.length === 0) {
    await saveState(deps, job.id, next, events);
    return;
  }
  const pending = planUpload(job, toSync);
  await saveState(deps, job.id, { ...next, pending }, [...events, syncingEvent('Syncing checkpoints', toSync, pending)]);
  // The plan is saved and nothing runs on the host: the rerun's listing says `none` and starts it.
  crashPoint('train:after-checkpoint-plan');
  await startUpload(deps, job, pending, target);
  // The upload runs on the host while no monitor watches it: the rerun's listing says `running`
  // (nothing is started twice) or `done` (settled against S3 as usual).
  crashPoint('train:after-checkpoint-upload-started');
}

/** Presigns the run's PUTs, uploads its script and starts it detached (a no-op while one runs). */
async function startUpload(deps: CheckpointDeps, job: JobRecord, pending: NonNullable<CheckpointSync['pending']>, target: HostTarget) {
  const { bucket } = parseS3Uri(job.spec.outputUri);
  const expires = presignLifetimeSeconds(deps.timings);
  const uploads = [];
  for (const entry of pending.entries) {
    for (const file of entry.files) uploads.push({ path: file.relPath, url: await deps.storage.presignPut(bucket, file.key, expires) });
  }
  const script = renderCheckpointSyncScript(job.id, pending.runId, uploads, TRANSFER.parallelism);
  await deps.shell.upload(target, checkpointSyncScriptPath(job.id), script, 0o700, { label: 'train:checkpoints-upload-script' });
  await deps.shell.exec(target, startCheckpointSyncCommand(job.id), {
    timeoutMs: deps.timings.sshCommandTimeoutMs,
    label: 'train:checkpoints-start',
  });
}

/** The run ended: record the entries S3 has in full, event the others (synced again next round). */
async function settle(
  deps: CheckpointDeps,
  job: JobRecord,
  state: CheckpointSync,
  pending: NonNullable<CheckpointSync['pending']>,
): Promise<CheckpointSync> {
  const { bucket } = parseS3Uri(job.spec.outputUri);
  const at = isoNow();
  const synced: SyncedCheckpoint[] = [];
  const events: { type: 'transfer'; stage: 'training'; message: string }[] = [];
  for (const entry of pending.entries) {
    const prefix = parseS3Uri(entry.uri).key;
    const stored = new Map((await deps.storage.listPrefix(bucket, prefix)).map((object) => [object.key, object.size]));
    const verdict = verifyEntry(entry.files, stored);
    const bytes = entry.files.reduce((sum, file) => sum + file.size, 0);
    if (verdict.ok) {
      synced.push({
        name: entry.name,
        step: checkpointStep(entry.name),
        at,
        uri: entry.uri,
        bytes,
        files: entry.files.length,
        signature: entry.signature,
      });
      events.push({
        type: 'transfer',
        stage: 'training',
        message: `Checkpoint ${JSON.stringify(entry.name)} synced: ${entry.files.length} files, ${bytes} bytes, ${entry.uri}`,
      });
    } else {
      events.push({
        type: 'transfer',
        stage: 'training',
        message: `Checkpoint ${JSON.stringify(entry.name)} did not sync, retrying next round: ${verdict.reason}`,
      });
    }
  }
  const next: CheckpointSync = { ...state, pending: null };
  await deps.store.update(
    job.id,
    (current) => {
      if (current.checkpointSync?.pending?.runId !== pending.runId) return null;
      const names = new Set(synced.map((checkpoint) => checkpoint.name));
      const kept = current.checkpoints.filter((checkpoint) => !names.has(checkpoint.name));
      return { ...current, checkpoints: [...kept, ...synced], checkpointSync: { ...current.checkpointSync, pending: null } };
    },
    events,
  );
  return next;
}

async function saveState(
  deps: CheckpointDeps,
  id: string,
  state: CheckpointSync,
  events: { type: 'transfer'; stage: 'training'; message: string }[],
): Promise<void> {
  await deps.store.update(id, (current) => ({ ...current, checkpointSync: state }), events);
}

/** The run's plan: each entry's files, keys and sizes, saved before anything is uploaded. */
function planUpload(job: JobRecord, toSync: readonly EntryToSync[]): Pending {
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

function syncingEvent(what: string, toSync: readonly EntryToSync[], pending: Pending): TransferEvent {
  const files = pending.entries.reduce((sum, entry) => sum + entry.files.length, 0);
  const bytes = pending.entries.reduce((sum, entry) => sum + entry.files.reduce((s, file) => s + file.size, 0), 0);
  const names = toSync.map((item) => `${JSON.stringify(item.entry.name)} (${item.reason})`).join(', ');
  return { type: 'transfer', stage: 'training', message: `${what} ${names.slice(0, 500)}: ${files} files, ${bytes} bytes` };
}

function tooBigEvent(item: EntryToSync): TransferEvent {
  return {
    type: 'transfer',
    stage: 'training',
    message: `Checkpoint ${JSON.stringify(item.entry.name)} not synced: a file is over 5 GiB (multipart checkpoint uploads are not supported yet)`,
  };
}

/** How long the sync after the command ended may hold stage-out back before it is given up. */
export const FINAL_SYNC_DEADLINE_MS = 10 * 60_000;

/**
 * The sync after the command ended (README, "Checkpoints"), before stage-out: settles the upload in
 * flight, then uploads the remaining complete entries (checkpoint-decision.ts, decideFinal) and
 * waits for them. `wait`: poll again; `done`: go on to stage-out. Never throws and never fails the
 * job: an error, or a sync still running after FINAL_SYNC_DEADLINE_MS, is an event and `done`.
 */
export async function finalCheckpoints(deps: CheckpointDeps, job: JobRecord, target: HostTarget, logger: Logger): Promise<'wait' | 'done'> {
  const state = job.checkpointSync ?? IDLE;
  if (state.final?.state === 'done') return 'done';
  const now = Date.now();
  const final = state.final ?? { since: now, state: 'listing' as const };
  const finish = async (from: CheckpointSync, events: TransferEvent[]) => {
    await saveState(deps, job.id, { ...from, final: { since: final.since, state: 'done' } }, events);
    return 'done' as const;
  };
  if (now - final.since > FINAL_SYNC_DEADLINE_MS) {
    return finish(state, [
      {
        type: 'transfer',
        stage: 'training',
        message: 'The last checkpoint sync did not finish in time; staging out without waiting for it',
      },
    ]);
  }
  try {
    const listing = parseCheckpointListing(
      (
        await deps.shell.exec(target, listCheckpointsCommand(job.id, state.pending?.runId ?? 'none'), {
          timeoutMs: deps.timings.sshCommandTimeoutMs,
          label: 'train:checkpoints-final-list',
        })
      ).stdout,
    );
    let current: CheckpointSync = { ...state, final };
    if (state.pending) {
      if (listing.sync === 'none') await startUpload(deps, job, state.pending, target);
      if (listing.sync !== 'done') {
        if (!state.final) await saveState(deps, job.id, current, []);
        return 'wait';
      }
      current = { ...(await settle(deps, job, state, state.pending)), final };
    }
    if (final.state === 'syncing') return finish(current, []);
    const synced = Object.fromEntries((await deps.store.mustGet(job.id)).checkpoints.map((c) => [c.name, c.signature]));
    const decided = decideFinal({
      listing,
      previous: { listedAt: current.listedAt, seen: current.seen },
      synced,
      restored: job.resumedFrom,
    });
    const tooBig = decided.filter((item) => item.entry.files.some((file) => file.size > MAX_PUT_BYTES));
    const toSync = decided.filter((item) => !tooBig.includes(item));
    if (toSync.length === 0) return finish(current, tooBig.map(tooBigEvent));
    const pending = planUpload(job, toSync);
    await saveState(deps, job.id, { ...current, pending, final: { since: final.since, state: 'syncing' } }, [
      ...tooBig.map(tooBigEvent),
      syncingEvent('The command ended; syncing the last checkpoints', toSync, pending),
    ]);
    await startUpload(deps, job, pending, target);
    return 'wait';
  } catch (caught) {
    const error = coerceError(caught);
    logger.warn({ err: error }, `The last checkpoint sync of job ${job.id} failed; staging out without it`);
    return finish(state, [
      {
        type: 'transfer',
        stage: 'training',
        message: `The last checkpoint sync failed; staging out without it: ${error.message.slice(0, 300)}`,
      },
    ]);
  }
}
