import assert from 'node:assert/strict';
import type { Queryable } from '../db.js';
import { toIso } from '../schemas.js';
import type { Order, OrderItem, OrderStatus } from './schemas.js';

/** One order as the payment receives it: what the client asked for, nothing priced. */
export type PaymentInput = Readonly<{
  orderId: string;
  userId: string;
  key: string;
  requestHash: string;
  /** Distinct products, sorted by id. */
  lines: ReadonlyArray<{ productId: number; quantity: number }>;
  couponId: number | null;
}>;

export const paymentFailures = ['INVALID_COUPON', 'INSUFFICIENT_STOCK', 'INSUFFICIENT_BALANCE'] as const;
export type PaymentFailure = (typeof paymentFailures)[number];

/** What the payment decided for one order (migrations/011_pay_orders.sql). */
export type PaymentOutcome =
  | { kind: 'paid'; orderId: string; items: OrderItem[]; totalAmount: number; discountAmount: number; createdAt: string }
  | { kind: 'failed'; orderId: string; reason: PaymentFailure }
  | { kind: 'duplicate'; orderId: string; status: OrderStatus; requestHash: string }
  /** A product does not exist; nothing was recorded. */
  | { kind: 'not_found' }
  /** A twin of the same key came earlier in the batch; nothing was recorded, send it again. */
  | { kind: 'retry' };

type PaymentRow = {
  slot: number;
  outcome: string;
  order_id: string;
  order_status: string | null;
  order_reason: string | null;
  request_hash: string;
  created_at: Date;
  /** int8[]: the drivers hand its elements over as text. */
  unit_prices: Array<number | string> | null;
  total_amount: number;
  discount_amount: number;
};

const orderStatuses: readonly string[] = ['pending', 'success', 'failed', 'canceled'] satisfies OrderStatus[];

function rowToOutcome(row: PaymentRow, input: PaymentInput): PaymentOutcome {
  switch (row.outcome) {
    case 'paid': {
      const prices = row.unit_prices?.map(Number);
      assert.ok(prices !== undefined && prices.length === input.lines.length, 'a paid order answers one price per line');
      assert.ok(prices.every((price) => Number.isSafeInteger(price) && price >= 0), 'prices are non-negative integers');
      return {
        kind: 'paid',
        orderId: row.order_id,
        items: input.lines.map((line, index) => ({ productId: line.productId, quantity: line.quantity, unitPrice: prices[index]! })),
        totalAmount: row.total_amount,
        discountAmount: row.discount_amount,
        createdAt: toIso(row.created_at),
      };
    }
    case 'failed': {
      const reason = paymentFailures.find((failure) => failure === row.order_reason);
      assert.ok(reason !== undefined, `pay_orders failed an order for an unknown reason: ${row.order_reason}`);
      return { kind: 'failed', orderId: row.order_id, reason };
    }
    case 'duplicate':
      assert.ok(row.order_status !== null && orderStatuses.includes(row.order_status), `unknown order status ${row.order_status}`);
      return { kind: 'duplicate', orderId: row.order_id, status: row.order_status as OrderStatus, requestHash: row.request_hash };
    case 'not_found':
    case 'retry':
      return { kind: row.outcome };
    default:
      assert.fail(`pay_orders answered an unknown outcome: ${row.outcome}`);
  }
}

/**
 * Pays a batch of orders in one statement, one transaction, one commit: one
 * outcome per input, in order. A unique violation means a concurrent
 * transaction recorded one of these keys or ids first; nothing was written.
 */
export async function payOrders(db: Queryable, inputs: readonly PaymentInput[]): Promise<PaymentOutcome[]> {
  assert.ok(inputs.length > 0);
  const lineSlots: number[] = [];
  const lineProducts: number[] = [];
  const lineQuantities: number[] = [];
  inputs.forEach((input, index) => {
    assert.ok(input.lines.length > 0, 'an order has at least one line');
    for (const line of input.lines) {
      lineSlots.push(index + 1);
      lineProducts.push(line.productId);
      lineQuantities.push(line.quantity);
    }
  });
  const rows = await db.query<PaymentRow>(
    `SELECT * FROM pay_orders($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::int[], $7::bigint[], $8::bigint[])
       ORDER BY slot`,
    [
      inputs.map((input) => input.orderId),
      inputs.map((input) => input.userId),
      inputs.map((input) => input.key),
      inputs.map((input) => input.requestHash),
      inputs.map((input) => input.couponId),
      lineSlots,
      lineProducts,
      lineQuantities,
    ],
  );
  assert.equal(rows.length, inputs.length, 'pay_orders answers one row per order');
  return rows.map((row, index) => {
    assert.equal(row.slot, index + 1);
    return rowToOutcome(row, inputs[index]!);
  });
}

type OrderRow = {
  id: string;
  status: OrderStatus;
  reason: string | null;
  total_amount: number;
  discount_amount: number;
  paid_amount: number;
  coupon_id: number | null;
  created_at: Date;
};

const orderColumns = 'id, status, reason, total_amount, discount_amount, paid_amount, coupon_id, created_at';

function rowToOrder(row: OrderRow, items: OrderItem[]): Order {
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

async function itemsOf(db: Queryable, orderIds: readonly string[]): Promise<Map<string, OrderItem[]>> {
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
