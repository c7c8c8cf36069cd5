import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeDiscount, formatWon, issuedPercent } from './format.js';
import { parseRoute, routeHref } from './route.js';

describe('console formatting', () => {
  it('writes won with separators', () => {
    assert.equal(formatWon(1234567), '1,234,567원');
    assert.equal(formatWon(0), '0원');
  });

  it('describes discounts as the campaign defines them', () => {
    assert.equal(describeDiscount({ discountType: 'FIXED', discountValue: 3000, maxDiscountAmount: null }), '3,000원 할인');
    assert.equal(describeDiscount({ discountType: 'RATE', discountValue: 15, maxDiscountAmount: 5000 }), '15% 할인 (최대 5,000원)');
    assert.equal(describeDiscount({ discountType: 'RATE', discountValue: 10, maxDiscountAmount: null }), '10% 할인');
  });

  it('bounds the issued share to 0–100 and floors it', () => {
    assert.equal(issuedPercent(0, 100), 0);
    assert.equal(issuedPercent(199, 200), 99);
    assert.equal(issuedPercent(200, 200), 100);
    assert.equal(issuedPercent(5, 0), 0);
  });
});

describe('console routes', () => {
  it('reads the view and its parameter from the hash', () => {
    assert.deepEqual(parseRoute('', 'products'), { view: 'products', param: undefined });
    assert.deepEqual(parseRoute('#/orders', 'products'), { view: 'orders', param: undefined });
    assert.deepEqual(parseRoute('#/wallets/user%2F1', 'products'), { view: 'wallets', param: 'user/1' });
    assert.deepEqual(parseRoute('#/orders/', 'products'), { view: 'orders', param: undefined });
  });

  it('writes hashes that read back the same', () => {
    for (const [view, param] of [['wallets', 'a b/c'], ['orders', undefined]] as const) {
      assert.deepEqual(parseRoute(routeHref(view, param), 'x'), { view, param });
    }
  });
});
