/**
 * Storing a piece of a host's train.log: the one path by which log bytes reach the job store,
 * shared by the poll step and the live tail. Both may read the same bytes of one host at once; the
 * store's guarded append (appendLogAt) lets exactly one of them store each byte.
 */
import { crashPoint } from '@inno-train/core';
import type { JobStore, MetricsStore } from '@inno-train/job-store';
import { allProgress, latestProgress } from './metrics';

export interface IngestDeps {
  store: Pick<JobStore, 'appendLogAt' | 'update'>;
  metrics: Pick<MetricsStore, 'append'>;
}

/** Bytes [from, from + consumed) of the host log of instance `instanceId`, as text. */
export interface LogPiece {
  from: number;
  consumed: number;
  text: string;
}

/**
 * Stores the piece if the stored log of that host ends exactly at `from`; answers whether it did
 * and where the stored log of that host ends now (a refused piece: read on from there).
 *
 * The metric points go first: a writer that dies between them and the log leaves the bytes
 * unstored, so whoever reads them next offers the same points again, and the metrics store merges
 * a step's records (the series does not change). Stored the other way round, a death in between
 * lost those points for good, since the next reader starts after the bytes. A piece that is refused
 * holds bytes the winner stored from the same offset, so its points are the winner's too. Progress
 * follows only an append that went through: a refused piece is older than what is stored.
 */
export async function ingestLog(
  deps: IngestDeps,
  jobId: string,
  instanceId: string,
  piece: LogPiece,
): Promise<{ appended: boolean; offset: number }> {
  if (piece.text) {
    const points = allProgress(piece.text);
    if (points.length > 0) {
      await deps.metrics.append(jobId, points);
      // The points are stored and the log is not: the next reader reads these bytes again.
      crashPoint('train:after-metrics');
    }
  }
  const stored = await deps.store.appendLogAt(jobId, instanceId, piece.from, piece.consumed, piece.text);
  if (stored.appended && piece.text) {
    const progress = latestProgress(piece.text);
    if (progress) await deps.store.update(jobId, (current) => ({ ...current, progress }));
  }
  return stored;
}

/** The instance whose train.log the job's offsets count (a job restarted on a new host starts at 0). */
export function logInstanceId(job: { instance: { id: string } | null }): string {
  // Training runs on an instance; a record without one has no host log to count.
  return job.instance?.id ?? '-';
}
