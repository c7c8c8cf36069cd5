import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { discountFor, type DiscountTerms } from './discount.js';

const fixed = (value: number): DiscountTerms => ({ discountType: 'FIXED', discountValue: value, maxDiscountAmount: null });
const rate = (value: number, cap: number | null = null): DiscountTerms => ({ discountType: 'RATE', discountValue: value, maxDiscountAmount: cap });

describe('discountFor (SPEC §6)', () => {
  it('FIXED takes the value, never more than the total', () => {
    assert.equal(discountFor(fixed(3_000), 10_000), 3_000);
    assert.equal(discountFor(fixed(3_000), 3_000), 3_000);
    assert.equal(discountFor(fixed(3_000), 2_999), 2_999);
    assert.equal(discountFor(fixed(1), 0), 0);
  });

  it('FIXED ignores maxDiscountAmount', () => {
    assert.equal(discountFor({ discountType: 'FIXED', discountValue: 5_000, maxDiscountAmount: 100 }, 10_000), 5_000);
  });

  it('RATE floors the percentage', () => {
    assert.equal(discountFor(rate(10), 10_000), 1_000);
    assert.equal(discountFor(rate(10), 999), 99);
    assert.equal(discountFor(rate(33), 100), 33);
    assert.equal(discountFor(rate(33), 1), 0);
    assert.equal(discountFor(rate(1), 99), 0);
    assert.equal(discountFor(rate(100), 12_345), 12_345);
    assert.equal(discountFor(rate(50), 0), 0);
  });

  it('RATE is capped by maxDiscountAmount', () => {
    assert.equal(discountFor(rate(50, 3_000), 10_000), 3_000);
    assert.equal(discountFor(rate(50, 3_000), 5_000), 2_500);
    assert.equal(discountFor(rate(50, 0), 5_000), 0);
  });

  it('RATE stays exact where floating point would not', () => {
    // 0.07 * 100 is 7.000000000000001 in floating point; the answer must be 7.
    assert.equal(discountFor(rate(7), 100), 7);
    assert.equal(discountFor(rate(29), 100), 29);
    const big = 9_007_199_254_740_991; // Number.MAX_SAFE_INTEGER
    assert.equal(discountFor(rate(99), big), Number((BigInt(big) * 99n) / 100n));
    assert.equal(discountFor(rate(3), 1_000_000_000_000_001), 30_000_000_000_000);
  });

  it('a bad input is a bug, not a discount', () => {
    assert.throws(() => discountFor(fixed(1), -1));
    assert.throws(() => discountFor(fixed(1), 1.5));
    assert.throws(() => discountFor(rate(101), 100));
    assert.throws(() => discountFor(fixed(0), 100));
  });
});
