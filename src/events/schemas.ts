import { Type, type Static } from 'typebox';
import { NextCursor } from '../pagination.js';
import { eventTypes } from './envelope.js';

export const webhookUrlLengthMax = 2_000;

const EventTypeOrAll = Type.Union([...eventTypes.map((type) => Type.Literal(type)), Type.Literal('*')]);

/** A list of event types, or `["*"]` for all of them (checked in the service: `*` stands alone). */
const EventTypes = Type.Array(EventTypeOrAll, { minItems: 1, maxItems: eventTypes.length, uniqueItems: true });

export const CreateWebhook = Type.Object(
  { url: Type.String({ minLength: 1, maxLength: webhookUrlLengthMax }), eventTypes: EventTypes },
  { additionalProperties: false },
);
export type CreateWebhook = Static<typeof CreateWebhook>;

export const PatchWebhook = Type.Object(
  { enabled: Type.Optional(Type.Boolean()), eventTypes: Type.Optional(EventTypes) },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchWebhook = Static<typeof PatchWebhook>;

export const Webhook = Type.Object({
  id: Type.Integer(),
  url: Type.String(),
  eventTypes: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  /** `CONSECUTIVE_FAILURES` when the circuit breaker disabled it. */
  disabledReason: Type.Union([Type.String(), Type.Null()]),
  consecutiveFailures: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
});
export type Webhook = Static<typeof Webhook>;

export const CreatedWebhook = Type.Object({ webhook: Type.Object({ ...Webhook.properties, secret: Type.String() }) });
export const WebhookBody = Type.Object({ webhook: Webhook });
export const WebhookList = Type.Object({ webhooks: Type.Array(Webhook), nextCursor: NextCursor });

export const DeliveryState = Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]);

export const Delivery = Type.Object({
  id: Type.Integer(),
  eventId: Type.String(),
  eventType: Type.String(),
  subject: Type.String(),
  state: DeliveryState,
  attempts: Type.Integer(),
  /** The HTTP status of the last attempt; null when it got no answer (or none was made yet). */
  lastStatus: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  /** Null once delivered or failed. */
  nextAttemptAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  deliveredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});
export type Delivery = Static<typeof Delivery>;

export const DeliveryBody = Type.Object({ delivery: Delivery });
export const DeliveryList = Type.Object({ deliveries: Type.Array(Delivery), nextCursor: NextCursor });

export const DeliveryParams = Type.Object(
  {
    id: Type.String({ pattern: '^[1-9][0-9]{0,14}$', description: 'the webhook id' }),
    deliveryId: Type.String({ pattern: '^[1-9][0-9]{0,14}$', description: 'the delivery id' }),
  },
  { additionalProperties: false },
);
