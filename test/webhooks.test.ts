/**
 * Webhooks through a real receiver: the admin API, delivery through a
 * receiver's outage (errors and hangs), signatures checked with the
 * standardwebhooks package, ordering per subject, the circuit breaker,
 * manual retry, retention, and the SSRF guard.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { fundWallet, makeProduct } from './fixtures.js';
import { bearer, call, isError, setupApp, uniqueUser, type TestApp } from './helper.js';
import { startReceiver, waitFor } from './support/webhook-receiver.js';

const fast = { OUTBOX_POLL_MS: '20', WEBHOOK_RETRY_MIN_MS: '50', WEBHOOK_RETRY_MAX_MS: '300' };

async function register(t: TestApp, url: string, eventTypes: string[] = ['*']) {
  const response = await call(t.app, { method: 'POST', url: '/api/admin/webhooks', headers: await bearer(t.auth, 'admin', true), body: { url, eventTypes } });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body.webhook;
}

async function charge(t: TestApp, userId: string, amount = 1_000) {
  const response = await call(t.app, { method: 'POST', url: '/api/points/charge', headers: await bearer(t.auth, userId), body: { amount } });
  assert.equal(response.status, 200);
}

describe('webhook admin API', async () => {
  const t = await setupApp(fast, { ownDatabase: true });
  const admin = await bearer(t.auth, 'admin', true);

  it('needs an admin token', async () => {
    const anonymous = await call(t.app, { method: 'GET', url: '/api/admin/webhooks' });
    assert.equal(anonymous.status, 401);
    const user = await call(t.app, { method: 'POST', url: '/api/admin/webhooks', headers: await bearer(t.auth, 'u1'), body: { url: 'http://127.0.0.1:7200/', eventTypes: ['*'] } });
    assert.equal(user.status, 403);
    assert.ok(isError(user.body, 'FORBIDDEN'));
  });

  it('creates, lists, changes and deletes an endpoint; the secret is shown once', async () => {
    const created = await register(t, 'http://127.0.0.1:7201/in', ['order.paid', 'coupon.issued']);
    assert.deepEqual(Object.keys(created).sort(), ['consecutiveFailures', 'createdAt', 'disabledReason', 'enabled', 'eventTypes', 'id', 'secret', 'url']);
    assert.match(created.secret, /^whsec_[A-Za-z0-9+/]{40,}=*$/);
    assert.equal(created.enabled, true);
    assert.deepEqual(created.eventTypes, ['order.paid', 'coupon.issued']);
    const second = await register(t, 'http://127.0.0.1:7202/in');
    const page = await call(t.app, { method: 'GET', url: '/api/admin/webhooks?limit=1', headers: admin });
    assert.equal(page.status, 200);
    assert.equal(page.body.webhooks.length, 1);
    assert.equal(page.body.webhooks[0].id, created.id);
    assert.equal('secret' in page.body.webhooks[0], false);
    const next = await call(t.app, { method: 'GET', url: `/api/admin/webhooks?limit=1&cursor=${page.body.nextCursor}`, headers: admin });
    assert.equal(next.body.webhooks[0].id, second.id);
    const patched = await call(t.app, { method: 'PATCH', url: `/api/admin/webhooks/${created.id}`, headers: admin, body: { enabled: false, eventTypes: ['*'] } });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.webhook.enabled, false);
    assert.deepEqual(patched.body.webhook.eventTypes, ['*']);
    const deleted = await call(t.app, { method: 'DELETE', url: `/api/admin/webhooks/${created.id}`, headers: admin });
    assert.equal(deleted.status, 204);
    for (const [method, path] of [['DELETE', ''], ['PATCH', ''], ['GET', '/deliveries'], ['POST', '/deliveries/1/retry']] as const) {
      const gone = await call(t.app, { method, url: `/api/admin/webhooks/${created.id}${path}`, headers: admin, ...(method === 'PATCH' ? { body: { enabled: true } } : {}) });
      assert.equal(gone.status, 404, `${method} ${path}`);
      assert.ok(isError(gone.body, 'WEBHOOK_NOT_FOUND'));
    }
    const noDelivery = await call(t.app, { method: 'POST', url: `/api/admin/webhooks/${second.id}/deliveries/999999/retry`, headers: admin });
    assert.ok(isError(noDelivery.body, 'DELIVERY_NOT_FOUND'));
  });

  it('refuses malformed endpoints with 400 and stores nothing', async () => {
    const bad: unknown[] = [
      { url: 'ftp://127.0.0.1/x', eventTypes: ['*'] },
      { url: 'not a url', eventTypes: ['*'] },
      { url: 'http://user:pass@127.0.0.1/x', eventTypes: ['*'] },
      { url: 'http://127.0.0.1/x', eventTypes: ['*', 'order.paid'] },
      { url: 'http://127.0.0.1/x', eventTypes: ['order.shipped'] },
      { url: 'http://127.0.0.1/x', eventTypes: [] },
      { url: 'http://127.0.0.1/x', eventTypes: ['order.paid', 'order.paid'] },
      { url: 'http://127.0.0.1/x' },
      { url: 'http://127.0.0.1/x', eventTypes: ['*'], secret: 'mine' },
      { url: `http://127.0.0.1/${'x'.repeat(2_001)}`, eventTypes: ['*'] },
    ];
    const [before] = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhooks');
    for (const body of bad) {
      const response = await call(t.app, { method: 'POST', url: '/api/admin/webhooks', headers: admin, body });
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.ok(isError(response.body, 'VALIDATION_ERROR'), JSON.stringify(response.body));
    }
    const patch = await call(t.app, { method: 'PATCH', url: '/api/admin/webhooks/1', headers: admin, body: {} });
    assert.equal(patch.status, 400);
    const [afterwards] = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhooks');
    assert.equal(afterwards!.n, before!.n);
  });
});

describe('delivery through a receiver outage', async () => {
  const t = await setupApp({ ...fast, WEBHOOK_TIMEOUT_MS: '600', WEBHOOK_ATTEMPTS_MAX: '100' }, { ownDatabase: true });

  it('delivers every event once the receiver answers, signed, in order per subject', async () => {
    const failUntil = Date.now() + 2_000;
    // Errors and hangs in turn for two seconds, then 2xx.
    const receiver = await startReceiver(({ count }) => (Date.now() < failUntil ? (count % 2 === 0 ? 'hang' : 500) : 200));
    const webhook = await register(t, receiver.url);
    const product = await makeProduct(t.db, 1_000, 100);
    const buyers = await Promise.all(Array.from({ length: 6 }, async () => {
      const userId = uniqueUser('outage');
      await fundWallet(t.db, userId, 20_000);
      return { userId, headers: await bearer(t.auth, userId) };
    }));
    const orders: string[] = [];
    await Promise.all(buyers.map(async ({ userId, headers }) => {
      await charge(t, userId, 5_000);
      for (let i = 0; i < 3; i += 1) {
        const paid = await call(t.app, { method: 'POST', url: '/api/orders', headers: { ...headers, 'idempotency-key': randomUUID() }, body: { items: [{ productId: product, quantity: 1 }] } });
        assert.equal(paid.status, 200);
        orders.push(paid.body.orderId);
        if (i < 2) {
          const canceled = await call(t.app, { method: 'POST', url: `/api/orders/${paid.body.orderId}/cancel`, headers });
          assert.equal(canceled.status, 200);
        }
      }
    }));
    const expected = 6 * (1 + 3 + 2);
    // At least once: an attempt whose 2xx came after the deadline (a busy machine) is made again,
    // so the receiver dedupes on the id, as consumers must.
    const firstSeen = () => [...new Map(receiver.delivered.map((d) => [d.event.id, d] as const)).values()];
    await waitFor(() => firstSeen().length >= expected, 90_000, `${expected} events`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(receiver.requests > expected, 'some attempts failed first');
    assert.equal(firstSeen().length, expected);

    const verifier = new StandardWebhook(webhook.secret);
    for (const { headers, body } of receiver.delivered) verifier.verify(body, headers);
    const sample = receiver.delivered[0]!;
    const tampered = sample.body.replace(/"subject":"/, '"subject":"x');
    assert.throws(() => verifier.verify(tampered, sample.headers));
    assert.throws(() => verifier.verify(sample.body, { ...sample.headers, 'webhook-id': randomUUID() }));

    // Per subject, sequence grows in the order of delivery: paid before canceled.
    // A repeat of an event comes before the next event of its subject is sent, so order holds with repeats too.
    const last = new Map<string, bigint>();
    for (const { event } of receiver.delivered) {
      const sequence = BigInt(event.sequence);
      assert.ok((last.get(event.subject) ?? 0n) <= sequence, `subject ${event.subject} out of order`);
      last.set(event.subject, sequence);
    }
    for (const orderId of orders) {
      const types = firstSeen().filter((d) => d.event.subject === orderId).map((d) => d.event.type);
      assert.ok(types.length === 1 ? types[0] === 'order.paid' : types.join() === 'order.paid,order.canceled', types.join());
    }
    const deliveries = await call(t.app, { method: 'GET', url: `/api/admin/webhooks/${webhook.id}/deliveries?limit=100`, headers: await bearer(t.auth, 'admin', true) });
    assert.equal(deliveries.status, 200);
    assert.equal(deliveries.body.deliveries.length, expected);
    for (const delivery of deliveries.body.deliveries) {
      assert.equal(delivery.state, 'delivered');
      assert.equal(delivery.lastStatus, 200);
      assert.equal(delivery.nextAttemptAt, null);
      assert.ok(delivery.attempts >= 1 && delivery.deliveredAt !== null);
    }
    assert.ok(deliveries.body.deliveries.some((d: any) => d.attempts > 1), 'some deliveries needed retries');
  });
});

describe('circuit breaker, manual retry, retention', async () => {
  const t = await setupApp({ ...fast, WEBHOOK_ATTEMPTS_MAX: '2', WEBHOOK_DISABLE_AFTER: '2', OUTBOX_RETENTION_MS: '1000' }, { ownDatabase: true });
  const admin = await bearer(t.auth, 'admin', true);

  it('disables an endpoint after failed deliveries in a row, visibly, and retries on request', async () => {
    const receiver = await startReceiver(() => 500);
    const webhook = await register(t, receiver.url, ['points.charged']);
    const userId = uniqueUser('breaker');
    await charge(t, userId);
    await charge(t, userId);
    const read = async () => (await call(t.app, { method: 'GET', url: '/api/admin/webhooks', headers: admin })).body.webhooks.find((w: any) => w.id === webhook.id);
    await waitFor(async () => (await read()).enabled === false, 30_000, 'the breaker to open');
    const disabled = await read();
    assert.equal(disabled.disabledReason, 'CONSECUTIVE_FAILURES');
    assert.equal(disabled.consecutiveFailures, 2);
    assert.equal(receiver.requests, 4, 'two deliveries, two attempts each');
    const list = await call(t.app, { method: 'GET', url: `/api/admin/webhooks/${webhook.id}/deliveries`, headers: admin });
    assert.equal(list.body.deliveries.length, 2);
    for (const delivery of list.body.deliveries) {
      assert.equal(delivery.state, 'failed');
      assert.equal(delivery.attempts, 2);
      assert.equal(delivery.lastStatus, 500);
      assert.equal(delivery.eventType, 'points.charged');
    }
    // A disabled endpoint is sent nothing new.
    await charge(t, userId);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal((await call(t.app, { method: 'GET', url: `/api/admin/webhooks/${webhook.id}/deliveries`, headers: admin })).body.deliveries.length, 2);
    assert.equal(receiver.requests, 4);

    receiver.behaviour = () => 204;
    const enabled = await call(t.app, { method: 'PATCH', url: `/api/admin/webhooks/${webhook.id}`, headers: admin, body: { enabled: true } });
    assert.equal(enabled.body.webhook.enabled, true);
    assert.equal(enabled.body.webhook.consecutiveFailures, 0);
    assert.equal(enabled.body.webhook.disabledReason, null);
    const failed = list.body.deliveries[1];
    const retried = await call(t.app, { method: 'POST', url: `/api/admin/webhooks/${webhook.id}/deliveries/${failed.id}/retry`, headers: admin });
    assert.equal(retried.status, 202);
    assert.equal(retried.body.delivery.state, 'pending');
    await waitFor(() => receiver.delivered.length === 1, 10_000, 'the retried delivery');
    assert.equal(receiver.delivered[0]!.event.id, failed.eventId);
    await charge(t, userId, 2_000);
    await waitFor(() => receiver.delivered.length === 2, 10_000, 'a new delivery');
    assert.equal(receiver.delivered[1]!.event.data.amount, 2_000);
  });

  it('deletes relayed events past the retention', async () => {
    const userId = uniqueUser('retention');
    await charge(t, userId);
    const count = async () => (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE subject = $1', [userId]))[0]!.n;
    assert.equal(await count(), 1);
    await waitFor(async () => (await count()) === 0, 20_000, 'the purge');
    // Every older event went too (the failed deliveries of the breaker test with them), and their deliveries with them.
    const [left] = await t.db.query<{ events: number; deliveries: number }>(
      `SELECT (SELECT count(*)::int FROM outbox WHERE created_at < now() - interval '5 seconds') AS events,
              (SELECT count(*)::int FROM webhook_deliveries WHERE created_at < now() - interval '5 seconds') AS deliveries`,
    );
    assert.deepEqual(left, { events: 0, deliveries: 0 });
  });
});

describe('SSRF guard', async () => {
  const t = await setupApp({ ...fast, WEBHOOK_ALLOW_PRIVATE: 'false' }, { ownDatabase: true });

  it('refuses private and loopback targets at registration', async () => {
    const admin = await bearer(t.auth, 'admin', true);
    for (const url of ['http://127.0.0.1:7210/x', 'http://localhost:7210/x', 'http://10.0.0.8/x', 'http://[::1]:7210/x', 'http://169.254.169.254/latest', 'http://[::ffff:127.0.0.1]/x']) {
      const response = await call(t.app, { method: 'POST', url: '/api/admin/webhooks', headers: admin, body: { url, eventTypes: ['*'] } });
      assert.equal(response.status, 400, url);
      assert.ok(isError(response.body, 'WEBHOOK_URL_NOT_ALLOWED'), JSON.stringify(response.body));
    }
  });

  it('checks the resolved address again at delivery time', async () => {
    const receiver = await startReceiver();
    // An endpoint that passed registration and whose name now resolves to loopback.
    const [row] = await t.db.query<{ id: number }>(
      `INSERT INTO webhooks (url, event_types, secret) VALUES ($1, '{*}', $2) RETURNING id`,
      [receiver.url.replace('127.0.0.1', 'localhost'), `whsec_${Buffer.alloc(32, 7).toString('base64')}`],
    );
    await charge(t, uniqueUser('ssrf'));
    await waitFor(async () => {
      const [delivery] = await t.db.query<{ last_error: string | null }>('SELECT last_error FROM webhook_deliveries WHERE webhook_id = $1', [row!.id]);
      return delivery?.last_error != null;
    }, 10_000, 'a refused attempt');
    const [delivery] = await t.db.query<{ last_error: string; state: string }>('SELECT last_error, state FROM webhook_deliveries WHERE webhook_id = $1', [row!.id]);
    assert.match(delivery!.last_error, /^refused: .*non-public/);
    assert.equal(receiver.requests, 0);
  });
});
