import { checkpointContentSignature, type CheckpointListing, type ListedCheckpoint } from '@inno-train/host-protocol';
import { decideFinal, decideRound, entrySignature, QUIET_MS, verifyEntry } from '../src/checkpoint-decision';

const NOW = 1_000_000_000;

function entry(name: string, options: { marker?: boolean; mtimeMs?: number; size?: number; files?: number } = {}): ListedCheckpoint {
  const mtimeMs = options.mtimeMs ?? NOW - 60_000;
  const files = Array.from({ length: options.files ?? 2 }, (_, i) => ({ path: `f${i}.bin`, size: options.size ?? 100, mtimeMs }));
  return { name, kind: 'dir', files, marker: options.marker ?? false, newestMtimeMs: mtimeMs };
}

function listing(entries: ListedCheckpoint[], now = NOW): CheckpointListing {
  return { now, sync: 'none', entries };
}

const sig = (e: ListedCheckpoint) => entrySignature(e);
const names = (decision: ReturnType<typeof decideRound>) => decision.toSync.map((item) => `${item.entry.name}:${item.reason}`);

describe('which checkpoint entries a round syncs', () => {
  it('syncs an entry with the .complete marker at the first listing that sees it', () => {
    const decision = decideRound({
      listing: listing([entry('step-1', { marker: true })]),
      previous: { listedAt: null, seen: {} },
      synced: {},
      syncSeconds: 5,
    });
    expect(names(decision)).toEqual(['step-1:marker']);
  });

  it('does not sync an entry seen for the first time without a marker', () => {
    const decision = decideRound({
      listing: listing([entry('step-2')]),
      previous: { listedAt: null, seen: {} },
      synced: {},
      syncSeconds: 5,
    });
    expect(decision.toSync).toEqual([]);
    expect(Object.keys(decision.seen)).toEqual(['step-2']);
  });

  it('syncs an entry whose listing is unchanged between two rounds syncSeconds apart and quiet for QUIET_MS', () => {
    const e = entry('step-2');
    const decision = decideRound({
      listing: listing([e]),
      previous: { listedAt: NOW - 5000, seen: { 'step-2': sig(e) } },
      synced: {},
      syncSeconds: 5,
    });
    expect(names(decision)).toEqual(['step-2:stable']);
  });

  it('does not call an entry stable when its listing changed, the rounds were too close, or it changed just now', () => {
    const e = entry('step-2');
    const grown = entry('step-2', { size: 101 });
    const changed = decideRound({
      listing: listing([grown]),
      previous: { listedAt: NOW - 5000, seen: { 'step-2': sig(e) } },
      synced: {},
      syncSeconds: 5,
    });
    const close = decideRound({
      listing: listing([e]),
      previous: { listedAt: NOW - 1000, seen: { 'step-2': sig(e) } },
      synced: {},
      syncSeconds: 5,
    });
    const fresh = entry('step-2', { mtimeMs: NOW - QUIET_MS + 1 });
    const recent = decideRound({
      listing: listing([fresh]),
      previous: { listedAt: NOW - 5000, seen: { 'step-2': sig(fresh) } },
      synced: {},
      syncSeconds: 5,
    });
    expect([changed.toSync, close.toSync, recent.toSync]).toEqual([[], [], []]);
  });

  it('skips an entry already synced with the same listing, and syncs it again once it changed', () => {
    const e = entry('step-1', { marker: true });
    const same = decideRound({
      listing: listing([e]),
      previous: { listedAt: null, seen: {} },
      synced: { 'step-1': sig(e) },
      syncSeconds: 5,
    });
    expect(same.toSync).toEqual([]);
    const rewritten = entry('step-1', { marker: true, size: 200 });
    const again = decideRound({
      listing: listing([rewritten]),
      previous: { listedAt: null, seen: {} },
      synced: { 'step-1': sig(e) },
      syncSeconds: 5,
    });
    expect(names(again)).toEqual(['step-1:marker']);
  });

  it('leaves a rotated (deleted) entry alone, and never syncs an entry without files', () => {
    const decision = decideRound({
      listing: listing([entry('empty', { marker: true, files: 0 })]),
      previous: { listedAt: NOW - 5000, seen: { 'step-1': 'x' } },
      synced: { 'step-1': 'x' },
      syncSeconds: 5,
    });
    expect(decision.toSync).toEqual([]);
    expect(Object.keys(decision.seen)).toEqual(['empty']);
  });

  it('a signature depends on names, sizes and mtimes, not on the order of the listing', () => {
    const files = [
      { path: 'a', size: 1, mtimeMs: 1 },
      { path: 'b', size: 2, mtimeMs: 2 },
    ];
    expect(entrySignature({ files })).toBe(entrySignature({ files: [...files].reverse() }));
    expect(entrySignature({ files })).not.toBe(entrySignature({ files: [files[0]!, { ...files[1]!, mtimeMs: 3 }] }));
  });
});

describe('the checkpoint restored on a new instance', () => {
  const restoredEntry = entry('step-7', { mtimeMs: NOW - 30_000 });
  const restored = { name: 'step-7', signature: checkpointContentSignature(restoredEntry.files) };
  const stableRound = (listed: ListedCheckpoint[]) =>
    decideRound({
      listing: listing(listed),
      previous: { listedAt: NOW - 10_000, seen: Object.fromEntries(listed.map((e) => [e.name, sig(e)])) },
      // What S3 has of step-7 was listed with the old host's mtimes: a different listing signature.
      synced: { 'step-7': 'signature-on-the-old-host' },
      syncSeconds: 5,
      restored,
    });

  it('is not synced again while it holds the same files with the same sizes, in a round or at the end', () => {
    expect(stableRound([restoredEntry]).toSync).toEqual([]);
    const final = decideFinal({
      listing: listing([{ ...restoredEntry, marker: true }]),
      previous: { listedAt: NOW, seen: { 'step-7': sig(restoredEntry) } },
      synced: { 'step-7': 'signature-on-the-old-host' },
      restored,
    });
    expect(final).toEqual([]);
  });

  it('is synced once the script rewrote it with other sizes, and a new entry of the new run is synced as usual', () => {
    const rewritten = entry('step-7', { mtimeMs: NOW - 30_000, size: 101 });
    const next = entry('step-8', { mtimeMs: NOW - 30_000 });
    expect(names(stableRound([rewritten, next]))).toEqual(['step-7:stable', 'step-8:stable']);
  });
});

describe('which entries the sync after the command ended takes', () => {
  it('takes marked entries, and unmarked ones only if already quiet at the last round and unchanged since', () => {
    const quiet = entry('step-2', { mtimeMs: NOW - 10_000 });
    const busy = entry('partial', { mtimeMs: NOW - 1000 });
    const changed = entry('step-3', { mtimeMs: NOW - 10_000 });
    const unseen = entry('step-4', { mtimeMs: NOW - 10_000 });
    const marked = entry('step-5', { marker: true, mtimeMs: NOW + 4000 });
    const toSync = decideFinal({
      listing: listing(
        [quiet, busy, { ...changed, files: [...changed.files, { path: 'late', size: 1, mtimeMs: NOW + 1 }] }, unseen, marked],
        NOW + 5000,
      ),
      previous: { listedAt: NOW, seen: { 'step-2': sig(quiet), partial: sig(busy), 'step-3': sig(changed) } },
      synced: {},
    });
    expect(toSync.map((item) => `${item.entry.name}:${item.reason}`)).toEqual(['step-2:stable', 'step-5:marker']);
  });

  it('skips what is already synced with the same listing', () => {
    const marked = entry('step-5', { marker: true });
    expect(decideFinal({ listing: listing([marked]), previous: { listedAt: null, seen: {} }, synced: { 'step-5': sig(marked) } })).toEqual(
      [],
    );
  });
});

describe('verifying an upload run in S3', () => {
  it('is ok only when every file is there with its planned size', () => {
    const files = [
      { key: 'p/a', size: 1 },
      { key: 'p/b', size: 2 },
    ];
    expect(
      verifyEntry(
        files,
        new Map([
          ['p/a', 1],
          ['p/b', 2],
        ]),
      ),
    ).toEqual({ ok: true });
    expect(verifyEntry(files, new Map([['p/a', 1]]))).toMatchObject({ ok: false, reason: expect.stringContaining('1 of 2 files') });
    expect(
      verifyEntry(
        files,
        new Map([
          ['p/a', 1],
          ['p/b', 3],
        ]),
      ),
    ).toMatchObject({ ok: false });
  });
});
