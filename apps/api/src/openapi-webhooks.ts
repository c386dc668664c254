/** The /v1/webhooks paths of the OpenAPI document (issue 14). */
import {
  BODY_ERRORS,
  errorResponse,
  errors,
  json,
  RATE_LIMIT_HEADERS,
  schemaRef,
  success,
  type OpenApiParameter,
  type OpenApiPathItem,
} from './openapi-parts';

const WEBHOOK_ID_PARAMETER: OpenApiParameter = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'a webhook id; one that is malformed, unknown or of another tenant answers 404',
  schema: { type: 'string', maxLength: 256 },
};

const notFound = errorResponse("No such webhook (another tenant's answers the same)", ['webhook_not_found'], RATE_LIMIT_HEADERS);

export function webhookPaths(): Record<string, OpenApiPathItem> {
  return {
    '/v1/webhooks': {
      post: {
        operationId: 'createWebhook',
        summary: 'Register a webhook endpoint',
        description:
          "The endpoint receives the key's tenant's job events (all types unless `events` names some), POSTed as " +
          '`{type, timestamp, data: {job}}` and signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, ' +
          '`webhook-signature`). A delivery succeeds on a 2xx within 10 s; otherwise it is retried for more than 24 hours. ' +
          'The URL must be https and may not resolve to a loopback, private, link-local, CGNAT, multicast or metadata ' +
          'address (400 naming `url`). The answer holds the signing secret, shown this once.',
        tags: ['webhooks'],
        requestBody: { required: true, content: json(schemaRef('WebhookCreate')) },
        responses: {
          '201': success('Registered', json(schemaRef('WebhookCreated')), {
            Location: { description: "the webhook's URL", required: true, schema: { type: 'string' } },
          }),
          ...errors([...BODY_ERRORS]),
        },
      },
      get: {
        operationId: 'listWebhooks',
        summary: "The key's tenant's webhook endpoints (never their secrets)",
        tags: ['webhooks'],
        responses: { '200': success('The endpoints, oldest first', json(schemaRef('WebhookList'))), ...errors([]) },
      },
    },
    '/v1/webhooks/{id}': {
      delete: {
        operationId: 'deleteWebhook',
        summary: 'Delete a webhook endpoint (pending deliveries to it are dropped)',
        tags: ['webhooks'],
        parameters: [WEBHOOK_ID_PARAMETER],
        responses: { '204': success('Deleted'), ...errors([]), '404': notFound },
      },
    },
    '/v1/webhooks/{id}/deliveries': {
      get: {
        operationId: 'listWebhookDeliveries',
        summary: "An endpoint's latest delivery attempts, newest first (up to 100)",
        tags: ['webhooks'],
        parameters: [WEBHOOK_ID_PARAMETER],
        responses: { '200': success('The attempts', json(schemaRef('WebhookDeliveryList'))), ...errors([]), '404': notFound },
      },
    },
  };
}
