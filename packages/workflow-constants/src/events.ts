/**
 * Every `type` a job event can have: a closed set, so a client can switch on it (the README's
 * table is generated from JOB_EVENT_TYPE_INFO). The status itself is always in a `status` event's data.
 */
export const JOB_EVENT_TYPES = [
  'status',
  'error',
  'retry',
  'unreachable',
  'waiting',
  'capacity',
  'instance',
  'transfer',
  'training',
  'teardown',
  'settled',
  'reconciler',
] as const;

export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

/** What each event type means, as the README shows it: a type added without one does not compile. */
export const JOB_EVENT_TYPE_INFO: Record<JobEventType, string> = {
  status:
    'the job changed status (data: `status`, `transition`; also `from` when it was cancelled or went back to `provisioning`, ' +
    'then with `restart`)',
  error: 'a stage gave up (data: `code`, one of the job error codes); always followed by a `status` event',
  retry: 'something is being tried again: a stage step after a transient failure, or the job on a new host',
  unreachable: 'the host stopped answering SSH while the job ran',
  waiting: "the tenant's concurrency slots are all taken: the job waits its turn (data: `running`, `place`)",
  capacity: "no capacity (or the account's quota is used up) for the job's instance types: it waits or fails",
  instance: 'an instance was launched, adopted, became ready, was retired or terminated as surplus',
  transfer: 'datasets moved from S3 to the host, or outputs from the host to S3',
  training: 'the training process started, stopped or was asked to stop',
  teardown: 'teardown: the training process stopped, an instance terminate was asked or confirmed',
  settled: 'every instance of the ended job is confirmed terminated: the cost is final',
  reconciler: 'the reconciler found the job stranded (nothing queued for it) and queued its stage again',
};

export function isJobEventType(value: string): value is JobEventType {
  return (JOB_EVENT_TYPES as readonly string[]).includes(value);
}
