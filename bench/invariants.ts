/**
 * SPEC §9 checked from the database after every scenario. Each check is one
 * query counting the rows that break it; any non-zero count is a violation
 * and marks the scenario FAILED.
 */
import type pg from 'pg';

const checks: ReadonlyArray<readonly [string, string]> = [
  ['negative stock', 'SELECT count(*) AS n FROM products WHERE stock < 0'],
  ['negative balance', 'SELECT count(*) AS n FROM wallets WHERE balance < 0'],
  [
    'balance differs from the ledger sum',
    `SELECT count(*) AS n FROM wallets w
       FULL JOIN (SELECT user_id, sum(CASE type WHEN 'USE' THEN -amount ELSE amount END) AS s
                  FROM point_ledger GROUP BY user_id) l USING (user_id)
     WHERE coalesce(w.balance, 0) <> coalesce(l.s, 0)`,
  ],
  [
    'stock differs from initial stock minus quantity sold',
    `SELECT count(*) AS n FROM products p
       JOIN bench_initial_stock i ON i.product_id = p.id
       LEFT JOIN (SELECT oi.product_id, sum(oi.quantity) AS q FROM order_items oi
                  JOIN orders o ON o.id = oi.order_id
                  WHERE o.status IN ('success', 'pending') GROUP BY oi.product_id) s ON s.product_id = p.id
     WHERE p.stock <> i.stock - coalesce(s.q, 0)`,
  ],
  [
    'issued quantity above total or different from the coupons issued',
    `SELECT count(*) AS n FROM coupon_campaigns c
       LEFT JOIN (SELECT campaign_id, count(*) AS k FROM coupons GROUP BY campaign_id) x ON x.campaign_id = c.id
     WHERE c.issued_quantity > c.total_quantity OR c.issued_quantity <> coalesce(x.k, 0)`,
  ],
  [
    'coupon used by more than one live order',
    `SELECT count(*) AS n FROM (SELECT coupon_id FROM orders
       WHERE coupon_id IS NOT NULL AND status NOT IN ('failed', 'canceled')
       GROUP BY coupon_id HAVING count(*) > 1) d`,
  ],
  [
    'more than one order per (user, Idempotency-Key)',
    `SELECT count(*) AS n FROM (SELECT 1 FROM orders GROUP BY user_id, idempotency_key HAVING count(*) > 1) d`,
  ],
];

export async function checkInvariants(db: pg.Pool): Promise<string[]> {
  const violations: string[] = [];
  for (const [name, sql] of checks) {
    const { rows } = await db.query<{ n: string }>(sql);
    const n = Number(rows[0]!.n);
    if (n > 0) violations.push(`${name}: ${n} rows`);
  }
  return violations;
}
