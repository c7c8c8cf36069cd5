/**
 * Recovery of orders whose answer was lost (SPEC §8), driven tick by tick on
 * a real database: the journal says "the client heard 202", the database
 * holds whatever really happened, and recovery must cancel the order and give
 * back exactly what it took, once.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isUniqueViolation } from '../src/db.js';
import { payOrders } from '../src/orders/queries.js';
import { requestHash } from '../src/orders/service.js';
import type { PendingEntry } from '../src/recovery/entries.js';
import { PendingJournal } from '../src/recovery/journal.js';
import { RecoveryWorker } from '../src/recovery/worker.js';
import { balanceOf, couponState, fundWallet, issueCoupon, ledgerOf, makeProduct, stockOf } from './fixtures.js';
import { bearer, call, setupApp, uniqueUser } from './helper.js';
import { checkInvariants } from './support/invariants.js';

// A database of its own: a recovery tick sweeps every pending order it can see.
const { app, db, auth } = await setupApp({}, { recovery: false, ownDatabase: true });
const { journal, recovery } = app;

async function buyer(balance: number) {
  const userId = uniqueUser('rec');
  await fundWallet(db, userId, balance);
  return { userId, headers: await bearer(auth, userId) };
}

function entryFor(userId: string, lines: PendingEntry['lines'], extra: Partial<PendingEntry> = {}): PendingEntry {
  const total = lines.reduce((sum, line) => sum + line.quantity * line.unitPrice, 0);
  const couponId = extra.couponId ?? null;
  const hash = requestHash({ items: lines.map(({ productId, quantity }) => ({ productId, quantity })), ...(couponId === null ? {} : { couponId }) });
  return { orderId: randomUUID(), userId, key: randomUUID(), requestHash: hash, lines, couponId, totalAmount: total, discountAmount: 0, at: new Date().toISOString(), ...extra };
}

async function orderRow(orderId: string) {
  const [row] = await db.query<{ status: string; reason: string | null; holds_effects: boolean }>(`SELECT status, reason, holds_effects FROM orders WHERE id = $1`, [orderId]);
  return row;
}

describe('recovery of orders answered 202', () => {
  it('a payment that never committed: recorded, fenced and canceled, nothing to give back', async () => {
    const { userId, headers } = await buyer(10_000);
    const product = await makeProduct(db, 1_000, 5);
    const entry = entryFor(userId, [{ productId: product, quantity: 2, unitPrice: 1_000 }]);
    await journal.append(entry);
    const pending = await call(app, { method: 'GET', url: `/api/orders/${entry.orderId}`, headers });
    assert.equal(pending.body.order.status, 'pending');
    const retry = await call(app, { method: 'POST', url: '/api/orders', headers: { ...headers, 'idempotency-key': entry.key }, body: { items: [{ productId: product, quantity: 2 }] } });
    assert.equal(retry.status, 409, 'the key of a journaled order is used');
    assert.equal(retry.body.status, 'pending');
    const cancelPendingOrder = await call(app, { method: 'POST', url: `/api/orders/${entry.orderId}/cancel`, headers });
    assert.equal(cancelPendingOrder.status, 409, 'a pending order is the user\'s own and not cancelable');
    assert.equal(cancelPendingOrder.body.code, 'ORDER_NOT_CANCELABLE');
    const stranger = await call(app, { method: 'GET', url: `/api/orders/${entry.orderId}`, headers: await bearer(auth, uniqueUser()) });
    assert.equal(stranger.status, 404, 'a journaled order is nobody else\'s');

    await recovery.tick();
    assert.deepEqual(await orderRow(entry.orderId), { status: 'canceled', reason: 'SYSTEM_FAILURE', holds_effects: false });
    assert.equal(journal.find(entry.orderId), undefined);
    assert.equal(await balanceOf(db, userId), 10_000);
    assert.equal(await stockOf(db, product), 5);
    const read = await call(app, { method: 'GET', url: `/api/orders/${entry.orderId}`, headers });
    assert.equal(read.body.order.status, 'canceled');
    assert.equal(read.body.order.reason, 'SYSTEM_FAILURE');
    assert.deepEqual(read.body.order.items, entry.lines);
    const cancelCanceled = await call(app, { method: 'POST', url: `/api/orders/${entry.orderId}/cancel`, headers });
    assert.equal(cancelCanceled.status, 409);
    const again = await call(app, { method: 'POST', url: '/api/orders', headers: { ...headers, 'idempotency-key': entry.key }, body: { items: [{ productId: product, quantity: 2 }] } });
    assert.equal(again.status, 409);
    assert.equal(again.body.status, 'canceled');
    // The lost payment, arriving late, can no longer commit.
    await assert.rejects(
      payOrders(db, [{ orderId: entry.orderId, userId, key: randomUUID(), requestHash: 'h', lines: [{ productId: product, quantity: 2 }], couponId: null }]),
      (error) => isUniqueViolation(error),
    );
    assert.equal(await stockOf(db, product), 5);
  });

  it('a payment that did commit: canceled and everything given back once', async () => {
    const { userId, headers } = await buyer(20_000);
    const product = await makeProduct(db, 4_000, 5);
    const couponId = await issueCoupon(db, userId, { discountValue: 1_000 });
    const paid = await call(app, { method: 'POST', url: '/api/orders', headers: { ...headers, 'idempotency-key': 'k1' }, body: { items: [{ productId: product, quantity: 2 }], couponId } });
    assert.equal(paid.status, 200);
    // As if its answer had been lost: the journal holds it.
    await journal.append(entryFor(userId, paid.body.items, { orderId: paid.body.orderId, key: 'k1', couponId, discountAmount: 1_000 }));
    assert.equal((await call(app, { method: 'GET', url: `/api/orders/${paid.body.orderId}`, headers })).body.order.status, 'pending');

    await recovery.tick();
    await recovery.tick();
    assert.deepEqual(await orderRow(paid.body.orderId), { status: 'canceled', reason: 'SYSTEM_FAILURE', holds_effects: false });
    assert.equal(await balanceOf(db, userId), 20_000);
    assert.equal(await stockOf(db, product), 5);
    assert.equal((await couponState(db, couponId)).status, 'AVAILABLE');
    const refunds = (await ledgerOf(db, userId)).filter((e) => e.type === 'REFUND');
    assert.deepEqual(refunds, [{ type: 'REFUND', amount: 7_000, orderId: paid.body.orderId }]);
    assert.deepEqual(await checkInvariants(db, { userIds: [userId], productIds: [product] }), []);
  });

  it('a payment that committed as failed ends canceled too, with nothing to give back', async () => {
    const { userId, headers } = await buyer(100);
    const product = await makeProduct(db, 1_000, 5);
    const failed = await call(app, { method: 'POST', url: '/api/orders', headers: { ...headers, 'idempotency-key': 'f1' }, body: { items: [{ productId: product, quantity: 1 }] } });
    assert.equal(failed.status, 402);
    await journal.append(entryFor(userId, [{ productId: product, quantity: 1, unitPrice: 1_000 }], { orderId: failed.body.orderId, key: 'f1' }));
    await recovery.tick();
    assert.deepEqual(await orderRow(failed.body.orderId), { status: 'canceled', reason: 'SYSTEM_FAILURE', holds_effects: false });
    assert.equal(await balanceOf(db, userId), 100);
    assert.equal(await stockOf(db, product), 5);
  });

  it('a key taken meanwhile by a retry elsewhere still leaves the lost order on record, canceled', async () => {
    const { userId, headers } = await buyer(10_000);
    const product = await makeProduct(db, 1_000, 5);
    const entry = entryFor(userId, [{ productId: product, quantity: 1, unitPrice: 1_000 }]);
    // Another instance did not know the key and paid a fresh order with it.
    await payOrders(db, [{ orderId: randomUUID(), userId, key: entry.key, requestHash: 'h', lines: [{ productId: product, quantity: 1 }], couponId: null }]);
    await journal.append(entry);
    await recovery.tick();
    assert.equal((await orderRow(entry.orderId))?.status, 'canceled');
    assert.equal(await stockOf(db, product), 4);
    assert.equal(await balanceOf(db, userId), 9_000);
    const read = await call(app, { method: 'GET', url: `/api/orders/${entry.orderId}`, headers });
    assert.equal(read.body.order.status, 'canceled');
  });

  it('two workers racing over the same pending orders compensate each once', async () => {
    const product = await makeProduct(db, 1_000, 100);
    const buyers = await Promise.all(Array.from({ length: 20 }, () => buyer(5_000)));
    const paid = await Promise.all(buyers.map((b) => call(app, { method: 'POST', url: '/api/orders', headers: { ...b.headers, 'idempotency-key': randomUUID() }, body: { items: [{ productId: product, quantity: 3 }] } })));
    assert.ok(paid.every((r) => r.status === 200));
    await db.query(`UPDATE orders SET status = 'pending' WHERE id = ANY ($1::uuid[])`, [paid.map((r) => r.body.orderId)]);
    const other = new RecoveryWorker(db, new PendingJournal(undefined), app.log, 1_000);
    await Promise.all([recovery.tick(), other.tick(), recovery.tick(), other.tick()]);
    for (const response of paid) assert.equal((await orderRow(response.body.orderId))?.status, 'canceled');
    assert.equal(await stockOf(db, product), 100);
    for (const b of buyers) assert.equal(await balanceOf(db, b.userId), 5_000);
    assert.deepEqual(await checkInvariants(db, { userIds: buyers.map((b) => b.userId), productIds: [product] }), []);
  });
});

describe('the fallback journal', () => {
  it('is adopted from a dead instance, a torn last line ignored, and recovered', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'journal-'));
    const { userId } = await buyer(1_000);
    const product = await makeProduct(db, 500, 3);
    const dead = randomUUID();
    const lost = entryFor(userId, [{ productId: product, quantity: 1, unitPrice: 500 }]);
    const settled = entryFor(userId, [{ productId: product, quantity: 1, unitPrice: 500 }]);
    const lines = [
      JSON.stringify({ type: 'pending', entry: lost }),
      JSON.stringify({ type: 'pending', entry: settled }),
      JSON.stringify({ type: 'settled', orderId: settled.orderId }),
      '{"type":"pending","entry":{"orderId":"torn',
    ];
    await writeFile(join(dir, `${dead}.jsonl`), lines.join('\n'));
    await writeFile(join(dir, `${dead}.alive`), '');
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, `${dead}.alive`), old, old);

    const live = new PendingJournal(dir);
    await live.open();
    const worker = new RecoveryWorker(db, live, app.log, 1_000);
    await worker.tick();
    assert.equal((await orderRow(lost.orderId))?.status, 'canceled');
    assert.equal(await orderRow(settled.orderId), undefined);
    assert.deepEqual(worker.status().journalBacklog, 0);
    const files = await readdir(dir);
    assert.ok(!files.some((name) => name.startsWith(dead)), `dead instance's files remain: ${files.join(', ')}`);
    await live.close();
    assert.deepEqual(await readdir(dir), [], 'a clean close with nothing unsettled leaves nothing behind');
  });

  it('does not adopt a live instance\'s journal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'journal-'));
    const first = new PendingJournal(dir);
    await first.open();
    const { userId } = await buyer(1_000);
    await first.append(entryFor(userId, [{ productId: 1, quantity: 1, unitPrice: 1 }]));
    const second = new PendingJournal(dir);
    await second.open();
    assert.equal(await second.adoptDead(), 0);
    assert.equal(first.unsettled().length, 1);
    await second.close();
    for (const entry of first.unsettled()) await first.settle(entry.orderId);
    await first.close();
  });
});
