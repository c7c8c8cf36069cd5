import type { Queryable, Tx } from '../db.js';
import type { CreateProduct, PatchProduct, Product } from './schemas.js';

type ProductRow = { id: number; name: string; price: number; stock: number };

const columns = 'id, name, price, stock';

/** The channel on which an admin write names the product it changed (src/products/changes.ts). */
export const productChangedChannel = 'product_changed';

/**
 * Wraps a write that returns product rows so that the same statement also
 * notifies the other instances; PostgreSQL delivers the notification only if
 * the write commits.
 */
function notifying(write: string): string {
  return `WITH changed AS (${write})
    SELECT ${columns}, pg_notify('${productChangedChannel}', id::text)::text AS notified FROM changed`;
}

function rowToProduct(row: ProductRow): Product {
  return { id: row.id, name: row.name, price: row.price, stock: row.stock };
}

export async function insertProduct(db: Queryable, input: CreateProduct): Promise<Product> {
  const [row] = await db.query<ProductRow>(
    `INSERT INTO products (name, price, stock) VALUES ($1, $2, $3) RETURNING ${columns}`,
    [input.name, input.price, input.stock],
  );
  return rowToProduct(row!);
}

/** Applies only the fields given; `undefined` when the product does not exist. */
export async function updateProduct(db: Queryable, id: number, patch: PatchProduct): Promise<Product | undefined> {
  const [row] = await db.query<ProductRow>(
    notifying(`UPDATE products SET
       name = COALESCE($2, name), price = COALESCE($3, price), stock = COALESCE($4, stock), updated_at = now()
     WHERE id = $1 RETURNING ${columns}`),
    [id, patch.name ?? null, patch.price ?? null, patch.stock ?? null],
  );
  return row === undefined ? undefined : rowToProduct(row);
}

export async function findProducts(db: Queryable, ids: readonly number[]): Promise<Product[]> {
  const rows = await db.query<ProductRow>(`SELECT ${columns} FROM products WHERE id = ANY($1::bigint[])`, [ids]);
  return rows.map(rowToProduct);
}

/** Products by id ascending, after `afterId`; `limit` rows at most. */
export async function listProducts(db: Queryable, afterId: number, limit: number): Promise<Product[]> {
  const rows = await db.query<ProductRow>(`SELECT ${columns} FROM products WHERE id > $1 ORDER BY id LIMIT $2`, [afterId, limit]);
  return rows.map(rowToProduct);
}

/**
 * Buckets older than this (by the database's clock) are deleted, and a cancel
 * no longer touches them: they are far outside the window. The two limits are
 * a day apart so a pruning and a cancel never wait on the same rows.
 */
const withdrawAgeMaxDays = 7;
const pruneAgeDays = 8;

/**
 * Takes a paid order's lines out of their bucket of the sales aggregate (`product_sales`), a step of the
 * order's compensation (src/orders/compensation.ts); runs in the transaction that clears `holds_effects`.
 */
export async function withdrawSales(tx: Tx, orderId: string): Promise<void> {
  await tx.query(
    `UPDATE product_sales s SET quantity = s.quantity - oi.quantity
       FROM orders o JOIN order_items oi ON oi.order_id = o.id
      WHERE o.id = $1 AND s.product_id = oi.product_id
        AND s.bucket = date_bin('1 hour', o.paid_at, timestamptz '2000-01-01 00:00+00')
        AND s.bucket >= now() - make_interval(days => $2)`,
    [orderId, withdrawAgeMaxDays],
  );
}

/** Deletes the sales aggregate's old buckets; the popular refresh runs it now and then. */
export async function pruneSales(db: Queryable): Promise<void> {
  await db.query(`DELETE FROM product_sales WHERE bucket < now() - make_interval(days => $1)`, [pruneAgeDays]);
}
