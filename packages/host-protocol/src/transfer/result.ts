/**
 * What transfer.sh leaves as its task's result (scripts/transfer-result.py writes it; the runner
 * embeds it in the task's status). Read back from the host: parsed with these, never trusted.
 */
import { z } from 'zod';

const failureSchema = z.object({ path: z.string(), reason: z.string() });
const partSchema = z.object({ partNumber: z.number().int().min(1), etag: z.string() });

export const stageInResultSchema = z.object({
  ok: z.boolean(),
  failed: z.array(failureSchema),
  /** Bytes of all files now in place (fetched or already present). */
  bytes: z.number().int().min(0),
  /** Files that were already present with the right size. */
  skipped: z.number().int().min(0),
});

export const stageOutResultSchema = z.object({
  ok: z.boolean(),
  failed: z.array(failureSchema),
  bytes: z.number().int().min(0),
  /** Per multipart relPath whose parts ALL went up: parts sorted by number, ETags with their quotes. */
  parts: z.record(z.string(), z.array(partSchema)),
});

export type StageInStatus = z.infer<typeof stageInResultSchema>;
export type StageOutStatus = z.infer<typeof stageOutResultSchema>;
