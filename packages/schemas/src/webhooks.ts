/**
 * Webhooks (issue 14): what a client registers, what the API shows of an endpoint and of its
 * delivery attempts. The signing secret appears in one answer only, the one that made it.
 */
import { z } from 'zod';

/** The events an endpoint can subscribe to; with none named, it gets all of them. */
export const WEBHOOK_EVENT_TYPES = ['job.status_changed', 'job.succeeded', 'job.failed', 'job.cancelled', 'job.settled'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Longest URL an endpoint may have. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

const webhookId = z
  .string()
  .regex(/^wh_[0-9a-z]{24}$/)
  .describe('the endpoint id');
const time = z.string().describe('ISO 8601 time');

/** POST /v1/webhooks's body. */
export const webhookCreateSchema = z.strictObject({
  url: z
    .string()
    .min(1)
    .max(MAX_WEBHOOK_URL_LENGTH)
    .describe('https URL the events are POSTed to; it may not resolve to a loopback, private, link-local or metadata address'),
  events: z
    .array(z.enum(WEBHOOK_EVENT_TYPES))
    .min(1)
    .max(WEBHOOK_EVENT_TYPES.length)
    .optional()
    .describe('the event types to receive (default: all)'),
});
export type WebhookCreate = z.infer<typeof webhookCreateSchema>;

/** An endpoint as lists show it: never its secret. */
export const webhookSchema = z.object({
  id: webhookId,
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
  createdAt: time,
});
export type WebhookView = z.infer<typeof webhookSchema>;

/** The answer to POST /v1/webhooks: the endpoint and, this once, its signing secret. */
export const webhookCreatedSchema = webhookSchema.extend({
  secret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]{32,44}={0,2}$/)
    .describe('the Standard Webhooks signing secret (whsec_ + base64 of 32 random bytes); shown only in this answer'),
});

export const webhookListSchema = z.object({ data: z.array(webhookSchema) });

/** One delivery attempt of one event to one endpoint. */
export const webhookDeliverySchema = z.object({
  eventId: z.string().describe('the webhook-id header: the same for every attempt of one event'),
  type: z.enum(WEBHOOK_EVENT_TYPES),
  jobId: z.string(),
  attempt: z.number().int().min(1),
  statusCode: z.number().int().nullable().describe("the receiver's HTTP status, or null when no answer came"),
  error: z.string().nullable().describe('why the attempt failed (null when it succeeded)'),
  at: time,
  nextAttemptAt: time.nullable().describe('when the next attempt is due (null: delivered, or no attempts left)'),
});
export type WebhookDelivery = z.infer<typeof webhookDeliverySchema>;

/** The latest attempts first (up to 100 per endpoint are kept). */
export const webhookDeliveryListSchema = z.object({ data: z.array(webhookDeliverySchema) });
