/**
 * The event envelope: CloudEvents 1.0 in structured JSON mode. The same bytes
 * go to JetStream and to every webhook, so a consumer of either reads one
 * shape and dedupes on `id`. `data` is spliced in as the outbox stored it
 * (json text, written by the database), never parsed and written again.
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

/** An outbox row as the relay reads it; `data` is the stored json's text. */
export type OutboxRow = {
  sequence: number;
  id: string;
  type: EventType;
  subject: string;
  data: string;
  created_at: Date | string;
};

/** An event as it is sent: its id and type, and its CloudEvent as JSON. */
export type EventMessage = Readonly<{ id: string; type: EventType; json: string }>;

export function toEventMessage(row: OutboxRow): EventMessage {
  const envelope: Omit<CloudEvent, 'data'> = {
    specversion: '1.0',
    id: row.id,
    source: eventSource,
    type: row.type,
    subject: row.subject,
    time: toIso(row.created_at),
    datacontenttype: 'application/json',
    sequence: String(row.sequence),
  };
  const head = JSON.stringify(envelope);
  return { id: row.id, type: row.type, json: `${head.slice(0, -1)},"data":${row.data}}` };
}

/** The JetStream subject of an event type. */
export function natsSubject(type: EventType): string {
  return `shop.${type}`;
}
