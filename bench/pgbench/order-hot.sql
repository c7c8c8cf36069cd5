-- The flash-sale shape straight on PostgreSQL: every payment buys one unit
-- of the same hot product (one order line), as the flash-sale scenario does.
\set uid random(1, :users)
\set p1 random(:lo, :hi)
\set p2 :lo + ((:p1 - :lo + 1) % (:hi - :lo + 1))
\set q 1
\set cid random(1, :coupons)
BEGIN;
UPDATE pgb.products SET stock = stock - :q, updated_at = now() WHERE id = :hot AND stock >= 1;
UPDATE pgb.wallets SET balance = balance - 1000 * :q, updated_at = now() WHERE user_id = 'u' || :uid AND balance >= 1000 * :q RETURNING balance AS bal \gset
UPDATE pgb.coupons SET status = 'USED', order_id = gen_random_uuid() WHERE id = :cid AND status = 'AVAILABLE';
INSERT INTO pgb.orders (id, user_id, idempotency_key, request_hash, status, total_amount, discount_amount, paid_amount, holds_effects, paid_at)
  VALUES (gen_random_uuid(), 'u' || :uid, gen_random_uuid()::text, 'h', 'success', 1000 * :q, 0, 1000 * :q, true, now()) RETURNING id AS oid \gset
INSERT INTO pgb.order_items (order_id, product_id, quantity, unit_price) VALUES (:oid, :hot, 1, 500);
INSERT INTO pgb.point_ledger (user_id, type, amount, balance_after, order_id) VALUES ('u' || :uid, 'USE', 1000 * :q, :bal, :oid);
COMMIT;
