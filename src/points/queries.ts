/**
 * Wallet SQL. Each balance change is ONE statement: a conditional update (or
 * upsert) of `wallets` feeding the ledger insert through a CTE, so the balance
 * and its ledger entry commit together or not at all, the row lock is held for
 * a single round trip, and no rule depends on a value read earlier by the app.
 */
import type { Queryable, Tx } from '../db.js';
import { toIso } from '../time.js';
import type { LedgerEntry, LedgerType } from './schemas.js';

type LedgerRow = {
  id: number;
  type: LedgerType;
  amount: number;
  balance_after: number;
  order_id: string | null;
  created_at: Date | string;
};

function rowToEntry(row: LedgerRow): LedgerEntry {
  return {
    id: row.id,
    type: row.type,
    amount: row.amount,
    balanceAfter: row.balance_after,
    orderId: row.order_id,
    createdAt: toIso(row.created_at),
  };
}

// A first charge creates the wallet only when the amount alone fits under the
// limit; an existing wallet is raised only when the sum fits. A repeated key
// makes the ledger insert fail, which undoes the wallet update with it. The
// points.charged event (migrations/010_outbox.sql) goes in with them.
const chargeSql = `
WITH wallet AS (
  INSERT INTO wallets AS w (user_id, balance)
  SELECT $1::text, $2::bigint WHERE $2::bigint <= $3::bigint
  ON CONFLICT (user_id) DO UPDATE SET balance = w.balance + EXCLUDED.balance, updated_at = now()
    WHERE w.balance + EXCLUDED.balance <= $3::bigint
  RETURNING w.balance
), entry AS (
  INSERT INTO point_ledger (user_id, type, amount, balance_after, idempotency_key)
  SELECT $1::text, 'CHARGE', $2::bigint, balance, $4::text FROM wallet
  RETURNING balance_after
), event AS (
  INSERT INTO outbox (type, subject, data)
  SELECT 'points.charged', $1::text, json_build_object('userId', $1::text, 'amount', $2::bigint, 'balance', balance_after) FROM entry
)
SELECT balance_after FROM entry`;

/** The new balance, or `undefined` when the charge would pass `limit`. Throws a unique violation for a used key. */
export async function chargeWallet(
  db: Queryable,
  userId: string,
  amount: number,
  limit: number,
  idempotencyKey: string | undefined,
): Promise<number | undefined> {
  const [row] = await db.query<{ balance_after: number }>(chargeSql, [userId, amount, limit, idempotencyKey ?? null]);
  return row?.balance_after;
}

export async function chargeKeyUsed(db: Queryable, userId: string, idempotencyKey: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM point_ledger WHERE user_id = $1 AND idempotency_key = $2', [userId, idempotencyKey]);
  return rows.length > 0;
}

// No limit here: a refund gives back what was taken and always succeeds (SPEC §9.1).
const refundSql = `
WITH wallet AS (
  INSERT INTO wallets AS w (user_id, balance) VALUES ($1::text, $2::bigint)
  ON CONFLICT (user_id) DO UPDATE SET balance = w.balance + EXCLUDED.balance, updated_at = now()
  RETURNING w.balance
)
INSERT INTO point_ledger (user_id, type, amount, balance_after, order_id)
SELECT $1::text, 'REFUND', $2::bigint, balance, $3::uuid FROM wallet
RETURNING balance_after`;

export async function refundWallet(tx: Tx, userId: string, amount: number, orderId: string): Promise<number | undefined> {
  const [row] = await tx.query<{ balance_after: number }>(refundSql, [userId, amount, orderId]);
  return row?.balance_after;
}


export async function findBalance(db: Queryable, userId: string): Promise<number> {
  const [row] = await db.query<{ balance: number }>('SELECT balance FROM wallets WHERE user_id = $1', [userId]);
  return row?.balance ?? 0;
}

/** The user's entries, newest first, with ids below `beforeId`; `limit` rows at most. */
export async function listLedger(db: Queryable, userId: string, beforeId: number, limit: number): Promise<LedgerEntry[]> {
  const rows = await db.query<LedgerRow>(
    `SELECT id, type, amount, balance_after, order_id::text AS order_id, created_at
     FROM point_ledger WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
    [userId, beforeId, limit],
  );
  return rows.map(rowToEntry);
}
