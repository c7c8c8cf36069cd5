/**
 * The orders service. Placing an order: the route hands it here, this hands
 * it to the one payment batcher, and the batcher's batches go to
 * `payOrders`, which decides and records everything in the database
 * (migrations/011_pay_orders.sql). The application prices nothing: the
 * payment charges the prices it reads under lock. Canceling one: a state
 * move and its compensation in one transaction. And how an order that only
 * the journal holds yet is shown.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { Batcher } from '../batcher.js';
import { DbFailure, isUniqueViolation, type Database } from '../db.js';
import { AppError, productNotFound, validationError } from '../errors.js';
import { enqueueOrderEvents } from '../events/queries.js';
import { observePaymentBatch } from '../metrics.js';
import type { ProductCache } from '../products/cache.js';
import type { PendingEntry } from '../recovery/entries.js';
import type { PendingJournal } from '../recovery/journal.js';
import { releaseEffects } from './compensation.js';
import type { CursorCodec } from '../pagination.js';
import { findOrder, payOrders, type OrderPosition, type PaymentInput, type PaymentOutcome } from './queries.js';
import type { CreateOrderBody, Order, PaidOrder } from './schemas.js';
import { transitionOrder, type CancelReason } from './state.js';

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

export const orderNotFound = () => new AppError('ORDER_NOT_FOUND', orderMessages.notFound);
export const orderNotCancelable = () => new AppError('ORDER_NOT_CANCELABLE', orderMessages.notCancelable);

/**
 * Orders per batch. A batch holds its rows' locks from its first read to its
 * commit; at this size that is a few milliseconds, and the statement's work
 * (a loop over the batch's lines) stays small next to the commit it shares.
 */
const paymentBatchSizeMax = 32;
/**
 * Batches in flight at once, per process: one. The orders that arrive while
 * a batch is in the database form the next one, so batches grow with the
 * load, and each pays the call's fixed cost (a PL/pgSQL call of a dozen
 * statements and a commit) for more orders. Two in flight made every batch
 * half as large and, on a hot product, left the second queueing for the
 * first one's row lock. Measured with one process on PostgreSQL, the
 * bench's order loads, 1 in flight against 2, back to back: orders at 8
 * clients 1,867 against 1,520 req/s (batches of 3.9 against 2.2), at 32
 * clients 2,436 against 2,257, flash 3,376 against 2,394, flash-multi 2,513
 * against 2,680 with 0 deadlocks either way. Several processes each have
 * their own batch in flight. Well under the pool size, so reads and charges
 * always find a connection.
 */
const paymentBatchesInFlightMax = 1;

export type PaymentBatcher = Batcher<PaymentInput, PaymentOutcome>;

export function makePaymentBatcher(db: Database): PaymentBatcher {
  return new Batcher(
    (inputs) => {
      observePaymentBatch(inputs.length);
      return payOrders(db, inputs);
    },
    paymentBatchSizeMax,
    paymentBatchesInFlightMax,
  );
}

export type OrderResult = { kind: 'paid'; order: PaidOrder } | { kind: 'pending'; orderId: string };

export type OrderDeps = { payments: PaymentBatcher; journal: PendingJournal; products: ProductCache; now: () => Date };

/** The body's fingerprint: the same lines in any order and the same coupon are the same request. */
export function requestHash(body: CreateOrderBody): string {
  const lines = [...body.items].sort((a, b) => a.productId - b.productId).map((line) => `${line.productId}x${line.quantity}`);
  return createHash('sha256').update(`${lines.join(',')}|${body.couponId ?? ''}`).digest('base64url');
}

/**
 * A payment is sent again only when the database recorded nothing for it:
 * a twin of its key came earlier in the same batch ('retry'), or a
 * concurrent transaction took its key first (a unique violation that rolled
 * the batch back). The second attempt finds the twin and answers as a
 * duplicate, so more than `paymentAttemptsMax` attempts is a bug.
 */
const paymentAttemptsMax = 3;

async function payUntilRecorded(payments: PaymentBatcher, input: PaymentInput): Promise<PaymentOutcome | { kind: 'unknown' }> {
  for (let attempt = 1; attempt <= paymentAttemptsMax; attempt++) {
    try {
      const outcome = await payments.submit(input);
      if (outcome.kind !== 'retry') return outcome;
    } catch (error) {
      // The payment was sent and its answer lost: it may have committed.
      if (error instanceof DbFailure && error.kind === 'unknown') return { kind: 'unknown' };
      if (!isUniqueViolation(error)) throw error;
    }
  }
  assert.fail(`order ${input.orderId} was not recorded after ${paymentAttemptsMax} attempts`);
}

function duplicateOf(existing: { orderId: string; requestHash: string; status: string }, hash: string): AppError {
  if (existing.requestHash !== hash) {
    return new AppError('IDEMPOTENCY_KEY_REUSED', orderMessages.keyReused, { orderId: existing.orderId });
  }
  return new AppError('DUPLICATE_REQUEST', orderMessages.duplicate, { orderId: existing.orderId, status: existing.status });
}

export async function createOrder(deps: OrderDeps, userId: string, key: string, body: CreateOrderBody): Promise<OrderResult> {
  const lines = [...body.items].sort((a, b) => a.productId - b.productId);
  if (lines.some((line, index) => index > 0 && line.productId === lines[index - 1]!.productId)) {
    throw validationError('같은 상품이 여러 줄에 있습니다.');
  }
  const hash = requestHash(body);
  // A key whose order is still only in the fallback journal is used, even while the database is away.
  const journaled = deps.journal.findByKey(userId, key);
  if (journaled !== undefined) throw duplicateOf({ ...journaled, status: 'pending' }, hash);

  const input: PaymentInput = { orderId: randomUUID(), userId, key, requestHash: hash, lines, couponId: body.couponId ?? null };
  const outcome = await payUntilRecorded(deps.payments, input);
  switch (outcome.kind) {
    case 'unknown':
      await deps.journal.append(pendingEntry(deps, input));
      return { kind: 'pending', orderId: input.orderId };
    case 'paid':
      return {
        kind: 'paid',
        order: {
          orderId: outcome.orderId,
          status: 'success',
          items: outcome.items,
          totalAmount: outcome.totalAmount,
          discountAmount: outcome.discountAmount,
          paidAmount: outcome.totalAmount - outcome.discountAmount,
          couponId: input.couponId,
          createdAt: outcome.createdAt,
          message: orderMessages.paid,
        },
      };
    case 'failed':
      throw new AppError(outcome.reason, orderMessages[outcome.reason], { orderId: outcome.orderId });
    case 'duplicate':
      throw duplicateOf(outcome, hash);
    case 'not_found':
      throw productNotFound();
    case 'retry':
      assert.fail('payUntilRecorded never answers retry');
  }
}

/** The journal's record of an order whose answer was lost, priced from what this process last knew (no I/O). */
function pendingEntry(deps: OrderDeps, input: PaymentInput): PendingEntry {
  const lines = input.lines.map((line) => ({ ...line, unitPrice: deps.products.knownPriceOf(line.productId) ?? 0 }));
  const totalAmount = lines.reduce((sum, line) => sum + line.unitPrice * line.quantity, 0);
  return { ...input, lines, totalAmount, discountAmount: 0, at: deps.now().toISOString() };
}

/**
 * The user's cancel (SPEC §7), and an admin's for the user: a `success` order
 * becomes `canceled` and gives everything back; any other status is 409.
 * `owner` undefined is an admin acting on anyone's order; `undefined` comes
 * back when the order does not exist or is not the owner's.
 */
export async function cancelOrder(
  db: Database,
  owner: string | undefined,
  orderId: string,
  reason: Exclude<CancelReason, 'SYSTEM_FAILURE'> = 'USER_CANCELED',
): Promise<Order | undefined> {
  return db.transaction(async (tx) => {
    const [row] = await tx.query<{ user_id: string }>(`SELECT user_id FROM orders WHERE id = $1`, [orderId]);
    if (row === undefined || (owner !== undefined && row.user_id !== owner)) return undefined;
    const moved = await transitionOrder(tx, orderId, 'success', 'canceled', reason);
    if (moved === undefined) throw orderNotCancelable();
    await releaseEffects(tx, moved);
    await enqueueOrderEvents(tx, [orderId]);
    return findOrder(tx, row.user_id, orderId);
  });
}

/** The position a newest-first order list's cursor holds, or `undefined` for the first page. */
export function orderPositionAfter(cursors: CursorCodec, scope: string, cursor: string | undefined): OrderPosition | undefined {
  if (cursor === undefined) return undefined;
  const [createdAt, id] = cursors.decode(scope, cursor, 2);
  return { createdAt: String(createdAt), id: String(id) };
}

/** An order only the journal holds yet, as the database will show it once recorded: pending. */
export function journaledOrder(entry: PendingEntry): Order {
  return {
    orderId: entry.orderId,
    status: 'pending',
    reason: null,
    items: [...entry.lines],
    totalAmount: entry.totalAmount,
    discountAmount: entry.discountAmount,
    paidAmount: entry.totalAmount - entry.discountAmount,
    couponId: entry.couponId,
    createdAt: entry.at,
  };
}
