/**
 * The order state machine: the one table of legal moves and the one function
 * that makes them. A move is a conditional UPDATE on the current status; zero
 * rows means it did not happen (someone else moved the order first), which is
 * what keeps compensation exactly-once.
 */
import assert from 'node:assert/strict';
import type { Tx } from '../db.js';
import type { OrderStatus } from './schemas.js';

/** `success → pending` and `failed → pending`: recovery taking over an order whose answer was lost. */
const transitions: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = {
  pending: ['canceled'],
  success: ['canceled', 'pending'],
  failed: ['pending'],
  canceled: [],
};

/** Who canceled: the user, an admin for the user, or recovery. */
export type CancelReason = 'USER_CANCELED' | 'ADMIN_CANCELED' | 'SYSTEM_FAILURE';

export function canTransition(from: OrderStatus, to: OrderStatus): boolean {
  return transitions[from].includes(to);
}

export type MovedOrder = {
  id: string;
  userId: string;
  paidAmount: number;
  couponId: number | null;
  holdsEffects: boolean;
};

/** Moves one order `from → to`; `undefined` if it was not in `from` (nothing changed). */
export async function transitionOrder(
  tx: Tx,
  orderId: string,
  from: OrderStatus,
  to: OrderStatus,
  reason: string | null,
): Promise<MovedOrder | undefined> {
  assert.ok(canTransition(from, to), `illegal order transition ${from} → ${to}`);
  const rows = await tx.query<{ id: string; user_id: string; paid_amount: number; coupon_id: number | null; holds_effects: boolean }>(
    `UPDATE orders SET status = $3, reason = $4, updated_at = now()
       WHERE id = $1 AND status = $2
       RETURNING id, user_id, paid_amount, coupon_id, holds_effects`,
    [orderId, from, to, reason],
  );
  assert.ok(rows.length <= 1);
  const row = rows[0];
  if (row === undefined) return undefined;
  return { id: row.id, userId: row.user_id, paidAmount: row.paid_amount, couponId: row.coupon_id, holdsEffects: row.holds_effects };
}
