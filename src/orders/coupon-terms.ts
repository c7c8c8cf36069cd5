// Temporary bridge until the coupons module lands; replaced by its exports.
import type { Queryable } from '../db.js';

export type CouponTerms = {
  userId: string;
  discountType: 'FIXED' | 'RATE';
  discountValue: number;
  maxDiscountAmount: number | null;
  minOrderAmount: number;
};

export async function couponTermsForOrder(db: Queryable, couponId: number): Promise<CouponTerms | undefined> {
  const [row] = await db.query<{ user_id: string; discount_type: 'FIXED' | 'RATE'; discount_value: number; max_discount_amount: number | null; min_order_amount: number }>(
    `SELECT c.user_id, k.discount_type, k.discount_value, k.max_discount_amount, k.min_order_amount
       FROM coupons c JOIN coupon_campaigns k ON k.id = c.campaign_id WHERE c.id = $1`,
    [couponId],
  );
  if (row === undefined) return undefined;
  return { userId: row.user_id, discountType: row.discount_type, discountValue: row.discount_value, maxDiscountAmount: row.max_discount_amount, minOrderAmount: row.min_order_amount };
}

export function discountFor(terms: CouponTerms, total: number): number {
  if (terms.discountType === 'FIXED') return Math.min(terms.discountValue, total);
  const discount = Math.floor((total * terms.discountValue) / 100);
  return terms.maxDiscountAmount === null ? discount : Math.min(discount, terms.maxDiscountAmount);
}
