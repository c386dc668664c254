/** Every Redis key the job store uses. No ioredis keyPrefix: BullMQ shares the connection config. */
export function storeKeys(namespace: string) {
  return {
    job: (id: string) => `${namespace}:job:${id}`,
    events: (id: string) => `${namespace}:job:${id}:events`,
    log: (id: string) => `${namespace}:job:${id}:log`,
    all: `${namespace}:jobs`,
    byStatus: (status: string) => `${namespace}:jobs:status:${status}`,
    /** A submission's Idempotency-Key, as a digest (the client's raw key is never stored). */
    idempotency: (digest: string) => `${namespace}:idempotency:${digest}`,
  };
}
