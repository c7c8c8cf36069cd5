/**
 * What the popular list reads (src/products/popular.ts) from the sales
 * aggregate (migrations/005_popular.sql): units sold per product per UTC
 * hour, counting the orders that hold their effects, and those orders' lines
 * where the window's edge cuts a bucket. The payment (pay_orders) adds to the
 * aggregate; `withdrawSales` (queries.ts) takes a canceled order back out.
 */
import type { Queryable } from '../db.js';
import { popularCountMax, type PopularProduct } from './schemas.js';

export const bucketMs = 3_600_000;
export const popularWindowMs = 72 * bucketMs;

type PopularRow = { id: number; name: string; price: number; stock: number; sold: number };

/**
 * The whole buckets come from the aggregate. The window's old edge falls
 * inside a bucket: whichever side of it is shorter is counted from the
 * orders (added, or taken away from the aggregate). Orders that hold effects
 * but are `pending` (recovery took them over) are in the aggregate and must
 * not count: they are few, and taken away.
 */
const topSellersSql = `
WITH edge AS (
  SELECT oi.product_id, sum(oi.quantity) * $4 AS q
    FROM orders o JOIN order_items oi ON oi.order_id = o.id
   WHERE o.holds_effects AND o.paid_at >= $2 AND o.paid_at < $3 AND ($7::bigint[] IS NULL OR oi.product_id = ANY ($7))
   GROUP BY oi.product_id
), unsettled AS (
  SELECT oi.product_id, -sum(oi.quantity) AS q
    FROM orders o JOIN order_items oi ON oi.order_id = o.id
   WHERE o.status = 'pending' AND o.holds_effects AND o.paid_at >= $5 AND ($7::bigint[] IS NULL OR oi.product_id = ANY ($7))
   GROUP BY oi.product_id
), sold AS (
  SELECT product_id, sum(q) AS q FROM (
    SELECT product_id, quantity AS q FROM product_sales WHERE bucket >= $1 AND ($7::bigint[] IS NULL OR product_id = ANY ($7))
    UNION ALL SELECT product_id, q FROM edge
    UNION ALL SELECT product_id, q FROM unsettled) t
  GROUP BY product_id
)
SELECT p.id, p.name, p.price, p.stock, s.q::bigint AS sold
  FROM (SELECT product_id, q FROM sold WHERE q > 0 ORDER BY q DESC, product_id LIMIT $6) s
  JOIN products p ON p.id = s.product_id
 ORDER BY s.q DESC, p.id`;

/**
 * The best sellers of the 72 hours before `now`, exactly as the order lines
 * say, ties by id; among `productIds` only, when given.
 */
export async function findTopSellers(db: Queryable, now: Date, productIds?: readonly number[]): Promise<PopularProduct[]> {
  const windowStart = now.getTime() - popularWindowMs;
  const edgeBucket = Math.floor(windowStart / bucketMs) * bucketMs;
  const intoEdge = windowStart - edgeBucket;
  // Either count the edge bucket whole and take away its part before the window, or skip it and add its part inside.
  const [from, lo, hi, sign] =
    intoEdge <= bucketMs / 2
      ? [edgeBucket, edgeBucket, windowStart, -1]
      : [edgeBucket + bucketMs, windowStart, edgeBucket + bucketMs, 1];
  const rows = await db.query<PopularRow>(topSellersSql, [
    new Date(from),
    new Date(lo),
    new Date(hi),
    sign,
    new Date(windowStart),
    popularCountMax,
    productIds ?? null,
  ]);
  return rows.map((row) => ({ id: row.id, name: row.name, price: row.price, stock: row.stock, soldQuantity: row.sold }));
}

/** The hour bucket `at` falls in, as the database computes it (date_bin). */
export function bucketOf(at: number): number {
  return Math.floor(at / bucketMs) * bucketMs;
}

/**
 * Every product's units in the buckets from `fromBucket` on, without the edge
 * or pending corrections: an upper bound of what it sold in any window that
 * starts at or after `fromBucket`. The first `limit` by that bound, ties by id.
 */
export async function findSalesLeaders(db: Queryable, fromBucket: Date, limit: number): Promise<Array<{ productId: number; bound: number }>> {
  const rows = await db.query<{ product_id: number; bound: number }>(
    `SELECT product_id, sum(quantity)::bigint AS bound FROM product_sales WHERE bucket >= $1
      GROUP BY product_id HAVING sum(quantity) > 0 ORDER BY 2 DESC, 1 LIMIT $2`,
    [fromBucket, limit],
  );
  return rows.map((row) => ({ productId: row.product_id, bound: row.bound }));
}

export async function databaseNow(db: Queryable): Promise<Date> {
  const [row] = await db.query<{ now: Date }>('SELECT now() AS now');
  return row!.now;
}

/**
 * Products in orders paid (and still holding effects) from `since` on, at
 * most `limit` + 1 of them: the only ones whose sales can have grown.
 */
export async function findProductsSoldSince(db: Queryable, since: Date, limit: number): Promise<number[]> {
  const rows = await db.query<{ product_id: number }>(
    `SELECT DISTINCT oi.product_id FROM orders o JOIN order_items oi ON oi.order_id = o.id
      WHERE o.holds_effects AND o.paid_at >= $1 LIMIT $2`,
    [since, limit + 1],
  );
  return rows.map((row) => row.product_id);
}
