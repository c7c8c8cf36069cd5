import type { Queryable } from '../db.js';
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
