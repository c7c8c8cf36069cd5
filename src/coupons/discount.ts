/**
 * The one place that computes a coupon's discount (SPEC §6). Money is integer
 * won; a RATE discount multiplies before it divides, in BigInt, so a large
 * total never loses precision to floating point.
 */
import assert from 'node:assert/strict';

export type DiscountType = 'FIXED' | 'RATE';

export type DiscountTerms = Readonly<{
  discountType: DiscountType;
  discountValue: number;
  /** Caps a RATE discount; ignored for FIXED. */
  maxDiscountAmount: number | null;
}>;

/** The discount in won on an order `total`: never negative, never above the total. */
export function discountFor(terms: DiscountTerms, total: number): number {
  assert.ok(Number.isSafeInteger(total) && total >= 0, `total must be a non-negative integer, got ${total}`);
  assert.ok(Number.isSafeInteger(terms.discountValue) && terms.discountValue >= 1, 'discountValue must be a positive integer');
  if (terms.discountType === 'FIXED') return Math.min(terms.discountValue, total);

  assert.equal(terms.discountType, 'RATE');
  assert.ok(terms.discountValue <= 100, 'a RATE discount is at most 100 percent');
  // BigInt division truncates toward zero, which is floor for non-negative values.
  const byRate = Number((BigInt(total) * BigInt(terms.discountValue)) / 100n);
  const cap = terms.maxDiscountAmount;
  if (cap === null) return byRate;
  assert.ok(Number.isSafeInteger(cap) && cap >= 0, 'maxDiscountAmount must be a non-negative integer');
  return Math.min(byRate, cap);
}
