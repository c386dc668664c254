/** Job statuses in lifecycle order, and which of them are final. */
export const JOB_STATUSES = [
  'queued',
  'provisioning',
  'staging_in',
  'training',
  'staging_out',
  'succeeded',
  'failed',
  'cancelled',
] as const;

export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled']);

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

/** The stage a status belongs to, as shown in `error.stage` and events. */
export const STAGE_NAMES = ['submit', 'provisioning', 'staging_in', 'training', 'staging_out', 'teardown', 'cancel'] as const;

export type Stage = (typeof STAGE_NAMES)[number];
