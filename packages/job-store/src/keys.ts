/** Every Redis key the job store uses. No ioredis keyPrefix: BullMQ shares the connection config. */
export function storeKeys(namespace: string) {
  return {
    job: (id: string) => `${namespace}:job:${id}`,
    events: (id: string) => `${namespace}:job:${id}:events`,
    log: (id: string) => `${namespace}:job:${id}:log`,
    /** Bytes of output the job ever printed (the stored log keeps only the tail). */
    logSize: (id: string) => `${namespace}:job:${id}:log-size`,
    /**
     * Where each of the job's hosts' train.log has been read up to (hash: instance id -> bytes), so
     * the poll step and the live tail append each byte once between them (log-script.ts).
     */
    logOffsets: (id: string) => `${namespace}:job:${id}:log-offsets`,
    /** The job's metric series: a sorted set of points (JSON), scored by step. */
    metrics: (id: string) => `${namespace}:job:${id}:metrics`,
    /** The series' bookkeeping (stride, records offered, highest step, bytes): see metrics.ts. */
    metricsState: (id: string) => `${namespace}:job:${id}:metrics-state`,
    all: `${namespace}:jobs`,
    byStatus: (status: string) => `${namespace}:jobs:status:${status}`,
    /** One tenant's jobs, and one tenant's jobs in one status (its queue, its running jobs). */
    byOwner: (owner: string) => `${namespace}:jobs:owner:${owner}`,
    byOwnerStatus: (owner: string, status: string) => `${namespace}:jobs:owner:${owner}:status:${status}`,
    /** Ended jobs, scored by when they ended (ms): retention purges the oldest. */
    finished: `${namespace}:jobs:finished`,
    /** A tenant's spend in one month (UTC, `YYYY-MM`): job id -> USD, plus `total`. */
    spend: (owner: string, month: string) => `${namespace}:spend:${owner}:${month}`,
    /** A deleted job's id, kept as long as an Idempotency-Key could name it (never reused). */
    deleted: (id: string) => `${namespace}:deleted:${id}`,
    /** Set once every job made before tenants is in the owner and retention indexes. */
    tenancyBackfilled: `${namespace}:migrations:tenancy-indexes`,
    /** A submission's Idempotency-Key, as a digest (the client's raw key is never stored). */
    idempotency: (digest: string) => `${namespace}:idempotency:${digest}`,
    /**
     * Outbox of webhook-worthy events (a Redis Stream): the compare-and-set script adds one entry per
     * `status` or `settled` event it writes, so no change can be recorded without it. Read by the
     * provisioner's webhook dispatcher through a consumer group.
     */
    webhookOutbox: `${namespace}:webhooks:outbox`,
  };
}

/**
 * Every key holding one job's data beside its record: deleting the job deletes these. A new
 * per-job key (metrics, streams, ...) goes here, so deletion and retention cannot leave it behind.
 */
export function jobDataKeys(keys: ReturnType<typeof storeKeys>, id: string): string[] {
  return [keys.events(id), keys.log(id), keys.logSize(id), keys.logOffsets(id), keys.metrics(id), keys.metricsState(id)];
}

/**
 * The owner a job is indexed under. A job with no owner gets a name no tenant can have (tenant
 * names start with a letter or digit), so no key can list it as its own.
 */
export function ownerKey(createdBy: string | null | undefined): string {
  return createdBy ?? '~none';
}
