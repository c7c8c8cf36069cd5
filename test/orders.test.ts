import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { balanceOf, couponState, fundWallet, issueCoupon, ledgerOf, makeProduct, stockOf } from './fixtures.js';
import { bearer, call, isError, setupApp, uniqueUser } from './helper.js';

const { app, auth, db } = await setupApp();

async function buyer(balance = 0) {
  const userId = uniqueUser('buyer');
  if (balance > 0) await fundWallet(db, userId, balance);
  return { userId, headers: await bearer(auth, userId) };
}

function order(headers: Record<string, string>, body: unknown, key: string = randomUUID()) {
  return call(app, { method: 'POST', url: '/api/orders', headers: { ...headers, 'idempotency-key': key }, body });
}

async function orderCount(userId: string): Promise<number> {
  const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM orders WHERE user_id = $1', [userId]);
  return row!.n;
}

describe('placing an order (seed 4-1 … 4-4)', () => {
  it('4-1 pays: stock, balance, USE entry, coupon used, order success', async () => {
    const { userId, headers } = await buyer(50_000);
    const a = await makeProduct(db, 10_000, 5);
    const b = await makeProduct(db, 3_000, 5);
    const couponId = await issueCoupon(db, userId, { discountType: 'FIXED', discountValue: 2_000 });
    const response = await order(headers, { items: [{ productId: b, quantity: 1 }, { productId: a, quantity: 2 }], couponId });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const body = response.body;
    assert.equal(body.status, 'success');
    assert.equal(body.message, '결제가 완료되었습니다.');
    assert.equal(body.totalAmount, 23_000);
    assert.equal(body.discountAmount, 2_000);
    assert.equal(body.paidAmount, 21_000);
    assert.equal(body.couponId, couponId);
    assert.deepEqual(body.items, [
      { productId: a, quantity: 2, unitPrice: 10_000 },
      { productId: b, quantity: 1, unitPrice: 3_000 },
    ]);
    assert.equal(await stockOf(db, a), 3);
    assert.equal(await stockOf(db, b), 4);
    assert.equal(await balanceOf(db, userId), 29_000);
    assert.deepEqual((await ledgerOf(db, userId)).at(-1), { type: 'USE', amount: 21_000, orderId: body.orderId });
    assert.deepEqual(await couponState(db, couponId), { status: 'USED', orderId: body.orderId });
    const read = await call(app, { method: 'GET', url: `/api/orders/${body.orderId}`, headers });
    assert.equal(read.status, 200);
    assert.deepEqual(read.body.order, {
      orderId: body.orderId,
      status: 'success',
      reason: null,
      items: body.items,
      totalAmount: 23_000,
      discountAmount: 2_000,
      paidAmount: 21_000,
      couponId,
      createdAt: body.createdAt,
    });
  });

  it('RATE discount is floored and capped by maxDiscountAmount', async () => {
    const { userId, headers } = await buyer(100_000);
    const p = await makeProduct(db, 9_999, 10);
    const rate = await issueCoupon(db, userId, { discountType: 'RATE', discountValue: 15 });
    const first = await order(headers, { items: [{ productId: p, quantity: 1 }], couponId: rate });
    assert.equal(first.body.discountAmount, 1_499); // floor(9999 × 0.15)
    const capped = await issueCoupon(db, userId, { discountType: 'RATE', discountValue: 50, maxDiscountAmount: 3_000 });
    const second = await order(headers, { items: [{ productId: p, quantity: 2 }], couponId: capped });
    assert.equal(second.body.discountAmount, 3_000);
    assert.equal(second.body.paidAmount, 19_998 - 3_000);
    const full = await issueCoupon(db, userId, { discountType: 'FIXED', discountValue: 50_000 });
    const free = await order(headers, { items: [{ productId: p, quantity: 1 }], couponId: full });
    assert.equal(free.body.discountAmount, 9_999);
    assert.equal(free.body.paidAmount, 0);
    assert.equal(await balanceOf(db, userId), 100_000 - (9_999 - 1_499) - 16_998);
  });

  it('4-2 balance too low: 402 with orderId, order failed, nothing else changed', async () => {
    const { userId, headers } = await buyer(5_000);
    const p = await makeProduct(db, 6_000, 3);
    const couponId = await issueCoupon(db, userId, { discountValue: 500 });
    const response = await order(headers, { items: [{ productId: p, quantity: 1 }], couponId });
    assert.equal(response.status, 402);
    assert.ok(isError(response.body, 'INSUFFICIENT_BALANCE'));
    assert.equal(response.body.message, '잔액이 부족합니다.');
    assert.equal(await stockOf(db, p), 3);
    assert.equal(await balanceOf(db, userId), 5_000);
    assert.equal((await couponState(db, couponId)).status, 'AVAILABLE');
    const read = await call(app, { method: 'GET', url: `/api/orders/${response.body.orderId}`, headers });
    assert.equal(read.body.order.status, 'failed');
    assert.equal(read.body.order.reason, 'INSUFFICIENT_BALANCE');
  });

  it('4-3 stock short: 409 with orderId, order failed, nothing else changed', async () => {
    const { userId, headers } = await buyer(100_000);
    const p = await makeProduct(db, 1_000, 2);
    const q = await makeProduct(db, 1_000, 10);
    const response = await order(headers, { items: [{ productId: q, quantity: 1 }, { productId: p, quantity: 3 }] });
    assert.equal(response.status, 409);
    assert.ok(isError(response.body, 'INSUFFICIENT_STOCK'));
    assert.equal(response.body.message, '일부 상품의 재고가 부족합니다.');
    assert.equal(await stockOf(db, p), 2);
    assert.equal(await stockOf(db, q), 10);
    assert.equal(await balanceOf(db, userId), 100_000);
    const read = await call(app, { method: 'GET', url: `/api/orders/${response.body.orderId}`, headers });
    assert.equal(read.body.order.reason, 'INSUFFICIENT_STOCK');
  });

  it('4-4 coupon not the user\'s, used, expired, or under its minimum: 400 INVALID_COUPON', async () => {
    const { userId, headers } = await buyer(100_000);
    const other = uniqueUser();
    const p = await makeProduct(db, 10_000, 100);
    const cases = [
      await issueCoupon(db, other),
      await issueCoupon(db, userId, {}, -1),
      await issueCoupon(db, userId, { minOrderAmount: 10_001 }),
      999_999_999,
    ];
    const used = await issueCoupon(db, userId);
    assert.equal((await order(headers, { items: [{ productId: p, quantity: 1 }], couponId: used })).status, 200);
    cases.push(used);
    for (const couponId of cases) {
      const response = await order(headers, { items: [{ productId: p, quantity: 1 }], couponId });
      assert.equal(response.status, 400, `coupon ${couponId}`);
      assert.ok(isError(response.body, 'INVALID_COUPON'));
      assert.equal(response.body.message, '쿠폰이 유효하지 않습니다.');
      assert.equal(typeof response.body.orderId, 'string');
    }
    assert.equal(await stockOf(db, p), 99);
    assert.equal(await balanceOf(db, userId), 100_000 - 9_000);
  });

  it('the coupon minimum is compared with the total before discount', async () => {
    const { userId, headers } = await buyer(100_000);
    const p = await makeProduct(db, 10_000, 10);
    const couponId = await issueCoupon(db, userId, { minOrderAmount: 10_000, discountValue: 5_000 });
    const response = await order(headers, { items: [{ productId: p, quantity: 1 }], couponId });
    assert.equal(response.status, 200);
    assert.equal(response.body.paidAmount, 5_000);
  });

  it('checks run coupon, then stock, then balance', async () => {
    const { userId, headers } = await buyer(100);
    const short = await makeProduct(db, 1_000, 0);
    const expired = await issueCoupon(db, userId, {}, -1);
    const both = await order(headers, { items: [{ productId: short, quantity: 1 }], couponId: expired });
    assert.equal(both.body.code, 'INVALID_COUPON');
    const stockAndBalance = await order(headers, { items: [{ productId: short, quantity: 1 }] });
    assert.equal(stockAndBalance.body.code, 'INSUFFICIENT_STOCK');
  });

  it('an unknown product is 404 and leaves the key free', async () => {
    const { userId, headers } = await buyer(10_000);
    const p = await makeProduct(db, 1_000, 1);
    const key = randomUUID();
    const missing = await order(headers, { items: [{ productId: p, quantity: 1 }, { productId: 999_999_999, quantity: 1 }] }, key);
    assert.equal(missing.status, 404);
    assert.ok(isError(missing.body, 'PRODUCT_NOT_FOUND'));
    assert.equal(await orderCount(userId), 0);
    const retry = await order(headers, { items: [{ productId: p, quantity: 1 }] }, key);
    assert.equal(retry.status, 200);
  });

  it('a price changed behind this process is re-read, never charged stale', async () => {
    const { userId, headers } = await buyer(10_000);
    const p = await makeProduct(db, 1_000, 5);
    assert.equal((await order(headers, { items: [{ productId: p, quantity: 1 }] })).body.paidAmount, 1_000);
    await db.query('UPDATE products SET price = 2500 WHERE id = $1', [p]);
    const response = await order(headers, { items: [{ productId: p, quantity: 1 }] });
    assert.equal(response.status, 200);
    assert.equal(response.body.paidAmount, 2_500);
    assert.equal(await balanceOf(db, userId), 6_500);
  });

  it('a free order needs no wallet', async () => {
    const { headers } = await buyer();
    const p = await makeProduct(db, 0, 1);
    const response = await order(headers, { items: [{ productId: p, quantity: 1 }] });
    assert.equal(response.status, 200);
    assert.equal(response.body.paidAmount, 0);
  });
});

describe('idempotency (seed 6-1)', () => {
  it('same key and body: 409 DUPLICATE_REQUEST with the first orderId and its status, nothing charged twice', async () => {
    const { userId, headers } = await buyer(10_000);
    const p = await makeProduct(db, 1_000, 5);
    const key = randomUUID();
    const first = await order(headers, { items: [{ productId: p, quantity: 1 }] }, key);
    const second = await order(headers, { items: [{ productId: p, quantity: 1 }] }, key);
    assert.equal(second.status, 409);
    assert.ok(isError(second.body, 'DUPLICATE_REQUEST'));
    assert.equal(second.body.message, '중복 요청입니다.');
    assert.equal(second.body.orderId, first.body.orderId);
    assert.equal(second.body.status, 'success');
    assert.equal(await balanceOf(db, userId), 9_000);
    assert.equal(await stockOf(db, p), 4);
  });

  it('a failed order uses its key too, and reports status failed', async () => {
    const { headers } = await buyer(0);
    const p = await makeProduct(db, 1_000, 5);
    const key = randomUUID();
    const first = await order(headers, { items: [{ productId: p, quantity: 1 }] }, key);
    assert.equal(first.status, 402);
    const second = await order(headers, { items: [{ productId: p, quantity: 1 }] }, key);
    assert.equal(second.status, 409);
    assert.equal(second.body.status, 'failed');
    assert.equal(second.body.orderId, first.body.orderId);
  });

  it('same key, different body: 422 IDEMPOTENCY_KEY_REUSED; line order does not make a body different', async () => {
    const { userId, headers } = await buyer(10_000);
    const p = await makeProduct(db, 1_000, 5);
    const q = await makeProduct(db, 1_000, 5);
    const key = randomUUID();
    const first = await order(headers, { items: [{ productId: p, quantity: 1 }, { productId: q, quantity: 1 }] }, key);
    const reordered = await order(headers, { items: [{ productId: q, quantity: 1 }, { productId: p, quantity: 1 }] }, key);
    assert.equal(reordered.status, 409);
    const other = await order(headers, { items: [{ productId: p, quantity: 2 }] }, key);
    assert.equal(other.status, 422);
    assert.ok(isError(other.body, 'IDEMPOTENCY_KEY_REUSED'));
    assert.equal(other.body.orderId, first.body.orderId);
    assert.equal(await orderCount(userId), 1);
  });

  it('keys belong to one user', async () => {
    const one = await buyer(10_000);
    const two = await buyer(10_000);
    const p = await makeProduct(db, 1_000, 5);
    const key = randomUUID();
    assert.equal((await order(one.headers, { items: [{ productId: p, quantity: 1 }] }, key)).status, 200);
    assert.equal((await order(two.headers, { items: [{ productId: p, quantity: 1 }] }, key)).status, 200);
  });
});

describe('reading and canceling orders', () => {
  it('another user\'s order is 404 on every route', async () => {
    const owner = await buyer(10_000);
    const stranger = await buyer();
    const p = await makeProduct(db, 1_000, 5);
    const { body } = await order(owner.headers, { items: [{ productId: p, quantity: 1 }] });
    for (const [method, url] of [['GET', `/api/orders/${body.orderId}`], ['POST', `/api/orders/${body.orderId}/cancel`]] as const) {
      const response = await call(app, { method, url, headers: stranger.headers });
      assert.equal(response.status, 404);
      assert.ok(isError(response.body, 'ORDER_NOT_FOUND'));
    }
    const unknown = await call(app, { method: 'GET', url: `/api/orders/${randomUUID()}`, headers: owner.headers });
    assert.equal(unknown.status, 404);
    const malformed = await call(app, { method: 'GET', url: '/api/orders/not-a-uuid', headers: owner.headers });
    assert.equal(malformed.status, 400);
    assert.equal(await stockOf(db, p), 4);
  });

  it('cancel gives back points (REFUND), stock and the coupon, once', async () => {
    const { userId, headers } = await buyer(30_000);
    const p = await makeProduct(db, 10_000, 5);
    const couponId = await issueCoupon(db, userId, { discountValue: 1_000 });
    const { body } = await order(headers, { items: [{ productId: p, quantity: 2 }], couponId });
    assert.equal(await balanceOf(db, userId), 11_000);
    const canceled = await call(app, { method: 'POST', url: `/api/orders/${body.orderId}/cancel`, headers });
    assert.equal(canceled.status, 200);
    assert.equal(canceled.body.order.status, 'canceled');
    assert.equal(canceled.body.order.reason, 'USER_CANCELED');
    assert.equal(await balanceOf(db, userId), 30_000);
    assert.equal(await stockOf(db, p), 5);
    assert.deepEqual(await couponState(db, couponId), { status: 'AVAILABLE', orderId: null });
    assert.deepEqual((await ledgerOf(db, userId)).at(-1), { type: 'REFUND', amount: 19_000, orderId: body.orderId });
    const again = await call(app, { method: 'POST', url: `/api/orders/${body.orderId}/cancel`, headers });
    assert.equal(again.status, 409);
    assert.ok(isError(again.body, 'ORDER_NOT_CANCELABLE'));
    assert.equal(await balanceOf(db, userId), 30_000);
    assert.equal(await stockOf(db, p), 5);
    const reuse = await order(headers, { items: [{ productId: p, quantity: 1 }], couponId });
    assert.equal(reuse.status, 200);
  });

  it('a failed order cannot be canceled', async () => {
    const { headers } = await buyer(0);
    const p = await makeProduct(db, 1_000, 5);
    const { body } = await order(headers, { items: [{ productId: p, quantity: 1 }] });
    const response = await call(app, { method: 'POST', url: `/api/orders/${body.orderId}/cancel`, headers });
    assert.equal(response.status, 409);
  });

  it('lists the user\'s orders newest first, paged', async () => {
    const { headers } = await buyer(100_000);
    const p = await makeProduct(db, 100, 100);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await order(headers, { items: [{ productId: p, quantity: 1 }] })).body.orderId);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/api/orders?limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const response = await call(app, { method: 'GET', url, headers });
      assert.equal(response.status, 200);
      assert.ok(response.body.orders.length <= 2);
      seen.push(...response.body.orders.map((o: { orderId: string }) => o.orderId));
      cursor = response.body.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(seen, [...ids].reverse());
    const empty = await call(app, { method: 'GET', url: '/api/orders', headers: (await buyer()).headers });
    assert.deepEqual(empty.body, { orders: [], nextCursor: null });
    const bad = await call(app, { method: 'GET', url: '/api/orders?cursor=abc', headers });
    assert.equal(bad.status, 400);
  });
});

describe('bad order input: 400 and nothing changed', () => {
  it('refuses each malformed request without recording an order', async () => {
    const { userId, headers } = await buyer(10_000);
    const p = await makeProduct(db, 1_000, 5);
    const line = { productId: p, quantity: 1 };
    const cases: Array<[string, Record<string, string>, unknown]> = [
      ['missing key', headers, { items: [line] }],
      ['empty key', { ...headers, 'idempotency-key': '' }, { items: [line] }],
      ['key over 255', { ...headers, 'idempotency-key': 'k'.repeat(256) }, { items: [line] }],
      ['empty items', { ...headers, 'idempotency-key': randomUUID() }, { items: [] }],
      ['no items', { ...headers, 'idempotency-key': randomUUID() }, {}],
      ['duplicate lines', { ...headers, 'idempotency-key': randomUUID() }, { items: [line, line] }],
      ['zero quantity', { ...headers, 'idempotency-key': randomUUID() }, { items: [{ productId: p, quantity: 0 }] }],
      ['negative quantity', { ...headers, 'idempotency-key': randomUUID() }, { items: [{ productId: p, quantity: -1 }] }],
      ['fractional quantity', { ...headers, 'idempotency-key': randomUUID() }, { items: [{ productId: p, quantity: 1.5 }] }],
      ['quantity as string', { ...headers, 'idempotency-key': randomUUID() }, { items: [{ productId: p, quantity: '1' }] }],
      ['quantity over 10,000', { ...headers, 'idempotency-key': randomUUID() }, { items: [{ productId: p, quantity: 10_001 }] }],
      ['productId 0', { ...headers, 'idempotency-key': randomUUID() }, { items: [{ productId: 0, quantity: 1 }] }],
      ['productId null', { ...headers, 'idempotency-key': randomUUID() }, { items: [{ productId: null, quantity: 1 }] }],
      ['couponId as string', { ...headers, 'idempotency-key': randomUUID() }, { items: [line], couponId: '1' }],
      ['unknown field', { ...headers, 'idempotency-key': randomUUID() }, { items: [line], note: 'x' }],
      ['unknown line field', { ...headers, 'idempotency-key': randomUUID() }, { items: [{ ...line, price: 1 }] }],
      ['5,000 lines', { ...headers, 'idempotency-key': randomUUID() }, { items: Array.from({ length: 5_000 }, (_, i) => ({ productId: i + 1, quantity: 1 })) }],
      ['broken JSON', { ...headers, 'idempotency-key': randomUUID() }, '{"items": [{"productId": 1,'],
      ['items not an array', { ...headers, 'idempotency-key': randomUUID() }, { items: { productId: p, quantity: 1 } }],
    ];
    for (const [name, requestHeaders, body] of cases) {
      const response = await call(app, { method: 'POST', url: '/api/orders', headers: requestHeaders, body });
      assert.equal(response.status, 400, name);
      assert.ok(isError(response.body, 'VALIDATION_ERROR'), `${name}: ${JSON.stringify(response.body)}`);
    }
    assert.equal(await orderCount(userId), 0);
    assert.equal(await stockOf(db, p), 5);
    assert.equal(await balanceOf(db, userId), 10_000);
  });
});
