import { randomBytes } from 'node:crypto';

/**
 * Job ids sort by creation time as plain strings (a fixed-width base-36 millisecond clock, then
 * randomness), so "newest first" and cursor paging are lexicographic range reads in Redis.
 */
export function newJobId(now: number = Date.now()): string {
  const clock = now.toString(36).padStart(10, '0');
  const random = BigInt(`0x${randomBytes(8).toString('hex')}`)
    .toString(36)
    .padStart(13, '0')
    .slice(0, 12);
  return `j${clock}${random}`;
}

export const JOB_ID_PATTERN = /^j[0-9a-z]{22}$/;

/** The millisecond a job id was made at (its clock part): the job's creation time. */
export function jobIdTime(id: string): number {
  return parseInt(id.slice(1, 11), 36);
}
