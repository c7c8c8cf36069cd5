/**
 * SPEC §9 checked from the data, after (or during) a concurrency or fault test.
 * Every check is one set-based query, so it stays quick on 100k orders; each
 * returns the offending rows and a sentence per row. An empty list means the
 * database is consistent.
 */
import type { Queryable } from '../../src/db.js';

export type InvariantScope = {
  userIds?: string[];
  productIds?: number[];
  campaignIds?: number[];
  /** Pending orders are legal while recovery may still run; false once it must have finished. */
  pendingAllowed?: boolean;
};

type Row = Record<string, unknown>;
type Check = { sql: string; explain: (row: Row) => string };

/** At most this many violations per check: enough to debug, bounded for a broken 100k-row run. */
const violationsPerCheckMax = 50;

/** An order holds stock, points and its coupon while it is paid or paid-but-unresolved. */
const holding = (o: string) => `(${o}.status = 'success' OR (${o}.status = 'pending' AND ${o}.holds_effects))`;

const walletChecks: Check[] = [
  {
    sql: `SELECT user_id, balance FROM wallets WHERE balance < 0 AND :users(user_id)`,
    explain: (r) => `wallet ${r.user_id}: balance ${r.balance} is negative`,
  },
  {
    sql: `WITH w AS (SELECT user_id, balance FROM wallets WHERE :users(user_id)),
               l AS (SELECT user_id, sum(CASE type WHEN 'USE' THEN -amount ELSE amount END)::bigint AS total
                     FROM point_ledger WHERE :users(user_id) GROUP BY user_id)
          SELECT coalesce(w.user_id, l.user_id) AS user_id, w.balance, l.total
          FROM w FULL JOIN l ON l.user_id = w.user_id
          WHERE w.user_id IS NULL OR w.balance <> coalesce(l.total, 0)`,
    explain: (r) =>
      r.balance === null
        ? `wallet ${r.user_id}: has ledger entries (sum ${r.total}) but no wallet`
        : `wallet ${r.user_id}: balance ${r.balance} differs from its ledger sum ${r.total ?? 0}`,
  },
  {
    // A payment or refund belongs to an existing order of the same user; a refund only to a canceled one.
    sql: `SELECT l.id, l.type, l.user_id, l.order_id, o.user_id AS order_user, o.status
          FROM point_ledger l LEFT JOIN orders o ON o.id = l.order_id
          WHERE l.type IN ('USE', 'REFUND') AND :users(l.user_id)
            AND (o.id IS NULL OR o.user_id <> l.user_id OR (l.type = 'REFUND' AND o.status <> 'canceled'))`,
    explain: (r) =>
      r.status === null
        ? `ledger ${r.id}: ${r.type} of ${r.user_id} names no existing order (${r.order_id})`
        : r.order_user !== r.user_id
          ? `ledger ${r.id}: ${r.type} of ${r.user_id} names order ${r.order_id} of ${r.order_user}`
          : `ledger ${r.id}: REFUND for order ${r.order_id} whose status is ${r.status}, not canceled`,
  },
  {
    // LATERAL lookups by index rather than CTEs: a CTE used twice is materialized and misestimated.
    sql: `SELECT o.id, o.status, o.holds_effects, o.paid_amount, l.use_count, l.use_amount, l.refund_count, l.refund_amount
          FROM orders o
          CROSS JOIN LATERAL (
            SELECT count(*) FILTER (WHERE type = 'USE')::int AS use_count,
                   sum(amount) FILTER (WHERE type = 'USE')::bigint AS use_amount,
                   count(*) FILTER (WHERE type = 'REFUND')::int AS refund_count,
                   sum(amount) FILTER (WHERE type = 'REFUND')::bigint AS refund_amount
            FROM point_ledger WHERE order_id = o.id AND type IN ('USE', 'REFUND')) l
          WHERE :users(o.user_id) AND NOT CASE
            WHEN ${holding('o')} THEN l.refund_count = 0 AND CASE WHEN o.paid_amount > 0
              THEN l.use_count = 1 AND l.use_amount = o.paid_amount ELSE l.use_count = 0 END
            WHEN o.status = 'canceled' THEN (l.use_count = 0 AND l.refund_count = 0)
              OR (l.use_count = 1 AND l.refund_count = 1 AND l.use_amount = o.paid_amount AND l.refund_amount = o.paid_amount)
            ELSE l.use_count = 0 AND l.refund_count = 0
          END`,
    explain: (r) =>
      `order ${r.id} (${r.status}${r.holds_effects ? ', holds effects' : ''}, paid ${r.paid_amount}): ` +
      `${r.use_count} USE entries (${r.use_amount ?? 0}) and ${r.refund_count} REFUND entries (${r.refund_amount ?? 0}) ` +
      `do not match its status`,
  },
];

const stockChecks: Check[] = [
  {
    sql: `SELECT id, stock FROM products WHERE stock < 0 AND :products(id)`,
    explain: (r) => `product ${r.id}: stock ${r.stock} is negative`,
  },
];

const couponChecks: Check[] = [
  {
    sql: `SELECT c.id, c.code, c.total_quantity, c.issued_quantity, coalesce(k.n, 0)::bigint AS issued_rows
          FROM coupon_campaigns c
          LEFT JOIN (SELECT campaign_id, count(*) AS n FROM coupons WHERE :campaigns(campaign_id) GROUP BY campaign_id) k
            ON k.campaign_id = c.id
          WHERE :campaigns(c.id) AND (c.issued_quantity > c.total_quantity OR c.issued_quantity <> coalesce(k.n, 0))`,
    explain: (r) =>
      Number(r.issued_quantity) > Number(r.total_quantity)
        ? `campaign ${r.id} (${r.code}): issued ${r.issued_quantity} exceeds total ${r.total_quantity}`
        : `campaign ${r.id} (${r.code}): issued_quantity ${r.issued_quantity} but ${r.issued_rows} coupons exist`,
  },
  {
    sql: `SELECT campaign_id, user_id, count(*)::int AS n FROM coupons WHERE :campaigns(campaign_id)
          GROUP BY campaign_id, user_id HAVING count(*) > 1`,
    explain: (r) => `campaign ${r.campaign_id}: user ${r.user_id} holds ${r.n} coupons`,
  },
  {
    sql: `SELECT k.id, k.status, k.user_id, k.order_id, o.status AS order_status, o.holds_effects,
                 o.coupon_id AS order_coupon, o.user_id AS order_user
          FROM coupons k LEFT JOIN orders o ON o.id = k.order_id
          WHERE :campaigns(k.campaign_id) AND :users(k.user_id) AND CASE WHEN k.status = 'USED'
            THEN o.id IS NULL OR NOT ${holding('o')} OR o.coupon_id IS DISTINCT FROM k.id OR o.user_id <> k.user_id
            ELSE k.order_id IS NOT NULL END`,
    explain: (r) => {
      if (r.status !== 'USED') return `coupon ${r.id}: ${r.status} but names order ${r.order_id}`;
      if (r.order_status === null) return `coupon ${r.id}: USED by order ${r.order_id}, which does not exist`;
      if (r.order_coupon !== r.id || r.order_user !== r.user_id) {
        return `coupon ${r.id} of ${r.user_id}: USED by order ${r.order_id} of ${r.order_user} which names coupon ${r.order_coupon}`;
      }
      return `coupon ${r.id}: USED by order ${r.order_id} whose status is ${r.order_status}${r.holds_effects ? '' : ' without effects'}`;
    },
  },
  {
    sql: `SELECT o.id, o.status, o.coupon_id, k.status AS coupon_status, k.order_id AS coupon_order
          FROM orders o LEFT JOIN coupons k ON k.id = o.coupon_id
          WHERE o.coupon_id IS NOT NULL AND ${holding('o')} AND :users(o.user_id)
            AND (k.id IS NULL OR :campaigns(k.campaign_id))
            AND (k.id IS NULL OR k.status <> 'USED' OR k.order_id IS DISTINCT FROM o.id)`,
    explain: (r) =>
      r.coupon_status === null
        ? `order ${r.id} (${r.status}): names coupon ${r.coupon_id}, which does not exist`
        : `order ${r.id} (${r.status}): its coupon ${r.coupon_id} is ${r.coupon_status} for order ${r.coupon_order ?? 'none'}`,
  },
  {
    sql: `SELECT coupon_id, count(*)::int AS n FROM orders o
          WHERE coupon_id IS NOT NULL AND ${holding('o')} AND :users(user_id)
          GROUP BY coupon_id HAVING count(*) > 1`,
    explain: (r) => `coupon ${r.coupon_id}: held by ${r.n} orders at once`,
  },
];

const orderChecks = (pendingAllowed: boolean): Check[] => [
  {
    sql: `SELECT id, status FROM orders WHERE :users(user_id)
          AND status NOT IN (${pendingAllowed ? "'pending', " : ''}'success', 'failed', 'canceled')`,
    explain: (r) => `order ${r.id}: status ${r.status}${r.status === 'pending' ? ' after recovery should have settled it' : ' is not a legal status'}`,
  },
  {
    sql: `SELECT user_id, idempotency_key, count(*)::int AS n FROM orders WHERE :users(user_id)
          GROUP BY user_id, idempotency_key HAVING count(*) > 1`,
    explain: (r) => `user ${r.user_id}: ${r.n} orders for Idempotency-Key ${JSON.stringify(r.idempotency_key)}`,
  },
  {
    sql: `SELECT id, total_amount, discount_amount, paid_amount FROM orders WHERE :users(user_id)
          AND (paid_amount <> total_amount - discount_amount OR discount_amount < 0 OR discount_amount > total_amount)`,
    explain: (r) => `order ${r.id}: total ${r.total_amount} − discount ${r.discount_amount} ≠ paid ${r.paid_amount}`,
  },
  {
    sql: `SELECT id, status, holds_effects FROM orders WHERE :users(user_id)
          AND ((status = 'success' AND NOT holds_effects) OR (status IN ('failed', 'canceled') AND holds_effects))`,
    explain: (r) => `order ${r.id}: ${r.status} with holds_effects = ${r.holds_effects}`,
  },
  {
    sql: `SELECT o.id, o.total_amount, i.total FROM orders o
          CROSS JOIN LATERAL (SELECT sum(quantity * unit_price)::bigint AS total FROM order_items WHERE order_id = o.id) i
          WHERE :users(o.user_id) AND o.total_amount <> coalesce(i.total, 0)`,
    explain: (r) => `order ${r.id}: total ${r.total_amount} but its items add up to ${r.total ?? 0}`,
  },
];

type ScopeParams = { users: string[] | null; products: number[] | null; campaigns: number[] | null };

/** Replaces `:users(expr)` and friends with a scope filter and numbers the parameters actually used. */
function bind(sql: string, scope: ScopeParams): { text: string; params: unknown[] } {
  const casts = { users: 'text[]', products: 'bigint[]', campaigns: 'bigint[]' } as const;
  const params: unknown[] = [];
  const slots = new Map<string, number>();
  const text = sql.replace(/:(users|products|campaigns)\(([^()]+)\)/g, (_match, name: keyof ScopeParams, expr: string) => {
    let slot = slots.get(name);
    if (slot === undefined) {
      params.push(scope[name]);
      slot = params.length;
      slots.set(name, slot);
    }
    return `($${slot}::${casts[name]} IS NULL OR ${expr} = ANY($${slot}::${casts[name]}))`;
  });
  return { text: `${text}\nLIMIT ${violationsPerCheckMax}`, params };
}

async function run(db: Queryable, checks: Check[], scope: ScopeParams): Promise<string[]> {
  const found: string[] = [];
  for (const check of checks) {
    const { text, params } = bind(check.sql, scope);
    for (const row of await db.query<Row>(text, params)) found.push(check.explain(row));
  }
  return found;
}

export async function checkInvariants(db: Queryable, scope: InvariantScope = {}): Promise<string[]> {
  const params: ScopeParams = { users: scope.userIds ?? null, products: scope.productIds ?? null, campaigns: scope.campaignIds ?? null };
  return run(db, [...walletChecks, ...stockChecks, ...couponChecks, ...orderChecks(scope.pendingAllowed ?? true)], params);
}

/**
 * Stock now = stock set at the start − quantity held by paid (and unresolved
 * pending) orders, for each product in `expected` (product id → initial stock).
 */
export async function checkStock(db: Queryable, expected: Map<number, number>): Promise<string[]> {
  if (expected.size === 0) return [];
  const rows = await db.query<Row>(
    `WITH e AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS e(product_id, initial)),
          s AS (SELECT i.product_id, sum(i.quantity)::bigint AS sold
                FROM order_items i JOIN orders o ON o.id = i.order_id
                WHERE i.product_id = ANY($1::bigint[]) AND ${holding('o')} GROUP BY i.product_id)
     SELECT e.product_id, e.initial, p.stock, coalesce(s.sold, 0)::bigint AS sold
     FROM e LEFT JOIN products p ON p.id = e.product_id LEFT JOIN s ON s.product_id = e.product_id
     WHERE p.id IS NULL OR p.stock <> e.initial - coalesce(s.sold, 0)
     ORDER BY e.product_id LIMIT ${violationsPerCheckMax}`,
    [[...expected.keys()], [...expected.values()]],
  );
  return rows.map((r) =>
    r.stock === null
      ? `product ${r.product_id}: does not exist`
      : `product ${r.product_id}: stock ${r.stock} but ${r.initial} − ${r.sold} sold = ${Number(r.initial) - Number(r.sold)}`,
  );
}
