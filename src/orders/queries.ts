import assert from 'node:assert/strict';
import type { Queryable } from '../db.js';
import { toIso } from '../schemas.js';
import type { Order, OrderItem, OrderStatus } from './schemas.js';

export type PlaceOrderInput = {
  orderId: string;
  userId: string;
  key: string;
  requestHash: string;
  /** Sorted by product id: the order in which rows are locked. */
  lines: ReadonlyArray<{ productId: number; quantity: number; unitPrice: number }>;
  couponId: number | null;
  /** False when the application already knows the coupon is not usable (not the caller's, under its minimum). */
  couponOk: boolean;
  totalAmount: number;
  discountAmount: number;
};

export type PlaceOrderOutcome =
  | { kind: 'success' | 'failed'; orderId: string; reason: string | null; createdAt: string }
  | { kind: 'duplicate'; orderId: string; status: OrderStatus; requestHash: string }
  | { kind: 'stale' | 'not_found' };

type PlaceOrderRow = {
  outcome: string;
  order_id: string;
  order_status: string | null;
  order_reason: string | null;
  request_hash: string;
  created_at: Date;
};

function rowToOutcome(row: PlaceOrderRow): PlaceOrderOutcome {
  switch (row.outcome) {
    case 'success':
    case 'failed':
      return { kind: row.outcome, orderId: row.order_id, reason: row.order_reason, createdAt: toIso(row.created_at) };
    case 'duplicate':
      return { kind: 'duplicate', orderId: row.order_id, status: row.order_status as OrderStatus, requestHash: row.request_hash };
    case 'stale':
    case 'not_found':
      return { kind: row.outcome };
    default:
      throw new Error(`place_order returned an unknown outcome: ${row.outcome}`);
  }
}

/** One round trip: the whole payment, or a failed order, or nothing (see migrations/004_orders.sql). */
export async function placeOrder(db: Queryable, input: PlaceOrderInput): Promise<PlaceOrderOutcome> {
  const rows = await db.query<PlaceOrderRow>(
    `SELECT * FROM place_order($1, $2, $3, $4, $5::bigint[], $6::bigint[], $7::bigint[], $8, $9, $10, $11)`,
    [
      input.orderId,
      input.userId,
      input.key,
      input.requestHash,
      input.lines.map((line) => line.productId),
      input.lines.map((line) => line.quantity),
      input.lines.map((line) => line.unitPrice),
      input.couponId,
      input.couponOk,
      input.totalAmount,
      input.discountAmount,
    ],
  );
  return rowToOutcome(rows[0]!);
}

/**
 * Single-line orders of one product, paid in one transaction with one commit
 * (migrations/008_order_batch_once.sql); an order whose idempotency key or id
 * is taken by another transaction answers 'stale', to be looked at again.
 */
export async function placeSameProductOrders(db: Queryable, productId: number, inputs: readonly PlaceOrderInput[]): Promise<PlaceOrderOutcome[]> {
  assert.ok(inputs.every((input) => input.lines.length === 1 && input.lines[0]!.productId === productId));
  const rows = await db.query<PlaceOrderRow & { slot: number }>(
    `SELECT * FROM place_orders($1::uuid[], $2::text[], $3::text[], $4::text[], $5, $6::bigint[], $7::bigint[],
                                $8::bigint[], $9::boolean[], $10::bigint[], $11::bigint[]) ORDER BY slot`,
    [
      inputs.map((input) => input.orderId),
      inputs.map((input) => input.userId),
      inputs.map((input) => input.key),
      inputs.map((input) => input.requestHash),
      productId,
      inputs.map((input) => input.lines[0]!.quantity),
      inputs.map((input) => input.lines[0]!.unitPrice),
      inputs.map((input) => input.couponId),
      inputs.map((input) => input.couponOk),
      inputs.map((input) => input.totalAmount),
      inputs.map((input) => input.discountAmount),
    ],
  );
  assert.equal(rows.length, inputs.length);
  return rows.map(rowToOutcome);
}

export type OrderRow = {
  id: string;
  status: OrderStatus;
  reason: string | null;
  total_amount: number;
  discount_amount: number;
  paid_amount: number;
  coupon_id: number | null;
  created_at: Date;
};

export const orderColumns = 'id, status, reason, total_amount, discount_amount, paid_amount, coupon_id, created_at';

export function rowToOrder(row: OrderRow, items: OrderItem[]): Order {
  return {
    orderId: row.id,
    status: row.status,
    reason: row.reason,
    items,
    totalAmount: row.total_amount,
    discountAmount: row.discount_amount,
    paidAmount: row.paid_amount,
    couponId: row.coupon_id,
    createdAt: toIso(row.created_at),
  };
}

export async function itemsOf(db: Queryable, orderIds: readonly string[]): Promise<Map<string, OrderItem[]>> {
  const rows = await db.query<{ order_id: string; product_id: number; quantity: number; unit_price: number }>(
    `SELECT order_id, product_id, quantity, unit_price FROM order_items
       WHERE order_id = ANY ($1::uuid[]) ORDER BY order_id, product_id`,
    [orderIds],
  );
  const items = new Map<string, OrderItem[]>();
  for (const row of rows) {
    const list = items.get(row.order_id) ?? [];
    list.push({ productId: row.product_id, quantity: row.quantity, unitPrice: row.unit_price });
    items.set(row.order_id, list);
  }
  return items;
}

/** The user's order, or `undefined` when it does not exist or belongs to someone else. */
export async function findOrder(db: Queryable, userId: string, orderId: string): Promise<Order | undefined> {
  const [row] = await db.query<OrderRow>(`SELECT ${orderColumns} FROM orders WHERE id = $1 AND user_id = $2`, [orderId, userId]);
  if (row === undefined) return undefined;
  return rowToOrder(row, (await itemsOf(db, [row.id])).get(row.id) ?? []);
}

export type OrderPosition = { createdAt: string; id: string };

/**
 * Newest first, strictly after the position of the previous page. Positions
 * carry the timestamp as PostgreSQL text, which keeps its microseconds.
 */
export async function listOrders(
  db: Queryable,
  userId: string,
  after: OrderPosition | undefined,
  limit: number,
): Promise<Array<{ order: Order; position: OrderPosition }>> {
  const rows = await db.query<OrderRow & { created_key: string }>(
    `SELECT ${orderColumns}, created_at::text AS created_key FROM orders
       WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
       ORDER BY created_at DESC, id DESC LIMIT $4`,
    [userId, after?.createdAt ?? null, after?.id ?? null, limit],
  );
  const items = await itemsOf(db, rows.map((row) => row.id));
  return rows.map((row) => ({
    order: rowToOrder(row, items.get(row.id) ?? []),
    position: { createdAt: row.created_key, id: row.id },
  }));
}

/** Gives back the stock an order took, locking products in id order like the payment does. */
export async function returnStock(db: Queryable, orderId: string): Promise<void> {
  await db.query(
    `WITH lines AS (
       SELECT i.product_id, i.quantity FROM order_items i
         JOIN products p ON p.id = i.product_id
         WHERE i.order_id = $1 ORDER BY i.product_id FOR UPDATE OF p)
     UPDATE products p SET stock = p.stock + lines.quantity, updated_at = now()
       FROM lines WHERE p.id = lines.product_id`,
    [orderId],
  );
}
