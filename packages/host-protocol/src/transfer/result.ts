/**
 * What transfer.sh leaves as its task's result (the engine, scripts/transfer.py, writes it; the
 * runner embeds it in the task's status), and the progress it rewrites while it runs. Read back from
 * the host: parsed with these, never trusted.
 */
import { z } from 'zod';

/**
 * What went wrong with a file: `transfer` (requests failed, every attempt), `verify` (the bytes did
 * not match S3's published checksum, every download), `local` (the host: a missing file, no room).
 * Absent in results of older hosts' scripts.
 */
export const TRANSFER_FAILURE_KINDS = ['transfer', 'verify', 'local'] as const;
const failureSchema = z.object({ path: z.string(), reason: z.string(), kind: z.enum(TRANSFER_FAILURE_KINDS).optional() });
const partSchema = z.object({ partNumber: z.number().int().min(1), etag: z.string() });

/** When the engine started and finished, ms since the epoch by the host's clock (for benchmarks only). */
const engineTimes = {
  startedAt: z.number().int().optional(),
  finishedAt: z.number().int().optional(),
};

export const stageInResultSchema = z.object({
  ok: z.boolean(),
  failed: z.array(failureSchema),
  /** Bytes of all files now in place (fetched or already present). */
  bytes: z.number().int().min(0),
  /** Files that were already present with the right size. */
  skipped: z.number().int().min(0),
  /** Files checked against S3's published checksum (MD5 or SHA-256). */
  verified: z.number().int().min(0).optional(),
  /** Requests tried again (failed, stalled, or a file fetched again after a mismatch). */
  retries: z.number().int().min(0).optional(),
  ...engineTimes,
});

export const stageOutResultSchema = z.object({
  ok: z.boolean(),
  failed: z.array(failureSchema),
  bytes: z.number().int().min(0),
  /** Per multipart relPath whose parts ALL went up: parts sorted by number, ETags with their quotes. */
  parts: z.record(z.string(), z.array(partSchema)),
  /** Parts found in the journal of an earlier run of the same uploads, not sent again. */
  reused: z.number().int().min(0).optional(),
  retries: z.number().int().min(0).optional(),
  ...engineTimes,
});

/** The engine's progress file, rewritten every half second while it runs. */
export const transferProgressFileSchema = z.object({
  bytesDone: z.number().int(),
  bytesTotal: z.number().int().min(0),
  bytesPerSecond: z.number().min(0),
  filesDone: z.number().int().min(0),
  files: z.number().int().min(0),
  retries: z.number().int().min(0),
});
export type TransferProgressFile = z.infer<typeof transferProgressFileSchema>;

export type StageInStatus = z.infer<typeof stageInResultSchema>;
export type StageOutStatus = z.infer<typeof stageOutResultSchema>;
