/**
 * The event envelope: CloudEvents 1.0 in structured JSON mode. The same bytes
 * go to JetStream and to every webhook, so a consumer of either reads one
 * shape and dedupes on `id`.
 */
import { toIso } from '../time.js';

export const eventTypes = ['order.paid', 'order.failed', 'order.canceled', 'points.charged', 'coupon.issued'] as const;
export type EventType = (typeof eventTypes)[number];

/** The CloudEvents `source` of every event this service emits. */
export const eventSource = '/commerce-order-service';

export type CloudEvent = Readonly<{
  specversion: '1.0';
  id: string;
  source: string;
  type: EventType;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  /** Decimal: increases, per subject, in the order the changes committed. */
  sequence: string;
  data: unknown;
}>;

/** An outbox row as the relay reads it. */
export type OutboxRow = {
  sequence: number;
  id: string;
  type: EventType;
  subject: string;
  data: unknown;
  created_at: Date | string;
};

export function toCloudEvent(row: OutboxRow): CloudEvent {
  return {
    specversion: '1.0',
    id: row.id,
    source: eventSource,
    type: row.type,
    subject: row.subject,
    time: toIso(row.created_at),
    datacontenttype: 'application/json',
    sequence: String(row.sequence),
    data: row.data,
  };
}

/** The JetStream subject of an event type. */
export function natsSubject(type: EventType): string {
  return `shop.${type}`;
}
