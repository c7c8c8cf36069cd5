/**
 * The issued coupon's state machine. Stored states are AVAILABLE and USED;
 * EXPIRED is AVAILABLE past `expires_at` and is never stored.
 *
 * AVAILABLE → USED happens only inside the payment (`pay_orders`,
 * migrations/011_pay_orders.sql), under the coupon's row lock, for the first
 * order of its batch that may use it. USED → AVAILABLE is `restoreCoupon`,
 * one conditional UPDATE: a move that changes no row did not happen, which is
 * what keeps restoring exactly-once.
 */
import assert from 'node:assert/strict';
import type { Tx } from '../db.js';

/** USED → AVAILABLE, only when `orderId` is the order that used it. Returns whether it moved. */
export async function restoreCoupon(tx: Tx, couponId: number, orderId: string): Promise<boolean> {
  const rows = await tx.query(
    `UPDATE coupons SET status = 'AVAILABLE', order_id = NULL
      WHERE id = $1 AND status = 'USED' AND order_id = $2
      RETURNING id`,
    [couponId, orderId],
  );
  assert.ok(rows.length <= 1, 'a coupon move changes at most one row');
  return rows.length === 1;
}
