/**
 * Recovery of orders whose outcome was unknown (SPEC §8, seed 5-1).
 *
 * Two steps, each in its own short transaction:
 *  1. `recordPending`: the journal entry becomes a `pending` row. If the
 *     payment never committed, a row without effects is inserted; its primary
 *     key and (user, key) fence the lost payment, which can no longer commit.
 *     If it did commit (`success` or `failed`), that row moves to `pending`,
 *     keeping its effects.
 *  2. `cancelPending`: `pending → canceled` (SYSTEM_FAILURE), giving back
 *     whatever the order holds, in the same transaction as the move, so it
 *     happens once whichever instance gets there first.
 */
import type { Database, Tx } from '../db.js';
import { enqueueOrderEvents } from '../events/queries.js';
import { releaseEffects } from '../orders/compensation.js';
import { transitionOrder } from '../orders/state.js';
import type { OrderStatus } from '../orders/schemas.js';
import type { PendingEntry } from './entries.js';

async function insertPendingRow(tx: Tx, entry: PendingEntry, key: string): Promise<boolean> {
  const inserted = await tx.query(
    `INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, total_amount, discount_amount,
                         paid_amount, coupon_id, holds_effects, created_at)
       VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, false, $9)
       ON CONFLICT DO NOTHING RETURNING id`,
    [entry.orderId, entry.userId, key, entry.requestHash, entry.totalAmount, entry.discountAmount,
      entry.totalAmount - entry.discountAmount, entry.couponId, entry.at],
  );
  if (inserted.length === 0) return false;
  await tx.query(
    `INSERT INTO order_items (order_id, product_id, quantity, unit_price)
       SELECT $1, i.product_id, i.quantity, i.unit_price
         FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS i (product_id, quantity, unit_price)`,
    [entry.orderId, entry.lines.map((l) => l.productId), entry.lines.map((l) => l.quantity), entry.lines.map((l) => l.unitPrice)],
  );
  return true;
}

/** Step 1. Safe to repeat: an order already pending or canceled is left alone. */
export async function recordPending(db: Database, entry: PendingEntry): Promise<void> {
  await db.transaction(async (tx) => {
    if (await insertPendingRow(tx, entry, entry.key)) return;
    const [row] = await tx.query<{ status: OrderStatus }>(`SELECT status FROM orders WHERE id = $1 FOR UPDATE`, [entry.orderId]);
    if (row === undefined) {
      // The key went to another order in the meantime (a retry through another
      // instance). This order still needs a record; a key longer than any client
      // may send keeps it apart.
      await insertPendingRow(tx, entry, `${entry.key}#recovered:${entry.orderId}`);
      return;
    }
    if (row.status === 'success' || row.status === 'failed') {
      await transitionOrder(tx, entry.orderId, row.status, 'pending', null);
    }
  });
}

/** Step 2 for one order; false when another instance (or a user) got there first. */
export async function cancelPending(db: Database, orderId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const moved = await transitionOrder(tx, orderId, 'pending', 'canceled', 'SYSTEM_FAILURE');
    if (moved === undefined) return false;
    await releaseEffects(tx, moved);
    await enqueueOrderEvents(tx, [orderId]);
    return true;
  });
}

/** Pending orders, oldest first; several instances may see the same ones, and the transition decides. */
export async function findPendingOrders(db: Database, limit: number): Promise<string[]> {
  const rows = await db.query<{ id: string }>(`SELECT id FROM orders WHERE status = 'pending' ORDER BY updated_at LIMIT $1`, [limit]);
  return rows.map((row) => row.id);
}

export async function countPendingOrders(db: Database): Promise<number> {
  const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM orders WHERE status = 'pending'`);
  return row!.n;
}
