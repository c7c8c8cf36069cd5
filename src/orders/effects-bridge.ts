// Temporary bridge until the coupon module lands; replaced by their exports.
import type { Tx } from '../db.js';

export async function restoreCoupon(tx: Tx, couponId: number, orderId: string): Promise<boolean> {
  const rows = await tx.query(`UPDATE coupons SET status = 'AVAILABLE', order_id = NULL WHERE id = $1 AND order_id = $2 RETURNING id`, [couponId, orderId]);
  return rows.length === 1;
}
