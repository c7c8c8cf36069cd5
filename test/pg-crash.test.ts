/**
 * PostgreSQL crashes under order load (SPEC §8): a cluster of this test's own
 * is restarted in immediate mode twice while orders flow. Every 200 stays
 * success, every 202 ends canceled, no request hangs, and the same service
 * process pays orders again afterwards, without a restart.
 *
 * PostgreSQL only: the fault is the server's.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Authenticator } from '../src/auth.js';
import { loadConfig } from '../src/config.js';
import { openDatabase, type Database } from '../src/db.js';
import { migrate } from '../src/migrate.js';
import { fundWallet, makeProduct } from './fixtures.js';
import { jwtSecret, testDb, uniqueUser } from './helper.js';
import { checkInvariants } from './support/invariants.js';
import { runParallel, tally } from './support/load.js';
import { createCluster, type PgCluster } from './support/pg-cluster.js';
import { startService, stopAll } from './support/service-process.js';

const ordersMax = 400;
const clientsInFlight = 16;
/** Longer than any deadline of the service; an answer later than this is a hang. */
const answerWithinMs = 20_000;
const settleTimeoutMs = 30_000;

if (testDb === 'postgres') {
  let cluster: PgCluster | undefined;
  let db: Database | undefined;
  after(async () => {
    await stopAll();
    await db?.close().catch(() => {});
    await cluster?.drop();
  });

  describe('PostgreSQL crash restarts under load', () => {
    it('twice: every 200 stays success, every 202 ends canceled, nothing hangs, the service recovers by itself', async (t) => {
      cluster = await createCluster('orders_crash', [5441, 5442, 5443, 5444, 5445, 5446, 5447, 5448, 5449]);
      db = await openDatabase(loadConfig({ DATABASE_URL: cluster.url, DATA_DIR: ':memory:' }), () => {});
      await migrate(db);
      const auth = new Authenticator(jwtSecret);
      const productIds = [await makeProduct(db, 1_000, 100_000), await makeProduct(db, 3_000, 100_000), await makeProduct(db, 700, 100_000)];
      const userIds: string[] = [];
      for (let i = 0; i < 40; i++) {
        userIds.push(uniqueUser('crash'));
        await fundWallet(db, userIds[i]!, 1_000_000);
      }
      const service = await startService({
        env: {
          DATABASE_URL: cluster.url,
          JWT_SECRET: jwtSecret,
          LOG_LEVEL: 'warn',
          RECOVERY_DEADLINE_MS: '3000',
          DB_QUERY_TIMEOUT_MS: '2000',
          DB_CONNECT_TIMEOUT_MS: '1000',
        },
      });

      type Attempt = { key: string; status: number; orderId?: string };
      const place = async (i: number): Promise<Attempt> => {
        const userId = userIds[i % userIds.length]!;
        const key = randomUUID();
        const items = i % 3 === 0 ? [{ productId: productIds[0]!, quantity: 1 }, { productId: productIds[1]!, quantity: 2 }] : [{ productId: productIds[i % 3]!, quantity: 1 }];
        try {
          const response = await fetch(`${service.url}/api/orders`, {
            method: 'POST',
            headers: { authorization: `Bearer ${auth.sign(userId)}`, 'idempotency-key': key, 'content-type': 'application/json' },
            body: JSON.stringify({ items }),
            signal: AbortSignal.timeout(answerWithinMs),
          });
          const body = (await response.json()) as { orderId?: string; code?: string };
          return { key, status: response.status, orderId: body.orderId };
        } catch {
          return { key, status: 0 };
        }
      };

      const load = runParallel(ordersMax, clientsInFlight, async (i) => {
        await sleep(5);
        return place(i);
      });
      await sleep(400);
      await cluster.crashRestart();
      await sleep(800);
      await cluster.crashRestart();
      const attempts = await load;

      const statuses = tally(attempts.map((a) => a.status));
      t.diagnostic(`answers: ${JSON.stringify([...statuses])}`);
      assert.equal(statuses.get(0) ?? 0, 0, 'a request hung or lost its connection');
      for (const status of statuses.keys()) assert.ok([200, 202, 503].includes(status), `unexpected status ${status}`);
      assert.ok((statuses.get(202) ?? 0) + (statuses.get(503) ?? 0) > 0, 'the crashes were felt');

      const pendingIds = attempts.filter((a) => a.status === 202).map((a) => a.orderId!);
      const deadline = Date.now() + settleTimeoutMs;
      for (;;) {
        const [row] = await db.query<{ open: number }>(
          `SELECT count(*)::int AS open FROM orders WHERE (id = ANY ($1::uuid[]) AND status <> 'canceled') OR (status = 'pending' AND user_id = ANY ($2))`,
          [pendingIds, userIds],
        );
        const ready = await fetch(`${service.url}/ready`).then((r) => r.json()).catch(() => undefined);
        if (row!.open === 0 && ready?.recovery?.journalBacklog === 0) break;
        assert.ok(Date.now() < deadline, `recovery did not settle: ${row!.open} open, ${JSON.stringify(ready)}`);
        await sleep(200);
      }
      const rows = await db.query<{ id: string; status: string; reason: string | null }>(
        `SELECT id, status, reason FROM orders WHERE id = ANY ($1::uuid[])`,
        [attempts.filter((a) => a.orderId !== undefined).map((a) => a.orderId)],
      );
      const byId = new Map(rows.map((row) => [row.id, row]));
      for (const a of attempts) {
        if (a.status === 200) assert.equal(byId.get(a.orderId!)?.status, 'success', `a 200 order is ${byId.get(a.orderId!)?.status}`);
        if (a.status === 202) assert.deepEqual([byId.get(a.orderId!)?.status, byId.get(a.orderId!)?.reason], ['canceled', 'SYSTEM_FAILURE']);
      }
      const refused = attempts.filter((a) => a.status === 503).map((a) => a.key);
      const [taken] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM orders WHERE idempotency_key = ANY ($1::text[])`, [refused]);
      assert.equal(taken!.n, 0, 'a 503 used its key');
      assert.deepEqual(await checkInvariants(db, { userIds, productIds, pendingAllowed: false }), []);

      // The same process, never restarted, pays again.
      const afterwards = await place(ordersMax);
      assert.equal(afterwards.status, 200);
      assert.equal(await service.stop(), 0);
    });
  });
}
