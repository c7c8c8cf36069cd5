/**
 * The admin cancel and the user's cancel racing over real HTTP: one of them
 * cancels, once, and the invariants of SPEC §9 hold.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { balanceOf, couponState, fundWallet, issueCoupon, ledgerOf, makeProduct, stockOf } from './fixtures.js';
import { bearer, httpCall, setupApp, uniqueUser } from './helper.js';
import { checkInvariants } from './support/invariants.js';

const { auth, db, url } = await setupApp();
const baseUrl = await url();

it('twenty admin and twenty user cancels of one order: one 200, the rest 409, one refund', async () => {
  const admin = await bearer(auth, uniqueUser('admin'), true);
  const orders = [];
  for (let i = 0; i < 3; i++) {
    const userId = uniqueUser('racer');
    const headers = await bearer(auth, userId);
    await fundWallet(db, userId, 30_000);
    const productId = await makeProduct(db, 4_000, 5);
    const couponId = await issueCoupon(db, userId, { discountValue: 500 });
    const paid = await httpCall(baseUrl, {
      method: 'POST',
      url: '/api/orders',
      headers: { ...headers, 'idempotency-key': randomUUID() },
      body: { items: [{ productId, quantity: 3 }], couponId },
    });
    assert.equal(paid.status, 200);
    orders.push({ userId, headers, productId, couponId, orderId: paid.body.orderId as string });
  }

  await Promise.all(
    orders.map(async ({ userId, headers, productId, couponId, orderId }) => {
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          httpCall(baseUrl, {
            method: 'POST',
            url: i % 2 === 0 ? `/api/admin/orders/${orderId}/cancel` : `/api/orders/${orderId}/cancel`,
            headers: i % 2 === 0 ? admin : headers,
          }),
        ),
      );
      const statuses = answers.map((answer) => answer.status);
      assert.equal(statuses.filter((status) => status === 200).length, 1, JSON.stringify(statuses));
      assert.equal(statuses.filter((status) => status === 409).length, 39, JSON.stringify(statuses));
      const winner = answers.find((answer) => answer.status === 200)!;
      assert.ok(['ADMIN_CANCELED', 'USER_CANCELED'].includes(winner.body.order.reason));
      assert.equal(await balanceOf(db, userId), 30_000);
      assert.equal(await stockOf(db, productId), 5);
      assert.equal((await couponState(db, couponId)).status, 'AVAILABLE');
      assert.equal((await ledgerOf(db, userId)).filter((entry) => entry.type === 'REFUND').length, 1);
    }),
  );
  assert.deepEqual(
    await checkInvariants(db, { userIds: orders.map((order) => order.userId), productIds: orders.map((order) => order.productId) }),
    [],
  );
});
