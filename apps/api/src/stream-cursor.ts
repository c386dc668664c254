/**
 * Where a client stands in a job's stream, as the `id:` of every message: a cursor over each source
 * the stream reads, so any replica can resume it from Redis alone (no per-stream storage).
 *
 *   `<event>.<log>.<status>.<progress>`, e.g. `12.40960.training.9f86d081884c`
 *
 * - event: the id of the last event sent (events are numbered 1, 2, ... and the list only grows);
 * - log: the byte of everything the job printed that the next log text starts at;
 * - status: the last status sent, or `-`;
 * - progress: a digest of the last progress sent, or `-`. Progress is the latest metrics line, a
 *   state rather than a series: a resumed stream sends it again only if it changed meanwhile.
 */
import { createHash } from 'node:crypto';
import { JOB_STATUSES, type JobStatus } from '@inno-train/workflow-constants';

export interface StreamCursor {
  event: number;
  log: number;
  status: JobStatus | null;
  progress: string | null;
}

export const START_CURSOR: StreamCursor = { event: 0, log: 0, status: null, progress: null };

const CURSOR_PATTERN = /^(\d{1,15})\.(\d{1,15})\.([a-z_]+|-)\.([0-9a-f]{12}|-)$/;

export function formatCursor(cursor: StreamCursor): string {
  return `${cursor.event}.${cursor.log}.${cursor.status ?? '-'}.${cursor.progress ?? '-'}`;
}

/** The cursor a `Last-Event-ID` names, or null when it is not one this API wrote. */
export function parseCursor(text: string): StreamCursor | null {
  const match = CURSOR_PATTERN.exec(text.trim());
  if (!match) return null;
  const [, event, log, status, progress] = match as unknown as [string, string, string, string, string];
  if (status !== '-' && !(JOB_STATUSES as readonly string[]).includes(status)) return null;
  return {
    event: Number(event),
    log: Number(log),
    status: status === '-' ? null : (status as JobStatus),
    progress: progress === '-' ? null : progress,
  };
}

/** A short digest of a progress record (null for none), to tell a changed one from the one sent. */
export function progressDigest(progress: Record<string, unknown> | null | undefined): string | null {
  if (!progress) return null;
  return createHash('sha256').update(JSON.stringify(progress)).digest('hex').slice(0, 12);
}

/** Most bytes of log text in one message: a slow client gets the backlog in pieces, with back-pressure between them. */
export const LOG_CHUNK_BYTES = 64 * 1024;

/**
 * Log bytes cut into messages of at most `maxBytes`, each ending on a whole UTF-8 character, with
 * the offset each starts at. Leading continuation bytes (the stored tail was cut inside a
 * character) are skipped; a character not complete at the end is left for the next read.
 */
export function logChunks(bytes: Buffer, start: number, maxBytes = LOG_CHUNK_BYTES): { offset: number; text: string; end: number }[] {
  let from = 0;
  while (from < bytes.length && from < 3 && isContinuation(bytes[from]!)) from++;
  const chunks: { offset: number; text: string; end: number }[] = [];
  while (from < bytes.length) {
    const to = characterBoundary(bytes, Math.min(from + maxBytes, bytes.length));
    if (to <= from) break;
    chunks.push({ offset: start + from, text: bytes.subarray(from, to).toString('utf8'), end: start + to });
    from = to;
  }
  return chunks;
}

const isContinuation = (byte: number) => (byte & 0xc0) === 0x80;

/** The largest cut at or before `limit` that does not split a character. */
function characterBoundary(bytes: Buffer, limit: number): number {
  // Back over up to three continuation bytes to the byte that starts the last character.
  let lead = limit - 1;
  while (lead >= 0 && limit - 1 - lead < 3 && isContinuation(bytes[lead]!)) lead--;
  if (lead < 0) return limit;
  const first = bytes[lead]!;
  const length = first >= 0xf0 ? 4 : first >= 0xe0 ? 3 : first >= 0xc0 ? 2 : 1;
  return limit - lead >= length ? limit : lead;
}
