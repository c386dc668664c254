/**
 * Webhook endpoints, their delivery attempts and dispatched event bodies, in Redis. The signing
 * secret is kept here (the delivery worker signs with it) and leaves this module only through
 * `secretOf`: views, lists and delivery records never carry it.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { registerSecret } from '@inno-train/core';
import { WEBHOOK_EVENT_TYPES, type WebhookDelivery, type WebhookEventType, type WebhookView } from '@inno-train/schemas';
import { newWebhookSecret } from './sign';
import { webhookKeys } from './keys';

/** Endpoints per tenant at most. */
export const MAX_WEBHOOKS_PER_TENANT = 20;
/** Delivery attempts kept per endpoint (newest first). */
export const MAX_DELIVERY_RECORDS = 100;

const storedEndpointSchema = z.object({
  id: z.string(),
  tenant: z.string(),
  url: z.string(),
  events: z.string().transform((raw) => z.array(z.enum(WEBHOOK_EVENT_TYPES)).parse(JSON.parse(raw))),
  secret: z.string(),
  createdAt: z.string(),
});
type StoredEndpoint = z.infer<typeof storedEndpointSchema>;

/** An endpoint as the dispatcher and the worker see it (no secret: ask `secretOf`). */
export interface WebhookEndpoint extends WebhookView {
  tenant: string;
}

export class WebhookLimitError extends Error {
  constructor() {
    super(`a tenant may have at most ${MAX_WEBHOOKS_PER_TENANT} webhooks`);
    this.name = 'WebhookLimitError';
  }
}

export type WebhookStore = ReturnType<typeof createWebhookStore>;

export function createWebhookStore(options: { redis: Redis; namespace: string }) {
  const { redis } = options;
  const keys = webhookKeys(options.namespace);

  async function read(id: string): Promise<StoredEndpoint | null> {
    if (!/^wh_[0-9a-z]{24}$/.test(id)) return null;
    const hash = await redis.hgetall(keys.endpoint(id));
    if (Object.keys(hash).length === 0) return null;
    const parsed = storedEndpointSchema.safeParse(hash);
    return parsed.success ? parsed.data : null;
  }

  const view = (e: StoredEndpoint): WebhookEndpoint => ({
    id: e.id,
    tenant: e.tenant,
    url: e.url,
    events: e.events,
    createdAt: e.createdAt,
  });

  return {
    /** Registers an endpoint; answers it with its secret (the only time the secret leaves the store). */
    async create(tenant: string, url: string, events: readonly WebhookEventType[]): Promise<WebhookEndpoint & { secret: string }> {
      if ((await redis.zcard(keys.byTenant(tenant))) >= MAX_WEBHOOKS_PER_TENANT) throw new WebhookLimitError();
      const id = `wh_${BigInt(`0x${randomBytes(16).toString('hex')}`)
        .toString(36)
        .padStart(25, '0')
        .slice(-24)}`;
      const secret = newWebhookSecret();
      registerSecret(secret);
      const createdAt = new Date().toISOString();
      const record = { id, tenant, url, events: JSON.stringify(events), secret, createdAt };
      await redis.multi().hset(keys.endpoint(id), record).zadd(keys.byTenant(tenant), Date.now(), id).exec();
      return { id, tenant, url, events: [...events], createdAt, secret };
    },

    /** A tenant's endpoint, or null (also for another tenant's: the caller answers 404 either way). */
    async get(tenant: string, id: string): Promise<WebhookEndpoint | null> {
      const endpoint = await read(id);
      return endpoint && endpoint.tenant === tenant ? view(endpoint) : null;
    },

    /** Any tenant's endpoint (the delivery worker). */
    async find(id: string): Promise<WebhookEndpoint | null> {
      const endpoint = await read(id);
      return endpoint ? view(endpoint) : null;
    },

    async list(tenant: string): Promise<WebhookEndpoint[]> {
      const ids = await redis.zrange(keys.byTenant(tenant), 0, -1);
      const endpoints = await Promise.all(ids.map(read));
      return endpoints.filter((e): e is StoredEndpoint => e !== null && e.tenant === tenant).map(view);
    },

    /** The tenant's endpoints that subscribe to `type`. */
    async subscribers(tenant: string, type: WebhookEventType): Promise<WebhookEndpoint[]> {
      return (await this.list(tenant)).filter((e) => e.events.includes(type));
    },

    /** Deletes a tenant's endpoint with its delivery records; false when it has none by that id. */
    async remove(tenant: string, id: string): Promise<boolean> {
      const endpoint = await read(id);
      if (!endpoint || endpoint.tenant !== tenant) return false;
      await redis.multi().del(keys.endpoint(id), keys.deliveries(id)).zrem(keys.byTenant(tenant), id).exec();
      return true;
    },

    /** The signing secret, registered with the log scrubber in this process too. */
    async secretOf(id: string): Promise<string | null> {
      const secret = await redis.hget(keys.endpoint(id), 'secret');
      if (secret) registerSecret(secret);
      return secret;
    },

    async recordAttempt(id: string, delivery: WebhookDelivery): Promise<void> {
      // Only while the endpoint exists: a delivery racing a DELETE must not leave records behind.
      if ((await redis.exists(keys.endpoint(id))) === 0) return;
      await redis
        .multi()
        .lpush(keys.deliveries(id), JSON.stringify(delivery))
        .ltrim(keys.deliveries(id), 0, MAX_DELIVERY_RECORDS - 1)
        .exec();
    },

    async deliveries(id: string): Promise<WebhookDelivery[]> {
      const raw = await redis.lrange(keys.deliveries(id), 0, MAX_DELIVERY_RECORDS - 1);
      return raw.map((line) => JSON.parse(line) as WebhookDelivery);
    },

    /** Keeps an event's body the first time it is dispatched (a redelivered outbox entry keeps the first). */
    async saveEvent(eventId: string, body: string, ttlSeconds: number): Promise<string> {
      await redis.set(keys.event(eventId), body, 'EX', ttlSeconds, 'NX');
      return (await redis.get(keys.event(eventId))) ?? body;
    },

    async loadEvent(eventId: string): Promise<string | null> {
      return redis.get(keys.event(eventId));
    },
  };
}
