/**
 * Events from a random mixed workload over real HTTP, delivered to a real
 * webhook receiver: one event per committed change, none for a refused
 * request, in the shapes of the API.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { cancelPending, recordPending } from '../src/recovery/recover.js';
import { makeProduct } from './fixtures.js';
import { bearer, httpCall, setupApp, uniqueUser } from './helper.js';
import { startReceiver, waitFor } from './support/webhook-receiver.js';

const { app, auth, db, url } = await setupApp({ OUTBOX_POLL_MS: '20', WEBHOOK_RETRY_MIN_MS: '50' }, { ownDatabase: true });

/** A small deterministic generator, so that a failing run can be replayed. */
function rng(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

type Expected = string[];

async function expectedFromDatabase(): Promise<Expected> {
  const keys: string[] = [];
  for (const row of await db.query<{ user_id: string; amount: number; balance_after: number }>(
    `SELECT user_id, amount, balance_after FROM point_ledger WHERE type = 'CHARGE'`,
  )) {
    keys.push(`points.charged|${row.user_id}|${row.amount}|${row.balance_after}`);
  }
  for (const row of await db.query<{ user_id: string; id: number }>(`SELECT user_id, id FROM coupons`)) {
    keys.push(`coupon.issued|${row.user_id}|${row.id}`);
  }
  for (const row of await db.query<{ id: string; status: string; reason: string | null; paid: boolean }>(
    `SELECT id, status, reason, paid_at IS NOT NULL AS paid FROM orders`,
  )) {
    if (row.paid) keys.push(`order.paid|${row.id}|success|`);
    if (row.status === 'failed') keys.push(`order.failed|${row.id}|failed|${row.reason}`);
    if (row.status === 'canceled') keys.push(`order.canceled|${row.id}|canceled|${row.reason}`);
  }
  return keys.sort();
}

function keyOf(event: any): string {
  switch (event.type) {
    case 'points.charged':
      return `points.charged|${event.subject}|${event.data.amount}|${event.data.balance}`;
    case 'coupon.issued':
      return `coupon.issued|${event.subject}|${event.data.coupon.id}`;
    default:
      return `${event.type}|${event.subject}|${event.data.order.status}|${event.data.order.reason ?? ''}`;
  }
}

describe('events of a mixed workload', () => {
  it('equal the committed changes one for one, in the API shapes, signed', async () => {
    const receiver = await startReceiver();
    const adminHeaders = await bearer(auth, 'admin', true);
    const base = await url();
    const created = await httpCall(base, { method: 'POST', url: '/api/admin/webhooks', headers: adminHeaders, body: { url: receiver.url, eventTypes: ['*'] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const secret: string = created.body.webhook.secret;

    const random = rng(14);
    const products = [await makeProduct(db, 1_000, 6), await makeProduct(db, 2_500, 3), await makeProduct(db, 700, 40)];
    const codes: string[] = [];
    for (const quantity of [3, 50]) {
      const code = `EV-${randomUUID().slice(0, 8)}`;
      const campaign = await httpCall(base, {
        method: 'POST',
        url: '/api/admin/coupons',
        headers: adminHeaders,
        body: { code, name: '이벤트 쿠폰', discountType: 'FIXED', discountValue: 300, totalQuantity: quantity },
      });
      assert.equal(campaign.status, 201);
      codes.push(code);
    }
    const users = await Promise.all(Array.from({ length: 12 }, async () => {
      const userId = uniqueUser('ev');
      return { userId, headers: await bearer(auth, userId) };
    }));
    const paid: Array<{ orderId: string; headers: Record<string, string> }> = [];
    const refused = { charges: 0, claims: 0, orders: 0 };

    const step = async (user: (typeof users)[number]) => {
      const roll = random();
      if (roll < 0.3) {
        // Some amounts break a rule (unit, minimum) and must leave no event.
        const amount = [5_000, 1_005, 500, 20_000][Math.floor(random() * 4)]!;
        const response = await httpCall(base, { method: 'POST', url: '/api/points/charge', headers: user.headers, body: { amount } });
        if (response.status !== 200) refused.charges += 1;
      } else if (roll < 0.5) {
        const couponCode = codes[Math.floor(random() * codes.length)]!;
        const response = await httpCall(base, { method: 'POST', url: '/api/coupons', headers: user.headers, body: { couponCode } });
        if (response.status !== 200) refused.claims += 1;
      } else if (roll < 0.85) {
        const productId = products[Math.floor(random() * products.length)]!;
        const response = await httpCall(base, {
          method: 'POST',
          url: '/api/orders',
          headers: { ...user.headers, 'idempotency-key': randomUUID() },
          body: { items: [{ productId, quantity: 1 + Math.floor(random() * 3) }] },
        });
        if (response.status === 200) paid.push({ orderId: response.body.orderId, headers: user.headers });
        else if (response.status === 404 || response.status === 400 && response.body.code === 'VALIDATION_ERROR') refused.orders += 1;
      } else if (paid.length > 0) {
        const target = paid.splice(Math.floor(random() * paid.length), 1)[0]!;
        const response = await httpCall(base, { method: 'POST', url: `/api/orders/${target.orderId}/cancel`, headers: target.headers });
        assert.equal(response.status, 200);
      }
    };
    for (let round = 0; round < 12; round += 1) await Promise.all(users.map(step));

    // Recovery: a paid order whose answer was lost, and one whose payment never committed.
    const lost = paid.pop();
    assert.ok(lost !== undefined, 'the workload paid some orders');
    const [row] = await db.query<any>(`SELECT user_id, idempotency_key, request_hash, total_amount, discount_amount, coupon_id FROM orders WHERE id = $1`, [lost.orderId]);
    const lines = await db.query<any>(`SELECT product_id, quantity, unit_price FROM order_items WHERE order_id = $1`, [lost.orderId]);
    const entryOf = (orderId: string, key: string) => ({
      orderId, userId: row.user_id, key, requestHash: row.request_hash,
      lines: lines.map((l) => ({ productId: l.product_id, quantity: l.quantity, unitPrice: l.unit_price })),
      couponId: row.coupon_id, totalAmount: row.total_amount, discountAmount: row.discount_amount, at: new Date().toISOString(),
    });
    const neverCommitted = randomUUID();
    for (const entry of [entryOf(lost.orderId, row.idempotency_key), entryOf(neverCommitted, randomUUID())]) {
      await recordPending(db, entry);
      assert.equal(await cancelPending(db, entry.orderId), true);
    }

    const expected = await expectedFromDatabase();
    await waitFor(() => receiver.delivered.length >= expected.length, 60_000, `${expected.length} deliveries`);
    // A moment more, for anything beyond the expected count to show up.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ids = receiver.delivered.map((delivery) => delivery.event.id);
    assert.equal(new Set(ids).size, ids.length, 'no event delivered twice');
    assert.deepEqual(receiver.delivered.map((delivery) => keyOf(delivery.event)).sort(), expected);
    assert.ok(refused.charges + refused.claims > 0, 'the workload had refusals');

    const verifier = new StandardWebhook(secret);
    for (const { headers, body, event } of receiver.delivered) {
      assert.deepEqual(verifier.verify(body, headers), event);
      assert.equal(headers['webhook-id'], event.id);
      assert.equal(event.specversion, '1.0');
      assert.equal(event.datacontenttype, 'application/json');
      assert.match(event.sequence, /^[1-9][0-9]*$/);
      assert.equal(new Date(event.time).toISOString(), event.time);
    }

    // Order events carry the order as GET /api/orders/:id shows it at that moment.
    const canceled = receiver.delivered.find((d) => d.event.type === 'order.canceled' && d.event.data.order.reason === 'USER_CANCELED');
    assert.ok(canceled !== undefined);
    const owner = users.find((user) => user.userId === canceled.event.data.userId)!;
    const read = await httpCall(base, { method: 'GET', url: `/api/orders/${canceled.event.subject}`, headers: owner.headers });
    assert.deepEqual(canceled.event.data.order, read.body.order);
    const recovered = receiver.delivered.filter((d) => d.event.subject === lost.orderId).map((d) => d.event);
    assert.deepEqual(recovered.map((event) => event.type), ['order.paid', 'order.canceled']);
    assert.equal(recovered[1].data.order.reason, 'SYSTEM_FAILURE');
    assert.ok(BigInt(recovered[0].sequence) < BigInt(recovered[1].sequence));
    assert.deepEqual(receiver.delivered.filter((d) => d.event.subject === neverCommitted).map((d) => d.event.type), ['order.canceled']);

    const [left] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox_unrelayed`);
    assert.equal(left!.n, 0);
    void app;
  });
});
