/**
 * Placing and canceling orders. The application prices the order from what it
 * knows (cached prices, the coupon's terms), then one database call re-checks
 * and applies everything under lock (queries.placeOrder).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AppContext } from '../app.js';
import { DbFailure, isUniqueViolation, type Database } from '../db.js';
import { AppError, productNotFound, validationError } from '../errors.js';
import type { ProductCache } from '../products/cache.js';
import type { PendingEntry } from '../recovery/journal.js';
import { discountFor } from '../coupons/discount.js';
import type { CouponTermsCache } from '../coupons/state.js';
import { KeyedBatcher } from '../batcher.js';
import { observePaymentBatch } from '../metrics.js';
import { placeOrder, placeSameProductOrders, type PlaceOrderInput, type PlaceOrderOutcome } from './queries.js';
import type { CreateOrderBody, OrderItem } from './schemas.js';

export const orderMessages = {
  paid: '결제가 완료되었습니다.',
  INSUFFICIENT_BALANCE: '잔액이 부족합니다.',
  INSUFFICIENT_STOCK: '일부 상품의 재고가 부족합니다.',
  INVALID_COUPON: '쿠폰이 유효하지 않습니다.',
  duplicate: '중복 요청입니다.',
  keyReused: '이 요청 키는 다른 내용의 주문에 이미 사용되었습니다.',
  notFound: '주문을 찾을 수 없습니다.',
  notCancelable: '취소할 수 없는 주문입니다.',
  pending: '결제 처리 중 오류 발생, 자동 복구 예정',
} as const;

// A price that changes between pricing and payment is retried; more than a few
// in a row means an admin is changing it in a loop, and the client may retry.
const staleRetriesMax = 3;
const deadlockRetriesMax = 3;

export type PaidOrder = {
  orderId: string;
  status: 'success';
  items: OrderItem[];
  totalAmount: number;
  discountAmount: number;
  paidAmount: number;
  couponId: number | null;
  createdAt: string;
  message: string;
};

/** The body's fingerprint: the same lines in any order and the same coupon are the same request. */
export function requestHash(body: CreateOrderBody): string {
  const lines = [...body.items].sort((a, b) => a.productId - b.productId).map((line) => `${line.productId}x${line.quantity}`);
  return createHash('sha256').update(`${lines.join(',')}|${body.couponId ?? ''}`).digest('base64url');
}

export type OrderDeps = Pick<AppContext, 'db' | 'journal' | 'orderBatcher'> & { products: ProductCache; couponTerms: CouponTermsCache };

/** A batch holds its product's lock while it runs; this keeps that hold to a few milliseconds. */
const orderBatchSizeMax = 32;
/**
 * Batches of one product in flight at once, per process: refusals take no
 * lock and run side by side, and a payment's work overlaps the previous
 * batch's commit. Kept well under the pool size.
 */
const orderBatchesInFlightMax = 2;

export type OrderBatcher = KeyedBatcher<number, PlaceOrderInput, PlaceOrderOutcome>;

/**
 * Single-line orders are gathered by product: under a flash sale they all
 * wait for one row lock, and a batch shares one commit among them. An order
 * that finds nothing queued is sent alone, as a plain place_order.
 */
export function makeOrderBatcher(db: Database): OrderBatcher {
  return new KeyedBatcher(
    async (productId, inputs) => (observePaymentBatch(inputs.length), inputs.length === 1 ? [await placeOrder(db, inputs[0]!)] : placeSameProductOrders(db, productId, inputs)),
    orderBatchSizeMax,
    orderBatchesInFlightMax,
  );
}

export type OrderResult = { kind: 'paid'; order: PaidOrder } | { kind: 'pending'; orderId: string };

async function priceOrder(deps: OrderDeps, userId: string, body: CreateOrderBody, refresh: boolean) {
  const prices = await deps.products.pricesOf(deps.db, body.items.map((line) => line.productId), refresh);
  const lines = body.items
    .map((line) => {
      const unitPrice = prices.get(line.productId);
      if (unitPrice === undefined) throw productNotFound();
      return { productId: line.productId, quantity: line.quantity, unitPrice };
    })
    .sort((a, b) => a.productId - b.productId);
  const totalAmount = lines.reduce((sum, line) => sum + line.unitPrice * line.quantity, 0);
  let couponOk = true;
  let discountAmount = 0;
  if (body.couponId !== undefined) {
    const terms = await deps.couponTerms.termsOf(deps.db, body.couponId);
    couponOk = terms !== undefined && terms.userId === userId && totalAmount >= terms.minOrderAmount;
    if (couponOk) discountAmount = discountFor(terms!, totalAmount);
  }
  return { lines, totalAmount, couponOk, discountAmount };
}

async function callWithRetries(deps: OrderDeps, input: PlaceOrderInput): Promise<PlaceOrderOutcome | { kind: 'unknown' }> {
  const single = input.lines.length === 1 ? input.lines[0]!.productId : undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await (single === undefined ? placeOrder(deps.db, input) : deps.orderBatcher.submit(single, input));
    } catch (error) {
      // The payment was sent and its answer lost: it may have committed.
      if (error instanceof DbFailure && error.kind === 'unknown') return { kind: 'unknown' };
      // A concurrent twin with the same key committed first: answer as a duplicate.
      if (isUniqueViolation(error)) return { kind: 'stale' };
      const deadlock = error instanceof DbFailure && (error.cause as { code?: string } | undefined)?.code === '40P01';
      if (!deadlock || attempt >= deadlockRetriesMax) throw error;
    }
  }
}

function duplicateOf(existing: { orderId: string; requestHash: string; status: string }, hash: string): AppError {
  if (existing.requestHash !== hash) {
    return new AppError('IDEMPOTENCY_KEY_REUSED', orderMessages.keyReused, { orderId: existing.orderId });
  }
  return new AppError('DUPLICATE_REQUEST', orderMessages.duplicate, { orderId: existing.orderId, status: existing.status });
}

/** Reads before the payment change nothing, so any database failure there means "nothing happened". */
async function priceOrNothing(deps: OrderDeps, userId: string, body: CreateOrderBody, refresh: boolean) {
  try {
    return await priceOrder(deps, userId, body, refresh);
  } catch (error) {
    if (error instanceof DbFailure) throw new DbFailure('unavailable', error.message, error.cause);
    throw error;
  }
}

export async function createOrder(deps: OrderDeps, userId: string, key: string, body: CreateOrderBody): Promise<OrderResult> {
  const productIds = new Set(body.items.map((line) => line.productId));
  if (productIds.size !== body.items.length) throw validationError('같은 상품이 여러 줄에 있습니다.');
  const hash = requestHash(body);
  // A key whose order is still only in the fallback journal is used, even while the database is away.
  const journaled = deps.journal.findByKey(userId, key);
  if (journaled !== undefined) throw duplicateOf({ ...journaled, status: 'pending' }, hash);
  const orderId = randomUUID();

  for (let attempt = 0; attempt <= staleRetriesMax; attempt++) {
    const priced = await priceOrNothing(deps, userId, body, attempt > 0);
    const input: PlaceOrderInput = {
      orderId,
      userId,
      key,
      requestHash: hash,
      lines: priced.lines,
      couponId: body.couponId ?? null,
      couponOk: priced.couponOk,
      totalAmount: priced.totalAmount,
      discountAmount: priced.discountAmount,
    };
    const outcome = await callWithRetries(deps, input);
    switch (outcome.kind) {
      case 'unknown':
        await deps.journal.append(pendingEntry(input));
        return { kind: 'pending', orderId };
      case 'success':
        return { kind: 'paid', order: {
          orderId,
          status: 'success',
          items: priced.lines,
          totalAmount: priced.totalAmount,
          discountAmount: priced.discountAmount,
          paidAmount: priced.totalAmount - priced.discountAmount,
          couponId: body.couponId ?? null,
          createdAt: outcome.createdAt,
          message: orderMessages.paid,
        } };
      case 'failed': {
        const reason = outcome.reason as 'INSUFFICIENT_BALANCE' | 'INSUFFICIENT_STOCK' | 'INVALID_COUPON';
        throw new AppError(reason, orderMessages[reason], { orderId });
      }
      case 'duplicate':
        throw duplicateOf(outcome, hash);
      case 'not_found':
      case 'stale':
        // Re-read prices (and, after a lost race on the key, find the twin) and try again.
        continue;
    }
  }
  throw new AppError('SERVICE_UNAVAILABLE', '상품 가격이 변경되고 있습니다. 잠시 후 다시 시도해 주세요.');
}

function pendingEntry({ couponOk: _verdict, ...input }: PlaceOrderInput): PendingEntry {
  return { ...input, at: new Date().toISOString() };
}
