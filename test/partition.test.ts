/**
 * The 202 promise across instances (SPEC §8). Instance A's database answers
 * are dropped by its proxy: its payments commit, it never hears so, and it
 * answers 202. Instance B shares A's DATA_DIR and reaches the database
 * through a proxy of its own that works. At no poll — the order, the list,
 * a retried key — does B report one of A's 202 orders `success` before it
 * ends `canceled`. An instance with a separate DATA_DIR cannot know of A's
 * 202 until A's fence reaches the database; that window is measured here
 * and stated in docs/failure-model.md.
 *
 * PostgreSQL only: PGlite runs inside one process and has no connection to cut.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fundWallet, makeProduct } from './fixtures.js';
import { httpCall, jwtSecret, testDb, uniqueUser } from './helper.js';
import { checkInvariants } from './support/invariants.js';
import { startService, type ServiceProcess } from './support/service-process.js';
import { faultRig } from './support/fault-rig.js';
import type { TcpProxy } from './support/tcp-proxy.js';

const ordersMax = 12;
const settleTimeoutMs = 30_000;

if (testDb === 'postgres') {
  const { db, auth, pgUrl, openProxy } = await faultRig();

  async function startInstance(proxy: TcpProxy, dataDir: string): Promise<ServiceProcess> {
    return startService({
      env: {
        DATABASE_URL: proxy.url(pgUrl.toString()),
        DATA_DIR: dataDir,
        JWT_SECRET: jwtSecret,
        LOG_LEVEL: 'warn',
        RECOVERY_DEADLINE_MS: '3000',
        DB_QUERY_TIMEOUT_MS: '1500',
        DB_CONNECT_TIMEOUT_MS: '1000',
        DB_POOL_SIZE: String(ordersMax + 2),
      },
    });
  }

  type Order = { userId: string; key: string; body: { items: Array<{ productId: number; quantity: number }> }; orderId?: string; status?: number };

  async function openShop(): Promise<{ orders: Order[]; productIds: number[]; userIds: string[] }> {
    const productIds = [await makeProduct(db, 1_000, 1_000), await makeProduct(db, 2_500, 1_000)];
    const orders: Order[] = [];
    for (let i = 0; i < ordersMax; i++) {
      const userId = uniqueUser('split');
      await fundWallet(db, userId, 50_000);
      orders.push({ userId, key: randomUUID(), body: { items: [{ productId: productIds[i % 2]!, quantity: 1 + (i % 3) }] } });
    }
    return { orders, productIds, userIds: orders.map((o) => o.userId) };
  }

  const headers = (order: Order) => ({ authorization: `Bearer ${auth.sign(order.userId)}`, 'idempotency-key': order.key });

  /** Fills A's pool with open connections while its database still answers, so the payments below are sent, not refused. */
  async function warmPool(service: ServiceProcess, order: Order): Promise<void> {
    await Promise.all(Array.from({ length: ordersMax + 2 }, () => httpCall(service.url, { method: 'GET', url: '/api/orders?limit=1', headers: headers(order) })));
  }

  async function placeOn(service: ServiceProcess, order: Order): Promise<void> {
    const answer = await httpCall(service.url, { method: 'POST', url: '/api/orders', headers: headers(order), body: order.body });
    order.status = answer.status;
    order.orderId = answer.body?.orderId;
  }

  async function dbStatus(orderIds: string[]): Promise<Map<string, string>> {
    const rows = await db.query<{ id: string; status: string }>(`SELECT id, status FROM orders WHERE id = ANY ($1::uuid[])`, [orderIds]);
    return new Map(rows.map((row) => [row.id, row.status]));
  }

  /** What an instance says of an order: by id, in the user's list, and to a retry of its key. */
  async function viewsOf(service: ServiceProcess, order: Order): Promise<string[]> {
    const [byId, list, retry] = await Promise.all([
      httpCall(service.url, { method: 'GET', url: `/api/orders/${order.orderId}`, headers: headers(order) }),
      httpCall(service.url, { method: 'GET', url: '/api/orders', headers: headers(order) }),
      httpCall(service.url, { method: 'POST', url: '/api/orders', headers: headers(order), body: order.body }),
    ]);
    const listed = list.status === 200 ? list.body.orders.find((o: { orderId: string }) => o.orderId === order.orderId) : undefined;
    return [
      `id:${byId.status}:${byId.body?.order?.status ?? byId.body?.code}`,
      `list:${list.status}:${listed?.status ?? 'absent'}`,
      `retry:${retry.status}:${retry.body?.code}:${retry.body?.status}`,
    ];
  }

  describe('the 202 promise across instances (SPEC §8)', { concurrency: false }, () => {
    it('an instance sharing the DATA_DIR never reports another one\'s 202 order as success before it is canceled', async (t) => {
      const { orders, productIds, userIds } = await openShop();
      const dataDir = await mkdtemp(join(tmpdir(), 'split-'));
      const [proxyA, proxyB] = [await openProxy(), await openProxy()];
      const [a, b] = await Promise.all([startInstance(proxyA, dataDir), startInstance(proxyB, dataDir)]);
      await warmPool(a, orders[0]!);

      proxyA.dropAnswers();
      const seen: string[] = [];
      let committedSeen = 0;
      let polls = 0;
      const placed = orders.map((order) => placeOn(a, order));
      // Poll B from each 202 on, until the database and B both say canceled.
      const watch = orders.map(async (order, i) => {
        await placed[i];
        if (order.status !== 202) return;
        for (let round = 0; ; round++) {
          const status = (await dbStatus([order.orderId!])).get(order.orderId!);
          if (status === 'success') committedSeen++;
          const views = await viewsOf(b, order);
          polls++;
          for (const view of views) if (view.includes('success')) seen.push(`${order.orderId} round ${round} (database: ${status}): ${view}`);
          if (status === 'canceled' && views[0] === 'id:200:canceled') return;
          assert.ok(round < 500, `order ${order.orderId} never ended canceled: ${views.join(' ')}`);
          await sleep(10);
        }
      });
      await Promise.all(watch);
      await proxyA.restore();

      const statuses = orders.map((o) => o.status);
      t.diagnostic(`A answered ${JSON.stringify(statuses)}; ${polls} polls of B; committed orders seen in the database after their 202: ${committedSeen}`);
      assert.ok(statuses.every((s) => s === 202), `every payment through A answered 202: ${statuses}`);
      assert.ok(committedSeen > 0, 'some payment committed while A heard nothing (the case under test)');
      assert.deepEqual(seen, [], 'B reported an order A answered 202 for as success');

      // A settles its journal once it reaches the database again, and everything is whole.
      const deadline = Date.now() + settleTimeoutMs;
      for (;;) {
        const ready = await httpCall(a.url, { method: 'GET', url: '/ready' });
        if (ready.status === 200 && ready.body.recovery.journalBacklog === 0) break;
        assert.ok(Date.now() < deadline, `A did not settle: ${JSON.stringify(ready.body)}`);
        await sleep(100);
      }
      const rows = await db.query<{ status: string; reason: string }>(`SELECT status, reason FROM orders WHERE id = ANY ($1::uuid[])`, [orders.map((o) => o.orderId)]);
      assert.deepEqual(rows.map((r) => `${r.status}:${r.reason}`), orders.map(() => 'canceled:SYSTEM_FAILURE'));
      assert.deepEqual(await checkInvariants(db, { userIds, productIds, pendingAllowed: false }), []);
      await Promise.all([a.stop(), b.stop()]);
    });

    it('an instance with a separate DATA_DIR sees the 202 once the fence reaches the database (the measured window)', async (t) => {
      const { orders, productIds, userIds } = await openShop();
      const [proxyA, proxyC] = [await openProxy(), await openProxy()];
      const a = await startInstance(proxyA, await mkdtemp(join(tmpdir(), 'split-a-')));
      const c = await startInstance(proxyC, await mkdtemp(join(tmpdir(), 'split-c-')));
      const order = orders[0]!;
      await warmPool(a, order);

      proxyA.dropAnswers();
      await placeOn(a, order);
      assert.equal(order.status, 202);
      // C cannot know: the database holds the payment as committed, and A's journal is not C's.
      const blind = await viewsOf(c, order);
      assert.equal((await dbStatus([order.orderId!])).get(order.orderId!), 'success');
      assert.equal(blind[0], 'id:200:success', 'the window exists while A cannot reach the database');

      const restoredAt = performance.now();
      await proxyA.restore();
      let windowMs = 0;
      for (let round = 0; ; round++) {
        const byId = await httpCall(c.url, { method: 'GET', url: `/api/orders/${order.orderId}`, headers: headers(order) });
        if (byId.body.order.status !== 'success') {
          windowMs = performance.now() - restoredAt;
          assert.ok(['pending', 'canceled'].includes(byId.body.order.status), JSON.stringify(byId.body));
          break;
        }
        assert.ok(round < 2_000, 'A never fenced its 202 order in the database');
        await sleep(2);
      }
      t.diagnostic(`separate DATA_DIR: C saw the fence ${windowMs.toFixed(0)} ms after A's database link came back`);

      const deadline = Date.now() + settleTimeoutMs;
      while ((await dbStatus([order.orderId!])).get(order.orderId!) !== 'canceled') {
        assert.ok(Date.now() < deadline, 'the 202 order was not canceled');
        await sleep(100);
      }
      assert.deepEqual(await checkInvariants(db, { userIds, productIds, pendingAllowed: false }), []);
      await Promise.all([a.stop(), c.stop()]);
    });
  });
}
