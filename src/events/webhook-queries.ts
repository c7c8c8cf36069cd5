/** SQL of the webhook admin API (src/events/routes.ts). */
import type { Queryable } from '../db.js';
import { toIso } from '../time.js';
import type { Delivery, Webhook } from './schemas.js';

type WebhookRow = {
  id: number;
  url: string;
  event_types: string[];
  secret: string;
  enabled: boolean;
  disabled_reason: string | null;
  consecutive_failures: number;
  created_at: Date | string;
};

const webhookColumns = 'id, url, event_types, secret, enabled, disabled_reason, consecutive_failures, created_at';

/** The API shape; the secret is shown once, when the endpoint is created. */
export function rowToWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    url: row.url,
    eventTypes: row.event_types,
    enabled: row.enabled,
    disabledReason: row.disabled_reason,
    consecutiveFailures: row.consecutive_failures,
    createdAt: toIso(row.created_at),
  };
}

export async function insertWebhook(db: Queryable, url: string, eventTypes: readonly string[], secret: string): Promise<Webhook & { secret: string }> {
  const [row] = await db.query<WebhookRow>(
    `INSERT INTO webhooks (url, event_types, secret) VALUES ($1, $2::text[], $3) RETURNING ${webhookColumns}`,
    [url, eventTypes, secret],
  );
  return { ...rowToWebhook(row!), secret: row!.secret };
}

export async function countWebhooks(db: Queryable): Promise<number> {
  const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhooks');
  return row!.n;
}

export async function listWebhooks(db: Queryable, afterId: number, limit: number): Promise<Webhook[]> {
  const rows = await db.query<WebhookRow>(`SELECT ${webhookColumns} FROM webhooks WHERE id > $1 ORDER BY id LIMIT $2`, [afterId, limit]);
  return rows.map(rowToWebhook);
}

export async function findWebhook(db: Queryable, id: number): Promise<Webhook | undefined> {
  const [row] = await db.query<WebhookRow>(`SELECT ${webhookColumns} FROM webhooks WHERE id = $1`, [id]);
  return row === undefined ? undefined : rowToWebhook(row);
}

/** Enabling an endpoint closes its circuit breaker: the count of failures in a row starts again. */
export async function updateWebhook(
  db: Queryable,
  id: number,
  patch: { enabled?: boolean | undefined; eventTypes?: readonly string[] | undefined },
): Promise<Webhook | undefined> {
  const [row] = await db.query<WebhookRow>(
    `UPDATE webhooks SET
       event_types = COALESCE($2::text[], event_types),
       enabled = COALESCE($3, enabled),
       consecutive_failures = CASE WHEN $3 THEN 0 ELSE consecutive_failures END,
       disabled_reason = CASE WHEN $3 THEN NULL ELSE disabled_reason END,
       disabled_at = CASE WHEN $3 THEN NULL WHEN $3 = false AND enabled THEN now() ELSE disabled_at END
     WHERE id = $1 RETURNING ${webhookColumns}`,
    [id, patch.eventTypes ?? null, patch.enabled ?? null],
  );
  return row === undefined ? undefined : rowToWebhook(row);
}

export async function deleteWebhook(db: Queryable, id: number): Promise<boolean> {
  const rows = await db.query('DELETE FROM webhooks WHERE id = $1 RETURNING id', [id]);
  return rows.length === 1;
}

type DeliveryRow = {
  id: number;
  event_id: string;
  type: string;
  subject: string;
  state: Delivery['state'];
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: Date | string;
  delivered_at: Date | string | null;
  created_at: Date | string;
};

const deliveryColumns = `d.id, o.id AS event_id, o.type, d.subject, d.state, d.attempts, d.last_status, d.last_error,
  d.next_attempt_at, d.delivered_at, d.created_at`;

function rowToDelivery(row: DeliveryRow): Delivery {
  return {
    id: row.id,
    eventId: row.event_id,
    eventType: row.type,
    subject: row.subject,
    state: row.state,
    attempts: row.attempts,
    lastStatus: row.last_status,
    lastError: row.last_error,
    nextAttemptAt: row.state === 'pending' ? toIso(row.next_attempt_at) : null,
    deliveredAt: row.delivered_at === null ? null : toIso(row.delivered_at),
    createdAt: toIso(row.created_at),
  };
}

/** The endpoint's deliveries, newest first, with ids below `beforeId`. */
export async function listDeliveries(db: Queryable, webhookId: number, beforeId: number, limit: number): Promise<Delivery[]> {
  const rows = await db.query<DeliveryRow>(
    `SELECT ${deliveryColumns} FROM webhook_deliveries d JOIN outbox o ON o.sequence = d.event_sequence
      WHERE d.webhook_id = $1 AND d.id < $2 ORDER BY d.id DESC LIMIT $3`,
    [webhookId, beforeId, limit],
  );
  return rows.map(rowToDelivery);
}

/**
 * Queues the delivery again, due now, with a fresh series of attempts
 * (a delivered one is sent once more). Undefined when it is not the endpoint's.
 */
export async function requeueDelivery(db: Queryable, webhookId: number, deliveryId: number): Promise<Delivery | undefined> {
  const [row] = await db.query<DeliveryRow>(
    `WITH d AS (
       UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now(), locked_until = NULL,
                                     finished_at = NULL
        WHERE id = $2 AND webhook_id = $1
        RETURNING *)
     SELECT ${deliveryColumns} FROM d JOIN outbox o ON o.sequence = d.event_sequence`,
    [webhookId, deliveryId],
  );
  return row === undefined ? undefined : rowToDelivery(row);
}
