/** Data set up straight in the database, for tests that are about something else. */
import type { Queryable } from '../src/db.js';

/** Charges a wallet the way the service does: balance and a matching CHARGE entry, in one statement. */
export async function fundWallet(db: Queryable, userId: string, amount: number): Promise<void> {
  await db.query(
    `WITH w AS (
       INSERT INTO wallets (user_id, balance) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET balance = wallets.balance + $2 RETURNING balance)
     INSERT INTO point_ledger (user_id, type, amount, balance_after) SELECT $1, 'CHARGE', $2, balance FROM w`,
    [userId, amount],
  );
}

export async function balanceOf(db: Queryable, userId: string): Promise<number> {
  const [row] = await db.query<{ balance: number }>(`SELECT balance FROM wallets WHERE user_id = $1`, [userId]);
  return row?.balance ?? 0;
}

export async function makeProduct(db: Queryable, price: number, stock: number): Promise<number> {
  const [row] = await db.query<{ id: number }>(`INSERT INTO products (name, price, stock) VALUES ('fixture', $1, $2) RETURNING id`, [price, stock]);
  return row!.id;
}

export async function stockOf(db: Queryable, productId: number): Promise<number> {
  const [row] = await db.query<{ stock: number }>(`SELECT stock FROM products WHERE id = $1`, [productId]);
  return row!.stock;
}

type CampaignTerms = { discountType?: 'FIXED' | 'RATE'; discountValue?: number; minOrderAmount?: number; maxDiscountAmount?: number | null; totalQuantity?: number };

/**
 * A campaign and one coupon issued to `userId`; returns the coupon id. One
 * statement, so that an invariant check running beside it never sees the
 * campaign's issued count without its coupon.
 */
export async function issueCoupon(db: Queryable, userId: string, terms: CampaignTerms = {}, expiresInDays = 30): Promise<number> {
  const [coupon] = await db.query<{ id: number }>(
    `WITH campaign AS (
       INSERT INTO coupon_campaigns (code, name, discount_type, discount_value, total_quantity, issued_quantity, min_order_amount, max_discount_amount)
         VALUES ($1, 'fixture', $2, $3, $4, 1, $5, $6) RETURNING id)
     INSERT INTO coupons (campaign_id, user_id, expires_at)
       SELECT id, $7, now() + make_interval(days => $8) FROM campaign RETURNING id`,
    [`FX-${Math.random().toString(36).slice(2, 12)}`, terms.discountType ?? 'FIXED', terms.discountValue ?? 1000, terms.totalQuantity ?? 10,
      terms.minOrderAmount ?? 0, terms.maxDiscountAmount ?? null, userId, expiresInDays],
  );
  return coupon!.id;
}

export async function couponState(db: Queryable, couponId: number): Promise<{ status: string; orderId: string | null }> {
  const [row] = await db.query<{ status: string; order_id: string | null }>(`SELECT status, order_id FROM coupons WHERE id = $1`, [couponId]);
  return { status: row!.status, orderId: row!.order_id };
}

export async function ledgerOf(db: Queryable, userId: string): Promise<Array<{ type: string; amount: number; orderId: string | null }>> {
  const rows = await db.query<{ type: string; amount: number; order_id: string | null }>(
    `SELECT type, amount, order_id FROM point_ledger WHERE user_id = $1 ORDER BY id`,
    [userId],
  );
  return rows.map((row) => ({ type: row.type, amount: row.amount, orderId: row.order_id }));
}
