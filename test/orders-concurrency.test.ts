/**
 * Orders under real parallel HTTP requests, each followed by the invariants
 * of SPEC §9 checked from the database.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { balanceOf, couponState, fundWallet, issueCoupon, makeProduct, stockOf } from './fixtures.js';
import { bearer, httpCall, setupApp, uniqueUser } from './helper.js';
import { checkInvariants } from './support/invariants.js';

const t = await setupApp();
const { db, auth } = t;
const baseUrl = await t.url();

async function buyer(balance: number) {
  const userId = uniqueUser('rush');
  if (balance > 0) await fundWallet(db, userId, balance);
  return { userId, headers: await bearer(auth, userId) };
}

function order(headers: Record<string, string>, body: unknown, key: string = randomUUID()) {
  return httpCall(baseUrl, { method: 'POST', url: '/api/orders', headers: { ...headers, 'idempotency-key': key }, body });
}

function statusCounts(responses: Array<{ status: number }>): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { status } of responses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

async function assertInvariants(scope: { userIds: string[]; productIds: number[] }) {
  assert.deepEqual(await checkInvariants(db, scope), []);
}

describe('orders under concurrency', () => {
  it('flash sale: 200 buyers, stock 50 → exactly 50 paid, stock 0', async () => {
    const product = await makeProduct(db, 1_000, 50);
    const buyers = await Promise.all(Array.from({ length: 200 }, () => buyer(10_000)));
    const responses = await Promise.all(buyers.map((b) => order(b.headers, { items: [{ productId: product, quantity: 1 }] })));
    assert.deepEqual(statusCounts(responses), { 200: 50, 409: 150 });
    assert.ok(responses.filter((r) => r.status === 409).every((r) => r.body.code === 'INSUFFICIENT_STOCK'));
    assert.equal(await stockOf(db, product), 0);
    await assertInvariants({ userIds: buyers.map((b) => b.userId), productIds: [product] });
  });

  it('20 parallel orders against a balance for 10 → exactly 10 paid', async () => {
    const product = await makeProduct(db, 1_000, 1_000);
    const { userId, headers } = await buyer(10_000);
    const responses = await Promise.all(Array.from({ length: 20 }, () => order(headers, { items: [{ productId: product, quantity: 1 }] })));
    assert.deepEqual(statusCounts(responses), { 200: 10, 402: 10 });
    assert.equal(await balanceOf(db, userId), 0);
    assert.equal(await stockOf(db, product), 990);
    await assertInvariants({ userIds: [userId], productIds: [product] });
  });

  it('20 parallel requests with one key → one order', async () => {
    const product = await makeProduct(db, 1_000, 100);
    const { userId, headers } = await buyer(100_000);
    const key = randomUUID();
    const responses = await Promise.all(Array.from({ length: 20 }, () => order(headers, { items: [{ productId: product, quantity: 1 }] }, key)));
    assert.deepEqual(statusCounts(responses), { 200: 1, 409: 19 });
    const orderId = responses.find((r) => r.status === 200)!.body.orderId;
    assert.ok(responses.filter((r) => r.status === 409).every((r) => r.body.code === 'DUPLICATE_REQUEST' && r.body.orderId === orderId));
    const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM orders WHERE user_id = $1', [userId]);
    assert.equal(row!.n, 1);
    assert.equal(await balanceOf(db, userId), 99_000);
    await assertInvariants({ userIds: [userId], productIds: [product] });
  });

  it('one coupon in 10 parallel orders → used once', async () => {
    const product = await makeProduct(db, 5_000, 100);
    const { userId, headers } = await buyer(100_000);
    const couponId = await issueCoupon(db, userId, { discountValue: 2_000 });
    const responses = await Promise.all(Array.from({ length: 10 }, () => order(headers, { items: [{ productId: product, quantity: 1 }], couponId })));
    assert.deepEqual(statusCounts(responses), { 200: 1, 400: 9 });
    assert.ok(responses.filter((r) => r.status === 400).every((r) => r.body.code === 'INVALID_COUPON'));
    const paid = responses.find((r) => r.status === 200)!.body;
    assert.deepEqual(await couponState(db, couponId), { status: 'USED', orderId: paid.orderId });
    assert.equal(await balanceOf(db, userId), 97_000);
    await assertInvariants({ userIds: [userId], productIds: [product] });
  });

  it('multi-item orders naming the same products in opposite orders never surface a deadlock', async () => {
    const a = await makeProduct(db, 100, 10_000);
    const b = await makeProduct(db, 100, 10_000);
    const c = await makeProduct(db, 100, 10_000);
    const buyers = await Promise.all(Array.from({ length: 60 }, () => buyer(10_000)));
    const layouts = [[a, b, c], [c, b, a], [b, c, a], [a, c, b]];
    const responses = await Promise.all(
      buyers.map((buyerOf, i) => order(buyerOf.headers, { items: layouts[i % layouts.length]!.map((productId) => ({ productId, quantity: 1 + (i % 3) })) })),
    );
    assert.deepEqual(statusCounts(responses), { 200: 60 });
    const sold = buyers.reduce((sum, _b, i) => sum + 1 + (i % 3), 0);
    for (const product of [a, b, c]) assert.equal(await stockOf(db, product), 10_000 - sold);
    await assertInvariants({ userIds: buyers.map((x) => x.userId), productIds: [a, b, c] });
  });

  it('10 parallel cancels of one order → refunded once', async () => {
    const product = await makeProduct(db, 3_000, 10);
    const { userId, headers } = await buyer(10_000);
    const couponId = await issueCoupon(db, userId, { discountValue: 1_000 });
    const paid = await order(headers, { items: [{ productId: product, quantity: 2 }], couponId });
    assert.equal(paid.status, 200);
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => httpCall(baseUrl, { method: 'POST', url: `/api/orders/${paid.body.orderId}/cancel`, headers })),
    );
    assert.deepEqual(statusCounts(responses), { 200: 1, 409: 9 });
    assert.equal(await balanceOf(db, userId), 10_000);
    assert.equal(await stockOf(db, product), 10);
    assert.equal((await couponState(db, couponId)).status, 'AVAILABLE');
    await assertInvariants({ userIds: [userId], productIds: [product] });
  });

  it('orders and cancels racing on shared products keep stock exact', async () => {
    const product = await makeProduct(db, 1_000, 30);
    const buyers = await Promise.all(Array.from({ length: 40 }, () => buyer(5_000)));
    const first = await Promise.all(buyers.map((b) => order(b.headers, { items: [{ productId: product, quantity: 1 }] })));
    const winners = buyers.filter((_b, i) => first[i]!.status === 200);
    assert.equal(winners.length, 30);
    const cancels = winners.slice(0, 10).map((b) => {
      const orderId = first[buyers.indexOf(b)]!.body.orderId;
      return httpCall(baseUrl, { method: 'POST', url: `/api/orders/${orderId}/cancel`, headers: b.headers });
    });
    const losers = buyers.filter((_b, i) => first[i]!.status !== 200);
    const retries = losers.map((b) => order(b.headers, { items: [{ productId: product, quantity: 1 }] }));
    const [canceled, retried] = await Promise.all([Promise.all(cancels), Promise.all(retries)]);
    assert.deepEqual(statusCounts(canceled), { 200: 10 });
    const rebought = retried.filter((r) => r.status === 200).length;
    assert.equal(await stockOf(db, product), 10 - rebought);
    await assertInvariants({ userIds: buyers.map((b) => b.userId), productIds: [product] });
  });
});
