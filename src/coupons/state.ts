/**
 * The issued coupon's state machine, used by the order flow. Stored states are
 * AVAILABLE and USED; EXPIRED is AVAILABLE past `expires_at` and is never
 * stored. Every move is one conditional UPDATE: a move that changes no row did
 * not happen, which is what keeps using and restoring exactly-once.
 */
import assert from 'node:assert/strict';
import type { Queryable, Tx } from '../db.js';
import type { DiscountType } from './discount.js';
import type { CouponStatus } from './schemas.js';

export type StoredCouponStatus = 'AVAILABLE' | 'USED';

/** The only legal moves: use (AVAILABLE → USED) and restore (USED → AVAILABLE). */
const transitions: Readonly<Record<StoredCouponStatus, StoredCouponStatus>> = { AVAILABLE: 'USED', USED: 'AVAILABLE' };

export type CouponForOrder = Readonly<{
  id: number;
  userId: string;
  campaignId: number;
  discountType: DiscountType;
  discountValue: number;
  maxDiscountAmount: number | null;
  minOrderAmount: number;
  expiresAt: Date;
  status: StoredCouponStatus;
  orderId: string | null;
}>;

type CouponForOrderRow = {
  id: number;
  user_id: string;
  campaign_id: number;
  discount_type: DiscountType;
  discount_value: number;
  max_discount_amount: number | null;
  min_order_amount: number;
  expires_at: Date;
  status: StoredCouponStatus;
  order_id: string | null;
};

/** The coupon with its campaign's terms, or undefined when no coupon has this id. */
export async function findCouponForOrder(db: Queryable, couponId: number): Promise<CouponForOrder | undefined> {
  const [row] = await db.query<CouponForOrderRow>(
    `SELECT c.id, c.user_id, c.campaign_id, k.discount_type, k.discount_value, k.max_discount_amount, k.min_order_amount,
            c.expires_at, c.status, c.order_id
       FROM coupons c JOIN coupon_campaigns k ON k.id = c.campaign_id
      WHERE c.id = $1`,
    [couponId],
  );
  if (row === undefined) return undefined;
  return {
    id: row.id,
    userId: row.user_id,
    campaignId: row.campaign_id,
    discountType: row.discount_type,
    discountValue: row.discount_value,
    maxDiscountAmount: row.max_discount_amount,
    minOrderAmount: row.min_order_amount,
    expiresAt: new Date(row.expires_at),
    status: row.status,
    orderId: row.order_id,
  };
}

/** What the owner sees: an AVAILABLE coupon at or past its expiry is EXPIRED. */
export function couponStatusAt(stored: StoredCouponStatus, expiresAt: Date, now: Date): CouponStatus {
  return stored === 'AVAILABLE' && expiresAt.getTime() <= now.getTime() ? 'EXPIRED' : stored;
}

async function moveCoupon(tx: Tx, from: StoredCouponStatus, sql: string, params: unknown[]): Promise<boolean> {
  assert.ok(transitions[from] !== undefined, `no move from ${from}`);
  const rows = await tx.query(sql, params);
  assert.ok(rows.length <= 1, 'a coupon move changes at most one row');
  return rows.length === 1;
}

/** USED → AVAILABLE, only when `orderId` is the order that used it. Returns whether it moved. */
export async function restoreCoupon(tx: Tx, couponId: number, orderId: string): Promise<boolean> {
  return moveCoupon(
    tx,
    'USED',
    `UPDATE coupons SET status = 'AVAILABLE', order_id = NULL
      WHERE id = $1 AND status = 'USED' AND order_id = $2
      RETURNING id`,
    [couponId, orderId],
  );
}

const termsCacheSizeMax = 100_000;

/**
 * A coupon's owner and its campaign's terms never change once issued, so the
 * order flow may remember them; its status and expiry are re-checked by the
 * payment under lock, so they are not served from here.
 */
export class CouponTermsCache {
  readonly #terms = new Map<number, CouponForOrder>();

  async termsOf(db: Queryable, couponId: number): Promise<CouponForOrder | undefined> {
    const cached = this.#terms.get(couponId);
    if (cached !== undefined) return cached;
    const coupon = await findCouponForOrder(db, couponId);
    if (coupon === undefined) return undefined;
    if (this.#terms.size >= termsCacheSizeMax) this.#terms.clear();
    this.#terms.set(couponId, coupon);
    return coupon;
  }
}
