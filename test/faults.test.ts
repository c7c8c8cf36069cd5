/**
 * Real infrastructure faults under a parallel order load (SPEC §7 rows 202 and
 * 503, §8): the service runs as a child process whose PostgreSQL connections
 * pass through a proxy the test cuts, blackholes and refuses; the process is
 * killed and restarted; two instances recover side by side. Afterwards every
 * 202 order must end canceled (SYSTEM_FAILURE), every 200 order still
 * success, nothing pending, and the invariants of SPEC §9 hold.
 *
 * PGlite runs inside the process and has no connection to cut, so this file
 * registers its tests on the PostgreSQL side of the suite only.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fundWallet, issueCoupon, makeProduct } from './fixtures.js';
import { httpCall, jwtSecret, testDb, uniqueUser } from './helper.js';
import { checkInvariants } from './support/invariants.js';
import { runParallel, tally } from './support/load.js';
import { startService, type ServiceProcess } from './support/service-process.js';
import { faultRig } from './support/fault-rig.js';
import type { TcpProxy } from './support/tcp-proxy.js';

type Shop = { userIds: string[]; tokens: Map<string, string>; productIds: number[]; coupons: Map<string, number> };
type Attempt = { userId: string; key: string; body: unknown; status: number; orderId?: string; answer?: any; retryAfter?: string | null };

const ordersPerRun = 240;
const clientsInFlight = 24;
const settleTimeoutMs = 30_000;

if (testDb === 'postgres') {
  const { db, auth, pgUrl, openProxy } = await faultRig();

  async function openShop(users: number): Promise<Shop> {
    const shop: Shop = { userIds: [], tokens: new Map(), productIds: [], coupons: new Map() };
    for (let i = 0; i < 12; i++) shop.productIds.push(await makeProduct(db, 1_000 + 500 * i, 10_000));
    for (let i = 0; i < users; i++) {
      const userId = uniqueUser('fault');
      shop.userIds.push(userId);
      shop.tokens.set(userId, auth.sign(userId));
      await fundWallet(db, userId, 100_000);
      if (i % 3 === 0) shop.coupons.set(userId, await issueCoupon(db, userId, { discountType: 'RATE', discountValue: 10 }));
    }
    return shop;
  }

  function serviceEnv(proxy: TcpProxy, dataDir: string): Record<string, string> {
    return {
      DATABASE_URL: proxy.url(pgUrl.toString()),
      DATA_DIR: dataDir,
      JWT_SECRET: jwtSecret,
      LOG_LEVEL: 'warn',
      RECOVERY_DEADLINE_MS: '3000',
      DB_QUERY_TIMEOUT_MS: '1500',
      DB_CONNECT_TIMEOUT_MS: '1000',
      DB_POOL_SIZE: '8',
    };
  }

  /** One order attempt; a connection the killed service dropped counts as status 0. */
  async function attempt(services: ServiceProcess[], shop: Shop, i: number): Promise<Attempt> {
    const userId = shop.userIds[i % shop.userIds.length]!;
    const first = shop.productIds[i % shop.productIds.length]!;
    const second = shop.productIds[(i * 7 + 3) % shop.productIds.length]!;
    const items = first === second ? [{ productId: first, quantity: 1 }] : [{ productId: first, quantity: 1 }, { productId: second, quantity: 2 }];
    const couponId = i % 4 === 0 ? shop.coupons.get(userId) : undefined;
    const body = couponId === undefined ? { items } : { items, couponId };
    const key = randomUUID();
    const service = services[i % services.length]!;
    try {
      const response = await httpCall(service.url, {
        method: 'POST',
        url: '/api/orders',
        headers: { authorization: `Bearer ${shop.tokens.get(userId)}`, 'idempotency-key': key },
        body,
      });
      return { userId, key, body, status: response.status, orderId: response.body?.orderId, answer: response.body, retryAfter: response.headers.get('retry-after') };
    } catch {
      return { userId, key, body, status: 0 };
    }
  }

  async function pendingCount(shop: Shop): Promise<number> {
    const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM orders WHERE status = 'pending' AND user_id = ANY ($1)`, [shop.userIds]);
    return row!.n;
  }

  /** Orders answered 202 that are not yet canceled on record (journaled, or pending). */
  async function unresolved(attempts: Attempt[]): Promise<number> {
    const ids = attempts.filter((a) => a.status === 202).map((a) => a.orderId);
    const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM orders WHERE id = ANY ($1::uuid[]) AND status = 'canceled'`, [ids]);
    return ids.length - row!.n;
  }

  /**
   * Waits, bounded, until every live instance's journal is drained, every 202
   * order is canceled on record (a dead instance's journal is adopted after its
   * heartbeat goes stale) and no order of this shop is pending.
   */
  async function settled(services: ServiceProcess[], shop: Shop, attempts: Attempt[]): Promise<void> {
    const deadline = Date.now() + settleTimeoutMs;
    for (;;) {
      const ready = await Promise.all(services.map((s) => httpCall(s.url, { method: 'GET', url: '/ready' }).catch(() => ({ status: 0, body: null }))));
      const drained = ready.every((r) => r.status === 200 && r.body.recovery.journalBacklog === 0);
      if (drained && (await pendingCount(shop)) === 0 && (await unresolved(attempts)) === 0) return;
      if (Date.now() > deadline) {
        const logs = services.map((s) => s.logs().slice(-3_000)).join('\n---\n');
        assert.fail(`recovery did not settle: ${JSON.stringify(ready.map((r) => [r.status, r.body]))}\n${logs}`);
      }
      await sleep(200);
    }
  }

  async function assertOutcomes(shop: Shop, attempts: Attempt[]): Promise<void> {
    const statuses = tally(attempts.map((a) => a.status));
    for (const status of statuses.keys()) assert.ok([0, 200, 202, 400, 402, 409, 503].includes(status), `unexpected status ${status}: ${JSON.stringify([...statuses])}`);
    for (const a of attempts.filter((x) => x.status === 202)) {
      assert.deepEqual(a.answer, { code: 'ORDER_PENDING', message: '결제 처리 중 오류 발생, 자동 복구 예정', orderId: a.orderId, status: 'pending' });
    }
    for (const a of attempts.filter((x) => x.status === 503)) {
      assert.equal(a.answer.code, 'SERVICE_UNAVAILABLE');
      assert.ok(a.answer.message.length > 0 && a.retryAfter !== null, '503 carries a message and Retry-After');
    }
    const answered = attempts.filter((a) => a.orderId !== undefined);
    const rows = await db.query<{ id: string; status: string; reason: string | null }>(
      `SELECT id, status, reason FROM orders WHERE id = ANY ($1::uuid[])`,
      [answered.map((a) => a.orderId)],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const a of answered) {
      const row = byId.get(a.orderId!);
      assert.ok(row !== undefined, `order ${a.orderId} (answered ${a.status}) is not on record`);
      if (a.status === 200) assert.equal(row.status, 'success', `a 200 order became ${row.status}`);
      if (a.status === 202) assert.deepEqual([row.status, row.reason], ['canceled', 'SYSTEM_FAILURE']);
      if ([400, 402, 409].includes(a.status)) assert.equal(row.status, 'failed');
    }
    // A 503 left its key free: nothing was recorded under it.
    const refused = attempts.filter((a) => a.status === 503);
    const [taken] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM orders o JOIN unnest($1::text[], $2::text[]) AS r (user_id, key) ON o.user_id = r.user_id AND o.idempotency_key = r.key`,
      [refused.map((a) => a.userId), refused.map((a) => a.key)],
    );
    assert.equal(taken!.n, 0, 'a 503 used its idempotency key');
    assert.deepEqual(await checkInvariants(db, { userIds: shop.userIds, productIds: shop.productIds, pendingAllowed: false }), []);
  }

  /** Runs the load while `fault` plays out alongside it. */
  async function underLoad(services: ServiceProcess[], shop: Shop, fault: () => Promise<void>): Promise<Attempt[]> {
    const load = runParallel(ordersPerRun, clientsInFlight, (i) => attempt(services, shop, i));
    await fault();
    return load;
  }

  describe('faults under load', { concurrency: false }, () => {
    it('connections cut mid-payment: 202s are canceled, 200s stand, nothing pending', async () => {
      const proxy = await openProxy();
      const shop = await openShop(40);
      const service = await startService({ env: serviceEnv(proxy, await mkdtemp(join(tmpdir(), 'fault-'))) });
      const attempts = await underLoad([service], shop, async () => {
        for (let i = 0; i < 4; i++) {
          await sleep(150);
          await proxy.cut();
        }
      });
      await settled([service], shop, attempts);
      await assertOutcomes(shop, attempts);
      assert.ok(attempts.some((a) => a.status === 200), 'some orders went through');
      await service.stop();
    });

    it('database blackholed, then refused, then back: 202 or 503, and recovery once it returns', async () => {
      const proxy = await openProxy();
      const shop = await openShop(40);
      const service = await startService({ env: serviceEnv(proxy, await mkdtemp(join(tmpdir(), 'fault-'))) });
      let readyWhileRefused: Response | undefined;
      const attempts = await underLoad([service], shop, async () => {
        await sleep(200);
        proxy.blackhole();
        await sleep(2_500);
        await proxy.refuse();
        readyWhileRefused = await fetch(`${service.url}/ready`);
        await sleep(500);
        await proxy.restore();
      });
      assert.equal(readyWhileRefused?.status, 503, '/ready answers 503 while the database is unreachable');
      assert.equal(readyWhileRefused?.headers.get('retry-after'), '1');
      assert.equal((await readyWhileRefused!.json()).code, 'SERVICE_UNAVAILABLE');
      await settled([service], shop, attempts);
      await assertOutcomes(shop, attempts);
      const statuses = tally(attempts.map((a) => a.status));
      assert.ok((statuses.get(202) ?? 0) + (statuses.get(503) ?? 0) > 0, `the outage was felt: ${JSON.stringify([...statuses])}`);
      await service.stop();
    });

    it('the service killed mid-load and restarted on the same data recovers what it left', async () => {
      const proxy = await openProxy();
      const shop = await openShop(40);
      const dataDir = await mkdtemp(join(tmpdir(), 'fault-'));
      const first = await startService({ env: serviceEnv(proxy, dataDir) });
      const attempts = await underLoad([first], shop, async () => {
        await sleep(150);
        proxy.blackhole(); // Some payments now wait on a dead line: the journal gets entries.
        await sleep(1_800);
        first.kill('SIGKILL');
        await first.exited;
        await proxy.restore();
      });
      const second = await startService({ env: serviceEnv(proxy, dataDir) });
      await settled([second], shop, attempts);
      await assertOutcomes(shop, attempts);
      await second.stop();
    });

    it('two instances on one database and one DATA_DIR recover side by side, each order once', async () => {
      const proxy = await openProxy();
      const shop = await openShop(40);
      const dataDir = await mkdtemp(join(tmpdir(), 'fault-'));
      const services = await Promise.all([startService({ env: serviceEnv(proxy, dataDir) }), startService({ env: serviceEnv(proxy, dataDir) })]);
      const attempts = await underLoad(services, shop, async () => {
        for (let i = 0; i < 3; i++) {
          await sleep(200);
          await proxy.cut();
        }
        proxy.blackhole();
        await sleep(1_800);
        await proxy.restore();
      });
      await settled(services, shop, attempts);
      await assertOutcomes(shop, attempts);
      await Promise.all(services.map((s) => s.stop()));
    });
  });
}
