/**
 * Group commit of single-line orders (migrations/008_order_batch_once.sql)
 * and the lock-free refusals of place_order and place_orders: each order of a
 * batch ends exactly as it would alone, and an order that cannot succeed
 * never queues for a lock.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { placeSameProductOrders, type PlaceOrderInput } from '../src/orders/queries.js';
import { balanceOf, fundWallet, issueCoupon, makeProduct, stockOf } from './fixtures.js';
import { setupApp, testDb, uniqueUser } from './helper.js';
import { checkInvariants } from './support/invariants.js';

const { db, config } = await setupApp();

function input(userId: string, productId: number, quantity: number, extra: Partial<PlaceOrderInput> = {}): PlaceOrderInput {
  return {
    orderId: randomUUID(),
    userId,
    key: randomUUID(),
    requestHash: 'h',
    lines: [{ productId, quantity, unitPrice: 1_000 }],
    couponId: null,
    couponOk: true,
    totalAmount: 1_000 * quantity,
    discountAmount: 0,
    ...extra,
  };
}

describe('a batch of orders of one product', () => {
  it('ends each order as it would alone, in order, with one commit', async () => {
    const product = await makeProduct(db, 1_000, 3);
    const rich = uniqueUser();
    const poor = uniqueUser();
    await fundWallet(db, rich, 10_000);
    await fundWallet(db, poor, 500);
    const stranger = await issueCoupon(db, uniqueUser());
    const first = input(rich, product, 2);
    const twin = { ...input(rich, product, 1), key: first.key };
    const batch = [
      first,
      twin,
      input(poor, product, 1),
      input(rich, product, 1, { couponId: stranger }),
      input(rich, product, 1),
      input(rich, product, 1),
    ];
    const outcomes = await placeSameProductOrders(db, product, batch);
    assert.deepEqual(
      outcomes.map((o) => (o.kind === 'failed' ? o.reason : o.kind)),
      ['success', 'duplicate', 'INSUFFICIENT_BALANCE', 'INVALID_COUPON', 'success', 'INSUFFICIENT_STOCK'],
    );
    assert.equal(await stockOf(db, product), 0);
    assert.equal(await balanceOf(db, rich), 7_000);
    const sold = await db.query<{ quantity: string }>('SELECT sum(quantity)::text AS quantity FROM product_sales WHERE product_id = $1', [product]);
    assert.equal(Number(sold[0]!.quantity), 3);
    const ledger = await db.query<{ amount: string; balance_after: string }>(
      `SELECT amount::text, balance_after::text FROM point_ledger WHERE user_id = $1 AND type = 'USE' ORDER BY balance_after DESC`, [rich]);
    assert.deepEqual(ledger.map((r) => [Number(r.amount), Number(r.balance_after)]), [[2_000, 8_000], [1_000, 7_000]]);
    assert.equal(await balanceOf(db, poor), 500);
    assert.deepEqual(await checkInvariants(db, { userIds: [rich, poor], productIds: [product] }), []);
  });

  it('an order whose id is already taken (a recovery fence) answers stale and changes nothing', async () => {
    const product = await makeProduct(db, 1_000, 5);
    const userId = uniqueUser();
    await fundWallet(db, userId, 10_000);
    const fenced = input(userId, product, 1);
    await db.query(
      `INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, total_amount, discount_amount, paid_amount)
         VALUES ($1, $2, $3, 'h', 'canceled', 1000, 0, 1000)`,
      [fenced.orderId, userId, randomUUID()],
    );
    const outcomes = await placeSameProductOrders(db, product, [input(userId, product, 1), fenced, input(userId, product, 1)]);
    assert.deepEqual(outcomes.map((o) => o.kind), ['success', 'stale', 'success']);
    assert.equal(await stockOf(db, product), 3);
    assert.equal(await balanceOf(db, userId), 8_000);
  });
});

if (testDb === 'postgres') {
  describe('refusals take no lock', () => {
    it('a sold-out order is refused while another transaction holds the product row', async () => {
      const product = await makeProduct(db, 1_000, 1);
      const userId = uniqueUser();
      await fundWallet(db, userId, 10_000);
      const holder = new pg.Client({ connectionString: config.databaseUrl });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT 1 FROM products WHERE id = $1 FOR UPDATE', [product]);
        // With the row locked elsewhere, only a refusal can finish before the lock timeout.
        const [outcome] = await placeSameProductOrders(db, product, [input(userId, product, 2)]);
        assert.equal(outcome!.kind === 'failed' && outcome!.reason, 'INSUFFICIENT_STOCK');
        // A batch none of whose orders the stock can serve is refused the same way, coupon first.
        const stranger = await issueCoupon(db, uniqueUser());
        const outcomes = await placeSameProductOrders(db, product, [input(userId, product, 2, { couponId: stranger }), input(userId, product, 3)]);
        assert.deepEqual(outcomes.map((o) => (o.kind === 'failed' ? o.reason : o.kind)), ['INVALID_COUPON', 'INSUFFICIENT_STOCK']);
      } finally {
        await holder.query('ROLLBACK');
        await holder.end();
      }
    });
  });
}
