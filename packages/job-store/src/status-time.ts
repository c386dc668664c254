import type { Redis } from 'ioredis';
import type { JobStatus } from '@inno-train/workflow-constants';

/** A committed change of a job's status, and how long the job had been in the status it left. */
export interface StatusChange {
  jobId: string;
  from: JobStatus;
  to: JobStatus;
  /** Seconds between the status event that entered `from` and the one that left it; null: unknown. */
  seconds: number | null;
}

/** Status events are looked for in this many last events first (a week of checkpoints makes long lists). */
const TAIL = 200;

interface EventLine {
  type?: unknown;
  at?: unknown;
}

function parse(line: string): EventLine | null {
  try {
    return JSON.parse(line) as EventLine;
  } catch {
    return null;
  }
}

/** `at` of the last status event before `index` in `lines`, or null. */
function previousStatusAt(lines: string[], index: number): number | null {
  for (let i = index - 1; i >= 0; i--) {
    const event = parse(lines[i]!);
    if (event?.type === 'status' && typeof event.at === 'string') return Date.parse(event.at);
  }
  return null;
}

/**
 * How long the job stayed in the status it just left: from the status event that entered it to the
 * one just written (`written`: the exact lines the compare-and-set appended). Every status change
 * writes a status event in the same transaction as the record (the job's first one at creation),
 * so the events list holds both. Read after the write; a later write does not move the answer.
 */
export async function secondsInLeftStatus(redis: Redis, eventsKey: string, written: string[]): Promise<number | null> {
  const ours = written.find((line) => parse(line)?.type === 'status');
  const oursAt = ours === undefined ? NaN : Date.parse(String(parse(ours)?.at));
  if (ours === undefined || !Number.isFinite(oursAt)) return null;
  for (const range of [
    [-TAIL, -1],
    [0, -1],
  ] as const) {
    const lines = await redis.lrange(eventsKey, range[0], range[1]);
    const index = lines.lastIndexOf(ours);
    const enteredAt = index > 0 ? previousStatusAt(lines, index) : null;
    if (enteredAt !== null && Number.isFinite(enteredAt)) return Math.max(0, (oursAt - enteredAt) / 1000);
    if (lines.length < TAIL) break;
  }
  return null;
}
