import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { restoreCoupon } from '../src/coupons/state.js';
import type { Queryable } from '../src/db.js';
import { fundWallet, makeProduct } from './fixtures.js';
import { bearer, call, isError, setupApp, uniqueUser } from './helper.js';

// A clock the tests may pin, to hit the issue window's edges exactly.
let pinned: Date | undefined;
const { app, auth, db } = await setupApp({}, { now: () => pinned ?? new Date() });
const admin = await bearer(auth, 'admin-1', true);
const dayMs = 86_400_000;

function uniqueCode(prefix = 'C'): string {
  return `${prefix}-${randomUUID()}`;
}

async function createCampaign(fields: Record<string, unknown> = {}) {
  const body = { code: uniqueCode(), name: '신규 가입 쿠폰', discountType: 'FIXED', discountValue: 3_000, totalQuantity: 10, ...fields };
  const response = await call(app, { method: 'POST', url: '/api/admin/coupons', headers: admin, body });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body.coupon;
}

async function claim(userId: string, couponCode: unknown) {
  return call(app, { method: 'POST', url: '/api/coupons', headers: await bearer(auth, userId), body: { couponCode } });
}

async function adminView(code: string) {
  return call(app, { method: 'GET', url: `/api/admin/coupons/${encodeURIComponent(code)}`, headers: admin });
}

async function countCampaigns(): Promise<number> {
  const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM coupon_campaigns');
  return row!.n;
}

function assertFailure(response: { status: number; body: any }, status: number, code: string, message?: string) {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.ok(isError(response.body, code), JSON.stringify(response.body));
  if (message !== undefined) assert.equal(response.body.message, message);
}

describe('coupon campaigns (admin)', () => {
  it('creates a campaign with defaults and reads it back with issuedQuantity', async () => {
    const coupon = await createCampaign({ discountType: 'RATE', discountValue: 10, maxDiscountAmount: 5_000 });
    assert.deepEqual(Object.keys(coupon).sort(), [
      'code', 'createdAt', 'discountType', 'discountValue', 'eligibleUserIds', 'id', 'issueEndsAt', 'issueStartsAt',
      'issuedQuantity', 'maxDiscountAmount', 'minOrderAmount', 'name', 'totalQuantity', 'validDays',
    ]);
    assert.equal(coupon.issuedQuantity, 0);
    assert.equal(coupon.minOrderAmount, 0);
    assert.equal(coupon.validDays, 30);
    assert.equal(coupon.eligibleUserIds, null);
    await claim(uniqueUser(), coupon.code);
    const read = await adminView(coupon.code);
    assert.equal(read.status, 200);
    assert.deepEqual(read.body.coupon, { ...coupon, issuedQuantity: 1 });
  });

  it('409 COUPON_CODE_TAKEN for a duplicate code; 404 for an unknown one; 403 for a non-admin', async () => {
    const coupon = await createCampaign();
    const again = await call(app, {
      method: 'POST', url: '/api/admin/coupons', headers: admin,
      body: { code: coupon.code, name: 'x', discountType: 'FIXED', discountValue: 1, totalQuantity: 1 },
    });
    assertFailure(again, 409, 'COUPON_CODE_TAKEN');
    assertFailure(await adminView(uniqueCode()), 404, 'COUPON_NOT_FOUND', '쿠폰을 찾을 수 없습니다.');
    const user = await bearer(auth, uniqueUser());
    assertFailure(await call(app, { method: 'GET', url: `/api/admin/coupons/${coupon.code}`, headers: user }), 403, 'FORBIDDEN');
    const created = await call(app, { method: 'POST', url: '/api/admin/coupons', headers: user, body: { code: uniqueCode(), name: 'x', discountType: 'FIXED', discountValue: 1, totalQuantity: 1 } });
    assertFailure(created, 403, 'FORBIDDEN');
  });

  const valid = { name: 'n', discountType: 'FIXED', discountValue: 1, totalQuantity: 1 };
  const badBodies: [string, unknown][] = [
    ['missing code', { ...valid }],
    ['empty code', { ...valid, code: '' }],
    ['65-char code', { ...valid, code: 'x'.repeat(65) }],
    ['numeric code', { ...valid, code: 42 }],
    ['unknown field', { ...valid, code: 'ok', extra: 1 }],
    ['RATE 101', { ...valid, code: 'ok', discountType: 'RATE', discountValue: 101 }],
    ['RATE 0', { ...valid, code: 'ok', discountType: 'RATE', discountValue: 0 }],
    ['FIXED 0', { ...valid, code: 'ok', discountValue: 0 }],
    ['string value', { ...valid, code: 'ok', discountValue: '1000' }],
    ['fractional value', { ...valid, code: 'ok', discountValue: 1.5 }],
    ['null quantity', { ...valid, code: 'ok', totalQuantity: null }],
    ['zero quantity', { ...valid, code: 'ok', totalQuantity: 0 }],
    ['absurd quantity', { ...valid, code: 'ok', totalQuantity: 1e12 }],
    ['unknown type', { ...valid, code: 'ok', discountType: 'PERCENT' }],
    ['cap on FIXED', { ...valid, code: 'ok', maxDiscountAmount: 100 }],
    ['validDays 0', { ...valid, code: 'ok', validDays: 0 }],
    ['negative minimum', { ...valid, code: 'ok', minOrderAmount: -1 }],
    ['not a date', { ...valid, code: 'ok', issueStartsAt: 'tomorrow' }],
    ['date without zone', { ...valid, code: 'ok', issueStartsAt: '2030-01-01T00:00:00' }],
    ['start after end', { ...valid, code: 'ok', issueStartsAt: '2030-01-02T00:00:00Z', issueEndsAt: '2030-01-01T00:00:00Z' }],
    ['start equals end', { ...valid, code: 'ok', issueStartsAt: '2030-01-01T00:00:00Z', issueEndsAt: '2030-01-01T00:00:00Z' }],
    ['empty eligible list', { ...valid, code: 'ok', eligibleUserIds: [] }],
    ['bad eligible id', { ...valid, code: 'ok', eligibleUserIds: ['x'.repeat(65)] }],
    ['numeric eligible id', { ...valid, code: 'ok', eligibleUserIds: [1] }],
    ['array body', []],
    ['broken JSON', '{"code": "x", '],
  ];
  for (const [label, body] of badBodies) {
    it(`400 VALIDATION_ERROR and nothing created: ${label}`, async () => {
      const before = await countCampaigns();
      const response = await call(app, { method: 'POST', url: '/api/admin/coupons', headers: admin, body });
      assertFailure(response, 400, 'VALIDATION_ERROR');
      assert.equal(await countCampaigns(), before);
    });
  }
});

describe('claiming a coupon (SPEC §6, seed 3-1, 3-2)', () => {
  it('issues a coupon that expires validDays after issue', async () => {
    pinned = new Date('2031-03-04T05:06:07.089Z');
    try {
      const campaign = await createCampaign({ validDays: 7, minOrderAmount: 20_000 });
      const response = await claim(uniqueUser(), campaign.code);
      assert.equal(response.status, 200);
      assert.equal(response.body.message, '쿠폰이 발급되었습니다.');
      const { coupon } = response.body;
      assert.equal(typeof coupon.id, 'number');
      assert.deepEqual(coupon, {
        id: coupon.id, code: campaign.code, name: campaign.name, discountType: 'FIXED', discountValue: 3_000,
        minOrderAmount: 20_000, expiresAt: new Date(pinned.getTime() + 7 * dayMs).toISOString(), status: 'AVAILABLE',
      });
    } finally {
      pinned = undefined;
    }
  });

  it('404, 409, 410 with the seed messages', async () => {
    assertFailure(await claim(uniqueUser(), uniqueCode()), 404, 'COUPON_NOT_FOUND', '쿠폰을 찾을 수 없습니다.');
    const campaign = await createCampaign({ totalQuantity: 1 });
    const winner = uniqueUser();
    assert.equal((await claim(winner, campaign.code)).status, 200);
    assertFailure(await claim(winner, campaign.code), 409, 'COUPON_ALREADY_ISSUED', '이미 발급받은 쿠폰입니다.');
    assertFailure(await claim(uniqueUser(), campaign.code), 410, 'COUPON_SOLD_OUT', '쿠폰 수량이 모두 소진되었습니다.');
    assert.equal((await adminView(campaign.code)).body.coupon.issuedQuantity, 1);
  });

  it('403 for a user not on the list; a listed user gets it', async () => {
    const listed = uniqueUser();
    const campaign = await createCampaign({ eligibleUserIds: [listed, uniqueUser()] });
    assertFailure(await claim(uniqueUser(), campaign.code), 403, 'COUPON_NOT_ELIGIBLE', '발급 대상이 아닙니다.');
    assert.equal((await claim(listed, campaign.code)).status, 200);
    assert.equal((await adminView(campaign.code)).body.coupon.issuedQuantity, 1);
  });

  it('the window includes issueStartsAt and excludes issueEndsAt', async () => {
    const start = new Date(Date.now() + dayMs);
    const end = new Date(start.getTime() + dayMs);
    const campaign = await createCampaign({ issueStartsAt: start.toISOString(), issueEndsAt: end.toISOString() });
    try {
      pinned = new Date(start.getTime() - 1);
      assertFailure(await claim(uniqueUser(), campaign.code), 403, 'COUPON_NOT_ELIGIBLE');
      pinned = start;
      assert.equal((await claim(uniqueUser(), campaign.code)).status, 200);
      pinned = new Date(end.getTime() - 1);
      assert.equal((await claim(uniqueUser(), campaign.code)).status, 200);
      pinned = end;
      assertFailure(await claim(uniqueUser(), campaign.code), 403, 'COUPON_NOT_ELIGIBLE');
    } finally {
      pinned = undefined;
    }
    // Without a pinned clock the window (tomorrow) has not opened yet.
    assertFailure(await claim(uniqueUser(), campaign.code), 403, 'COUPON_NOT_ELIGIBLE');
    assert.equal((await adminView(campaign.code)).body.coupon.issuedQuantity, 2);
  });

  it('precedence: 403 beats 410, 409 beats 410, 403 beats 409', async () => {
    const insider = uniqueUser();
    const campaign = await createCampaign({ totalQuantity: 1, eligibleUserIds: [insider] });
    assert.equal((await claim(insider, campaign.code)).status, 200);
    assertFailure(await claim(uniqueUser(), campaign.code), 403, 'COUPON_NOT_ELIGIBLE');
    assertFailure(await claim(insider, campaign.code), 409, 'COUPON_ALREADY_ISSUED');

    const ended = await createCampaign({ issueEndsAt: new Date(Date.now() + dayMs).toISOString() });
    const holder = uniqueUser();
    assert.equal((await claim(holder, ended.code)).status, 200);
    pinned = new Date(Date.now() + 2 * dayMs);
    try {
      assertFailure(await claim(holder, ended.code), 403, 'COUPON_NOT_ELIGIBLE');
    } finally {
      pinned = undefined;
    }
  });

  const badClaims: [string, unknown][] = [
    ['missing code', {}],
    ['numeric code', { couponCode: 1 }],
    ['null code', { couponCode: null }],
    ['empty code', { couponCode: '' }],
    ['65-char code', { couponCode: 'x'.repeat(65) }],
    ['unknown field', { couponCode: 'x', userId: 'someone' }],
  ];
  for (const [label, body] of badClaims) {
    it(`400 VALIDATION_ERROR for a claim with ${label}`, async () => {
      const response = await call(app, { method: 'POST', url: '/api/coupons', headers: await bearer(auth, uniqueUser()), body });
      assertFailure(response, 400, 'VALIDATION_ERROR');
    });
  }

  it('401 without a token', async () => {
    assertFailure(await call(app, { method: 'POST', url: '/api/coupons', body: { couponCode: 'x' } }), 401, 'UNAUTHORIZED');
    assertFailure(await call(app, { method: 'GET', url: '/api/coupons' }), 401, 'UNAUTHORIZED');
  });
});

describe('my coupons and the order-side state machine', () => {
  it('lists AVAILABLE, USED and EXPIRED, newest first, page by page', async () => {
    const userId = uniqueUser();
    const headers = await bearer(auth, userId);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push((await claim(userId, (await createCampaign({ validDays: 3 })).code)).body.coupon.id);
    await db.query(`UPDATE coupons SET expires_at = now() - interval '1 second' WHERE id = $1`, [ids[1]]);
    const productId = await makeProduct(db, 5_000, 1);
    await fundWallet(db, userId, 5_000);
    const paid = await call(app, { method: 'POST', url: '/api/orders', headers: { ...headers, 'idempotency-key': randomUUID() }, body: { items: [{ productId, quantity: 1 }], couponId: ids[3] } });
    assert.equal(paid.status, 200);

    const seen: any[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const page = await call(app, { method: 'GET', url: `/api/coupons?${query}`, headers });
      assert.equal(page.status, 200);
      assert.ok(page.body.coupons.length <= 2);
      seen.push(...page.body.coupons);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(seen.map((coupon) => coupon.id), [...ids].reverse());
    assert.deepEqual(seen.map((coupon) => coupon.status), ['AVAILABLE', 'USED', 'AVAILABLE', 'EXPIRED', 'AVAILABLE']);

    const other = await call(app, { method: 'GET', url: '/api/coupons', headers: await bearer(auth, uniqueUser()) });
    assert.deepEqual(other.body, { coupons: [], nextCursor: null });
    const forged = await call(app, { method: 'GET', url: '/api/coupons?cursor=abc.def', headers });
    assertFailure(forged, 400, 'VALIDATION_ERROR');
  });

  it('restoreCoupon moves a coupon back only for the order that used it', async () => {
    const userId = uniqueUser();
    const campaign = await createCampaign({ discountType: 'RATE', discountValue: 15, maxDiscountAmount: 9_000, minOrderAmount: 1_000 });
    const couponId = (await claim(userId, campaign.code)).body.coupon.id;
    const stored = async (q: Queryable) =>
      (await q.query<{ status: string; order_id: string | null }>('SELECT status, order_id FROM coupons WHERE id = $1', [couponId]))[0];

    const [orderA, orderB] = [randomUUID(), randomUUID()];
    // The payment (pay_orders) marks a coupon used; here the same move in SQL,
    // inside one transaction so that no other test ever sees a coupon used by
    // an order that does not exist.
    await db.transaction(async (tx) => {
      await tx.query(`UPDATE coupons SET status = 'USED', order_id = $2 WHERE id = $1`, [couponId, orderA]);
      assert.equal(await restoreCoupon(tx, couponId, orderB), false);
      assert.equal((await stored(tx))?.status, 'USED');
      assert.equal(await restoreCoupon(tx, couponId, orderA), true);
      assert.equal(await restoreCoupon(tx, couponId, orderA), false);
    });
    assert.deepEqual(await stored(db), { status: 'AVAILABLE', order_id: null });
  });
});
