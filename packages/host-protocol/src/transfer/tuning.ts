/**
 * How the transfer engine (scripts/transfer.py) cuts objects into requests, and how hard it tries.
 * Pure functions of sizes, shared by the planners (stage-in, stage-out, checkpoints) and the benchmark.
 */
const MiB = 1024 * 1024;

/** S3's limits for multipart uploads. */
export const S3_MIN_PART_BYTES = 5 * MiB;
export const S3_MAX_PART_BYTES = 5 * 1024 * MiB;
export const S3_MAX_PARTS = 10_000;

export interface TransferTuning {
  /** A request that receives (or sends) no byte for this long is dropped and retried. */
  stallSeconds: number;
  /** Tries per request (a part, or a whole small object) before its file fails. */
  attempts: number;
  /** Downloads per file when its checksum does not match, before the file fails verification. */
  verifyAttempts: number;
  /** The smallest range a large download is cut into; objects up to twice this are one GET. */
  minRangeBytes: number;
  /** The largest range. */
  maxRangeBytes: number;
}

export const TRANSFER_DEFAULTS: TransferTuning = {
  stallSeconds: 30,
  attempts: 5,
  verifyAttempts: 2,
  minRangeBytes: 8 * MiB,
  maxRangeBytes: 256 * MiB,
};

/**
 * The range size of a download, or 0 for one GET. An object is cut into about eight ranges per
 * connection, so every connection has work until the end and a slow one holds up little (with four,
 * the last round left a budget of 10 connections idle for a tenth of a 2 GiB download); ranges are
 * whole MiB between minRangeBytes and maxRangeBytes (each is one request: small ones cost round
 * trips, huge ones make a retry expensive).
 */
const RANGES_PER_CONNECTION = 8;

export function downloadPartSize(
  size: number,
  connections: number,
  tuning: Pick<TransferTuning, 'minRangeBytes' | 'maxRangeBytes'> = TRANSFER_DEFAULTS,
): number {
  if (size <= 2 * tuning.minRangeBytes) return 0;
  const wanted = Math.ceil(size / (Math.max(1, connections) * RANGES_PER_CONNECTION) / MiB) * MiB;
  return Math.min(tuning.maxRangeBytes, Math.max(tuning.minRangeBytes, wanted));
}

/** Files above this go up as multipart uploads; at or below, one PUT. */
export const MULTIPART_THRESHOLD_BYTES = 8 * MiB;

/**
 * The part size of a multipart upload of `size` bytes: 8 MiB, or more so that the object needs at
 * most 1,000 parts (fewer presigned URLs in the plan, fewer requests), in whole MiB, up to S3's 5 GiB
 * per part (then more parts, up to its 10,000: 5 TiB objects fit); a larger object cannot go up at
 * all: throws RangeError.
 */
export function uploadPartSize(size: number): number {
  const partSize = Math.min(S3_MAX_PART_BYTES, Math.max(MULTIPART_THRESHOLD_BYTES, Math.ceil(size / 1000 / MiB) * MiB));
  if (Math.ceil(size / partSize) > S3_MAX_PARTS) {
    throw new RangeError(`${size} bytes is more than S3 takes in one object`);
  }
  return partSize;
}

/** Parts of a multipart upload of `size` bytes in parts of `partSize` (an empty file is one empty part). */
export function partCount(size: number, partSize: number): number {
  return Math.max(1, Math.ceil(size / partSize));
}
