/**
 * GET /api/products/popular (SPEC §5, seed 7-1) against the plain SQL over
 * order lines. Orders go through the real payment, the user's cancel and
 * recovery's cancel; their times are then moved far into the future
 * (whole hours, so other test files sharing the PostgreSQL database stay out
 * of the window) and spread over more than 72 hours, and the clock is put
 * where orders enter and leave the window.
 */
import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { PopularProducts } from '../src/products/popular.js';
import { primaryReads } from '../src/replica.js';
import { cancelPending } from '../src/recovery/recover.js';
import { transitionOrder } from '../src/orders/state.js';
import { fundWallet, makeProduct, stockOf } from './fixtures.js';
import { bearer, call, setupApp, uniqueUser } from './helper.js';

const hourMs = 3_600_000;
const windowMs = 72 * hourMs;
let clock: Date | undefined;
const { app, auth, db } = await setupApp({}, { ownDatabase: true, now: () => clock ?? new Date() });
const { popular } = app;
/** Another process's list, with so few candidates that the threshold test and the full sum both get their turn. */
const narrow = new PopularProducts(db, primaryReads(db), () => clock ?? new Date(), app.log, { candidatesMax: 2, grownMax: 1, paymentDurationMaxMs: 10_000 });

/** Whole hours ahead of real time where this file's orders are moved: no other file's orders are there. */
const shiftHours = 24 * (2_000 + randomInt(2_000)) + randomInt(24);

type Popular = { id: number; name: string; price: number; stock: number; soldQuantity: number };

/** A list built outside the app, as its route would send it. */
async function listOf(list: PopularProducts): Promise<Popular[]> {
  return (JSON.parse(await list.body()) as { products: Popular[] }).products;
}

async function popularAt(at: Date, headers: Record<string, string>): Promise<Popular[]> {
  clock = at;
  await popular.refresh();
  const response = await call(app, { method: 'GET', url: '/api/products/popular', headers });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.products;
}

/** The plain SQL of the contract: success orders paid in the 72 hours before `at`, ties by id. */
async function expectedAt(at: Date): Promise<Array<{ id: number; soldQuantity: number }>> {
  const rows = await db.query<{ id: number; sold: number }>(
    `SELECT oi.product_id AS id, sum(oi.quantity)::bigint AS sold
       FROM order_items oi JOIN orders o ON o.id = oi.order_id
      WHERE o.status = 'success' AND o.paid_at >= $1::timestamptz - interval '72 hours'
      GROUP BY oi.product_id ORDER BY sold DESC, oi.product_id LIMIT 5`,
    [at],
  );
  return rows.map((row) => ({ id: row.id, soldQuantity: row.sold }));
}

async function assertAgreesAt(at: Date, headers: Record<string, string>): Promise<void> {
  const served = await popularAt(at, headers);
  const expected = await expectedAt(at);
  assert.deepEqual(served.map((p) => ({ id: p.id, soldQuantity: p.soldQuantity })), expected, `at ${at.toISOString()}`);
  await narrow.refresh();
  assert.deepEqual((await listOf(narrow)).map((p) => ({ id: p.id, soldQuantity: p.soldQuantity })), expected, `narrow, at ${at.toISOString()}`);
  for (const product of served) assert.equal(product.stock, await stockOf(db, product.id));
}

/** The aggregate must equal its definition: lines of the orders holding effects, by product and paid hour. */
async function assertAggregateExact(products: number[]): Promise<void> {
  const kept = await db.query(
    `SELECT product_id::int AS p, bucket, quantity::int AS q FROM product_sales
      WHERE product_id = ANY($1::bigint[]) AND quantity > 0 ORDER BY 1, 2`,
    [products],
  );
  const defined = await db.query(
    `SELECT oi.product_id::int AS p, date_bin('1 hour', o.paid_at, timestamptz '2000-01-01 00:00+00') AS bucket, sum(oi.quantity)::int AS q
       FROM orders o JOIN order_items oi ON oi.order_id = o.id
      WHERE o.holds_effects AND oi.product_id = ANY($1::bigint[]) GROUP BY 1, 2 ORDER BY 1, 2`,
    [products],
  );
  assert.deepEqual(kept, defined);
}

function pick<T>(items: readonly T[], count: number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, count);
}

describe('GET /api/products/popular (seed 7-1)', () => {
  it('needs a token', async () => {
    const response = await call(app, { method: 'GET', url: '/api/products/popular' });
    assert.equal(response.status, 401);
  });

  it('is not taken for a product id, and lists nothing when nothing sold in the window', async () => {
    const headers = await bearer(auth, uniqueUser());
    assert.deepEqual(await popularAt(new Date(Date.now() + (shiftHours + 24) * hourMs), headers), []);
  });

  it('agrees exactly with the order lines, through cancels, recovery and the window edges', async () => {
    const products: number[] = [];
    for (let i = 0; i < 12; i++) products.push(await makeProduct(db, 100 + i, 5_000));
    const users = [];
    for (let i = 0; i < 4; i++) {
      const userId = uniqueUser('pop');
      await fundWallet(db, userId, 10_000_000);
      users.push(await bearer(auth, userId));
    }
    const paid: Array<{ orderId: string; headers: Record<string, string> }> = [];
    for (let i = 0; i < 60; i++) {
      const headers = users[randomInt(users.length)]!;
      const items = pick(products, 1 + randomInt(3)).map((productId) => ({ productId, quantity: 1 + randomInt(4) }));
      const response = await call(app, { method: 'POST', url: '/api/orders', headers: { ...headers, 'idempotency-key': randomUUID() }, body: { items } });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      paid.push({ orderId: response.body.orderId, headers });
    }
    const [userCanceled, recovered, stillPending, later] = [paid.slice(0, 6), paid.slice(6, 10), paid.slice(10, 12), paid.slice(12, 18)];
    for (const { orderId, headers } of userCanceled) {
      assert.equal((await call(app, { method: 'POST', url: `/api/orders/${orderId}/cancel`, headers })).status, 200);
    }
    // Recovery taking over paid orders whose answer was lost, then canceling some of them.
    for (const { orderId } of [...recovered, ...stillPending]) {
      await db.transaction((tx) => transitionOrder(tx, orderId, 'success', 'pending', null));
    }
    for (const { orderId } of recovered) assert.equal(await cancelPending(db, orderId), true);
    await assertAggregateExact(products);

    // Spread the orders over 80 hours, far ahead; the aggregate follows its definition.
    for (const { orderId } of paid) {
      await db.query(
        `UPDATE orders SET paid_at = paid_at + make_interval(hours => $2) - make_interval(secs => $3),
                           created_at = created_at + make_interval(hours => $2) - make_interval(secs => $3)
          WHERE id = $1`,
        [orderId, shiftHours, randomInt(80 * 3_600_000) / 1_000],
      );
    }
    await db.query(`DELETE FROM product_sales WHERE product_id = ANY($1::bigint[])`, [products]);
    await db.query(
      `INSERT INTO product_sales (product_id, bucket, quantity)
       SELECT oi.product_id, date_bin('1 hour', o.paid_at, timestamptz '2000-01-01 00:00+00'), sum(oi.quantity)
         FROM orders o JOIN order_items oi ON oi.order_id = o.id
        WHERE o.holds_effects AND oi.product_id = ANY($1::bigint[]) GROUP BY 1, 2`,
      [products],
    );
    // Cancels after the move take the lines out of the moved buckets.
    for (const { orderId, headers } of later) {
      assert.equal((await call(app, { method: 'POST', url: `/api/orders/${orderId}/cancel`, headers })).status, 200);
    }
    await assertAggregateExact(products);

    const headers = users[0]!;
    const times = (
      await db.query<{ paid_at: Date }>(`SELECT paid_at FROM orders WHERE id = ANY($1::uuid[]) AND status = 'success' ORDER BY paid_at`, [paid.map((p) => p.orderId)])
    ).map((row) => row.paid_at.getTime());
    const last = times.at(-1)!;
    let nonEmpty = 0;
    await assertAgreesAt(new Date(last), headers);
    await assertAgreesAt(new Date(last + windowMs / 2), headers);
    // Each order just inside the window (paid exactly 72 hours before) and just outside it.
    for (const paidAt of pick(times, 12)) {
      for (const at of [paidAt + windowMs, paidAt + windowMs + 1]) {
        await assertAgreesAt(new Date(at), headers);
        if ((await expectedAt(new Date(at))).length > 0) nonEmpty++;
      }
    }
    assert.ok(nonEmpty > 0);
    const full = await popularAt(new Date(last), headers);
    assert.equal(full.length, 5);
    assert.ok(full.every((p) => products.includes(p.id) && p.soldQuantity > 0));
    assert.deepEqual(await popularAt(new Date(last + windowMs + hourMs), headers), []);
    // Recovery finishes with the orders it took over; nothing changes in the list.
    const sold = async () => (await popularAt(new Date(last), headers)).map((p) => [p.id, p.soldQuantity]);
    const before = await sold();
    for (const { orderId } of stillPending) await cancelPending(db, orderId);
    await assertAggregateExact(products);
    assert.deepEqual(await sold(), before);
    await assertAgreesAt(new Date(last), headers);
  });

  it('a product that sells after the candidates were chosen enters the list', async () => {
    const userId = uniqueUser('pop-big');
    await fundWallet(db, userId, 1_000_000);
    const headers = await bearer(auth, userId);
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) ids.push(await makeProduct(db, 1, 1_000_000));
    const [a, b, c, d, e, f, g] = ids as [number, number, number, number, number, number, number];
    const buy = async (lines: Array<[number, number]>) => {
      const items = lines.map(([productId, quantity]) => ({ productId, quantity }));
      const response = await call(app, { method: 'POST', url: '/api/orders', headers: { ...headers, 'idempotency-key': randomUUID() }, body: { items } });
      assert.equal(response.status, 200, JSON.stringify(response.body));
    };
    // a 50,000, b 40,000, c 30,000, d 20,000, e 15,000, f 10,000: far above anything else sold.
    await buy([[a, 10_000], [b, 10_000], [c, 10_000], [d, 10_000], [e, 10_000], [f, 10_000]]);
    await buy([[a, 10_000], [b, 10_000], [c, 10_000], [d, 10_000], [e, 5_000]]);
    await buy([[a, 10_000], [b, 10_000], [c, 10_000]]);
    await buy([[a, 10_000], [b, 10_000]]);
    await buy([[a, 10_000]]);
    clock = undefined;
    // Five candidates (a … e); f's 10,000 is the threshold. g then sells 60,000 and only its growth can show it.
    const five = new PopularProducts(db, primaryReads(db), () => new Date(), app.log, { candidatesMax: 5, grownMax: 50, paymentDurationMaxMs: 10_000 });
    await five.refresh();
    assert.deepEqual((await listOf(five)).map((p) => p.id), [a, b, c, d, e]);
    for (let i = 0; i < 6; i++) await buy([[g, 10_000]]);
    await five.refresh();
    assert.deepEqual(
      (await listOf(five)).map((p) => [p.id, p.soldQuantity]),
      [[g, 60_000], [a, 50_000], [b, 40_000], [c, 30_000], [d, 20_000]],
    );
  });
});
