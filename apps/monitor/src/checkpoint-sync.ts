/**
 * Checkpoint sync during training (README, "Checkpoints"), run by the training poll: every
 * checkpoint.syncSeconds it lists the host's CHECKPOINT_DIR (one short SSH call), decides which
 * entries are complete (checkpoint-decision.ts), and has the host upload them in the background
 * with presigned URLs, at the lowest priority: one PUT per file, or the parts of a multipart upload
 * for a file over one part (checkpoint-upload.ts). On a later poll, once the host's upload run has
 * ended, the multipart uploads are completed with the ETags the host reported and S3 is listed: an
 * entry is recorded as synced only when every file is there with its size.
 *
 * The plan (entries, keys, sizes, multipart upload ids, run id) is saved on the record before the
 * upload starts, like stageOutPlan: a monitor killed at any line finds it, sees no run on the host
 * (no lock, no result) and starts it again with fresh URLs into the same keys and uploads (a PUT of
 * the same bytes is idempotent). A failure is an event and a retry next round; it never fails the job.
 */
import { coerceError, crashPoint, isoNow, type Logger } from '@inno-train/core';
import { listCheckpointsCommand, parseCheckpointListing } from '@inno-train/host-protocol';
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
import { decideFinal, decideRound, verifyEntry, type EntryToSync } from './checkpoint-decision';
import {
  abortUploads,
  completeUploads,
  isTooBig,
  MAX_CHECKPOINT_FILE_BYTES,
  openPlan,
  startUpload,
  type CheckpointDeps,
  type Pending,
} from './checkpoint-upload';

export type { CheckpointDeps, CheckpointStorage } from './checkpoint-upload';
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
    state = await settle(deps, job, state, state.pending, target);
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
  const tooBig = decision.toSync.filter(isTooBig);
  const toSync = state.pending ? [] : decision.toSync.filter((item) => !tooBig.includes(item));
  const events = tooBig.map(tooBigEvent);
  if (toSync.length === 0) {
    await saveState(deps, job.id, next, events);
    return;
  }
  // The multipart uploads are opened just before the plan naming them is saved (checkpoint-upload.ts).
  const pending = await openPlan(deps, job, toSync, (plan) =>
    saveState(deps, job.id, { ...next, pending: plan }, [...events, syncingEvent('Syncing checkpoints', toSync, plan)]),
  );
  // The plan is saved and nothing runs on the host: the rerun's listing says `none` and starts it.
  crashPoint('train:after-checkpoint-plan');
  await startUpload(deps, job, pending, target);
  // The upload runs on the host while no monitor watches it: the rerun's listing says `running`
  // (nothing is started twice) or `done` (settled against S3 as usual).
  crashPoint('train:after-checkpoint-upload-started');
}

/**
 * The run ended: complete its multipart uploads, record the entries S3 has in full, event the
 * others (synced again next round, in new uploads) and abort their uploads once the plan is gone.
 */
async function settle(
  deps: CheckpointDeps,
  job: JobRecord,
  state: CheckpointSync,
  pending: Pending,
  target: HostTarget,
): Promise<CheckpointSync> {
  const { bucket } = parseS3Uri(job.spec.outputUri);
  const problems = await completeUploads(deps, job, pending, target);
  const at = isoNow();
  const synced: SyncedCheckpoint[] = [];
  const failed: PlannedCheckpoint[] = [];
  const events: TransferEvent[] = [];
  for (const entry of pending.entries) {
    const prefix = parseS3Uri(entry.uri).key;
    const stored = new Map((await deps.storage.listPrefix(bucket, prefix)).map((object) => [object.key, object.size]));
    const problem = problems.get(entry.name);
    const verdict = problem === undefined ? verifyEntry(entry.files, stored) : { ok: false as const, reason: problem };
    if (verdict.ok) synced.push(syncedCheckpoint(entry, at));
    else failed.push(entry);
    events.push(settledEvent(entry, verdict.ok ? null : verdict.reason));
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
  // Only now, with the plan gone from the record: a rerun of this settling never meets them aborted.
  await abortUploads(deps, job, failed);
  return next;
}

function syncedCheckpoint(entry: PlannedCheckpoint, at: string): SyncedCheckpoint {
  return {
    name: entry.name,
    step: checkpointStep(entry.name),
    at,
    uri: entry.uri,
    bytes: entry.files.reduce((sum, file) => sum + file.size, 0),
    files: entry.files.length,
    signature: entry.signature,
  };
}

/** `problem` null: the entry synced. */
function settledEvent(entry: PlannedCheckpoint, problem: string | null): TransferEvent {
  const name = JSON.stringify(entry.name);
  const bytes = entry.files.reduce((sum, file) => sum + file.size, 0);
  return {
    type: 'transfer',
    stage: 'training',
    message:
      problem === null
        ? `Checkpoint ${name} synced: ${entry.files.length} files, ${bytes} bytes, ${entry.uri}`
        : `Checkpoint ${name} did not sync, retrying next round: ${problem}`,
  };
}

async function saveState(deps: CheckpointDeps, id: string, state: CheckpointSync, events: TransferEvent[]): Promise<void> {
  await deps.store.update(id, (current) => ({ ...current, checkpointSync: state }), events);
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
    message:
      `Checkpoint ${JSON.stringify(item.entry.name)} not synced: a file is over ${MAX_CHECKPOINT_FILE_BYTES} bytes ` +
      '(10,000 parts, the most one S3 multipart upload takes)',
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
  const final = state.final ?? { since: Date.now(), state: 'listing' as const };
  if (Date.now() - final.since > FINAL_SYNC_DEADLINE_MS) {
    return giveUp(deps, job, state, final, 'The last checkpoint sync did not finish in time; staging out without waiting for it');
  }
  try {
    return await finalTurn(deps, job, state, final, target);
  } catch (caught) {
    const error = coerceError(caught);
    logger.warn({ err: error }, `The last checkpoint sync of job ${job.id} failed; staging out without it`);
    return giveUp(deps, job, state, final, `The last checkpoint sync failed; staging out without it: ${error.message.slice(0, 300)}`);
  }
}

type Final = NonNullable<CheckpointSync['final']>;

async function finalTurn(deps: CheckpointDeps, job: JobRecord, state: CheckpointSync, final: Final, target: HostTarget) {
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
    current = { ...(await settle(deps, job, state, state.pending, target)), final };
  }
  if (final.state === 'syncing') return finishFinal(deps, job.id, current, final, []);
  const synced = Object.fromEntries((await deps.store.mustGet(job.id)).checkpoints.map((c) => [c.name, c.signature]));
  const decided = decideFinal({
    listing,
    previous: { listedAt: current.listedAt, seen: current.seen },
    synced,
    restored: job.resumedFrom,
  });
  const tooBig = decided.filter(isTooBig);
  const toSync = decided.filter((item) => !tooBig.includes(item));
  if (toSync.length === 0) return finishFinal(deps, job.id, current, final, tooBig.map(tooBigEvent));
  const pending = await openPlan(deps, job, toSync, (plan) =>
    saveState(deps, job.id, { ...current, pending: plan, final: { since: final.since, state: 'syncing' } }, [
      ...tooBig.map(tooBigEvent),
      syncingEvent('The command ended; syncing the last checkpoints', toSync, plan),
    ]),
  );
  await startUpload(deps, job, pending, target);
  return 'wait';
}

async function finishFinal(deps: CheckpointDeps, id: string, from: CheckpointSync, final: Final, events: TransferEvent[]) {
  await saveState(deps, id, { ...from, final: { since: final.since, state: 'done' } }, events);
  return 'done' as const;
}

/**
 * Stage-out goes on without the final sync: the upload in flight is dropped and, once the record
 * no longer names them (as in settle), its multipart uploads are aborted. The record's plan is the
 * one to abort: it may be newer than `state`'s (planned by the turn that failed).
 */
async function giveUp(deps: CheckpointDeps, job: JobRecord, state: CheckpointSync, final: Final, message: string) {
  const saved = await deps.store.mustGet(job.id).then(
    (current) => current.checkpointSync?.pending,
    () => undefined,
  );
  const pending = saved ?? state.pending;
  const done = await finishFinal(deps, job.id, { ...state, pending: null }, final, [{ type: 'transfer', stage: 'training', message }]);
  if (pending) await abortUploads(deps, job, pending.entries);
  return done;
}
