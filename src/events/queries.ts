/**
 * SQL of the outbox relay and of webhook delivery. Every function is one
 * statement, except `claimEvents`, which runs inside the relay's short
 * transaction; none is ever called with a transaction held across a publish
 * or an HTTP call.
 */
import type { Database, Queryable, Tx } from '../db.js';
import type { EventType, OutboxRow } from './envelope.js';

/**
 * The order events of orders just moved (`enqueue_order_events`,
 * migrations/010_outbox.sql), in the transaction that moved them.
 */
export async function enqueueOrderEvents(tx: Tx, orderIds: readonly string[]): Promise<void> {
  await tx.query('SELECT enqueue_order_events($1::uuid[])', [orderIds]);
}

// Any constant works; it only has to be the same for every instance.
const relayLockId = 7_310_442_014;

/**
 * The outbox and the deliveries grow by thousands of rows and shrink again
 * between two analyses, or with none at all (autovacuum off, PGlite): a plan
 * made from statistics taken while they were empty sorts or scans the whole
 * table on every call. So their statements run with sequential scans and
 * sorts switched off for the transaction, and walk their indexes. The
 * penalty cost that switches them off would cross `jit_above_cost` and make
 * every claim compile itself first (measured: 184 ms of JIT for a 2 ms
 * claim), so JIT is switched off with them.
 */
const indexPlans = [
  `set_config('enable_seqscan', 'off', true)`,
  `set_config('enable_sort', 'off', true)`,
  `set_config('jit', 'off', true)`,
].join(', ');

/** One statement in a transaction of its own, planned under `indexPlans`. */
async function queryByIndex<R extends object>(db: Database, text: string, params: readonly unknown[]): Promise<R[]> {
  return db.transaction(async (tx) => {
    await tx.query(`SELECT ${indexPlans}`);
    return tx.query<R>(text, params);
  });
}

const pickUnrelayed = `
  SELECT o.sequence FROM outbox o
   WHERE o.relayed_at IS NULL AND (o.claimed_until IS NULL OR o.claimed_until < now())
   ORDER BY o.sequence LIMIT $1
   FOR UPDATE SKIP LOCKED`;

// One delivery per enabled endpoint that wants the type, in the statement
// that claims the event; a second claim of the same event (its lease ran out
// before it was published) adds none.
const fanOut = `
  INSERT INTO webhook_deliveries (webhook_id, event_sequence, subject)
  SELECT w.id, c.sequence, c.subject
    FROM claimed c JOIN webhooks w ON w.enabled AND (w.event_types = '{*}' OR c.type = ANY (w.event_types))
   ORDER BY c.sequence, w.id
  ON CONFLICT (event_sequence, webhook_id) DO NOTHING
  RETURNING 1`;

const claimForPublishSql = `
WITH picked AS (${pickUnrelayed}
), claimed AS (
  UPDATE outbox o SET claimed_until = now() + $2 * interval '1 millisecond'
    FROM picked p WHERE o.sequence = p.sequence
  RETURNING o.sequence, o.id, o.type, o.subject, o.data::text AS data, o.created_at
), fanned AS (${fanOut}
)
SELECT c.*, (SELECT count(*) FROM fanned)::int AS fanned FROM claimed c ORDER BY c.sequence`;

const relayWithoutBrokerSql = `
WITH picked AS (${pickUnrelayed}
), claimed AS (
  UPDATE outbox o SET relayed_at = now(), claimed_until = NULL
    FROM picked p WHERE o.sequence = p.sequence
  RETURNING o.sequence, o.type, o.subject, o.created_at
), fanned AS (${fanOut}
)
SELECT (SELECT count(*) FROM claimed)::int AS claimed, (SELECT count(*) FROM fanned)::int AS fanned,
       (SELECT array_agg(created_at) FROM claimed) AS created_ats`;

/**
 * `events` is empty when they were relayed at once (no broker); `claimed`
 * counts them either way, and `relayedTimes` holds their times when they were.
 */
export type ClaimedEvents = { claimed: number; events: OutboxRow[]; fanned: number; relayedTimes: Array<Date | string> };

/**
 * Claims up to `limit` unrelayed events in `sequence` order and creates their
 * webhook deliveries. With `leaseMs` the events are leased for publishing
 * (`markRelayed` ends the lease); without, there is nothing to publish and
 * they are relayed at once. Relays of every instance take turns here, so
 * deliveries of one subject are created in `sequence` order.
 */
export async function claimEvents(tx: Tx, limit: number, leaseMs: number | undefined): Promise<ClaimedEvents> {
  await tx.query(`SELECT pg_advisory_xact_lock($1), ${indexPlans}`, [relayLockId]);
  if (leaseMs === undefined) {
    const [row] = await tx.query<{ claimed: number; fanned: number; created_ats: Array<Date | string> | null }>(relayWithoutBrokerSql, [limit]);
    return { claimed: row!.claimed, events: [], fanned: row!.fanned, relayedTimes: row!.created_ats ?? [] };
  }
  const rows = await tx.query<OutboxRow & { fanned: number }>(claimForPublishSql, [limit, leaseMs]);
  return { claimed: rows.length, events: rows, fanned: rows[0]?.fanned ?? 0, relayedTimes: [] };
}

export async function markRelayed(db: Database, sequences: readonly number[]): Promise<void> {
  if (sequences.length === 0) return;
  await queryByIndex(db, `UPDATE outbox SET relayed_at = now(), claimed_until = NULL WHERE sequence = ANY ($1::bigint[]) AND relayed_at IS NULL`, [sequences]);
}

/** Gives back the lease of events that could not be published, so that the next claim takes them first. */
export async function releaseClaims(db: Database, sequences: readonly number[]): Promise<void> {
  if (sequences.length === 0) return;
  await queryByIndex(db, `UPDATE outbox SET claimed_until = NULL WHERE sequence = ANY ($1::bigint[]) AND relayed_at IS NULL`, [sequences]);
}

/**
 * Deletes up to `limit` events relayed more than `retentionMs` ago whose
 * deliveries are all finished for as long (or belong to an endpoint disabled
 * for as long); their deliveries go with them. Returns how many went.
 */
export async function purgeOutbox(db: Database, retentionMs: number, limit: number): Promise<number> {
  const rows = await queryByIndex(
    db,
    `DELETE FROM outbox WHERE sequence IN (
       SELECT o.sequence FROM outbox o
        WHERE o.relayed_at < now() - $1 * interval '1 millisecond'
          AND NOT EXISTS (
            SELECT 1 FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.event_sequence = o.sequence
               AND (d.finished_at IS NULL OR d.finished_at >= now() - $1 * interval '1 millisecond')
               AND (w.enabled OR w.disabled_at IS NULL OR w.disabled_at >= now() - $1 * interval '1 millisecond'))
        ORDER BY o.relayed_at LIMIT $2)
     RETURNING 1`,
    [retentionMs, limit],
  );
  return rows.length;
}

/**
 * Makes the space of dead outbox and delivery rows reusable (VACUUM runs
 * outside a transaction). Returns the outbox's rows as the vacuum counted them.
 */
export async function vacuumOutbox(db: Database): Promise<number> {
  await db.query('VACUUM outbox, webhook_deliveries');
  const [row] = await db.query<{ rows: number }>(`SELECT greatest(reltuples, 0)::float8 AS rows FROM pg_class WHERE oid = 'outbox'::regclass`);
  return row?.rows ?? 0;
}

export type DueDelivery = {
  id: number;
  attempts: number;
  webhook_id: number;
  url: string;
  secret: string;
  sequence: number;
  event_id: string;
  type: EventType;
  subject: string;
  /** The stored json's text. */
  data: string;
  created_at: Date | string;
};

/**
 * Leases up to `limit` deliveries that are due, of enabled endpoints, each
 * the earliest pending one of its subject for its endpoint, and counts the
 * attempt. A lease that runs out (the instance died mid-attempt) makes the
 * delivery due again for any instance.
 */
export async function claimDueDeliveries(db: Database, limit: number, leaseMs: number): Promise<DueDelivery[]> {
  return queryByIndex<DueDelivery>(
    db,
    `WITH due AS (
       SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled
        WHERE d.state = 'pending' AND d.next_attempt_at <= now()
          AND (d.locked_until IS NULL OR d.locked_until < now())
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                           WHERE e.webhook_id = d.webhook_id AND e.subject = d.subject AND e.state = 'pending'
                             AND e.event_sequence < d.event_sequence)
        ORDER BY d.next_attempt_at, d.id LIMIT $1
        FOR UPDATE OF d SKIP LOCKED
     )
     UPDATE webhook_deliveries d SET locked_until = now() + $2 * interval '1 millisecond', attempts = d.attempts + 1
       FROM due, webhooks w, outbox o
      WHERE d.id = due.id AND w.id = d.webhook_id AND o.sequence = d.event_sequence
     RETURNING d.id, d.attempts, w.id AS webhook_id, w.url, w.secret, o.sequence, o.id AS event_id, o.type, o.subject, o.data::text AS data, o.created_at`,
    [limit, leaseMs],
  );
}

export async function recordDelivered(db: Queryable, deliveryId: number, status: number): Promise<void> {
  await db.query(
    `WITH d AS (
       UPDATE webhook_deliveries SET state = 'delivered', last_status = $2, last_error = NULL, delivered_at = now(),
                                     finished_at = now(), locked_until = NULL
        WHERE id = $1 AND state = 'pending' RETURNING webhook_id)
     UPDATE webhooks w SET consecutive_failures = 0 FROM d WHERE w.id = d.webhook_id AND w.consecutive_failures <> 0`,
    [deliveryId, status],
  );
}

export async function recordRetry(db: Queryable, deliveryId: number, status: number | null, error: string, delayMs: number): Promise<void> {
  await db.query(
    `UPDATE webhook_deliveries SET last_status = $2, last_error = $3, locked_until = NULL,
                                   next_attempt_at = now() + $4 * interval '1 millisecond'
      WHERE id = $1 AND state = 'pending'`,
    [deliveryId, status, error, delayMs],
  );
}

/**
 * The delivery failed its last attempt. Its endpoint counts one more failed
 * delivery in a row, and is disabled (the circuit breaker) at `disableAfter`.
 */
export async function recordFailed(db: Queryable, deliveryId: number, status: number | null, error: string, disableAfter: number): Promise<void> {
  await db.query(
    `WITH d AS (
       UPDATE webhook_deliveries SET state = 'failed', last_status = $2, last_error = $3, finished_at = now(), locked_until = NULL
        WHERE id = $1 AND state = 'pending' RETURNING webhook_id)
     UPDATE webhooks w SET consecutive_failures = w.consecutive_failures + 1,
                           enabled = w.enabled AND w.consecutive_failures + 1 < $4,
                           disabled_reason = CASE WHEN w.enabled AND w.consecutive_failures + 1 >= $4
                                                  THEN 'CONSECUTIVE_FAILURES' ELSE w.disabled_reason END,
                           disabled_at = CASE WHEN w.enabled AND w.consecutive_failures + 1 >= $4
                                              THEN now() ELSE w.disabled_at END
       FROM d WHERE w.id = d.webhook_id`,
    [deliveryId, status, error, disableAfter],
  );
}

/**
 * Unrelayed events counted for the metrics at most: a broker away for hours
 * leaves a backlog whose full count would cost every scrape more the longer
 * the outage lasts.
 */
export const unrelayedCountMax = 1_000_000;

/** What the metrics read from the database: events not yet relayed (up to `unrelayedCountMax`), and endpoints the breaker stopped. */
export async function eventsBacklog(db: Queryable): Promise<{ unrelayed: number; stopped: number }> {
  const [row] = await db.query<{ unrelayed: number; stopped: number }>(
    `SELECT (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE relayed_at IS NULL LIMIT $1) u)::int AS unrelayed,
            (SELECT count(*) FROM webhooks WHERE NOT enabled AND disabled_reason = 'CONSECUTIVE_FAILURES')::int AS stopped`,
    [unrelayedCountMax],
  );
  return row!;
}
