/**
 * Which checkpoint entries to sync: pure functions of a listing of CHECKPOINT_DIR, the previous
 * round's listing and what is already synced, table-tested without SSH or S3.
 *
 * An entry is complete when
 *   - it holds the marker file `.complete` (the script says so explicitly), or
 *   - its listing (every file's path, size and mtime) is the same as at the previous round, which
 *     was at least syncSeconds earlier, and nothing in it changed in the last QUIET_MS (host clock).
 * A complete entry is synced when it was never synced, or when its listing differs from the one
 * synced (it was rewritten). Entries that are gone (rotated away by the script) are left alone:
 * what is in S3 stays. An entry with no files has nothing to sync. The entry stage-in restored on a
 * new instance is already in S3: while it holds the same files with the same sizes it is not synced
 * again (its mtimes are the download's, so its listing signature is new).
 */
import { createHash } from 'node:crypto';
import { checkpointContentSignature, type CheckpointListing, type ListedCheckpoint } from '@inno-train/host-protocol';

/** An entry's newest change must be at least this old (host clock) to be called stable. */
export const QUIET_MS = 3000;

/** Rounds are scheduled on the monitor's clock; the hosts' may differ a little. */
const ROUND_SLACK = 0.9;

/** The checkpoint restored on this instance: its name and checkpointContentSignature. */
export interface RestoredEntry {
  name: string;
  signature: string;
}

/** The entry is the restored copy, unchanged (same paths and sizes). */
export function isRestoredCopy(entry: Pick<ListedCheckpoint, 'name' | 'files'>, restored: RestoredEntry | null | undefined): boolean {
  return !!restored && entry.name === restored.name && checkpointContentSignature(entry.files) === restored.signature;
}

/** The entry's listing as one string: paths, sizes and mtimes, the marker left out. */
export function entrySignature(entry: Pick<ListedCheckpoint, 'files'>): string {
  const files = [...entry.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file.path}\0${file.size}\0${file.mtimeMs}\0`);
  return hash.digest('hex').slice(0, 32);
}

export interface RoundInput {
  listing: CheckpointListing;
  /** The previous round's listing: the host's clock then, and each entry's signature. */
  previous: { listedAt: number | null; seen: Record<string, string> };
  /** The signature last synced of each entry. */
  synced: Record<string, string>;
  syncSeconds: number;
  /** The checkpoint stage-in restored on this instance, never synced again while unchanged. */
  restored?: RestoredEntry | null;
}

export interface EntryToSync {
  entry: ListedCheckpoint;
  signature: string;
  reason: 'marker' | 'stable';
}

export interface RoundDecision {
  toSync: EntryToSync[];
  /** This listing's signatures: the next round's `previous.seen`. */
  seen: Record<string, string>;
}

export function decideRound(input: RoundInput): RoundDecision {
  const { listing, previous, synced, syncSeconds, restored } = input;
  const apart = previous.listedAt !== null && listing.now - previous.listedAt >= syncSeconds * 1000 * ROUND_SLACK;
  const seen: Record<string, string> = {};
  const toSync: EntryToSync[] = [];
  for (const entry of listing.entries) {
    const signature = entrySignature(entry);
    seen[entry.name] = signature;
    if (entry.files.length === 0 || isRestoredCopy(entry, restored)) continue;
    const stable = apart && previous.seen[entry.name] === signature && listing.now - entry.newestMtimeMs >= QUIET_MS;
    const reason = entry.marker ? 'marker' : stable ? 'stable' : null;
    if (reason && synced[entry.name] !== signature) toSync.push({ entry, signature, reason });
  }
  return { toSync, seen };
}

/** One planned file: its key and the size the listing gave it. */
export interface PlannedFile {
  key: string;
  size: number;
}

/**
 * An upload run has ended: an entry is synced when every one of its files is in S3 with the size
 * planned (the run's own result file exists, so these are this run's PUTs, not an older one's).
 */
export function verifyEntry(
  files: readonly PlannedFile[],
  stored: ReadonlyMap<string, number>,
): { ok: true } | { ok: false; reason: string } {
  const missing = files.filter((file) => stored.get(file.key) !== file.size);
  if (missing.length === 0) return { ok: true };
  const first = missing[0]!;
  const size = stored.get(first.key);
  return {
    ok: false,
    reason: `${missing.length} of ${files.length} files not in S3 as planned (first: ${JSON.stringify(first.key)}, ${size === undefined ? 'missing' : `${size} bytes`}, expected ${first.size})`,
  };
}

export interface FinalInput {
  /** A listing made after the command ended: nothing in CHECKPOINT_DIR changes any more. */
  listing: CheckpointListing;
  previous: { listedAt: number | null; seen: Record<string, string> };
  synced: Record<string, string>;
  restored?: RestoredEntry | null;
}

/**
 * The remaining entries once the command has ended (synced before stage-out). With no later round
 * to wait for, an entry is complete when it holds the marker, or when it was already quiet for
 * QUIET_MS at the last round's listing and is unchanged since: one written just before the end
 * (or abandoned mid-write by a crash) without the marker is not taken.
 */
export function decideFinal(input: FinalInput): EntryToSync[] {
  const { listing, previous, synced, restored } = input;
  const toSync: EntryToSync[] = [];
  for (const entry of listing.entries) {
    if (entry.files.length === 0 || isRestoredCopy(entry, restored)) continue;
    const signature = entrySignature(entry);
    const stable =
      previous.listedAt !== null && previous.seen[entry.name] === signature && previous.listedAt - entry.newestMtimeMs >= QUIET_MS;
    const reason = entry.marker ? 'marker' : stable ? 'stable' : null;
    if (reason && synced[entry.name] !== signature) toSync.push({ entry, signature, reason });
  }
  return toSync;
}
