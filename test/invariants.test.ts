/**
 * The invariant checker must be able to fail. A small consistent dataset is
 * written to the real tables and passes; then each corruption is applied to a
 * private, constraint-free copy of it (temporary tables of the same names,
 * which shadow the real ones inside one rolled-back transaction) and must be
 * reported, and nothing else must be.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Queryable, Tx } from '../src/db.js';
import { setupApp, uniqueUser } from './helper.js';
import { checkInvariants, checkStock, type InvariantScope } from './support/invariants.js';

// A database of its own: its deliberately pending orders must not meet other files.
const { db } = await setupApp({}, { ownDatabase: true });
const tables = ['products', 'wallets', 'point_ledger', 'coupon_campaigns', 'coupons', 'orders', 'order_items'];

const A = uniqueUser('inv-a');
const B = uniqueUser('inv-b');
const o = { paid: randomUUID(), canceled: randomUUID(), failed: randomUUID(), holding: randomUUID(), unresolved: randomUUID() };
let p1 = 0;
let p2 = 0;
let campaign = 0;
let couponA = 0;
let couponB = 0;
let scope: InvariantScope = {};

async function one<R extends object>(sql: string, params: unknown[]): Promise<R> {
  const [row] = await db.query<R>(sql, params);
  return row!;
}

async function insertOrder(id: string, user: string, status: string, amounts: [number, number], holds: boolean, couponId: number | null, items: Array<[number, number, number]>) {
  await db.query(
    `INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, total_amount, discount_amount, paid_amount, coupon_id, holds_effects)
     VALUES ($1, $2, $3, 'hash', $4, $5::bigint, $6::bigint, $5::bigint - $6::bigint, $7, $8)`,
    [id, user, `key-${id}`, status, amounts[0], amounts[1], couponId, holds],
  );
  for (const [productId, quantity, unitPrice] of items) {
    await db.query('INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES ($1, $2, $3, $4)', [id, productId, quantity, unitPrice]);
  }
}

async function ledger(user: string, type: string, amount: number, balanceAfter: number, orderId: string | null) {
  await db.query('INSERT INTO point_ledger (user_id, type, amount, balance_after, order_id) VALUES ($1, $2, $3, $4, $5)', [user, type, amount, balanceAfter, orderId]);
}

/**
 * A paid order with a coupon, a paid-then-canceled one, a failed one, a pending
 * one that holds its effects and a pending one that never took anything.
 */
async function buildDataset(): Promise<void> {
  p1 = (await one<{ id: number }>("INSERT INTO products (name, price, stock) VALUES ('inv-1', 1000, 9) RETURNING id", [])).id;
  p2 = (await one<{ id: number }>("INSERT INTO products (name, price, stock) VALUES ('inv-2', 500, 2) RETURNING id", [])).id;
  campaign = (
    await one<{ id: number }>(
      `INSERT INTO coupon_campaigns (code, name, discount_type, discount_value, total_quantity, issued_quantity)
       VALUES ($1, 'inv', 'FIXED', 300, 2, 2) RETURNING id`,
      [`INV-${randomUUID().slice(0, 8)}`],
    )
  ).id;
  const coupon = "INSERT INTO coupons (campaign_id, user_id, status, order_id, expires_at) VALUES ($1, $2, $3, $4, now() + interval '30 days') RETURNING id";
  couponA = (await one<{ id: number }>(coupon, [campaign, A, 'USED', o.paid])).id;
  couponB = (await one<{ id: number }>(coupon, [campaign, B, 'AVAILABLE', null])).id;

  await insertOrder(o.paid, A, 'success', [2000, 300], true, couponA, [[p1, 1, 1000], [p2, 2, 500]]);
  await insertOrder(o.canceled, A, 'canceled', [1000, 0], false, null, [[p1, 1, 1000]]);
  await insertOrder(o.failed, A, 'failed', [100_000, 0], false, null, [[p1, 100, 1000]]);
  await insertOrder(o.holding, B, 'pending', [500, 0], true, null, [[p2, 1, 500]]);
  await insertOrder(o.unresolved, B, 'pending', [1000, 0], false, null, [[p1, 1, 1000]]);

  await ledger(A, 'CHARGE', 10_000, 10_000, null);
  await ledger(A, 'USE', 1700, 8300, o.paid);
  await ledger(A, 'USE', 1000, 7300, o.canceled);
  await ledger(A, 'REFUND', 1000, 8300, o.canceled);
  await ledger(B, 'CHARGE', 5000, 5000, null);
  await ledger(B, 'USE', 500, 4500, o.holding);
  await db.query('INSERT INTO wallets (user_id, balance) VALUES ($1, 8300), ($2, 4500)', [A, B]);
  scope = { userIds: [A, B], productIds: [p1, p2], campaignIds: [campaign] };
}

const initialStock = () => new Map([[p1, 10], [p2, 5]]);

class Rollback extends Error {}

/**
 * Runs `fn` on a copy of this file's rows in temporary tables, then rolls back.
 * Each query text gets a unique comment so PostgreSQL prepares it afresh against
 * the temporary tables instead of reusing a plan bound to the real ones.
 */
async function onCopy<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
  let result: T | undefined;
  const tag = `/* copy ${randomUUID()} */ `;
  try {
    await db.transaction(async (tx: Tx) => {
      const q: Queryable = { query: (text, params) => tx.query(tag + text, params) };
      for (const table of tables) {
        await q.query(`CREATE TEMP TABLE ${table} ON COMMIT DROP AS SELECT * FROM public.${table} WITH NO DATA`);
      }
      await copyRows(q);
      result = await fn(q);
      throw new Rollback();
    });
  } catch (error) {
    if (!(error instanceof Rollback)) throw error;
  }
  return result as T;
}

async function copyRows(q: Queryable): Promise<void> {
  const orderIds = Object.values(o);
  await q.query('INSERT INTO products SELECT * FROM public.products WHERE id = ANY($1::bigint[])', [[p1, p2]]);
  await q.query('INSERT INTO wallets SELECT * FROM public.wallets WHERE user_id = ANY($1::text[])', [[A, B]]);
  await q.query('INSERT INTO point_ledger SELECT * FROM public.point_ledger WHERE user_id = ANY($1::text[])', [[A, B]]);
  await q.query('INSERT INTO coupon_campaigns SELECT * FROM public.coupon_campaigns WHERE id = $1', [campaign]);
  await q.query('INSERT INTO coupons SELECT * FROM public.coupons WHERE campaign_id = $1', [campaign]);
  await q.query('INSERT INTO orders SELECT * FROM public.orders WHERE id = ANY($1::uuid[])', [orderIds]);
  await q.query('INSERT INTO order_items SELECT * FROM public.order_items WHERE order_id = ANY($1::uuid[])', [orderIds]);
}

/** Applies the corruption to the copy and returns what the checker says about it. */
async function violationsAfter(statements: Array<[string, unknown[]]>, extra: InvariantScope = {}): Promise<string[]> {
  return onCopy(async (q) => {
    for (const [sql, params] of statements) await q.query(sql, params);
    return checkInvariants(q, { ...scope, ...extra });
  });
}

function assertReports(violations: string[], expected: RegExp[]): void {
  assert.equal(violations.length, expected.length, violations.join('\n'));
  for (const pattern of expected) assert.ok(violations.some((v) => pattern.test(v)), `${pattern} not in:\n${violations.join('\n')}`);
}

await buildDataset();

describe('invariant checker', () => {
  it('finds nothing wrong with a consistent dataset, on the real tables and on the copy', async () => {
    assert.deepEqual(await checkInvariants(db, scope), []);
    assert.deepEqual(await checkStock(db, initialStock()), []);
    assert.deepEqual(await violationsAfter([]), []);
  });

  it('reports pending orders once they must have settled', async () => {
    assertReports(await checkInvariants(db, { ...scope, pendingAllowed: false }), [new RegExp(`order ${o.holding}: status pending`), new RegExp(`order ${o.unresolved}: status pending`)]);
  });

  const cases: Array<[string, () => Array<[string, unknown[]]>, () => RegExp[]]> = [
    ['a balance off its ledger', () => [['UPDATE wallets SET balance = balance + 10 WHERE user_id = $1', [A]]], () => [/balance 8310 differs from its ledger sum 8300/]],
    ['a negative balance', () => [['UPDATE wallets SET balance = -1 WHERE user_id = $1', [B]]], () => [/balance -1 is negative/, /balance -1 differs/]],
    ['ledger entries without a wallet', () => [['DELETE FROM wallets WHERE user_id = $1', [B]]], () => [/has ledger entries \(sum 4500\) but no wallet/]],
    ['a payment of the wrong amount', () => [
      ["UPDATE point_ledger SET amount = 1600 WHERE order_id = $1 AND type = 'USE'", [o.paid]],
      ['UPDATE wallets SET balance = balance + 100 WHERE user_id = $1', [A]],
    ], () => [new RegExp(`order ${o.paid} \\(success, holds effects, paid 1700\\): 1 USE entries \\(1600\\)`)]],
    ['a refund of a paid order', () => [
      ["INSERT INTO point_ledger (id, user_id, type, amount, balance_after, order_id) VALUES (-1, $1, 'REFUND', 100, 8400, $2)", [A, o.paid]],
      ['UPDATE wallets SET balance = balance + 100 WHERE user_id = $1', [A]],
    ], () => [new RegExp(`REFUND for order ${o.paid} whose status is success`), new RegExp(`order ${o.paid} .*1 REFUND entries`)]],
    ['a payment for a failed order', () => [
      ["INSERT INTO point_ledger (id, user_id, type, amount, balance_after, order_id) VALUES (-1, $1, 'USE', 100, 8200, $2)", [A, o.failed]],
      ['UPDATE wallets SET balance = balance - 100 WHERE user_id = $1', [A]],
    ], () => [new RegExp(`order ${o.failed} \\(failed, paid 100000\\): 1 USE entries`)]],
    ['a payment naming another user\'s order', () => [
      ["INSERT INTO point_ledger (id, user_id, type, amount, balance_after, order_id) VALUES (-1, $1, 'USE', 100, 4400, $2)", [B, o.paid]],
      ['UPDATE wallets SET balance = balance - 100 WHERE user_id = $1', [B]],
    ], () => [new RegExp(`USE of ${B} names order ${o.paid} of ${A}`), new RegExp(`order ${o.paid} .*2 USE entries`)]],
    ['negative stock', () => [['UPDATE products SET stock = -1 WHERE id = $1', [p1]]], () => [/stock -1 is negative/]],
    ['more coupons issued than the total', () => [['UPDATE coupon_campaigns SET issued_quantity = 3 WHERE id = $1', [campaign]]], () => [/issued 3 exceeds total 2/]],
    ['an issued count that is not the coupons issued', () => [['DELETE FROM coupons WHERE id = $1', [couponB]]], () => [/issued_quantity 2 but 1 coupons exist/]],
    ['two coupons for one user', () => [
      ['UPDATE coupon_campaigns SET total_quantity = 3, issued_quantity = 3 WHERE id = $1', [campaign]],
      ["INSERT INTO coupons (id, campaign_id, user_id, status, expires_at) VALUES (-1, $1, $2, 'AVAILABLE', now())", [campaign, B]],
    ], () => [new RegExp(`user ${B} holds 2 coupons`)]],
    ['a coupon used by an order that took nothing', () => [
      ["UPDATE coupons SET status = 'USED', order_id = $1 WHERE id = $2", [o.unresolved, couponB]],
      ['UPDATE orders SET coupon_id = $1 WHERE id = $2', [couponB, o.unresolved]],
    ], () => [new RegExp(`coupon ${couponB}: USED by order ${o.unresolved} whose status is pending without effects`)]],
    ['a paid order whose coupon is still available', () => [["UPDATE coupons SET status = 'AVAILABLE', order_id = NULL WHERE id = $1", [couponA]]],
      () => [new RegExp(`order ${o.paid} \\(success\\): its coupon ${couponA} is AVAILABLE`)]],
    ['one coupon held by two orders', () => [['UPDATE orders SET coupon_id = $1 WHERE id = $2', [couponA, o.holding]]],
      () => [new RegExp(`order ${o.holding} \\(pending\\): its coupon ${couponA} is USED for order ${o.paid}`), new RegExp(`coupon ${couponA}: held by 2 orders`)]],
    ['an illegal order status', () => [["UPDATE orders SET status = 'paid' WHERE id = $1", [o.failed]]], () => [/status paid is not a legal status/]],
    ['two orders for one key', () => [['UPDATE orders SET idempotency_key = $1 WHERE id = $2', [`key-${o.paid}`, o.canceled]]], () => [/2 orders for Idempotency-Key/]],
    ['paid not total minus discount', () => [['UPDATE orders SET paid_amount = 900 WHERE id = $1', [o.unresolved]]], () => [/total 1000 − discount 0 ≠ paid 900/]],
    ['a failed order holding effects', () => [['UPDATE orders SET holds_effects = true WHERE id = $1', [o.failed]]], () => [new RegExp(`order ${o.failed}: failed with holds_effects = true`)]],
    ['a paid order not holding effects', () => [['UPDATE orders SET holds_effects = false WHERE id = $1', [o.paid]]], () => [new RegExp(`order ${o.paid}: success with holds_effects = false`)]],
    ['items that do not add up to the total', () => [['UPDATE order_items SET quantity = 3 WHERE order_id = $1 AND product_id = $2', [o.paid, p2]]],
      () => [new RegExp(`order ${o.paid}: total 2000 but its items add up to 2500`)]],
  ];
  for (const [name, statements, expected] of cases) {
    it(`reports ${name}`, async () => {
      assertReports(await violationsAfter(statements()), expected());
    });
  }

  it('checkStock reports stock that is not the initial stock minus what paid orders hold', async () => {
    const violations = await onCopy(async (q) => {
      await q.query('UPDATE products SET stock = stock + 1 WHERE id = $1', [p2]);
      return checkStock(q, new Map([...initialStock(), [999_999_999, 1]]));
    });
    assertReports(violations, [new RegExp(`product ${p2}: stock 3 but 5 − 3 sold = 2`), /product 999999999: does not exist/]);
  });
});
