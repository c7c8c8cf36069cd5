/**
 * The one payment, `pay_orders` (migrations/011_pay_orders.sql), called
 * straight through `payOrders`: a batch of orders of any shape decided in
 * arrival order against running stock, balances and coupons; the price
 * charged is the one read under lock; the discount table; refusals that take
 * no lock; and the cases where the two former payment functions disagreed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { isUniqueViolation } from '../src/db.js';
import { payOrders, type PaymentInput, type PaymentOutcome } from '../src/orders/queries.js';
import { balanceOf, couponState, fundWallet, issueCoupon, makeProduct, stockOf } from './fixtures.js';
import { setupApp, testDb, uniqueUser } from './helper.js';
import { checkInvariants } from './support/invariants.js';

const { db, config } = await setupApp();

type Line = [productId: number, quantity: number];

function order(userId: string, lines: Line[], extra: Partial<PaymentInput> = {}): PaymentInput {
  return {
    orderId: randomUUID(),
    userId,
    key: randomUUID(),
    requestHash: 'h',
    lines: [...lines].sort((a, b) => a[0] - b[0]).map(([productId, quantity]) => ({ productId, quantity })),
    couponId: null,
    ...extra,
  };
}

/** An outcome as one word: `paid`, the failure's reason, or the kind. */
function verdict(outcome: PaymentOutcome): string {
  return outcome.kind === 'failed' ? outcome.reason : outcome.kind;
}

async function ledgerUses(userId: string): Promise<Array<[amount: number, balanceAfter: number]>> {
  const rows = await db.query<{ amount: number; balance_after: number }>(
    `SELECT amount, balance_after FROM point_ledger WHERE user_id = $1 AND type = 'USE' ORDER BY id`,
    [userId],
  );
  return rows.map((row) => [row.amount, row.balance_after]);
}

describe('a batch of orders', () => {
  it('decides each order in arrival order against running stock, balance and coupons', async () => {
    const product = await makeProduct(db, 1_000, 3);
    const rich = uniqueUser();
    const poor = uniqueUser();
    await fundWallet(db, rich, 10_000);
    await fundWallet(db, poor, 500);
    const stranger = await issueCoupon(db, uniqueUser());
    const first = order(rich, [[product, 2]]);
    const outcomes = await payOrders(db, [
      first,
      order(rich, [[product, 1]], { key: first.key }),
      order(poor, [[product, 1]]),
      order(rich, [[product, 1]], { couponId: stranger }),
      order(rich, [[product, 1]]),
      order(rich, [[product, 1]]),
    ]);
    assert.deepEqual(outcomes.map(verdict), ['paid', 'retry', 'INSUFFICIENT_BALANCE', 'INVALID_COUPON', 'paid', 'INSUFFICIENT_STOCK']);
    assert.equal(await stockOf(db, product), 0);
    assert.equal(await balanceOf(db, rich), 7_000);
    assert.deepEqual(await ledgerUses(rich), [[2_000, 8_000], [1_000, 7_000]]);
    const sold = await db.query<{ quantity: number }>('SELECT sum(quantity)::bigint AS quantity FROM product_sales WHERE product_id = $1', [product]);
    assert.equal(sold[0]!.quantity, 3);
    // The twin sent again finds the first order as a duplicate.
    const [again] = await payOrders(db, [order(rich, [[product, 1]], { key: first.key })]);
    assert.deepEqual(again, { kind: 'duplicate', orderId: first.orderId, status: 'success', requestHash: 'h' });
    assert.deepEqual(await checkInvariants(db, { userIds: [rich, poor], productIds: [product] }), []);
  });

  it('pays multi-line orders of mixed products, with and without coupons, each line at its price', async () => {
    const [a, b, c] = [await makeProduct(db, 1_000, 10), await makeProduct(db, 2_500, 10), await makeProduct(db, 700, 1)];
    const userId = uniqueUser();
    await fundWallet(db, userId, 20_000);
    const rate = await issueCoupon(db, userId, { discountType: 'RATE', discountValue: 10, maxDiscountAmount: 500 });
    const fixed = await issueCoupon(db, userId, { discountType: 'FIXED', discountValue: 1_000, minOrderAmount: 5_000 });
    const outcomes = await payOrders(db, [
      order(userId, [[b, 2], [a, 1]], { couponId: rate }),
      order(userId, [[a, 1], [c, 1]], { couponId: fixed }),
      order(userId, [[c, 1], [b, 1]]),
      order(userId, [[a, 3], [b, 1]], { couponId: fixed }),
    ]);
    assert.deepEqual(outcomes.map(verdict), ['paid', 'INVALID_COUPON', 'paid', 'paid']);
    const [first, , third, fourth] = outcomes;
    assert.ok(first!.kind === 'paid' && third!.kind === 'paid' && fourth!.kind === 'paid');
    assert.deepEqual(first!.items, [{ productId: a, quantity: 1, unitPrice: 1_000 }, { productId: b, quantity: 2, unitPrice: 2_500 }]);
    assert.deepEqual([first!.totalAmount, first!.discountAmount], [6_000, 500]);
    assert.deepEqual([third!.totalAmount, third!.discountAmount], [3_200, 0]);
    assert.deepEqual([fourth!.totalAmount, fourth!.discountAmount], [5_500, 1_000]);
    assert.deepEqual([await stockOf(db, a), await stockOf(db, b), await stockOf(db, c)], [6, 6, 0]);
    assert.equal(await balanceOf(db, userId), 20_000 - 5_500 - 3_200 - 4_500);
    assert.deepEqual(await ledgerUses(userId), [[5_500, 14_500], [3_200, 11_300], [4_500, 6_800]]);
    assert.equal((await couponState(db, fixed)).orderId, fourth!.orderId);
    assert.deepEqual(await checkInvariants(db, { userIds: [userId], productIds: [a, b, c] }), []);
  });

  it('answers not_found for an order naming an unknown product and records nothing for it', async () => {
    const product = await makeProduct(db, 1_000, 5);
    const userId = uniqueUser();
    await fundWallet(db, userId, 10_000);
    const lost = order(userId, [[product, 1], [999_999_999, 1]]);
    const outcomes = await payOrders(db, [lost, order(userId, [[product, 1]])]);
    assert.deepEqual(outcomes.map(verdict), ['not_found', 'paid']);
    assert.equal((await db.query('SELECT 1 FROM orders WHERE id = $1', [lost.orderId])).length, 0);
    assert.equal(await stockOf(db, product), 4);
  });

  it('a batch with an order whose id is already taken (a recovery fence) rolls back whole', async () => {
    const product = await makeProduct(db, 1_000, 5);
    const userId = uniqueUser();
    await fundWallet(db, userId, 10_000);
    const fenced = order(userId, [[product, 1]]);
    await db.query(
      `INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, total_amount, discount_amount, paid_amount)
         VALUES ($1, $2, $3, 'h', 'canceled', 1000, 0, 1000)`,
      [fenced.orderId, userId, randomUUID()],
    );
    await assert.rejects(payOrders(db, [order(userId, [[product, 1]]), fenced]), (error) => isUniqueViolation(error));
    assert.equal(await stockOf(db, product), 5);
    assert.equal(await balanceOf(db, userId), 10_000);
  });

  it('charges the price read under lock, whatever the price was when the order arrived', async () => {
    const product = await makeProduct(db, 1_000, 5);
    const userId = uniqueUser();
    await fundWallet(db, userId, 10_000);
    await db.query('UPDATE products SET price = 1300 WHERE id = $1', [product]);
    const [paid] = await payOrders(db, [order(userId, [[product, 2]])]);
    assert.ok(paid?.kind === 'paid');
    assert.deepEqual(paid.items, [{ productId: product, quantity: 2, unitPrice: 1_300 }]);
    assert.equal(await balanceOf(db, userId), 7_400);
  });
});

describe('where the two former payment functions disagreed, one outcome each', () => {
  it('a sold-out product whose price changed: recorded failed INSUFFICIENT_STOCK', async () => {
    const product = await makeProduct(db, 1_000, 1);
    const userId = uniqueUser();
    await fundWallet(db, userId, 10_000);
    await db.query('UPDATE products SET price = 2000 WHERE id = $1', [product]);
    const single = order(userId, [[product, 2]]);
    const outcomes = await payOrders(db, [single, order(userId, [[product, 3]])]);
    assert.deepEqual(outcomes.map(verdict), ['INSUFFICIENT_STOCK', 'INSUFFICIENT_STOCK']);
    const [row] = await db.query<{ status: string; reason: string }>('SELECT status, reason FROM orders WHERE id = $1', [single.orderId]);
    assert.deepEqual(row, { status: 'failed', reason: 'INSUFFICIENT_STOCK' });
  });

  it('a balance of exactly the amount pays; one won less is INSUFFICIENT_BALANCE, alone or in a batch', async () => {
    const product = await makeProduct(db, 1_000, 10);
    const exact = uniqueUser();
    const short = uniqueUser();
    await fundWallet(db, exact, 2_000);
    await fundWallet(db, short, 1_999);
    assert.deepEqual((await payOrders(db, [order(short, [[product, 2]])])).map(verdict), ['INSUFFICIENT_BALANCE']);
    assert.deepEqual((await payOrders(db, [order(exact, [[product, 1]]), order(short, [[product, 2]]), order(exact, [[product, 1]])])).map(verdict),
      ['paid', 'INSUFFICIENT_BALANCE', 'paid']);
    assert.equal(await balanceOf(db, exact), 0);
    assert.equal(await balanceOf(db, short), 1_999);
  });
});

describe('the discount (SPEC §6), one table of cases', () => {
  // [type, value, cap, total, discount]
  const cases: Array<[string, number, number | null, number, number]> = [
    ['FIXED', 3_000, null, 10_000, 3_000],
    ['FIXED', 3_000, null, 3_000, 3_000],
    ['FIXED', 3_000, null, 2_999, 2_999],
    ['FIXED', 1, null, 0, 0],
    ['FIXED', 5_000, 100, 10_000, 5_000],
    ['RATE', 10, null, 10_000, 1_000],
    ['RATE', 10, null, 999, 99],
    ['RATE', 33, null, 100, 33],
    ['RATE', 33, null, 1, 0],
    ['RATE', 1, null, 99, 0],
    ['RATE', 100, null, 12_345, 12_345],
    ['RATE', 50, null, 0, 0],
    ['RATE', 50, 3_000, 10_000, 3_000],
    ['RATE', 50, 3_000, 5_000, 2_500],
    ['RATE', 50, 0, 5_000, 0],
    ['RATE', 7, null, 100, 7],
    ['RATE', 29, null, 100, 29],
    ['RATE', 99, null, 9_007_199_254_740, 8_917_127_262_192],
    ['RATE', 3, null, 1_000_000_000_000_001, 30_000_000_000_000],
  ];

  it('coupon_discount gives each case', async () => {
    const rows = await db.query<{ discount: number }>(
      `SELECT coupon_discount(c.type, c.value, c.cap, c.total) AS discount
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS c (type, value, cap, total, n) ORDER BY n`,
      [cases.map((c) => c[0]), cases.map((c) => c[1]), cases.map((c) => c[2]), cases.map((c) => c[3])],
    );
    assert.deepEqual(rows.map((row) => row.discount), cases.map((c) => c[4]));
  });

  it('the payment applies it to the total under lock, after checking the minimum before the discount', async () => {
    const product = await makeProduct(db, 999, 10);
    const userId = uniqueUser();
    await fundWallet(db, userId, 10_000);
    const rate = await issueCoupon(db, userId, { discountType: 'RATE', discountValue: 10, minOrderAmount: 999 });
    const below = await issueCoupon(db, userId, { discountType: 'FIXED', discountValue: 500, minOrderAmount: 1_000 });
    const outcomes = await payOrders(db, [order(userId, [[product, 1]], { couponId: below }), order(userId, [[product, 1]], { couponId: rate })]);
    assert.deepEqual(outcomes.map(verdict), ['INVALID_COUPON', 'paid']);
    const paid = outcomes[1];
    assert.ok(paid?.kind === 'paid');
    assert.deepEqual([paid.totalAmount, paid.discountAmount], [999, 99]);
  });
});

if (testDb === 'postgres') {
  describe('refusals take no lock', () => {
    it('a batch none of whose orders can be paid is refused while another transaction holds its rows', async () => {
      const product = await makeProduct(db, 1_000, 1);
      const userId = uniqueUser();
      await fundWallet(db, userId, 10_000);
      const stranger = await issueCoupon(db, uniqueUser());
      const holder = new pg.Client({ connectionString: config.databaseUrl });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT 1 FROM products WHERE id = $1 FOR UPDATE', [product]);
        await holder.query('SELECT 1 FROM wallets WHERE user_id = $1 FOR UPDATE', [userId]);
        // With the rows locked elsewhere, only a refusal can finish before the lock timeout.
        const outcomes = await payOrders(db, [order(userId, [[product, 2]], { couponId: stranger }), order(userId, [[product, 3]])]);
        assert.deepEqual(outcomes.map(verdict), ['INVALID_COUPON', 'INSUFFICIENT_STOCK']);
      } finally {
        await holder.query('ROLLBACK');
        await holder.end();
      }
    });
  });
}
