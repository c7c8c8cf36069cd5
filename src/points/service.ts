/**
 * The wallet's rules (SPEC §4, §9.1). Charges come from the route; debits and
 * refunds come from the order flow inside its own transaction, so they take
 * the transaction as an argument and never open one.
 */
import assert from 'node:assert/strict';
import type { Queryable, Tx } from '../db.js';
import { isUniqueViolation } from '../db.js';
import { AppError } from '../errors.js';
import { chargeKeyUsed, chargeWallet, refundWallet } from './queries.js';

export const chargeUnitWon = 10;
export const chargeMinWon = 1_000;
export const chargeMaxWon = 100_000;

export const walletMessages = {
  invalidCharge: '유효하지 않은 충전 금액입니다.',
  duplicateRequest: '중복 요청입니다.',
} as const;

type ChargeRefusal = 'CHARGE_UNIT' | 'CHARGE_BELOW_MINIMUM' | 'CHARGE_ABOVE_MAXIMUM' | 'BALANCE_LIMIT_EXCEEDED';

/** The first per-charge rule an amount breaks, in the SPEC's order; the balance limit is the database's to judge. */
export function chargeAmountRefusal(amount: number): ChargeRefusal | undefined {
  if (amount % chargeUnitWon !== 0) return 'CHARGE_UNIT';
  if (amount < chargeMinWon) return 'CHARGE_BELOW_MINIMUM';
  if (amount > chargeMaxWon) return 'CHARGE_ABOVE_MAXIMUM';
  return undefined;
}

function refused(code: ChargeRefusal): AppError {
  return new AppError(code, walletMessages.invalidCharge);
}

function duplicate(): AppError {
  return new AppError('DUPLICATE_REQUEST', walletMessages.duplicateRequest);
}

/**
 * Charges the wallet in one statement and returns the new balance. A key that
 * already charged is a 409 whatever the limit says now: the retry's first
 * attempt succeeded, and telling the client "limit exceeded" would wrongly
 * suggest the money never arrived.
 */
export async function chargePoints(
  db: Queryable,
  userId: string,
  amount: number,
  limit: number,
  idempotencyKey: string | undefined,
): Promise<number> {
  const rule = chargeAmountRefusal(amount);
  if (rule !== undefined) throw refused(rule);
  let newBalance: number | undefined;
  try {
    newBalance = await chargeWallet(db, userId, amount, limit, idempotencyKey);
  } catch (error) {
    if (isUniqueViolation(error, 'point_ledger_charge_key_idx')) throw duplicate();
    throw error;
  }
  if (newBalance !== undefined) return newBalance;
  // Nothing changed because the limit refused it. The key check runs as a new
  // statement so it sees a same-key charge that committed while this one waited
  // for the wallet's row lock.
  if (idempotencyKey !== undefined && (await chargeKeyUsed(db, userId, idempotencyKey))) throw duplicate();
  throw refused('BALANCE_LIMIT_EXCEEDED');
}

/**
 * Gives `amount` back to the wallet for `orderId` (a `REFUND` entry) and
 * returns the new balance. It ignores POINTS_MAX_BALANCE and creates the wallet
 * if needed. A second refund of the same order violates
 * `point_ledger_order_idx`, which fails the caller's transaction.
 */
export async function refundPoints(tx: Tx, userId: string, amount: number, orderId: string): Promise<number> {
  assert.ok(Number.isSafeInteger(amount) && amount > 0, `refund amount must be a positive integer, got ${amount}`);
  const newBalance = await refundWallet(tx, userId, amount, orderId);
  assert.ok(newBalance !== undefined, 'a refund always writes its ledger entry');
  return newBalance;
}

