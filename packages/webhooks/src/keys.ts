/** The webhook store's Redis keys, in the job store's namespace. */
export function webhookKeys(namespace: string) {
  return {
    /** One endpoint: a hash of id, tenant, url, events (JSON), secret, createdAt. */
    endpoint: (id: string) => `${namespace}:webhook:${id}`,
    /** A tenant's endpoints, scored by creation time (ms). */
    byTenant: (tenant: string) => `${namespace}:webhooks:tenant:${tenant}`,
    /** An endpoint's latest delivery attempts (JSON, newest first, capped). */
    deliveries: (id: string) => `${namespace}:webhook:${id}:deliveries`,
    /** An event's body as first dispatched (shared by every endpoint it goes to; expires after the retry window). */
    event: (eventId: string) => `${namespace}:webhook-event:${eventId}`,
  };
}
