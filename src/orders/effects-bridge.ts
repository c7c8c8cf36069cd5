// Temporary bridge until the wallet and coupon modules land; replaced by their exports.
import type { Tx } from '../db.js';

export async function refundPoints(tx: Tx, userId: string, amount: number, orderId: string): Promise<number> {
  const [row] = await tx.query<{ balance: number }>(
    `UPDATE wallets SET balance = balance + $2, updated_at = now() WHERE user_id = $1 RETURNING balance`,
    [userId, amount],
  );
  await tx.query(`INSERT INTO point_ledger (user_id, type, amount, balance_after, order_id) VALUES ($1, 'REFUND', $2, $3, $4)`, [userId, amount, row!.balance, orderId]);
  return row!.balance;
}

export async function restoreCoupon(tx: Tx, couponId: number, orderId: string): Promise<boolean> {
  const rows = await tx.query(`UPDATE coupons SET status = 'AVAILABLE', order_id = NULL WHERE id = $1 AND order_id = $2 RETURNING id`, [couponId, orderId]);
  return rows.length === 1;
}
