/**
 * A transfer's progress on the job record (JobRecord.transfer): what the host's engine reports while
 * it runs, written at most once a second per job, and the final figures when the stage ends.
 */
import { isoNow } from '@inno-train/core';
import type { TransferProgressFile } from '@inno-train/host-protocol';
import type { JobStore } from '@inno-train/job-store';
import type { TransferProgress } from '@inno-train/schemas';
import type { DetachedState, TransferStatus } from './decide';

/** At most one progress write per job per this long: the API serves it, nobody needs it faster. */
export const PROGRESS_WRITE_MS = 1000;

type Stage = TransferProgress['stage'];

/**
 * A watch's onProgress: saves the engine's figures on the job while it is still in `stage` (true),
 * and answers false once the job has left it (cancelled, failed elsewhere) so the watch stops at once.
 */
export function progressRecorder(
  store: Pick<JobStore, 'update'>,
  jobId: string,
  stage: Stage,
): (p: TransferProgressFile) => Promise<boolean> {
  let last = 0;
  return async (progress) => {
    const now = Date.now();
    if (now - last < PROGRESS_WRITE_MS) return true;
    last = now;
    let inStage = true;
    await store.update(jobId, (current) => {
      if (current.status !== stage) {
        inStage = false;
        return null;
      }
      current.transfer = fromEngine(stage, progress);
      return current;
    });
    return inStage;
  };
}

export function fromEngine(stage: Stage, progress: TransferProgressFile): TransferProgress {
  return {
    stage,
    bytesDone: Math.max(0, Math.min(progress.bytesDone, progress.bytesTotal)),
    bytesTotal: progress.bytesTotal,
    bytesPerSecond: progress.bytesPerSecond,
    filesDone: Math.min(progress.filesDone, progress.files),
    files: progress.files,
    updatedAt: isoNow(),
  };
}

/** The figures a finished stage leaves on the job: everything done, at the stage's average rate. */
export function finalProgress(stage: Stage, bytes: number, files: number, elapsedMs: number): TransferProgress {
  return {
    stage,
    bytesDone: bytes,
    bytesTotal: bytes,
    bytesPerSecond: elapsedMs > 0 ? Math.round((bytes / elapsedMs) * 1000) : 0,
    filesDone: files,
    files,
    updatedAt: isoNow(),
  };
}

/** A stage-in whose failures include a checksum mismatch fails with the code that says so. */
export function verifiedInputsCode(observed: DetachedState<TransferStatus>): 'input_transfer_failed' | 'input_verification_failed' {
  if (observed.state !== 'done') return 'input_transfer_failed';
  return (observed.status.failed ?? []).some((failure) => failure.kind === 'verify')
    ? 'input_verification_failed'
    : 'input_transfer_failed';
}
