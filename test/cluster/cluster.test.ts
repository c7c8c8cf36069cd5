/**
 * The production shape, for real (scripts/cluster/stack.ts): a PostgreSQL
 * primary and its streaming replica of the test's own, PgBouncer 1.18 in
 * transaction pooling, three service instances sharing one DATA_DIR, and
 * HAProxy in front of them. Run by `npm run test:cluster`.
 *
 * - Coherence: a price changed through instance A is seen by instance B's
 *   GET /api/products/:id within 200 ms (the bound the contract names).
 * - Replica: with the replica's replay paused, catalogue reads show what the
 *   replica holds while payments use the primary's prices and wallets; a
 *   replica lagging past the bound, or stopped, sends reads to the primary.
 * - A flash sale and a coupon burst with one instance SIGKILLed mid-load:
 *   exact stock and quota, no 500, every 202 recovered by the survivors.
 * - PgBouncer restarted mid-load: the instances recover by themselves.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { startStack, type Stack } from '../../scripts/cluster/stack.js';
import { Authenticator } from '../../src/auth.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db.js';
import { CursorCodec } from '../../src/pagination.js';
import { fundWallet, makeProduct } from '../fixtures.js';
import { httpCall, jwtSecret, uniqueUser } from '../helper.js';
import { checkInvariants } from '../support/invariants.js';
import { runParallel, tally } from '../support/load.js';

const replicaLagMaxMs = 3_000;
const settleTimeoutMs = 60_000;
const auth = new Authenticator(jwtSecret);
const admin = { authorization: `Bearer ${auth.sign('cluster-admin', { admin: true })}` };

let stack: Stack;
let db: Database;

before(async () => {
  stack = await startStack({
    instances: 3,
    port: 7510,
    pgPort: 5452,
    pgbouncerPort: 6431,
    poolSize: 12,
    env: {
      JWT_SECRET: jwtSecret,
      LOG_LEVEL: 'warn',
      RECOVERY_DEADLINE_MS: '3000',
      DB_QUERY_TIMEOUT_MS: '2000',
      DB_CONNECT_TIMEOUT_MS: '1000',
      DB_REPLICA_LAG_MAX_MS: String(replicaLagMaxMs),
    },
  });
  db = await openDatabase(loadConfig({ DATABASE_URL: stack.primary.url, JWT_SECRET: jwtSecret, DB_POOL_SIZE: '4' }), () => {});
});

after(async () => {
  await db?.close();
  await stack?.stop();
});

function bearerOf(userId: string): Record<string, string> {
  return { authorization: `Bearer ${auth.sign(userId)}` };
}

async function readyOf(url: string): Promise<any> {
  return (await httpCall(url, { method: 'GET', url: '/ready' })).body;
}

/** Polls `check` every 100 ms until true; fails with `what` after `timeoutMs`. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`${what} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function onReplica<R extends object>(sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: stack.replica.url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

describe('cluster: HAProxy → 3 instances → PgBouncer (transaction) → primary, replica for reads', { concurrency: false }, () => {
  it('a price changed through one instance shows in another within 200 ms', async (t) => {
    const [a, b] = stack.instances;
    const created = await httpCall(a!.url, { method: 'POST', url: '/api/admin/products', headers: admin, body: { name: '동기화', price: 1_000, stock: 5 } });
    assert.equal(created.status, 201);
    const id = created.body.product.id as number;
    const user = bearerOf(uniqueUser('coherence'));
    const delays: number[] = [];
    for (let round = 1; round <= 5; round++) {
      // B holds a fresh entry: without a notification it would serve the old price for most of a second.
      await eventually('B sees the product', async () => (await httpCall(b!.url, { method: 'GET', url: `/api/products/${id}`, headers: user })).status === 200);
      const price = 1_000 + round * 10;
      const startedAt = performance.now();
      const patched = await httpCall(a!.url, { method: 'PATCH', url: `/api/admin/products/${id}`, headers: admin, body: { price } });
      assert.equal(patched.status, 200);
      for (;;) {
        const seen = await httpCall(b!.url, { method: 'GET', url: `/api/products/${id}`, headers: user });
        if (seen.body.product?.price === price) break;
        if (performance.now() - startedAt > 2_000) assert.fail(`B still shows ${seen.body.product?.price} after 2 s`);
        await sleep(5);
      }
      delays.push(performance.now() - startedAt);
    }
    t.diagnostic(`seen after ${delays.map((d) => d.toFixed(0)).join(', ')} ms`);
    assert.ok(Math.max(...delays) < 200, `B saw the change after ${delays.map((d) => d.toFixed(0)).join(', ')} ms`);
  });

  it('catalogue reads come from the replica, payments never; a lagging or stopped replica sends reads to the primary', async () => {
    const userId = uniqueUser('replica');
    const user = bearerOf(userId);
    const id = await makeProduct(db, 5_000, 10);
    await eventually('the replica has the product', async () => (await onReplica(`SELECT 1 FROM products WHERE id = $1`, [id])).length === 1);
    const listed = async () => {
      const page = await httpCall(stack.url, { method: 'GET', url: `/api/products?limit=100&cursor=${await cursorBefore(id)}`, headers: user });
      assert.equal(page.status, 200);
      return page.body.products.find((p: { id: number }) => p.id === id);
    };
    await eventually('every instance reads the replica', async () =>
      (await Promise.all(stack.instances.map((i) => readyOf(i.url)))).every((r) => r.replica.reading === 'replica'),
    );

    await onReplica('SELECT pg_wal_replay_pause()');
    try {
      // Written on the primary only: the replica keeps the old row until replay resumes.
      await db.query(`UPDATE products SET name = 'primary-only', price = 7000 WHERE id = $1`, [id]);
      await fundWallet(db, userId, 50_000);
      const seen = await listed();
      assert.equal(seen.name, 'fixture', 'the list was read from the replica');
      // The payment prices the line from the primary's row and takes the primary's wallet.
      const order = await httpCall(stack.url, {
        method: 'POST',
        url: '/api/orders',
        headers: { ...user, 'idempotency-key': randomUUID() },
        body: { items: [{ productId: id, quantity: 2 }] },
      });
      assert.equal(order.status, 200, JSON.stringify(order.body));
      assert.equal(order.body.paidAmount, 14_000);

      await eventually(
        'reads leave the replica once it lags past the bound',
        async () => (await Promise.all(stack.instances.map((i) => readyOf(i.url)))).every((r) => r.replica.reading === 'primary' && r.replica.reason === 'lagging'),
        replicaLagMaxMs + 10_000,
      );
      const ready = await readyOf(stack.instances[0]!.url);
      assert.ok(ready.replica.lagMs > replicaLagMaxMs, `lag shown: ${JSON.stringify(ready.replica)}`);
      assert.equal((await listed()).name, 'primary-only');
    } finally {
      await onReplica('SELECT pg_wal_replay_resume()');
    }
    await eventually('reads return to the replica', async () => (await readyOf(stack.instances[0]!.url)).replica.reading === 'replica');

    stack.replica.stop('fast');
    try {
      await db.query(`UPDATE products SET name = 'replica-down' WHERE id = $1`, [id]);
      assert.equal((await listed()).name, 'replica-down', 'a failed replica read is answered from the primary');
      await eventually('every instance shows the replica down and stays ready', async () =>
        (await Promise.all(stack.instances.map((i) => readyOf(i.url)))).every((r) => r.status === 'ready' && r.replica.reading === 'primary'),
      );
    } finally {
      await stack.replica.start();
    }
    await eventually('reads return to the restarted replica', async () => (await readyOf(stack.instances[0]!.url)).replica.reading === 'replica');
  });

  it('flash sale and coupon burst with one instance SIGKILLed mid-load: exact stock and quota, no 500', async (t) => {
    const stock = 120;
    const productId = await makeProduct(db, 1_000, stock);
    const quota = 50;
    const code = `CLUSTER-${randomUUID().slice(0, 8)}`;
    const campaign = await httpCall(stack.url, {
      method: 'POST',
      url: '/api/admin/coupons',
      headers: admin,
      body: { code, name: '클러스터 쿠폰', discountType: 'FIXED', discountValue: 100, totalQuantity: quota },
    });
    assert.equal(campaign.status, 201, JSON.stringify(campaign.body));
    const buyers = Array.from({ length: 60 }, () => uniqueUser('flash'));
    for (const buyer of buyers) await fundWallet(db, buyer, 100_000);
    const claimants = Array.from({ length: 200 }, () => uniqueUser('claim'));

    const orders = Array.from({ length: 300 }, (_, i) => ({ userId: buyers[i % buyers.length]!, key: randomUUID() }));
    const order = (o: { userId: string; key: string }) =>
      answerOrNone(
        httpCall(stack.url, {
          method: 'POST',
          url: '/api/orders',
          headers: { ...bearerOf(o.userId), 'idempotency-key': o.key },
          body: { items: [{ productId, quantity: 1 }] },
        }),
      );
    const claim = (userId: string) =>
      answerOrNone(httpCall(stack.url, { method: 'POST', url: '/api/coupons', headers: bearerOf(userId), body: { couponCode: code } }));

    const victim = stack.instances[1]!;
    const load = Promise.all([runParallel(orders.length, 24, (i) => order(orders[i]!)), runParallel(claimants.length, 24, (i) => claim(claimants[i]!))]);
    await sleep(300);
    victim.kill('SIGKILL');
    const [orderAnswers, claimAnswers] = await load;

    const orderStatuses = tally(orderAnswers.map((a) => a.status));
    const claimStatuses = tally(claimAnswers.map((a) => a.status));
    t.diagnostic(`orders ${JSON.stringify([...orderStatuses])}, claims ${JSON.stringify([...claimStatuses])}`);
    // 502 (and, rarely, a connection HAProxy closes unanswered: 0) for what was in flight on the killed instance.
    for (const status of orderStatuses.keys()) assert.ok([0, 200, 202, 409, 502, 503].includes(status), `order answered ${status}: ${JSON.stringify([...orderStatuses])}`);
    for (const status of claimStatuses.keys()) assert.ok([0, 200, 409, 410, 502, 503].includes(status), `claim answered ${status}: ${JSON.stringify([...claimStatuses])}`);
    for (const answer of [...orderAnswers, ...claimAnswers]) {
      if (answer.status === 200 || answer.status === 0) continue;
      assert.ok(typeof answer.body.code === 'string' && answer.body.message.length > 0, `an error without a code: ${JSON.stringify(answer.body)}`);
    }
    const unanswered = (status: number) => status === 0 || status === 502 || status === 503;

    // Answers lost with the killed instance: the same key (or claim) again gets a definite one.
    for (const [i, answer] of orderAnswers.entries()) {
      if (!unanswered(answer.status)) continue;
      let again = await order(orders[i]!);
      for (let tries = 1; again.status === 503 && tries < 50; tries++) {
        await sleep(200);
        again = await order(orders[i]!);
      }
      assert.ok([200, 202, 409].includes(again.status), `retried order answered ${again.status}`);
    }
    for (const [i, answer] of claimAnswers.entries()) {
      if (!unanswered(answer.status)) continue;
      const again = await claim(claimants[i]!);
      assert.ok([200, 409, 410].includes(again.status), `retried claim answered ${again.status}`);
    }

    await settled(buyers);
    const [sold] = await db.query<{ n: number }>(
      `SELECT coalesce(sum(i.quantity), 0)::int AS n FROM order_items i JOIN orders o ON o.id = i.order_id WHERE i.product_id = $1 AND o.status = 'success'`,
      [productId],
    );
    const [left] = await db.query<{ stock: number }>(`SELECT stock FROM products WHERE id = $1`, [productId]);
    assert.equal(sold!.n + left!.stock, stock, 'stock = initial − sold');
    // 300 attempts on 120 units sell out, unless a 202's units came back after the last attempt.
    if (!orderStatuses.has(202)) assert.equal(left!.stock, 0, 'sold out');
    const [issued] = await db.query<{ n: number; counter: number }>(
      `SELECT (SELECT count(*)::int FROM coupons c WHERE c.campaign_id = k.id) AS n, k.issued_quantity AS counter FROM coupon_campaigns k WHERE k.code = $1`,
      [code],
    );
    assert.deepEqual([issued!.n, issued!.counter], [quota, quota], 'exactly the quota was issued');
    assert.deepEqual(await checkInvariants(db, { userIds: [...buyers, ...claimants], productIds: [productId], pendingAllowed: false }), []);

    await victim.start();
    await eventually('HAProxy sends to the restarted instance again', async () => (await readyOf(stack.url)).status === 'ready');
  });

  it('PgBouncer restarted mid-load: 202s are canceled, the instances recover by themselves', async (t) => {
    const productIds: number[] = [];
    for (let i = 0; i < 8; i++) productIds.push(await makeProduct(db, 1_000 + 100 * i, 10_000));
    const users = Array.from({ length: 40 }, () => uniqueUser('bouncer'));
    for (const user of users) await fundWallet(db, user, 100_000);
    const attempts = Array.from({ length: 400 }, (_, i) => ({
      userId: users[i % users.length]!,
      key: randomUUID(),
      items: [{ productId: productIds[i % productIds.length]!, quantity: 1 }],
    }));
    const load = runParallel(attempts.length, 16, async (i) => {
      const a = attempts[i]!;
      // Spread over every instance directly as well as through HAProxy, so each instance's pool meets the restart.
      const base = i % 2 === 0 ? stack.url : stack.instances[i % stack.instances.length]!.url;
      return httpCall(base, { method: 'POST', url: '/api/orders', headers: { ...bearerOf(a.userId), 'idempotency-key': a.key }, body: { items: a.items } });
    });
    await sleep(400);
    await stack.restartPgbouncer(500);
    const answers = await load;

    const statuses = tally(answers.map((a) => a.status));
    t.diagnostic(`orders ${JSON.stringify([...statuses])}`);
    for (const status of statuses.keys()) assert.ok([200, 202, 503].includes(status), `answered ${status}: ${JSON.stringify([...statuses])}`);
    for (const a of answers.filter((x) => x.status === 503)) assert.ok(a.headers.get('retry-after') !== null && a.body.code === 'SERVICE_UNAVAILABLE');
    assert.ok((statuses.get(200) ?? 0) > 0, 'orders were paid');

    // Recovers by itself: new orders are paid through every instance.
    for (const instance of stack.instances) {
      await eventually(`instance ${instance.index + 1} pays again`, async () => {
        const answer = await httpCall(instance.url, {
          method: 'POST',
          url: '/api/orders',
          headers: { ...bearerOf(users[0]!), 'idempotency-key': randomUUID() },
          body: { items: [{ productId: productIds[0]!, quantity: 1 }] },
        });
        return answer.status === 200;
      });
    }

    await settled(users);
    const ids = answers.filter((a) => a.status === 202).map((a) => a.body.orderId as string);
    const rows = await db.query<{ status: string; reason: string }>(`SELECT status, reason FROM orders WHERE id = ANY ($1::uuid[])`, [ids]);
    assert.equal(rows.length, ids.length, 'every 202 order is on record');
    for (const row of rows) assert.deepEqual([row.status, row.reason], ['canceled', 'SYSTEM_FAILURE']);
    for (const [i, a] of answers.entries()) {
      if (a.status !== 200) continue;
      const [row] = await db.query<{ status: string }>(`SELECT status FROM orders WHERE id = $1`, [a.body.orderId]);
      assert.equal(row?.status, 'success', `order ${i} answered 200`);
    }
    assert.deepEqual(await checkInvariants(db, { userIds: users, productIds, pendingAllowed: false }), []);
  });
});

/** A request whose connection was closed unanswered is status 0. */
async function answerOrNone(call: ReturnType<typeof httpCall>): ReturnType<typeof httpCall> {
  return call.catch(() => ({ status: 0, body: {}, headers: new Headers() }));
}

/** Waits until no order of these users is pending and every instance's journal is drained. */
async function settled(userIds: string[]): Promise<void> {
  await eventually(
    'recovery settles',
    async () => {
      const ready = await Promise.all(stack.instances.filter((i) => i.process()?.alive()).map((i) => readyOf(i.url)));
      if (!ready.every((r) => r.status === 'ready' && r.recovery.journalBacklog === 0)) return false;
      const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM orders WHERE status = 'pending' AND user_id = ANY ($1)`, [userIds]);
      return row!.n === 0;
    },
    settleTimeoutMs,
  );
}

/** A cursor for the page that starts at product `id` (the list pages by id). */
async function cursorBefore(id: number): Promise<string> {
  return encodeURIComponent(new CursorCodec(jwtSecret).encode('products', [id - 1]));
}
