/** The client's calls for /v1/webhooks (createClient's `webhooks`). */
import { webhookCreatedSchema, webhookDeliveryListSchema, webhookListSchema } from '@inno-train/schemas';
import { send, type Call, type TransportConfig } from './transport';
import type { CallOptions, CreatedWebhook, CreateWebhookBody, ResponseSchema, WebhookDeliveryList, WebhookList } from './types';

export interface WebhooksApi {
  /**
   * POST /v1/webhooks: registers an https endpoint for the tenant's job events (`events` unset: all).
   * The answer holds the signing `secret`, shown this once: store it, never log it. The API takes no
   * Idempotency-Key here, so the call is tried again only on 429 and 503 (refused before any work);
   * after a lost answer or another 5xx it throws, and `list()` tells whether the endpoint was made.
   */
  create(body: CreateWebhookBody, options?: CallOptions): Promise<CreatedWebhook>;
  /** The tenant's endpoints, oldest first: `{data: [{id, url, events, createdAt}]}` (never a secret). */
  list(options?: CallOptions): Promise<WebhookList>;
  /** Deletes the endpoint (pending deliveries are dropped); another tenant's or a missing one: 404 `webhook_not_found`. */
  delete(id: string, options?: CallOptions): Promise<void>;
  /** The endpoint's latest delivery attempts, newest first (up to 100): `{data: [...]}`. */
  deliveries(id: string, options?: CallOptions): Promise<WebhookDeliveryList>;
}

const webhookPath = (id: string, tail = '') => `/v1/webhooks/${encodeURIComponent(id)}${tail}`;

/** A POST the API cannot deduplicate is tried again only when the answer says nothing was done. */
const refusedBeforeWork = (failure: { status: number | null }) => failure.status === 429 || failure.status === 503;

/** The webhook calls over the client's transport; `json` is the client's checked JSON call. */
export function webhooksApi(config: TransportConfig, json: <T>(call: Call, schema: ResponseSchema) => Promise<T>): WebhooksApi {
  return {
    create: (body, call = {}) =>
      json<CreatedWebhook>(
        { method: 'POST', path: '/v1/webhooks', body, signal: call.signal, retryOn: refusedBeforeWork },
        webhookCreatedSchema,
      ),
    list: (call = {}) => json<WebhookList>({ method: 'GET', path: '/v1/webhooks', signal: call.signal }, webhookListSchema),
    async delete(id, call = {}) {
      // As jobs.delete: a 404 to a retry after a lost answer means the lost try deleted it.
      await send(config, { method: 'DELETE', path: webhookPath(id), signal: call.signal, doneAfterLostAnswer: 404 });
    },
    deliveries: (id, call = {}) =>
      json<WebhookDeliveryList>({ method: 'GET', path: webhookPath(id, '/deliveries'), signal: call.signal }, webhookDeliveryListSchema),
  };
}
