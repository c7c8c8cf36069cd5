/**
 * Baselines measured in the same run: `hello` (the HTTP ceiling, through
 * load.ts like every scenario), `pg-order` (pgbench running an order-shaped
 * transaction straight on PostgreSQL) and `redis-gate` (redis-benchmark
 * running the coupon claim as one Lua script).
 */
import { readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { rootDir, run } from './proc.js';

export type Figure = { throughput: number; p50Ms: number; p99Ms: number; errors: number };

/** A copy of the order tables in schema `pgb`, so pgbench never touches what the invariants check. */
export async function seedPgOrderCopy(db: pg.Pool, products: number, users: number, coupons: number): Promise<void> {
  await db.query('DROP SCHEMA IF EXISTS pgb CASCADE; CREATE SCHEMA pgb');
  for (const table of ['products', 'wallets', 'point_ledger', 'coupon_campaigns', 'coupons', 'orders', 'order_items']) {
    await db.query(`CREATE TABLE pgb.${table} (LIKE public.${table} INCLUDING ALL)`);
  }
  await db.query('ALTER TABLE pgb.order_items ADD FOREIGN KEY (order_id) REFERENCES pgb.orders (id)');
  await db.query('ALTER TABLE pgb.coupons ADD FOREIGN KEY (campaign_id) REFERENCES pgb.coupon_campaigns (id)');
  await db.query(`INSERT INTO pgb.products (name, price, stock) SELECT 'p' || g, 500, 1000000000000 FROM generate_series(1, $1::int) g`, [products]);
  await db.query(`INSERT INTO pgb.wallets (user_id, balance) SELECT 'u' || g, 1000000000000 FROM generate_series(1, $1::int) g`, [users]);
  await db.query(`INSERT INTO pgb.coupon_campaigns (code, name, discount_type, discount_value, total_quantity, issued_quantity)
                  VALUES ('PGB', 'PGB', 'FIXED', 500, $1, $1)`, [coupons]);
  await db.query(`INSERT INTO pgb.coupons (campaign_id, user_id, expires_at)
                  SELECT (SELECT id FROM pgb.coupon_campaigns), 'u' || g, now() + interval '30 days' FROM generate_series(1, $1::int) g`, [coupons]);
  await db.query('ANALYZE');
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export type PgOrderOptions = { databaseUrl: string; clients: number; durationS: number; hot: boolean; users: number; products: number; coupons: number; tmpDir: string };

export function runPgOrder(options: PgOrderOptions): Figure {
  const url = new URL(options.databaseUrl);
  const logDir = join(options.tmpDir, `pgbench-${options.hot ? 'hot' : 'rand'}-${options.clients}`);
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const script = join(rootDir, 'bench/pgbench', options.hot ? 'order-hot.sql' : 'order.sql');
  const out = run('pgbench', [
    '-h', url.hostname, '-p', url.port || '5432', '-U', url.username || 'postgres', '-n', '-M', 'prepared',
    '-c', String(options.clients), '-j', '2', '-T', String(options.durationS), '-f', script,
    '-D', `users=${options.users}`, '-D', 'lo=1', '-D', `hi=${options.products}`, '-D', 'hot=1', '-D', `coupons=${options.coupons}`,
    '-l', '--log-prefix', join(logDir, 'tx'), url.pathname.slice(1),
  ], {
    // The copy's orders table is analysed empty, and a plan cached then (the order_items foreign-key
    // check) stays a sequential scan as it grows, which made this baseline 2-3 times slower at random.
    // The service's payment functions run under the same setting (migrations/009_keyed_plans.sql).
    env: { ...process.env, PGOPTIONS: '-c enable_seqscan=off' },
  });
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
  const failed = /number of failed transactions: (\d+)/.exec(out);
  if (tps === null) throw new Error(`pgbench gave no tps:\n${out}`);
  // Per-transaction log lines: client, transaction, latency (µs), script, epoch s, µs.
  const latencies: number[] = [];
  for (const file of readdirSync(logDir)) {
    for (const line of readFileSync(join(logDir, file), 'utf8').split('\n')) {
      const field = line.split(' ')[2];
      if (field !== undefined) latencies.push(Number(field));
    }
  }
  rmSync(logDir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return {
    throughput: Number(tps[1]),
    p50Ms: percentile(latencies, 50) / 1000,
    p99Ms: percentile(latencies, 99) / 1000,
    errors: failed === null ? 0 : Number(failed[1]),
  };
}

const claimScript = "if redis.call('SCARD', KEYS[1]) < tonumber(ARGV[1]) then return redis.call('SADD', KEYS[1], ARGV[2]) else return -1 end";

/** The coupon claim as Redis sees it: SCARD < quota, then SADD, one EVAL with a random user id. */
export function runRedisGate(options: { clients: number; requests: number; quota: number; key: string }): Figure {
  const out = run('redis-benchmark', [
    '-h', '127.0.0.1', '-p', '6379', '-c', String(options.clients), '-n', String(options.requests), '-r', '100000000',
    '--threads', '2', '--csv', 'EVAL', claimScript, '1', options.key, String(options.quota), 'user:__rand_int__',
  ]);
  run('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'DEL', options.key]);
  const lines = out.trim().split('\n').filter((l) => l.startsWith('"'));
  // The test name is the script itself, commas included: split on '","' only.
  const fields = (line: string) => line.slice(1, -1).split('","');
  const header = fields(lines[0]!);
  const values = fields(lines[lines.length - 1]!);
  const field = (name: string) => Number(values[header.indexOf(name)]);
  return { throughput: field('rps'), p50Ms: field('p50_latency_ms'), p99Ms: field('p99_latency_ms'), errors: 0 };
}
