/**
 * /v1/webhooks: a tenant's webhook endpoints (issue 14). Every route is scoped to the caller's
 * tenant, admins included: an endpoint receives its own tenant's jobs only, and another tenant's
 * endpoint id answers 404 exactly like a missing one. The secret is in POST's answer only.
 */
import { Router, type Response } from 'express';
import { webhookCreateSchema } from '@inno-train/schemas';
import {
  checkWebhookUrl,
  subscribedTypes,
  WebhookLimitError,
  WebhookUrlError,
  type UrlGuardOptions,
  type WebhookEndpoint,
  type WebhookStore,
} from '@inno-train/webhooks';
import { callerOf } from './auth';
import { HttpError } from './http-error';
import { validationDetails } from './submit';

export interface WebhookApi {
  store: WebhookStore;
  /** The registration-time SSRF check (WEBHOOK_ALLOW_HTTP, WEBHOOK_ALLOW_PRIVATE_NETWORKS). */
  guard: UrlGuardOptions;
}

export interface WebhookRouteDeps {
  webhooks?: WebhookApi;
}

const view = ({ id, url, events, createdAt }: WebhookEndpoint) => ({ id, url, events, createdAt });

export function webhookRoutes(deps: WebhookRouteDeps): Router {
  const router = Router({ caseSensitive: true });
  if (!deps.webhooks) return router;
  const { store, guard } = deps.webhooks;

  async function owned(res: Response, id: string): Promise<WebhookEndpoint> {
    const endpoint = await store.get(callerOf(res).name, id);
    if (!endpoint) throw new HttpError(404, 'webhook_not_found', `Webhook ${JSON.stringify(id.slice(0, 64))} does not exist`);
    return endpoint;
  }

  router.post('/webhooks', async (req, res) => {
    const body = webhookCreateSchema.safeParse(req.body);
    if (!body.success) throw new HttpError(400, 'invalid_request', 'Invalid webhook', validationDetails(body.error));
    let url: string;
    try {
      url = (await checkWebhookUrl(body.data.url, guard)).url.href;
    } catch (err) {
      if (!(err instanceof WebhookUrlError)) throw err;
      throw new HttpError(400, 'invalid_request', 'Invalid webhook URL', [{ path: 'url', message: err.message }]);
    }
    try {
      const created = await store.create(callerOf(res).name, url, subscribedTypes(body.data.events));
      res.set('Location', `/v1/webhooks/${created.id}`);
      res.status(201).json({ ...view(created), secret: created.secret });
    } catch (err) {
      if (err instanceof WebhookLimitError) throw new HttpError(400, 'invalid_request', err.message);
      throw err;
    }
  });

  router.get('/webhooks', async (_req, res) => {
    res.json({ data: (await store.list(callerOf(res).name)).map(view) });
  });

  router.delete('/webhooks/:id', async (req, res) => {
    const endpoint = await owned(res, req.params.id as string);
    await store.remove(callerOf(res).name, endpoint.id);
    res.status(204).end();
  });

  router.get('/webhooks/:id/deliveries', async (req, res) => {
    const endpoint = await owned(res, req.params.id as string);
    res.json({ data: await store.deliveries(endpoint.id) });
  });

  return router;
}
