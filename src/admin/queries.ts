/**
 * Order reads across users, for admins. The row shape, the columns and the
 * mapper are the orders feature's own (src/orders/queries.ts), so an admin
 * sees exactly what the user sees, plus whose order it is.
 */
import type { Queryable } from '../db.js';
import { itemsOf, orderColumns, rowToOrder, type OrderPosition, type OrderRow } from '../orders/queries.js';
import type { OrderStatus } from '../orders/schemas.js';
import type { AdminOrder } from './schemas.js';

type AdminOrderRow = OrderRow & { user_id: string; created_key: string };

/** Any user's order, or `undefined` when there is none with this id. */
export async function findAnyOrder(db: Queryable, orderId: string): Promise<AdminOrder | undefined> {
  const [row] = await db.query<AdminOrderRow>(`SELECT ${orderColumns}, user_id FROM orders WHERE id = $1`, [orderId]);
  if (row === undefined) return undefined;
  return { ...rowToOrder(row, (await itemsOf(db, [row.id])).get(row.id) ?? []), userId: row.user_id };
}

export type AdminOrderFilter = { userId: string; status: OrderStatus | undefined } | { userId: undefined; status: 'pending' };

/**
 * Newest first, strictly after `after`. With a user, the user's index serves
 * the page; without one only pending orders are listed, which their partial
 * index keeps few and cheap. A list of every order by time would need an index
 * that every payment pays for.
 */
export async function listAdminOrders(
  db: Queryable,
  filter: AdminOrderFilter,
  after: OrderPosition | undefined,
  limit: number,
): Promise<Array<{ order: AdminOrder; position: OrderPosition }>> {
  const page = `($1::timestamptz IS NULL OR (created_at, id) < ($1::timestamptz, $2::uuid)) ORDER BY created_at DESC, id DESC LIMIT $3`;
  const select = `SELECT ${orderColumns}, user_id, created_at::text AS created_key FROM orders`;
  const position = [after?.createdAt ?? null, after?.id ?? null, limit];
  const rows =
    filter.userId === undefined
      ? await db.query<AdminOrderRow>(`${select} WHERE status = 'pending' AND ${page}`, position)
      : await db.query<AdminOrderRow>(`${select} WHERE user_id = $4 AND ($5::text IS NULL OR status = $5) AND ${page}`, [
          ...position,
          filter.userId,
          filter.status ?? null,
        ]);
  const items = await itemsOf(db, rows.map((row) => row.id));
  return rows.map((row) => ({
    order: { ...rowToOrder(row, items.get(row.id) ?? []), userId: row.user_id },
    position: { createdAt: row.created_key, id: row.id },
  }));
}
