/**
 * `GET /metrics` of a real service process: after a known workload, every
 * counter and histogram count moved by exactly what the workload did, and no
 * label holds a raw id.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Authenticator } from '../src/auth.js';
import { jwtSecret, setupApp, testDb, uniqueUser } from './helper.js';
import { api, createProduct, fund, ownPort, scrape, tokenHeader, sampleValue, type Sample } from './support/ops.js';
import { startService, stopAll } from './support/service-process.js';
import { startReceiver } from './support/webhook-receiver.js';

after(stopAll);

const auth = new Authenticator(jwtSecret);
const metricsPort = ownPort(7310);
const { config } = testDb === 'postgres' ? await setupApp({}, { ownDatabase: true }) : { config: undefined };
const service = await startService({
  env: {
    JWT_SECRET: jwtSecret,
    LOG_LEVEL: 'warn',
    METRICS_PORT: String(metricsPort),
    // The events case: a failed delivery is tried once more soon, then given up, and one given up stops its endpoint.
    WEBHOOK_RETRY_MIN_MS: '10',
    WEBHOOK_RETRY_MAX_MS: '50',
    WEBHOOK_ATTEMPTS_MAX: '2',
    WEBHOOK_DISABLE_AFTER: '1',
    ...(config === undefined ? {} : { DATABASE_URL: config.databaseUrl! }),
  },
});
const metricsUrl = `http://127.0.0.1:${metricsPort}`;

function delta(before: Sample[], now: Sample[], name: string, labels: Record<string, string> = {}): number {
  return sampleValue(now, name, labels) - sampleValue(before, name, labels);
}

describe('metrics', () => {
  it('counts exactly what a known workload did', async () => {
    const buyer = uniqueUser('metered');
    const broke = uniqueUser('broke');
    const admin = tokenHeader(auth, 'metrics-admin', true);
    const scarce = await createProduct(service.url, auth, 1_000, 3);
    const plenty = await createProduct(service.url, auth, 2_000, 100);
    await fund(service.url, auth, buyer, 100_000);
    const before = await scrape(metricsUrl);
    let requests = 0;
    const send = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
      requests++;
      return api(service.url, method, path, headers, body);
    };
    const order = (userId: string, items: unknown, key = randomUUID()) => send('POST', '/api/orders', { ...tokenHeader(auth, userId), 'idempotency-key': key }, { items });

    for (let i = 0; i < 5; i++) assert.equal((await send('GET', '/health', {})).status, 200);
    const firstKey = randomUUID();
    const paid = [await order(buyer, [{ productId: scarce, quantity: 1 }], firstKey)];
    for (let i = 0; i < 2; i++) paid.push(await order(buyer, [{ productId: scarce, quantity: 1 }]));
    assert.deepEqual(paid.map((r) => r.status), [200, 200, 200]);
    assert.equal((await order(buyer, [{ productId: scarce, quantity: 1 }])).body.code, 'INSUFFICIENT_STOCK');
    assert.equal((await order(broke, [{ productId: plenty, quantity: 1 }])).body.code, 'INSUFFICIENT_BALANCE');
    assert.equal((await order(buyer, [{ productId: scarce, quantity: 1 }], firstKey)).body.code, 'DUPLICATE_REQUEST');
    assert.equal((await order(buyer, [{ productId: 999_999_999, quantity: 1 }])).body.code, 'PRODUCT_NOT_FOUND');
    assert.equal((await order(buyer, [{ productId: plenty, quantity: 1 }, { productId: scarce + plenty, quantity: 1 }])).status, 404);
    assert.equal((await order(buyer, [{ productId: plenty, quantity: 1 }, { productId: scarce, quantity: 1 }])).body.code, 'INSUFFICIENT_STOCK');
    for (const { body } of paid) assert.equal((await send('GET', `/api/orders/${body.orderId}`, tokenHeader(auth, buyer))).status, 200);
    assert.equal((await send('GET', `/api/orders/${randomUUID()}`, tokenHeader(auth, buyer))).status, 404);
    assert.equal((await send('GET', `/no/such/route/${scarce}`, {})).status, 404);
    for (let i = 0; i < 2; i++) assert.equal((await send('GET', `/api/products/${plenty}`, tokenHeader(auth, buyer))).status, 200);

    const code = `METRICS-${randomUUID()}`;
    const created = await send('POST', '/api/admin/coupons', admin, { code, name: '측정 쿠폰', discountType: 'FIXED', discountValue: 500, totalQuantity: 1 });
    assert.equal(created.status, 201);
    const claim = (userId: string, couponCode: string) => send('POST', '/api/coupons', tokenHeader(auth, userId), { couponCode });
    assert.equal((await claim(buyer, code)).status, 200);
    assert.equal((await claim(broke, code)).body.code, 'COUPON_SOLD_OUT');
    assert.equal((await claim(buyer, code)).body.code, 'COUPON_ALREADY_ISSUED');
    assert.equal((await claim(buyer, 'NO-SUCH-COUPON')).body.code, 'COUPON_NOT_FOUND');

    // A request is counted when its answer has been handed to the socket, which the client may see first:
    // scrape until the last one is in (bounded), then every figure must be exact.
    let now = await scrape(metricsUrl);
    for (let i = 0; i < 40 && delta(before, now, 'http_request_duration_seconds_count') < requests; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      now = await scrape(metricsUrl);
    }
    const orders = (outcome: string) => delta(before, now, 'orders_total', { outcome });
    assert.deepEqual(
      { paid: orders('paid'), stock: orders('INSUFFICIENT_STOCK'), balance: orders('INSUFFICIENT_BALANCE'), duplicate: orders('duplicate'), notFound: orders('PRODUCT_NOT_FOUND') },
      { paid: 3, stock: 2, balance: 1, duplicate: 1, notFound: 2 },
    );
    assert.equal(delta(before, now, 'orders_total'), 9);
    // Every order goes to the one payment (unknown products and duplicate keys are its answers too), one at a time: nine batches of one.
    assert.equal(delta(before, now, 'payment_batch_size_count'), 9);
    assert.equal(delta(before, now, 'payment_batch_size_sum'), 9);
    const claims = (outcome: string) => delta(before, now, 'coupon_claims_total', { outcome });
    assert.deepEqual(
      [claims('issued'), claims('COUPON_SOLD_OUT'), claims('COUPON_ALREADY_ISSUED'), claims('COUPON_NOT_FOUND')],
      [1, 1, 1, 1],
    );

    const http = (labels: Record<string, string>) => delta(before, now, 'http_request_duration_seconds_count', labels);
    assert.equal(http({}), requests);
    assert.equal(http({ method: 'GET', route: '/health', status_code: '200' }), 5);
    assert.equal(http({ method: 'POST', route: '/api/orders', status_code: '200' }), 3);
    assert.equal(http({ method: 'POST', route: '/api/orders', status_code: '409' }), 3);
    assert.equal(http({ method: 'GET', route: '/api/orders/:id', status_code: '200' }), 3);
    assert.equal(http({ method: 'GET', route: '/api/orders/:id', status_code: '404' }), 1);
    assert.equal(http({ method: 'GET', route: 'unmatched', status_code: '404' }), 1);
    assert.equal(
      delta(before, now, 'http_request_duration_seconds_bucket', { le: '+Inf' }),
      requests,
      'the +Inf bucket holds every request',
    );
    assert.equal(delta(before, now, 'cache_lookups_total', { cache: 'product' }), 2);
    assert.ok(delta(before, now, 'cache_lookups_total', { cache: 'token', result: 'hit' }) > 0);
    assert.ok(delta(before, now, 'db_call_duration_seconds_count', { result: 'ok' }) >= 9);

    // The relay, the webhook dispatcher and the recovery worker poll the database in the background, so a
    // scrape may catch one of their calls in flight: scrape again (bounded) for a moment with none.
    let rest = now;
    for (let i = 0; i < 40 && sampleValue(rest, 'db_pool_in_use') + sampleValue(rest, 'db_pool_waiting') > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      rest = await scrape(metricsUrl);
    }
    for (const name of ['db_pool_in_use', 'db_pool_waiting', 'recovery_pending_orders', 'recovery_journal_entries']) {
      assert.ok(rest.some((s) => s.name === name), `${name} is exported`);
      assert.equal(sampleValue(rest, name), 0, `${name} is 0 at rest`);
    }
    for (const name of ['process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      assert.ok(now.some((s) => s.name === name), `${name} is exported`);
    }
  });

  it('counts the events it relays and the webhook deliveries', async () => {
    const admin = tokenHeader(auth, 'metrics-admin', true);
    // The relay runs in the background: read figures only once it has nothing left and stopped counting. A
    // scrape reads the counters before its query of the backlog, so a batch relayed in between shows in the
    // backlog first: settled is two scrapes in a row with nothing unrelayed and the same count.
    const settled = async (done: (samples: Sample[]) => boolean = () => true): Promise<Sample[]> => {
      const empty = (samples: Sample[]) => sampleValue(samples, 'outbox_unrelayed_events') === 0;
      let last = await scrape(metricsUrl);
      for (let i = 0; i < 150; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const now = await scrape(metricsUrl);
        const still = sampleValue(now, 'outbox_events_relayed_total') === sampleValue(last, 'outbox_events_relayed_total');
        if (still && empty(last) && empty(now) && done(now)) return now;
        last = now;
      }
      assert.fail('the relay and the deliveries did not settle in 15 s');
    };
    const before = await settled();
    const flaky = await startReceiver(({ count }) => (count === 1 ? 500 : 204));
    const down = await startReceiver(() => 500);
    for (const [receiver, eventTypes] of [[flaky, ['order.paid']], [down, ['coupon.issued']]] as const) {
      assert.equal((await api(service.url, 'POST', '/api/admin/webhooks', admin, { url: receiver.url, eventTypes })).status, 201);
    }

    // Five events: a charge, two paid orders, a failed one and a coupon issued.
    const buyer = uniqueUser('evented');
    await fund(service.url, auth, buyer, 10_000);
    const product = await createProduct(service.url, auth, 1_000, 10);
    const order = (userId: string) =>
      api(service.url, 'POST', '/api/orders', { ...tokenHeader(auth, userId), 'idempotency-key': randomUUID() }, { items: [{ productId: product, quantity: 1 }] });
    assert.equal((await order(buyer)).status, 200);
    assert.equal((await order(buyer)).status, 200);
    assert.equal((await order(uniqueUser('evented-broke'))).body.code, 'INSUFFICIENT_BALANCE');
    const code = `METRICS-EV-${randomUUID()}`;
    const campaign = { code, name: '이벤트 쿠폰', discountType: 'FIXED', discountValue: 500, totalQuantity: 1 };
    assert.equal((await api(service.url, 'POST', '/api/admin/coupons', admin, campaign)).status, 201);
    assert.equal((await api(service.url, 'POST', '/api/coupons', tokenHeader(auth, buyer), { couponCode: code })).status, 200);

    const deliveries = (samples: Sample[], result: string) =>
      sampleValue(samples, 'webhook_deliveries_total', { result }) - sampleValue(before, 'webhook_deliveries_total', { result });
    const now = await settled((samples) => deliveries(samples, 'delivered') >= 2 && deliveries(samples, 'failed') >= 1);
    const seen = {
      relayed: delta(before, now, 'outbox_events_relayed_total'),
      lags: delta(before, now, 'outbox_relay_lag_seconds_count'),
      unrelayed: sampleValue(now, 'outbox_unrelayed_events'),
      // The flaky endpoint: its first answer 500, then 204s; the one that is down: 500 twice, given up, stopped.
      delivered: deliveries(now, 'delivered'),
      retried: deliveries(now, 'retried'),
      failed: deliveries(now, 'failed'),
      flakyDelivered: flaky.delivered.length,
      downRequests: down.requests,
      stopped: sampleValue(now, 'webhook_endpoints_stopped'),
      publishFailures: delta(before, now, 'outbox_publish_failures_total'),
    };
    assert.deepEqual(seen, {
      relayed: 5, lags: 5, unrelayed: 0, delivered: 2, retried: 2, failed: 1, flakyDelivered: 2, downRequests: 2, stopped: 1, publishFailures: 0,
    });
    await Promise.all([flaky.close(), down.close()]);
  });

  it('labels never hold raw ids', async () => {
    const text = await (await fetch(`${metricsUrl}/metrics`)).text();
    const samples = await scrape(metricsUrl);
    const routes = new Set(samples.filter((s) => s.labels.route !== undefined).map((s) => s.labels.route!));
    assert.ok(routes.has('/api/orders/:id'));
    for (const route of routes) assert.ok(route === 'unmatched' || !/\d/.test(route), `route label ${route}`);
    assert.doesNotMatch(text, /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-/, 'no UUID anywhere');
    assert.doesNotMatch(text, /metered-|broke-/, 'no user id anywhere');
  });

  it('answers only GET /metrics on its port', async () => {
    assert.equal((await fetch(`${metricsUrl}/`)).status, 404);
    assert.equal((await fetch(`${metricsUrl}/metrics`, { method: 'POST' })).status, 404);
    // And the API port does not serve it.
    assert.equal((await fetch(`${service.url}/metrics`)).status, 404);
  });
});
