/**
 * Bulk order history for the read scenarios: `success` orders paid in the
 * last 72 hours with two lines each, inserted in SQL straight into
 * PostgreSQL (not through the API). Product choice is skewed toward low ids
 * so "popular" has a clear head. Stock is lowered by what the history sold,
 * so the stock invariant still holds.
 *
 * Features that keep derived tables (a sales aggregate behind
 * /api/products/popular, say) add a refresher to `historyRefreshers`: it runs
 * after the load, only when its table exists.
 */
import type pg from 'pg';

export type HistoryRefresher = Readonly<{ table: string; sql: string }>;

export const historyRefreshers: HistoryRefresher[] = [
  // The popular products' sales per hour (migrations/005_popular.sql), rebuilt from every order holding effects.
  {
    table: 'product_sales',
    sql: `BEGIN;
      DELETE FROM product_sales;
      INSERT INTO product_sales (product_id, bucket, quantity)
        SELECT oi.product_id, date_bin('1 hour', o.paid_at, timestamptz '2000-01-01 00:00+00'), sum(oi.quantity)
          FROM orders o JOIN order_items oi ON oi.order_id = o.id
         WHERE o.holds_effects GROUP BY 1, 2;
      COMMIT;
      ANALYZE product_sales`,
  },
];

export async function loadOrderHistory(db: pg.Pool, lines: number, productLo: number, productHi: number): Promise<void> {
  const orders = Math.ceil(lines / 2);
  const span = productHi - productLo + 1;
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `CREATE TEMP TABLE bench_history ON COMMIT DROP AS
       SELECT gen_random_uuid() AS id, g,
              $2::bigint + floor($3 * random() ^ 3)::bigint AS p1,
              1 + floor(random() * 3)::bigint AS q1, 1 + floor(random() * 3)::bigint AS q2,
              now() - random() * interval '72 hours' AS t
       FROM generate_series(1, $1::int) g`,
      [orders, productLo, span],
    );
    // The second line is the next product, wrapping inside the seeded range.
    await client.query(`ALTER TABLE bench_history ADD COLUMN p2 bigint`);
    await client.query(`UPDATE bench_history SET p2 = $1 + ((p1 - $1 + 1) % $2)`, [productLo, span]);
    await client.query(
      `INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, total_amount, discount_amount,
                           paid_amount, holds_effects, created_at, paid_at, updated_at)
       SELECT h.id, 'bench-history-u' || (h.g % 5000), 'history-' || h.g, 'bench-history', 'success',
              a.price * h.q1 + b.price * h.q2, 0, a.price * h.q1 + b.price * h.q2, true, h.t, h.t, h.t
       FROM bench_history h JOIN products a ON a.id = h.p1 JOIN products b ON b.id = h.p2`,
    );
    await client.query(
      `INSERT INTO order_items (order_id, product_id, quantity, unit_price)
       SELECT h.id, h.p1, h.q1, a.price FROM bench_history h JOIN products a ON a.id = h.p1
       UNION ALL
       SELECT h.id, h.p2, h.q2, b.price FROM bench_history h JOIN products b ON b.id = h.p2`,
    );
    await client.query(
      `UPDATE products p SET stock = p.stock - s.q FROM (
         SELECT product_id, sum(quantity) AS q FROM order_items oi JOIN bench_history h ON h.id = oi.order_id
         GROUP BY product_id) s
       WHERE s.product_id = p.id`,
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
  for (const refresher of historyRefreshers) {
    const { rows } = await db.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [refresher.table]);
    if (rows[0]?.t !== null) await db.query(refresher.sql);
  }
  await db.query('ANALYZE orders; ANALYZE order_items; ANALYZE products');
}
