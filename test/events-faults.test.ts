/**
 * Events through faults: the broker killed and started again under load,
 * the service killed while deliveries fail, and two instances relaying one
 * database. Nothing committed is lost; duplicates are counted.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { bearer, httpCall, jwtSecret, setupApp, testDb, uniqueUser, type TestApp } from './helper.js';
import { ownNatsServer, readShopStream } from './support/nats-server.js';
import { startService, stopAll } from './support/service-process.js';
import { startReceiver, waitFor } from './support/webhook-receiver.js';
import { makeProduct } from './fixtures.js';

after(() => stopAll());

const fast = { OUTBOX_POLL_MS: '20', WEBHOOK_RETRY_MIN_MS: '100', WEBHOOK_RETRY_MAX_MS: '500' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Charges in parallel until `stop()`; counts the answers. */
function chargeLoad(base: () => string, tokens: Array<Record<string, string>>) {
  let running = true;
  const answers = { ok: 0, other: 0 };
  const done = Promise.all(tokens.map(async (headers) => {
    for (let i = 0; running && i < 200; i += 1) {
      try {
        const response = await httpCall(base(), { method: 'POST', url: '/api/points/charge', headers, body: { amount: 1_000 } });
        if (response.status === 200) answers.ok += 1;
        else answers.other += 1;
      } catch {
        answers.other += 1;
        await sleep(50);
      }
    }
  }));
  return { answers, stop: async () => { running = false; await done; } };
}

async function unrelayed(t: TestApp): Promise<number> {
  const [row] = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox_unrelayed');
  return row!.n;
}

describe('events through faults', { concurrency: false }, () => {
  it('NATS killed and started again during load: every event on the stream once', async () => {
    const nats = await ownNatsServer(4231);
    const t = await setupApp({ ...fast, NATS_URL: nats.url }, { ownDatabase: true });
    const base = await t.url();
    const tokens = await Promise.all(Array.from({ length: 6 }, () => bearer(t.auth, uniqueUser('nats'))));
    const load = chargeLoad(() => base, tokens);
    await sleep(800);
    await nats.stop('SIGKILL');
    await sleep(1_500);
    await nats.start();
    await sleep(800);
    await load.stop();
    assert.ok(load.answers.ok > 0);
    await waitFor(async () => (await unrelayed(t)) === 0, 60_000, 'the outbox to drain');
    assert.ok(t.app.events.relay.stats.publishFailures > 0, 'the broker was down while events were waiting');

    const ids = (await t.db.query<{ id: string }>('SELECT id FROM outbox')).map((row) => row.id).sort();
    assert.equal(ids.length, load.answers.ok, 'one event per charge answered 200');
    const messages = await readShopStream(nats.url);
    const msgIds = messages.map((message) => message.msgId!);
    assert.equal(msgIds.length - new Set(msgIds).size, 0, 'duplicate ids on the stream');
    assert.deepEqual([...msgIds].sort(), ids);
    for (const message of messages) {
      assert.equal(message.event.id, message.msgId);
      assert.equal(message.subject, `shop.${message.event.type}`);
    }
  });

  it('the service killed while deliveries fail, restarted on the same data: every event delivered', async () => {
    // The in-process app only provides the database (its relay is off); the service runs as a child.
    const holder = await setupApp({ OUTBOX_RELAY_ENABLED: 'false' }, { ownDatabase: true });
    const env: Record<string, string> = { ...fast, JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn', WEBHOOK_ATTEMPTS_MAX: '100' };
    if (testDb === 'postgres') env.DATABASE_URL = holder.config.databaseUrl!;
    const receiver = await startReceiver(() => 500);
    let service = await startService({ env });
    const admin = { authorization: `Bearer ${holder.auth.sign('admin', { admin: true })}` };
    const created = await httpCall(service.url, { method: 'POST', url: '/api/admin/webhooks', headers: admin, body: { url: receiver.url, eventTypes: ['*'] } });
    assert.equal(created.status, 201);
    const users = Array.from({ length: 5 }, () => uniqueUser('killed'));
    const tokens = await Promise.all(users.map((user) => bearer(holder.auth, user)));
    let current = service.url;
    const load = chargeLoad(() => current, tokens);
    await waitFor(() => receiver.requests >= 10, 30_000, 'failing deliveries');
    service.kill('SIGKILL');
    await service.exited;
    await load.stop();
    receiver.behaviour = () => 204;
    service = await startService({ env: { ...env, DATA_DIR: service.dataDir } });
    current = service.url;

    const charged = new Map<string, number[]>();
    for (const [i, user] of users.entries()) {
      const history = await httpCall(service.url, { method: 'GET', url: '/api/points/history?limit=100', headers: tokens[i]! });
      charged.set(user, history.body.entries.filter((e: any) => e.type === 'CHARGE').map((e: any) => e.balanceAfter).sort((a: number, b: number) => a - b));
    }
    const expected = [...charged.values()].reduce((sum, list) => sum + list.length, 0);
    assert.ok(expected > 0);
    const unique = () => new Set(receiver.delivered.map((d) => d.event.id)).size;
    await waitFor(() => unique() >= expected, 60_000, `${expected} events`);
    await sleep(300);
    assert.equal(unique(), expected);
    for (const user of users) {
      const balances = [...new Set(receiver.delivered.filter((d) => d.event.subject === user).map((d) => d.event.data.balance as number))].sort((a, b) => a - b);
      assert.deepEqual(balances, charged.get(user));
    }
    await service.stop();
  });

  if (testDb === 'postgres') {
    it('two instances relay one database: every event delivered and published once', async () => {
      const nats = await ownNatsServer(4232);
      const first = await setupApp({ ...fast, NATS_URL: nats.url }, { ownDatabase: true });
      const second = await setupApp({ ...fast, NATS_URL: nats.url, DATABASE_URL: first.config.databaseUrl! });
      const receiver = await startReceiver();
      const bases = [await first.url(), await second.url()];
      const created = await httpCall(bases[0]!, { method: 'POST', url: '/api/admin/webhooks', headers: await bearer(first.auth, 'admin', true), body: { url: receiver.url, eventTypes: ['*'] } });
      assert.equal(created.status, 201);
      const product = await makeProduct(first.db, 100, 1_000_000);
      await Promise.all(Array.from({ length: 8 }, async (_, i) => {
        const headers = await bearer(first.auth, uniqueUser('two'));
        for (let n = 0; n < 15; n += 1) {
          const base = bases[(i + n) % 2]!;
          const charged = await httpCall(base, { method: 'POST', url: '/api/points/charge', headers, body: { amount: 1_000 } });
          assert.equal(charged.status, 200);
          const paid = await httpCall(base, { method: 'POST', url: '/api/orders', headers: { ...headers, 'idempotency-key': randomUUID() }, body: { items: [{ productId: product, quantity: 1 }] } });
          assert.equal(paid.status, 200);
        }
      }));
      const [row] = await first.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
      const total = row!.n;
      await waitFor(() => receiver.delivered.length >= total, 60_000, `${total} deliveries`);
      await waitFor(async () => (await unrelayed(first)) === 0, 60_000, 'the outbox to drain');
      await sleep(500);
      const delivered = receiver.delivered.map((d) => d.event.id);
      assert.equal(delivered.length, total, 'no webhook duplicates');
      assert.equal(new Set(delivered).size, total);
      const messages = await readShopStream(nats.url);
      assert.equal(messages.length, total, 'no stream duplicates');
      assert.equal(new Set(messages.map((m) => m.msgId)).size, total);
      const relayed = [first, second].map((t) => t.app.events.relay.stats.relayed);
      assert.equal(relayed[0]! + relayed[1]!, total);
    });
  }
});
