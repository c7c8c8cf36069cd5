/**
 * The payment, its events and the claim keep their statements' plans for the
 * session, made from the statistics of the moment (PL/pgSQL). Plans made
 * while the tables were analysed empty must still find every row by its key
 * once the tables hold thousands (migrations/015_keyed_lookups.sql): a batch
 * of four orders, and a claim, fetch a handful of rows of each table, not the
 * table. Counted from the transaction's own statistics
 * (pg_stat_xact_user_tables), on one session that nothing analyses meanwhile:
 * no app runs here, so no statistics keeper.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { openDatabase, type Queryable } from '../src/db.js';
import { migrate } from '../src/migrate.js';
import { payOrders, type PaymentInput } from '../src/orders/queries.js';
import { fundWallet, issueCoupon, makeProduct } from './fixtures.js';
import { ownPostgresDatabase, testConfig, testDb } from './helper.js';
import { checkInvariants } from './support/invariants.js';

const own = testDb === 'postgres' ? await ownPostgresDatabase() : undefined;
// One connection, so that every statement below runs in the session whose plans are measured.
const db = await openDatabase(testConfig({ DB_POOL_SIZE: '1', ...(own === undefined ? {} : { DATABASE_URL: own.url }) }), () => {});
after(async () => {
  await db.close();
  await own?.drop();
});
await migrate(db);

const grownRows = 20_000;
/** Rows a batch of four orders and a claim may fetch from one table: a few per order. */
const rowsPerTableMax = 40;

function order(userId: string, productId: number, couponId: number | null): PaymentInput {
  return { orderId: randomUUID(), userId, key: randomUUID(), requestHash: 'h', lines: [{ productId, quantity: 1 }], couponId };
}

async function claim(tx: Queryable, campaignId: number, userIds: string[]): Promise<void> {
  await tx.query('SELECT * FROM claim_coupons($1, $2::text[], now())', [campaignId, userIds]);
}

/**
 * Rows fetched per table by this session's statements whose statistics are
 * not yet reported: this transaction's, and maybe those of the last second,
 * so a count is the difference of two taken in one transaction.
 */
async function rowsFetched(tx: Queryable): Promise<Record<string, number>> {
  const rows = await tx.query<{ relname: string; fetched: number }>(
    `SELECT relname, (coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0))::int AS fetched FROM pg_stat_xact_user_tables
      WHERE relname IN ('orders', 'coupons', 'coupon_campaigns', 'products', 'wallets')`,
  );
  return Object.fromEntries(rows.map((row) => [row.relname, row.fetched]));
}

async function campaignOf(couponId: number): Promise<number> {
  const [row] = await db.query<{ campaign_id: number }>('SELECT campaign_id FROM coupons WHERE id = $1', [couponId]);
  return row!.campaign_id;
}

describe('plans made on empty tables', () => {
  it('still find rows by key after the tables grew', async () => {
    const product = await makeProduct(db, 1_000, 1_000_000);
    const users = Array.from({ length: 8 }, (_, i) => `keyed-${i}-${randomUUID().slice(0, 8)}`);
    for (const user of users) await fundWallet(db, user, 1_000_000);
    const coupons: number[] = [];
    for (const user of users) coupons.push(await issueCoupon(db, user, { totalQuantity: 1_000_000 }));
    const campaign = await campaignOf(coupons[0]!);
    await db.query('ANALYZE');

    // Plans made now, from the statistics of nearly empty tables (claim_coupons is planned
    // generically from its sixth call on).
    await payOrders(db, [order(users[0]!, product, coupons[0]!)]);
    for (let i = 0; i < 6; i++) await claim(db, campaign, [`keyed-claimant-${i}`]);

    // The tables grow by bulk SQL, in the same session, without an ANALYZE.
    await db.query(
      `INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, reason, total_amount, discount_amount, paid_amount)
       SELECT gen_random_uuid(), 'keyed-other-' || (g % 500), 'k' || g, 'h', 'failed', 'INSUFFICIENT_BALANCE', 0, 0, 0
         FROM generate_series(1, $1::int) g`,
      [grownRows],
    );
    await db.query(
      `INSERT INTO coupons (campaign_id, user_id, expires_at) SELECT $1, 'keyed-holder-' || g, now() + interval '1 day' FROM generate_series(1, $2::int) g`,
      [campaign, grownRows],
    );
    await db.query(`UPDATE coupon_campaigns SET issued_quantity = issued_quantity + $2 WHERE id = $1`, [campaign, grownRows]);
    await db.query(`INSERT INTO products (name, price, stock) SELECT 'keyed', 1000, 1 FROM generate_series(1, $1::int)`, [grownRows]);
    await db.query(`INSERT INTO wallets (user_id, balance) SELECT 'keyed-empty-' || g, 0 FROM generate_series(1, $1::int) g`, [grownRows]);

    const read = await db.transaction(async (tx) => {
      const before = await rowsFetched(tx);
      const outcomes = await payOrders(tx, users.slice(1, 5).map((user, i) => order(user, product, coupons[i + 1]!)));
      assert.deepEqual(outcomes.map((outcome) => outcome.kind), ['paid', 'paid', 'paid', 'paid']);
      await claim(tx, campaign, [users[5]!, 'keyed-holder-7', 'keyed-claimant-new']);
      const after = await rowsFetched(tx);
      return Object.fromEntries(Object.entries(after).map(([table, rows]) => [table, rows - (before[table] ?? 0)]));
    });
    assert.equal(Object.keys(read).length, 5, `statistics of every table: ${JSON.stringify(read)}`);
    const wholeTables = Object.entries(read).filter(([, rows]) => rows > rowsPerTableMax);
    assert.deepEqual(wholeTables, [], `rows fetched per table for four orders and a claim of three: ${JSON.stringify(read)}`);
    assert.deepEqual(await checkInvariants(db), []);
  });
});
