/**
 * A transfer's progress on the job record: the engine's figures clamped, the final figures of a
 * stage, the code a failed stage-in fails with, and the recorder that writes at most once a second
 * while the job is still in the stage (a fake store holding one record; the clock is Date.now's spy).
 */
import type { TransferProgressFile } from '@inno-train/host-protocol';
import type { JobStore, UpdateResult } from '@inno-train/job-store';
import type { JobRecord } from '@inno-train/schemas';
import { finalProgress, fromEngine, progressRecorder, PROGRESS_WRITE_MS, verifiedInputsCode } from '../src/progress';

const NOW = Date.parse('2026-12-01T00:00:00.000Z');
let clock = NOW;
beforeEach(() => {
  clock = NOW;
  jest.spyOn(Date, 'now').mockImplementation(() => clock);
});
afterEach(() => jest.restoreAllMocks());

const engine = (fields: Partial<TransferProgressFile> = {}): TransferProgressFile => ({
  bytesDone: 50,
  bytesTotal: 100,
  bytesPerSecond: 12.5,
  filesDone: 1,
  files: 4,
  retries: 0,
  ...fields,
});

describe('fromEngine', () => {
  it('copies the figures, with the stage and the time', () => {
    expect(fromEngine('staging_in', engine())).toEqual({
      stage: 'staging_in',
      bytesDone: 50,
      bytesTotal: 100,
      bytesPerSecond: 12.5,
      filesDone: 1,
      files: 4,
      updatedAt: '2026-12-01T00:00:00.000+00:00',
    });
  });

  it('clamps bytes done to [0, total] and files done to the files', () => {
    expect(fromEngine('staging_out', engine({ bytesDone: 150 })).bytesDone).toBe(100);
    expect(fromEngine('staging_out', engine({ bytesDone: -5 })).bytesDone).toBe(0);
    expect(fromEngine('staging_out', engine({ bytesDone: 7, bytesTotal: 0 })).bytesDone).toBe(0);
    expect(fromEngine('staging_out', engine({ filesDone: 9 })).filesDone).toBe(4);
    expect(fromEngine('staging_out', engine({ filesDone: 4 })).filesDone).toBe(4);
  });
});

describe('finalProgress', () => {
  it('is everything done at the average rate, in whole bytes per second', () => {
    expect(finalProgress('staging_in', 10_000_000, 3, 2000)).toEqual({
      stage: 'staging_in',
      bytesDone: 10_000_000,
      bytesTotal: 10_000_000,
      bytesPerSecond: 5_000_000,
      filesDone: 3,
      files: 3,
      updatedAt: '2026-12-01T00:00:00.000+00:00',
    });
    expect(finalProgress('staging_out', 1000, 1, 3000).bytesPerSecond).toBe(333);
    expect(finalProgress('staging_out', 2000, 1, 3000).bytesPerSecond).toBe(667);
  });

  it('says a rate of 0 for a stage that took no time', () => {
    expect(finalProgress('staging_in', 5, 1, 0).bytesPerSecond).toBe(0);
    expect(finalProgress('staging_in', 5, 1, -10).bytesPerSecond).toBe(0);
  });
});

describe('verifiedInputsCode', () => {
  it('fails with input_verification_failed only when a failure was a checksum mismatch', () => {
    const failed = (kinds: ('transfer' | 'verify' | 'local' | undefined)[]) => ({
      state: 'done' as const,
      status: { ok: false, failed: kinds.map((kind, i) => ({ path: `f${i}`, reason: 'r', kind })) },
    });
    expect(verifiedInputsCode(failed(['transfer', 'verify']))).toBe('input_verification_failed');
    expect(verifiedInputsCode(failed(['verify']))).toBe('input_verification_failed');
    expect(verifiedInputsCode(failed(['transfer', 'local', undefined]))).toBe('input_transfer_failed');
    expect(verifiedInputsCode(failed([]))).toBe('input_transfer_failed');
    expect(verifiedInputsCode({ state: 'done', status: { ok: false } })).toBe('input_transfer_failed');
    expect(verifiedInputsCode({ state: 'running' })).toBe('input_transfer_failed');
    expect(verifiedInputsCode({ state: 'not_running' })).toBe('input_transfer_failed');
  });
});

/** A store holding one record: `update` applies the mutation as the real one does (on a copy). */
function fakeStore(status: JobRecord['status']) {
  const held = { record: { id: 'j1', status, transfer: null } as unknown as JobRecord, calls: 0, writes: 0 };
  const update = async (id: string, mutate: (job: JobRecord) => JobRecord | null): Promise<UpdateResult> => {
    expect(id).toBe('j1');
    held.calls++;
    const next = mutate(structuredClone(held.record));
    if (next === null) return { job: held.record, changed: false };
    held.writes++;
    held.record = next;
    return { job: next, changed: true };
  };
  return { held, store: { update } as Pick<JobStore, 'update'> };
}

describe('progressRecorder', () => {
  it('writes the progress on the job at most once per PROGRESS_WRITE_MS', async () => {
    const { held, store } = fakeStore('staging_in');
    const record = progressRecorder(store, 'j1', 'staging_in');

    expect(await record(engine({ bytesDone: 10 }))).toBe(true);
    expect(held.writes).toBe(1);
    expect(held.record.transfer).toMatchObject({ stage: 'staging_in', bytesDone: 10 });

    clock += PROGRESS_WRITE_MS - 1;
    expect(await record(engine({ bytesDone: 20 }))).toBe(true);
    expect(held.calls).toBe(1);
    expect(held.record.transfer).toMatchObject({ bytesDone: 10 });

    clock += 1;
    expect(await record(engine({ bytesDone: 30 }))).toBe(true);
    expect(held.writes).toBe(2);
    expect(held.record.transfer).toMatchObject({ bytesDone: 30, updatedAt: new Date(clock).toISOString().replace('Z', '+00:00') });

    // Skipped calls do not move the window: the next write is a full interval after the last write.
    clock += PROGRESS_WRITE_MS / 2;
    await record(engine({ bytesDone: 40 }));
    clock += PROGRESS_WRITE_MS / 2 - 1;
    await record(engine({ bytesDone: 50 }));
    expect(held.calls).toBe(2);
    clock += 1;
    await record(engine({ bytesDone: 60 }));
    expect(held.writes).toBe(3);
    expect(held.record.transfer).toMatchObject({ bytesDone: 60 });
  });

  it('keeps one window per recorder (per job and stage)', async () => {
    const first = fakeStore('staging_in');
    const second = fakeStore('staging_in');
    await progressRecorder(first.store, 'j1', 'staging_in')(engine());
    await progressRecorder(second.store, 'j1', 'staging_in')(engine());
    expect([first.held.writes, second.held.writes]).toEqual([1, 1]);
  });

  it('answers false and writes nothing once the job is no longer in the stage', async () => {
    const { held, store } = fakeStore('staging_out');
    const record = progressRecorder(store, 'j1', 'staging_out');
    expect(await record(engine({ bytesDone: 10 }))).toBe(true);
    const before = structuredClone(held.record);

    held.record = { ...held.record, status: 'cancelled' } as JobRecord;
    clock += PROGRESS_WRITE_MS;
    expect(await record(engine({ bytesDone: 90 }))).toBe(false);
    expect(held.calls).toBe(2);
    expect(held.writes).toBe(1);
    expect(held.record.transfer).toEqual(before.transfer);
  });

  it('writes nothing for a job in another stage from the start', async () => {
    const { held, store } = fakeStore('staging_out');
    expect(await progressRecorder(store, 'j1', 'staging_in')(engine())).toBe(false);
    expect(held.writes).toBe(0);
    expect(held.record.transfer).toBeNull();
  });
});
