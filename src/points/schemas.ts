import { Type, type Static } from 'typebox';
import { NextCursor } from '../pagination.js';
import { IdempotencyKey } from '../schemas.js';

/**
 * The schema only refuses what is not a sane integer at all; every integer in
 * this range reaches the charge rules, so 123 is CHARGE_UNIT and 200,000 is
 * CHARGE_ABOVE_MAXIMUM rather than a bare VALIDATION_ERROR.
 */
export const amountInputMaxWon = 1_000_000_000_000;

export const ChargeBody = Type.Object(
  { amount: Type.Integer({ minimum: -amountInputMaxWon, maximum: amountInputMaxWon, description: 'won' }) },
  { additionalProperties: false },
);
export type ChargeBody = Static<typeof ChargeBody>;

/** Other headers pass; only the idempotency key is checked. */
export const ChargeHeaders = Type.Object({
  'idempotency-key': Type.Optional(IdempotencyKey('makes a retried charge safe')),
});

export const ChargeResult = Type.Object({ userId: Type.String(), newBalance: Type.Integer() });
export const Balance = Type.Object({ userId: Type.String(), balance: Type.Integer() });

export const LedgerType = Type.Union([Type.Literal('CHARGE'), Type.Literal('USE'), Type.Literal('REFUND')]);
export type LedgerType = Static<typeof LedgerType>;

export const LedgerEntry = Type.Object({
  id: Type.Integer(),
  type: LedgerType,
  amount: Type.Integer({ description: 'always positive; type gives the direction' }),
  balanceAfter: Type.Integer(),
  orderId: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});
export type LedgerEntry = Static<typeof LedgerEntry>;

export const History = Type.Object({ entries: Type.Array(LedgerEntry), nextCursor: NextCursor });
