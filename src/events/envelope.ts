/**
 * The event envelope: CloudEvents 1.0 in structured JSON mode. The same bytes
 * go to JetStream and to every webhook, so a consumer of either reads one
 * shape and dedupes on `id`. `data` is spliced in as the outbox stored it
 * (json text, written by the database), never parsed and written again.
 */
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

/**
 * An outbox row as the relay reads it: `data` is the stored json's text,
 * `time` its `created_at` in the form of `eventTime` (written by the
 * database, which saves the service parsing and printing a date per event).
 */
export type OutboxRow = {
  sequence: number;
  id: string;
  type: EventType;
  subject: string;
  data: string;
  time: string;
};

/** SQL: `created_at` of table alias `o` as the event's `time`: ISO 8601 in UTC, to the millisecond, as toISOString writes it. */
export const eventTime = `to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** An event as it is sent: its id and type, and its CloudEvent as JSON. */
export type EventMessage = Readonly<{ id: string; type: EventType; json: string }>;

const sourceJson = JSON.stringify(eventSource);

/**
 * The envelope is written field by field rather than by JSON.stringify of an
 * object: every field but `subject` is known to need no escaping (a uuid, a
 * type of `eventTypes`, digits, the time above), and this runs once per
 * event relayed. The keys are in the order of `CloudEvent`.
 */
export function toEventMessage(row: OutboxRow): EventMessage {
  const json = `{"specversion":"1.0","id":"${row.id}","source":${sourceJson},"type":"${row.type}","subject":${JSON.stringify(row.subject)},"time":"${row.time}","datacontenttype":"application/json","sequence":"${row.sequence}","data":${row.data}}`;
  return { id: row.id, type: row.type, json };
}

/** The JetStream subject of an event type. */
export function natsSubject(type: EventType): string {
  return `shop.${type}`;
}
