/**
 * The payment under real parallel HTTP: overlapping flash sales that share
 * their shoppers (which deadlocked when batches took locks in arrival order),
 * and orders while an admin keeps changing a price (which failed orders while
 * prices were taken from a cache). SPEC §7, §9.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { fundWallet, makeProduct } from './fixtures.js';
import { bearer, httpCall, setupApp, testDb, uniqueUser } from './helper.js';
import { checkInvariants } from './support/invariants.js';

const t = await setupApp();
const { db, auth } = t;
const baseUrl = await t.url();

/** A deterministic shuffle (a linear congruential generator), so a failing run can be replayed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const copy = [...items];
  let state = seed;
  for (let i = copy.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    const j = state % (i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

async function deadlocks(): Promise<number> {
  await db.query('SELECT pg_stat_clear_snapshot()');
  const [row] = await db.query<{ deadlocks: number }>('SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()');
  return row!.deadlocks;
}

function order(headers: Record<string, string>, items: Array<{ productId: number; quantity: number }>) {
  return httpCall(baseUrl, { method: 'POST', url: '/api/orders', headers: { ...headers, 'idempotency-key': randomUUID() }, body: { items } });
}

describe('overlapping flash sales with the same shoppers', () => {
  it('four hot products, crowds in different orders, multi-line orders across them: no deadlock, no 503', async () => {
    const products = [await makeProduct(db, 100, 400), await makeProduct(db, 150, 400), await makeProduct(db, 200, 400), await makeProduct(db, 250, 400)];
    const shoppers = await Promise.all(
      Array.from({ length: 24 }, async () => {
        const userId = uniqueUser('crowd');
        await fundWallet(db, userId, 60_000);
        return { userId, headers: await bearer(auth, userId) };
      }),
    );
    const before = testDb === 'postgres' ? await deadlocks() : 0;
    const rounds = 6;
    const statuses: Record<number, number> = {};
    for (let round = 0; round < rounds; round++) {
      const requests: Array<Promise<{ status: number }>> = [];
      products.forEach((productId, crowd) => {
        for (const shopper of shuffled(shoppers, round * 7 + crowd + 1)) {
          requests.push(order(shopper.headers, [{ productId, quantity: 1 }]));
        }
      });
      // Orders that hold two hot products at once, in both directions.
      for (const shopper of shuffled(shoppers, round + 101).slice(0, 12)) {
        const [a, b] = shuffled(products, round * 13 + shopper.userId.length).slice(0, 2) as [number, number];
        requests.push(order(shopper.headers, [{ productId: a, quantity: 1 }, { productId: b, quantity: 2 }]));
      }
      for (const { status } of await Promise.all(requests)) statuses[status] = (statuses[status] ?? 0) + 1;
    }
    const total = Object.values(statuses).reduce((sum, n) => sum + n, 0);
    assert.equal(total, rounds * (products.length * shoppers.length + 12));
    assert.deepEqual(Object.keys(statuses).filter((status) => !['200', '402', '409'].includes(status)), [], JSON.stringify(statuses));
    assert.ok((statuses[200] ?? 0) > 0);
    if (testDb === 'postgres') {
      // Each backend flushes its statistics within a second of going idle.
      await sleep(1_500);
      assert.equal(await deadlocks(), before, 'PostgreSQL detected a deadlock');
    }
    assert.deepEqual(await checkInvariants(db, { userIds: shoppers.map((s) => s.userId), productIds: products }), []);
  });
});

describe('a price that keeps changing during a sale', () => {
  it('pays every order with ample stock and balance, each line at a price current during its request', async () => {
    const productId = await makeProduct(db, 1_000, 100_000);
    const admin = await bearer(auth, uniqueUser('admin'), true);
    const buyers = await Promise.all(
      Array.from({ length: 60 }, async () => {
        const userId = uniqueUser('churn');
        await fundWallet(db, userId, 100_000);
        return { userId, headers: await bearer(auth, userId) };
      }),
    );
    // Prices set one at a time: price 1000 + i was set by a request sent at sent[i] and answered at answered[i].
    const sent: number[] = [0];
    const answered: number[] = [0];
    let churning = true;
    const churn = (async () => {
      for (let i = 1; churning && i < 100_000; i++) {
        sent.push(performance.now());
        const response = await httpCall(baseUrl, { method: 'PATCH', url: `/api/admin/products/${productId}`, headers: admin, body: { price: 1_000 + i } });
        assert.equal(response.status, 200);
        answered.push(performance.now());
      }
    })();

    const paid: Array<{ orderId: string; userId: string; unitPrice: number; paidAmount: number; from: number; to: number }> = [];
    await Promise.all(
      buyers.map(async (buyer) => {
        for (let n = 0; n < 6; n++) {
          const from = performance.now();
          const response = await order(buyer.headers, [{ productId, quantity: 2 }]);
          const to = performance.now();
          assert.equal(response.status, 200, JSON.stringify(response.body));
          const body = (response as { body: { orderId: string; items: Array<{ unitPrice: number }>; paidAmount: number } }).body;
          paid.push({ orderId: body.orderId, userId: buyer.userId, unitPrice: body.items[0]!.unitPrice, paidAmount: body.paidAmount, from, to });
        }
      }),
    );
    churning = false;
    await churn;
    assert.ok(sent.length > 3, 'the price changed during the sale');

    for (const line of paid) {
      const i = line.unitPrice - 1_000;
      assert.ok(i >= 0 && i < sent.length, `unitPrice ${line.unitPrice} was never set`);
      // Price i was current from some moment in [sent[i], answered[i]] until some moment in [sent[i+1], answered[i+1]].
      const becameCurrent = sent[i]!;
      const stoppedBeing = i + 1 < answered.length ? answered[i + 1]! : Infinity;
      assert.ok(becameCurrent <= line.to && stoppedBeing >= line.from, `order ${line.orderId} paid ${line.unitPrice}, not current during its request`);
      assert.equal(line.paidAmount, line.unitPrice * 2);
    }
    const uses = await db.query<{ order_id: string; amount: number }>(
      `SELECT order_id, amount FROM point_ledger WHERE type = 'USE' AND order_id = ANY ($1::uuid[])`,
      [paid.map((line) => line.orderId)],
    );
    const used = new Map(uses.map((row) => [row.order_id, row.amount]));
    assert.equal(used.size, paid.length);
    for (const line of paid) assert.equal(used.get(line.orderId), line.paidAmount);
    assert.deepEqual(await checkInvariants(db, { userIds: buyers.map((b) => b.userId), productIds: [productId] }), []);
  });
});
