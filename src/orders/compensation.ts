/**
 * Giving back what a paid order took: its coupon, its stock, its points. Used
 * by the user's cancel and by recovery alike, always inside the transaction
 * that moved the order out of the state that held the effects, so it runs at
 * most once per order. Locks follow the payment's order: coupon, products, wallet.
 */
import assert from 'node:assert/strict';
import type { Tx } from '../db.js';
import { returnStock } from './queries.js';
import { withdrawSales } from '../products/queries.js';
import type { MovedOrder } from './state.js';
import { refundPoints } from '../points/service.js';
import { restoreCoupon } from '../coupons/state.js';

export async function releaseEffects(tx: Tx, order: MovedOrder): Promise<void> {
  if (!order.holdsEffects) return;
  if (order.couponId !== null) await restoreCoupon(tx, order.couponId, order.id);
  await returnStock(tx, order.id);
  await withdrawSales(tx, order.id);
  if (order.paidAmount > 0) await refundPoints(tx, order.userId, order.paidAmount, order.id);
  const cleared = await tx.query(`UPDATE orders SET holds_effects = false WHERE id = $1 AND holds_effects RETURNING id`, [order.id]);
  assert.equal(cleared.length, 1, `order ${order.id} released its effects twice`);
}
