/**
 * SQL of the outbox relay and of webhook delivery. Every function is one
 * statement, except `claimEvents`, which runs inside the relay's short
 * transaction; none is ever called with a transaction held across a publish
 * or an HTTP call.
 */
import type { Database, Queryable, Tx } from '../db.js';
import { eventTime, type EventType, type OutboxRow } from './envelope.js';

/**
 * The order events of orders just moved (`enqueue_order_events`,
 * migrations/010_outbox.sql), in the transaction that moved them.
 */
export async function enqueueOrderEvents(tx: Tx, orderIds: readonly string[]): Promise<void> {
  await tx.query('SELECT enqueue_order_events($1::uuid[])', [orderIds]);
}

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

/**
 * The relay's position (migrations/016_relay_position.sql), locked for this
 * transaction; none when another relay holds the lock, or holds a lease on a
 * batch it is publishing (other than `ownLease`) that has not run out.
 */
const lockPosition = `
  SELECT r.relayed::text, r.tick::text, r.tick_after FROM outbox_relay r
   WHERE r.lease_token IS NULL OR r.lease_token = $1 OR r.leased_until <= now()
     FOR UPDATE SKIP LOCKED`;

type Position = { relayed: string; tick: string | null; tick_after: number };

/**
 * Starts a tick: a snapshot taken now, and the sequence just before its
 * first event (-1 when it has none), found by xid: the transactions the
 * position saw running, and those that began after it.
 */
const startTick = `
  UPDATE outbox_relay SET tick = pg_current_snapshot(), tick_after = coalesce((
    SELECT min(o.sequence + 0) - 1 FROM outbox o
     WHERE (o.xid = ANY (ARRAY(SELECT pg_snapshot_xip($1::pg_snapshot))) OR o.xid >= pg_snapshot_xmax($1::pg_snapshot))
       AND pg_visible_in_snapshot(o.xid, pg_current_snapshot()) AND NOT pg_visible_in_snapshot(o.xid, $1::pg_snapshot)), -1)
  RETURNING tick::text, tick_after`;

const endEmptyTick = `UPDATE outbox_relay SET relayed = tick, tick = NULL, tick_after = 0`;

// The next events of the tick in `sequence` order, and one delivery per
// enabled endpoint that wants the type; a second claim of the same events
// (a lease that ran out before they were published) adds none.
const claimSql = `
WITH claimed AS (
  SELECT o.sequence, o.id, o.type, o.subject, o.data::text AS data, ${eventTime} AS time
    FROM outbox o
   WHERE o.sequence > $2 AND pg_visible_in_snapshot(o.xid, $3::pg_snapshot) AND NOT pg_visible_in_snapshot(o.xid, $4::pg_snapshot)
   ORDER BY o.sequence LIMIT $1
), fanned AS (
  INSERT INTO webhook_deliveries (webhook_id, event_sequence, subject)
  SELECT w.id, c.sequence, c.subject
    FROM claimed c JOIN webhooks w ON w.enabled AND (w.event_types = '{*}' OR c.type = ANY (w.event_types))
   ORDER BY c.sequence, w.id
  ON CONFLICT (event_sequence, webhook_id) DO NOTHING
  RETURNING 1
)
SELECT c.*, (SELECT count(*) FROM fanned)::int AS fanned FROM claimed c ORDER BY c.sequence`;

/**
 * Moves the position past a batch: to `upto` in the tick, or, when the batch
 * ended the tick, to the tick itself. Ends the lease `token`, if given, and
 * only while it is still this relay's.
 */
const advanceSql = `
  UPDATE outbox_relay SET
    relayed = CASE WHEN $2 THEN tick ELSE relayed END,
    tick = CASE WHEN $2 THEN NULL ELSE tick END,
    tick_after = CASE WHEN $2 THEN 0 ELSE $1 END,
    lease_token = NULL, leased_until = NULL
  WHERE $3::uuid IS NULL OR lease_token = $3`;

/** A batch leased for publishing: `token` ends the lease, with the batch's end. */
export type Lease = { token: string; upto: number; endsTick: boolean };

/**
 * `events` are the batch's events, in `sequence` order; `lease` is set when
 * they are to be published.
 */
export type ClaimedEvents = { events: OutboxRow[]; fanned: number; lease: Lease | undefined };

/**
 * Claims the next batch of up to `limit` events and creates their webhook
 * deliveries. With `lease` (a new token, and how long it lasts) the batch is
 * leased for publishing and `advance` ends the lease; without, there is
 * nothing to publish and the position moves past the batch at once. Relays
 * of every instance take turns here and publish one batch at a time, so
 * deliveries and messages of one subject go out in `sequence` order. Empty
 * when another relay is claiming or publishing, or nothing is waiting.
 */
export async function claimEvents(tx: Tx, limit: number, lease: { token: string; ms: number; ownToken: string | undefined } | undefined): Promise<ClaimedEvents> {
  const none: ClaimedEvents = { events: [], fanned: 0, lease: undefined };
  await tx.query(`SELECT ${indexPlans}`);
  const [position] = await tx.query<Position>(lockPosition, [lease?.ownToken ?? null]);
  if (position === undefined) return none;
  let { tick, tick_after: after } = position;
  if (tick === null) {
    const [started] = await tx.query<{ tick: string; tick_after: number }>(startTick, [position.relayed]);
    if (started!.tick_after < 0) {
      await tx.query(endEmptyTick);
      return none;
    }
    ({ tick, tick_after: after } = started!);
  }
  const rows = await tx.query<OutboxRow & { fanned: number }>(claimSql, [limit, after, tick, position.relayed]);
  const endsTick = rows.length < limit;
  const upto = rows.at(-1)?.sequence ?? 0;
  const fanned = rows[0]?.fanned ?? 0;
  if (lease === undefined || rows.length === 0) {
    await tx.query(advanceSql, [upto, endsTick, null]);
    return { events: rows, fanned, lease: undefined };
  }
  await tx.query(
    `UPDATE outbox_relay SET lease_token = $1, leased_until = now() + $2 * interval '1 millisecond'`,
    [lease.token, lease.ms],
  );
  return { events: rows, fanned, lease: { token: lease.token, upto, endsTick } };
}

/**
 * Ends `lease`: the position moves past the batch when `upto` is its end, to
 * `upto` when only the events up to it were published, and stays when
 * `upto` is undefined (none was). False when the lease was no longer this
 * relay's (it ran out and another relay took the batch).
 */
export async function advance(db: Database, lease: Lease, upto: number | undefined): Promise<boolean> {
  const rows = await db.query(
    upto === undefined
      ? `UPDATE outbox_relay SET lease_token = NULL, leased_until = NULL WHERE lease_token = $1 RETURNING 1`
      : `${advanceSql} RETURNING 1`,
    upto === undefined ? [lease.token] : [upto, lease.endsTick && upto === lease.upto, lease.token],
  );
  return rows.length > 0;
}

/**
 * Deletes up to `limit` relayed events written more than `retentionMs` ago
 * whose deliveries are all finished for as long (or belong to an endpoint
 * disabled for as long); their deliveries go with them. Returns how many went.
 */
export async function purgeOutbox(db: Database, retentionMs: number, limit: number): Promise<number> {
  const rows = await queryByIndex(
    db,
    `DELETE FROM outbox WHERE sequence IN (
       SELECT o.sequence FROM outbox_relay r JOIN outbox o ON pg_visible_in_snapshot(o.xid, r.relayed)
        WHERE o.created_at < now() - $1 * interval '1 millisecond'
          AND NOT EXISTS (
            SELECT 1 FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.event_sequence = o.sequence
               AND (d.finished_at IS NULL OR d.finished_at >= now() - $1 * interval '1 millisecond')
               AND (w.enabled OR w.disabled_at IS NULL OR w.disabled_at >= now() - $1 * interval '1 millisecond'))
        ORDER BY o.sequence LIMIT $2)
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
  await db.query('VACUUM outbox, outbox_relay, webhook_deliveries');
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
  time: string;
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
     RETURNING d.id, d.attempts, w.id AS webhook_id, w.url, w.secret, o.sequence, o.id AS event_id, o.type, o.subject, o.data::text AS data, ${eventTime} AS time`,
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
    `SELECT (SELECT count(*) FROM (SELECT 1 FROM outbox_unrelayed LIMIT $1) u)::int AS unrelayed,
            (SELECT count(*) FROM webhooks WHERE NOT enabled AND disabled_reason = 'CONSECUTIVE_FAILURES')::int AS stopped`,
    [unrelayedCountMax],
  );
  return row!;
}
