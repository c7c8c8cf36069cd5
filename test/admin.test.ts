import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { balanceOf, couponState, fundWallet, issueCoupon, ledgerOf, makeProduct, stockOf } from './fixtures.js';
import { bearer, call, isError, setupApp, uniqueUser } from './helper.js';

const { app, auth, db } = await setupApp();
const admin = await bearer(auth, uniqueUser('admin'), true);

async function paidOrder(options: { coupon?: boolean } = {}) {
  const userId = uniqueUser('buyer');
  const headers = await bearer(auth, userId);
  await fundWallet(db, userId, 50_000);
  const productId = await makeProduct(db, 7_000, 10);
  const couponId = options.coupon === true ? await issueCoupon(db, userId, { discountValue: 1_000 }) : undefined;
  const response = await call(app, {
    method: 'POST',
    url: '/api/orders',
    headers: { ...headers, 'idempotency-key': randomUUID() },
    body: { items: [{ productId, quantity: 2 }], ...(couponId === undefined ? {} : { couponId }) },
  });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return { userId, headers, productId, couponId, orderId: response.body.orderId as string };
}

const get = (url: string, headers = admin) => call(app, { method: 'GET', url, headers });
const cancel = (orderId: string, headers = admin) => call(app, { method: 'POST', url: `/api/admin/orders/${orderId}/cancel`, headers });

describe('admin routes need the admin role', () => {
  const routes: Array<['GET' | 'POST', string]> = [
    ['GET', '/api/admin/orders?userId=someone'],
    ['GET', `/api/admin/orders/${randomUUID()}`],
    ['POST', `/api/admin/orders/${randomUUID()}/cancel`],
    ['GET', '/api/admin/users/someone/wallet'],
    ['GET', '/api/admin/coupons'],
    ['GET', '/api/admin/recovery'],
  ];

  for (const [method, url] of routes) {
    it(`${method} ${url.split('?')[0]}: 401 without a token, 403 for a user`, async () => {
      const anonymous = await call(app, { method, url });
      assert.equal(anonymous.status, 401);
      assert.ok(isError(anonymous.body, 'UNAUTHORIZED'));
      const user = await call(app, { method, url, headers: await bearer(auth, uniqueUser()) });
      assert.equal(user.status, 403);
      assert.ok(isError(user.body, 'FORBIDDEN'));
    });
  }

  it('every admin route is in the OpenAPI document with response schemas', async () => {
    const { body } = await get('/openapi.json');
    for (const [method, path] of [
      ['get', '/api/admin/orders'],
      ['get', '/api/admin/orders/{id}'],
      ['post', '/api/admin/orders/{id}/cancel'],
      ['get', '/api/admin/users/{userId}/wallet'],
      ['get', '/api/admin/coupons'],
      ['get', '/api/admin/recovery'],
    ] as const) {
      const operation = body.paths[path]?.[method];
      assert.ok(operation !== undefined, `${method} ${path} is documented`);
      assert.ok(operation.responses['200'].content['application/json'].schema.properties, `${method} ${path} has a 200 schema`);
      assert.ok(operation.responses['403'] !== undefined, `${method} ${path} documents 403`);
    }
  });
});

describe('admin orders', () => {
  it('finds any user\'s order by id, with its owner', async () => {
    const { userId, orderId, productId } = await paidOrder();
    const response = await get(`/api/admin/orders/${orderId}`);
    assert.equal(response.status, 200);
    assert.equal(response.body.order.userId, userId);
    assert.equal(response.body.order.status, 'success');
    assert.deepEqual(response.body.order.items, [{ productId, quantity: 2, unitPrice: 7_000 }]);
    assert.equal(response.body.order.paidAmount, 14_000);
  });

  it('404 for an unknown order, 400 for an id that is not a UUID', async () => {
    const unknown = await get(`/api/admin/orders/${randomUUID()}`);
    assert.equal(unknown.status, 404);
    assert.ok(isError(unknown.body, 'ORDER_NOT_FOUND'));
    const bad = await get('/api/admin/orders/12');
    assert.equal(bad.status, 400);
    assert.ok(isError(bad.body, 'VALIDATION_ERROR'));
  });

  it('lists a user\'s orders newest first, in pages, filtered by status', async () => {
    const first = await paidOrder();
    const userHeaders = first.headers;
    const second = await call(app, {
      method: 'POST',
      url: '/api/orders',
      headers: { ...userHeaders, 'idempotency-key': randomUUID() },
      body: { items: [{ productId: first.productId, quantity: 1 }] },
    });
    assert.equal(second.status, 200);
    const broke = await call(app, {
      method: 'POST',
      url: '/api/orders',
      headers: { ...userHeaders, 'idempotency-key': randomUUID() },
      body: { items: [{ productId: first.productId, quantity: 6 }] },
    });
    assert.equal(broke.status, 402);

    const page1 = await get(`/api/admin/orders?userId=${first.userId}&limit=2`);
    assert.equal(page1.status, 200);
    assert.deepEqual(page1.body.orders.map((order: { orderId: string }) => order.orderId), [broke.body.orderId, second.body.orderId]);
    assert.equal(typeof page1.body.nextCursor, 'string');
    const page2 = await get(`/api/admin/orders?userId=${first.userId}&limit=2&cursor=${page1.body.nextCursor}`);
    assert.deepEqual(page2.body.orders.map((order: { orderId: string }) => order.orderId), [first.orderId]);
    assert.equal(page2.body.nextCursor, null);

    const failed = await get(`/api/admin/orders?userId=${first.userId}&status=failed`);
    assert.deepEqual(failed.body.orders.map((order: { status: string; reason: string }) => [order.status, order.reason]), [['failed', 'INSUFFICIENT_BALANCE']]);
    assert.equal(failed.body.orders[0].userId, first.userId);

    // A cursor is good only for the filter that issued it.
    const otherFilter = await get(`/api/admin/orders?userId=${first.userId}&status=success&cursor=${page1.body.nextCursor}`);
    assert.equal(otherFilter.status, 400);
    assert.ok(isError(otherFilter.body, 'VALIDATION_ERROR'));
  });

  it('lists pending orders of every user; any other list needs a user', async () => {
    const pending = await get('/api/admin/orders?status=pending');
    assert.equal(pending.status, 200);
    assert.ok(pending.body.orders.every((order: { status: string }) => order.status === 'pending'));
    for (const query of ['', '?status=success', '?limit=5']) {
      const response = await get(`/api/admin/orders${query}`);
      assert.equal(response.status, 400, query);
      assert.ok(isError(response.body, 'VALIDATION_ERROR'));
    }
  });

  it('400 for bad list input', async () => {
    for (const query of [
      'userId=a&status=paid',
      `userId=${'x'.repeat(65)}`,
      'userId=a&limit=0',
      'userId=a&limit=101',
      'userId=a&cursor=forged',
      'userId=a&extra=1',
      'userId=a%00b',
    ]) {
      const response = await get(`/api/admin/orders?${query}`);
      assert.equal(response.status, 400, query);
      assert.ok(isError(response.body, 'VALIDATION_ERROR'), query);
    }
  });
});

describe('admin cancel (reason ADMIN_CANCELED)', () => {
  it('gives back points, stock and the coupon, once', async () => {
    const { userId, headers, orderId, productId, couponId } = await paidOrder({ coupon: true });
    assert.equal(await balanceOf(db, userId), 50_000 - 13_000);
    assert.equal(await stockOf(db, productId), 8);

    const response = await cancel(orderId);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.order.status, 'canceled');
    assert.equal(response.body.order.reason, 'ADMIN_CANCELED');
    assert.equal(response.body.order.userId, userId);
    assert.equal(await balanceOf(db, userId), 50_000);
    assert.equal(await stockOf(db, productId), 10);
    assert.deepEqual(await couponState(db, couponId!), { status: 'AVAILABLE', orderId: null });
    assert.deepEqual((await ledgerOf(db, userId)).at(-1), { type: 'REFUND', amount: 13_000, orderId });

    // The user sees who canceled it.
    const mine = await call(app, { method: 'GET', url: `/api/orders/${orderId}`, headers });
    assert.equal(mine.body.order.status, 'canceled');
    assert.equal(mine.body.order.reason, 'ADMIN_CANCELED');

    const again = await cancel(orderId);
    assert.equal(again.status, 409);
    assert.ok(isError(again.body, 'ORDER_NOT_CANCELABLE'));
    const byUser = await call(app, { method: 'POST', url: `/api/orders/${orderId}/cancel`, headers });
    assert.equal(byUser.status, 409);
    assert.equal(await balanceOf(db, userId), 50_000);
    assert.equal((await ledgerOf(db, userId)).filter((entry) => entry.type === 'REFUND').length, 1);
  });

  it('409 for a failed order, 404 for an unknown one, 400 for a bad id, 403 for a user', async () => {
    const { userId, productId, headers } = await paidOrder();
    const failed = await call(app, {
      method: 'POST',
      url: '/api/orders',
      headers: { ...headers, 'idempotency-key': randomUUID() },
      body: { items: [{ productId, quantity: 8 }] },
    });
    assert.equal(failed.status, 402);
    const refused = await cancel(failed.body.orderId);
    assert.equal(refused.status, 409);
    assert.ok(isError(refused.body, 'ORDER_NOT_CANCELABLE'));
    assert.equal((await cancel(randomUUID())).status, 404);
    assert.equal((await cancel('not-a-uuid')).status, 400);
    const { orderId } = await paidOrder();
    const asUser = await cancel(orderId, await bearer(auth, userId));
    assert.equal(asUser.status, 403);
    assert.equal((await get(`/api/admin/orders/${orderId}`)).body.order.status, 'success');
  });

  it('the user\'s cancel still refuses another user\'s order as unknown', async () => {
    const { orderId } = await paidOrder();
    const stranger = await call(app, { method: 'POST', url: `/api/orders/${orderId}/cancel`, headers: await bearer(auth, uniqueUser()) });
    assert.equal(stranger.status, 404);
    assert.equal((await get(`/api/admin/orders/${orderId}`)).body.order.status, 'success');
  });
});

describe('admin wallet view', () => {
  it('shows the balance and the ledger, newest first, in pages', async () => {
    const { userId, orderId } = await paidOrder();
    const page1 = await get(`/api/admin/users/${userId}/wallet?limit=1`);
    assert.equal(page1.status, 200);
    assert.equal(page1.body.userId, userId);
    assert.equal(page1.body.balance, 36_000);
    assert.deepEqual(
      page1.body.entries.map((entry: { type: string; amount: number; balanceAfter: number; orderId: string | null }) => [entry.type, entry.amount, entry.balanceAfter, entry.orderId]),
      [['USE', 14_000, 36_000, orderId]],
    );
    const page2 = await get(`/api/admin/users/${userId}/wallet?limit=1&cursor=${page1.body.nextCursor}`);
    assert.deepEqual(page2.body.entries.map((entry: { type: string }) => entry.type), ['CHARGE']);
    assert.equal(page2.body.nextCursor, null);

    // A cursor of one user's ledger does not page another's.
    const other = await get(`/api/admin/users/${uniqueUser()}/wallet?cursor=${page1.body.nextCursor}`);
    assert.equal(other.status, 400);
  });

  it('a user never seen has 0 and no entries; bad ids are 400', async () => {
    const response = await get(`/api/admin/users/${uniqueUser()}/wallet`);
    assert.equal(response.status, 200);
    assert.equal(response.body.balance, 0);
    assert.deepEqual(response.body.entries, []);
    assert.equal(response.body.nextCursor, null);
    for (const url of [`/api/admin/users/${'x'.repeat(65)}/wallet`, '/api/admin/users/a%00b/wallet', '/api/admin/users/a/wallet?limit=abc']) {
      const bad = await get(url);
      assert.equal(bad.status, 400, url);
      assert.ok(isError(bad.body, 'VALIDATION_ERROR'), url);
    }
    assert.equal((await get('/api/admin/users//wallet')).status, 400);
  });
});

describe('admin campaign list', () => {
  it('lists campaigns newest first with issued counts, in pages', async () => {
    const codes = [];
    for (let i = 0; i < 3; i++) {
      const code = `ADMIN-LIST-${randomUUID().slice(0, 8)}`;
      const created = await call(app, {
        method: 'POST',
        url: '/api/admin/coupons',
        headers: admin,
        body: { code, name: `캠페인 ${i}`, discountType: 'FIXED', discountValue: 500, totalQuantity: 3 },
      });
      assert.equal(created.status, 201);
      codes.push(code);
    }
    const claim = await call(app, { method: 'POST', url: '/api/coupons', headers: await bearer(auth, uniqueUser()), body: { couponCode: codes[2] } });
    assert.equal(claim.status, 200);

    const page1 = await get('/api/admin/coupons?limit=2');
    assert.equal(page1.status, 200);
    assert.deepEqual(page1.body.coupons.map((coupon: { code: string }) => coupon.code), [codes[2], codes[1]]);
    assert.deepEqual(page1.body.coupons.map((coupon: { issuedQuantity: number; totalQuantity: number }) => [coupon.issuedQuantity, coupon.totalQuantity]), [[1, 3], [0, 3]]);
    const page2 = await get(`/api/admin/coupons?limit=2&cursor=${page1.body.nextCursor}`);
    assert.equal(page2.body.coupons[0].code, codes[0]);

    const forged = await get('/api/admin/coupons?cursor=abc.def');
    assert.equal(forged.status, 400);
    // A cursor of another list is not one of this list.
    const { userId } = await paidOrder();
    const wallet = await get(`/api/admin/users/${userId}/wallet?limit=1`);
    const wrongScope = await get(`/api/admin/coupons?cursor=${wallet.body.nextCursor}`);
    assert.equal(wrongScope.status, 400);
  });
});

describe('admin recovery view', () => {
  it('reports the database, the backlog and the journal', async () => {
    const response = await get('/api/admin/recovery');
    assert.equal(response.status, 200);
    assert.equal(response.body.database, 'ready');
    assert.equal(response.body.journalBacklog, 0);
    assert.deepEqual(response.body.journal, []);
    assert.equal(typeof response.body.pendingOrders, 'number');
  });
});
