/**
 * The bench database: created fresh for a run and dropped after it, seeded in
 * bulk SQL straight into the service's schema. Every write here keeps the
 * SPEC §9 invariants: wallets get a matching CHARGE ledger entry, coupons
 * raise their campaign's issued quantity, and every stock the bench sets is
 * recorded in `bench_initial_stock` so sold quantities can be checked later.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { Authenticator } from '../src/auth.js';

export const userBalance = 9_000_000;

export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export type Seed = { productLo: number; productHi: number; userIds: string[]; tokensFile: string };

/** Needs the service's schema (start the service once first: it migrates). */
export async function seedBase(db: pg.Pool, products: number, users: number): Promise<Omit<Seed, 'tokensFile'>> {
  await db.query(`CREATE TABLE IF NOT EXISTS bench_initial_stock (product_id bigint PRIMARY KEY, stock bigint NOT NULL)`);
  const rows = await db.query<{ lo: string; hi: string }>(
    `WITH p AS (
       INSERT INTO products (name, price, stock)
       SELECT 'bench product ' || g, 100 * (1 + (g * 7919) % 100), 1000000 FROM generate_series(1, $1::int) g
       RETURNING id, stock),
     i AS (INSERT INTO bench_initial_stock SELECT id, stock FROM p)
     SELECT min(id) AS lo, max(id) AS hi FROM p`,
    [products],
  );
  const lo = Number(rows.rows[0]!.lo);
  const hi = Number(rows.rows[0]!.hi);
  if (hi - lo + 1 !== products) throw new Error('seeded product ids are not contiguous');
  await db.query(
    `WITH w AS (
       INSERT INTO wallets (user_id, balance) SELECT 'bench-u' || g, $2 FROM generate_series(1, $1::int) g RETURNING user_id, balance)
     INSERT INTO point_ledger (user_id, type, amount, balance_after) SELECT user_id, 'CHARGE', balance, balance FROM w`,
    [users, userBalance],
  );
  const userIds = Array.from({ length: users }, (_, i) => `bench-u${i + 1}`);
  return { productLo: lo, productHi: hi, userIds };
}

/** The base seed and its users' tokens in `tokensFile`; `firstToken` is the first user's. */
export async function seedWithTokens(db: pg.Pool, products: number, users: number, tokensFile: string, secret: string): Promise<Seed & { firstToken: string }> {
  const base = await seedBase(db, products, users);
  await writeTokens(tokensFile, base.userIds, secret);
  return { ...base, tokensFile, firstToken: readFileSync(tokensFile, 'utf8').split('\n')[0]! };
}

/** One token a line, in user order: the generator's user index is the line number. */
export async function writeTokens(file: string, userIds: readonly string[], secret: string): Promise<void> {
  const auth = new Authenticator(secret);
  const tokens: string[] = [];
  for (const userId of userIds) tokens.push(auth.sign(userId, { expiresIn: '4h' }));
  writeFileSync(file, `${tokens.join('\n')}\n`);
}

export async function createProduct(db: pg.Pool, name: string, price: number, stock: number): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `WITH p AS (INSERT INTO products (name, price, stock) VALUES ($1, $2, $3) RETURNING id, stock),
     i AS (INSERT INTO bench_initial_stock SELECT id, stock FROM p)
     SELECT id FROM p`,
    [name, price, stock],
  );
  return Number(rows[0]!.id);
}

export async function createCampaign(db: pg.Pool, code: string, totalQuantity: number): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO coupon_campaigns (code, name, discount_type, discount_value, total_quantity)
     VALUES ($1, $1, 'FIXED', 500, $2) RETURNING id`,
    [code, totalQuantity],
  );
  return Number(rows[0]!.id);
}

/**
 * Issues a fresh campaign's coupon to every `every`-th user and writes the
 * generator's coupon file ("userIndex<TAB>couponId", 1-based user index).
 */
export async function issueOrderCoupons(db: pg.Pool, code: string, userIds: readonly string[], every: number, file: string): Promise<void> {
  const chosen = userIds.map((id, i) => ({ id, index: i + 1 })).filter((u) => u.index % every === 0);
  const campaignId = await createCampaign(db, code, Math.max(1, chosen.length));
  const { rows } = await db.query<{ id: string; user_id: string }>(
    `INSERT INTO coupons (campaign_id, user_id, expires_at)
     SELECT $1, u, now() + interval '30 days' FROM unnest($2::text[]) u RETURNING id, user_id`,
    [campaignId, chosen.map((u) => u.id)],
  );
  await db.query('UPDATE coupon_campaigns SET issued_quantity = $2 WHERE id = $1', [campaignId, rows.length]);
  const indexOf = new Map(chosen.map((u) => [u.id, u.index]));
  writeFileSync(file, `${rows.map((r) => `${indexOf.get(r.user_id)}\t${r.id}`).join('\n')}\n`);
}

/**
 * Lets the database settle between measurements: a bulk seed or a pgbench run
 * leaves dead rows, unanalysed tables and dirty buffers, and whatever runs
 * next would otherwise pay for their autovacuum and checkpoint.
 */
export async function settleDatabase(db: pg.Pool): Promise<void> {
  await db.query('VACUUM ANALYZE');
  await db.query('CHECKPOINT');
}
