/**
 * `WORKERS=2` (node:cluster) in a real process: a flash sale across both
 * workers sells exactly the stock, one `/metrics` adds up both workers, each
 * worker keeps its own journal, a worker that dies is replaced, and SIGTERM
 * to the primary drains every worker and exits 0 within 10 s. On the
 * embedded database the service runs one process and says so.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Authenticator } from '../src/auth.js';
import { jwtSecret, setupApp, testDb, uniqueUser } from './helper.js';
import { fundWallet, makeProduct, stockOf } from './fixtures.js';
import { checkInvariants } from './support/invariants.js';
import { runParallel, tally } from './support/load.js';
import { api, createProduct, fund, ownPort, scrape, tokenHeader, sampleValue } from './support/ops.js';
import { startService, stopAll, type ServiceProcess } from './support/service-process.js';

after(stopAll);

const auth = new Authenticator(jwtSecret);
const stock = 50;
const buyers = 200;
const shutdownBoundMs = 10_000;

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none.
  }
}

async function flashSale(service: ServiceProcess, productId: number, userIds: string[]) {
  const answers = await runParallel(userIds.length, 50, (i) =>
    api(service.url, 'POST', '/api/orders', { ...tokenHeader(auth, userIds[i]!), 'idempotency-key': randomUUID() }, { items: [{ productId, quantity: 1 }] }),
  );
  return Object.fromEntries(tally(answers.map((a) => a.status)));
}

/** SIGTERM to the primary with keep-alive connections open: exit code and how long it took. */
async function terminate(service: ServiceProcess): Promise<{ code: number | null; elapsedMs: number }> {
  const started = Date.now();
  service.kill('SIGTERM');
  const code = await Promise.race([service.exited, sleep(shutdownBoundMs + 5_000).then(() => 'late' as const)]);
  assert.notEqual(code, 'late', 'the service did not exit');
  return { code: code as number | null, elapsedMs: Date.now() - started };
}

if (testDb === 'postgres') {
  describe('WORKERS=2 on PostgreSQL', async () => {
    const { db, config } = await setupApp({}, { ownDatabase: true });
    const metricsPort = ownPort(7314);
    const service = await startService({
      env: { JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn', DATABASE_URL: config.databaseUrl!, WORKERS: '2', METRICS_PORT: String(metricsPort), DB_POOL_SIZE: '4' },
    });

    it('runs two workers on one port, each with its own journal', async () => {
      assert.equal(childrenOf(service.pid).length, 2);
      const deadline = Date.now() + 30_000; // startService waited for one worker only; a busy machine starts the other slowly.
      let heartbeats: string[] = [];
      while (Date.now() < deadline) {
        heartbeats = (await readdir(join(service.dataDir, 'journal'))).filter((name) => name.endsWith('.alive'));
        if (heartbeats.length >= 2) break;
        await sleep(100);
      }
      assert.equal(heartbeats.length, 2);
    });

    it('sells exactly the stock in a flash sale across both workers, and one /metrics adds them up', async () => {
      const productId = await makeProduct(db, 1_000, stock);
      const userIds = Array.from({ length: buyers }, () => uniqueUser('cluster'));
      for (const userId of userIds) await fundWallet(db, userId, 10_000);
      const before = await scrape(`http://127.0.0.1:${metricsPort}`);
      assert.deepEqual(await flashSale(service, productId, userIds), { 200: stock, 409: buyers - stock });
      assert.equal(await stockOf(db, productId), 0);
      assert.deepEqual(await checkInvariants(db, { userIds, productIds: [productId] }), []);
      const now = await scrape(`http://127.0.0.1:${metricsPort}`);
      const delta = (outcome: string) => sampleValue(now, 'orders_total', { outcome }) - sampleValue(before, 'orders_total', { outcome });
      assert.equal(delta('paid'), stock);
      assert.equal(delta('INSUFFICIENT_STOCK'), buyers - stock);
      assert.ok(sampleValue(now, 'process_cpu_seconds_total') > 0);
    });

    it('replaces a worker that dies', async () => {
      const [victim] = childrenOf(service.pid);
      process.kill(victim!, 'SIGKILL');
      const deadline = Date.now() + 30_000;
      let workers = childrenOf(service.pid);
      while (Date.now() < deadline && (workers.length < 2 || workers.includes(victim!))) {
        await sleep(100);
        workers = childrenOf(service.pid);
      }
      assert.equal(workers.length, 2);
      assert.ok(!workers.includes(victim!));
      // The replacement opens a journal of its own, beside the one the dead worker left for adoption.
      const journals = async () => (await readdir(join(service.dataDir, 'journal'))).filter((name) => name.endsWith('.alive')).length;
      while (Date.now() < deadline && (await journals()) < 3) await sleep(100);
      assert.equal(await journals(), 3);
      for (let i = 0; i < 10; i++) assert.equal((await fetch(`${service.url}/ready`)).status, 200);
    });

    it('drains every worker on SIGTERM and exits 0 within 10 s', async () => {
      const workers = childrenOf(service.pid);
      const { code, elapsedMs } = await terminate(service);
      assert.equal(code, 0, service.logs());
      assert.ok(elapsedMs < shutdownBoundMs, `exited after ${elapsedMs} ms`);
      for (const pid of workers) assert.throws(() => process.kill(pid, 0), 'worker gone');
    });
  });
} else {
  describe('WORKERS=2 on the embedded database', async () => {
    const service = await startService({ env: { JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn', WORKERS: '2' } });

    it('runs one process and says why', async () => {
      assert.equal(childrenOf(service.pid).length, 0);
      assert.match(service.logs(), /WORKERS is 1 on the embedded database/);
    });

    it('sells exactly the stock in a flash sale', async () => {
      const productId = await createProduct(service.url, auth, 1_000, stock);
      const userIds = Array.from({ length: buyers }, () => uniqueUser('single'));
      for (const userId of userIds) await fund(service.url, auth, userId, 10_000);
      assert.deepEqual(await flashSale(service, productId, userIds), { 200: stock, 409: buyers - stock });
      const product = await api(service.url, 'GET', `/api/products/${productId}`, tokenHeader(auth, userIds[0]!));
      assert.equal(product.body.product.stock, 0);
    });

    it('exits 0 within 10 s on SIGTERM', async () => {
      const { code, elapsedMs } = await terminate(service);
      assert.equal(code, 0, service.logs());
      assert.ok(elapsedMs < shutdownBoundMs, `exited after ${elapsedMs} ms`);
    });
  });
}
