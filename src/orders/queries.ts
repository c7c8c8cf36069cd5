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

/** pay_orders answers one row of arrays: one element per order, `line_prices` one per line. */
type PaymentRow = {
  outcomes: string[];
  order_ids: string[];
  statuses: Array<string | null>;
  reasons: Array<string | null>;
  hashes: string[];
  created_ats: Array<Date | string>;
  /** int8[]: the drivers hand its elements over as text. */
  totals: Array<number | string>;
  discounts: Array<number | string>;
  line_prices: Array<number | string | null>;
};

const orderStatuses: readonly string[] = ['pending', 'success', 'failed', 'canceled'] satisfies OrderStatus[];

function money(value: number | string | null | undefined): number {
  const amount = Number(value);
  assert.ok(value !== null && value !== undefined && Number.isSafeInteger(amount) && amount >= 0, `not an amount of money: ${value}`);
  return amount;
}

function outcomeOf(row: PaymentRow, slot: number, input: PaymentInput, prices: ReadonlyArray<number | string | null>): PaymentOutcome {
  const orderId = row.order_ids[slot]!;
  const outcome = row.outcomes[slot];
  switch (outcome) {
    case 'paid':
      assert.equal(prices.length, input.lines.length, 'a paid order answers one price per line');
      return {
        kind: 'paid',
        orderId,
        items: input.lines.map((line, index) => ({ productId: line.productId, quantity: line.quantity, unitPrice: money(prices[index]) })),
        totalAmount: money(row.totals[slot]),
        discountAmount: money(row.discounts[slot]),
        createdAt: toIso(row.created_ats[slot]!),
      };
    case 'failed': {
      const reason = paymentFailures.find((failure) => failure === row.reasons[slot]);
      assert.ok(reason !== undefined, `pay_orders failed an order for an unknown reason: ${row.reasons[slot]}`);
      return { kind: 'failed', orderId, reason };
    }
    case 'duplicate': {
      const status = row.statuses[slot];
      assert.ok(status !== null && status !== undefined && orderStatuses.includes(status), `unknown order status ${status}`);
      return { kind: 'duplicate', orderId, status: status as OrderStatus, requestHash: row.hashes[slot]! };
    }
    case 'not_found':
    case 'retry':
      return { kind: outcome };
    default:
      assert.fail(`pay_orders answered an unknown outcome: ${outcome}`);
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
  const [row] = await db.query<PaymentRow>(
    `SELECT * FROM pay_orders($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::int[], $7::bigint[], $8::bigint[])`,
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
  assert.ok(row !== undefined && row.outcomes.length === inputs.length, 'pay_orders answers one outcome per order');
  let line = 0;
  return inputs.map((input, slot) => {
    const prices = row.line_prices.slice(line, line + input.lines.length);
    line += input.lines.length;
    return outcomeOf(row, slot, input, prices);
  });
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
