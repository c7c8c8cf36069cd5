-- One order-shaped payment straight on PostgreSQL: the work the service's
-- order transaction does, without HTTP or Node. Two lines on random products.
\set uid random(1, :users)
\set p1 random(:lo, :hi)
\set p2 :lo + ((:p1 - :lo + 1) % (:hi - :lo + 1))
\set q random(1, 3)
\set cid random(1, :coupons)
BEGIN;
UPDATE pgb.products SET stock = stock - :q, updated_at = now() WHERE id IN (:p1, :p2) AND stock >= :q;
UPDATE pgb.wallets SET balance = balance - 1000 * :q, updated_at = now() WHERE user_id = 'u' || :uid AND balance >= 1000 * :q RETURNING balance AS bal \gset
UPDATE pgb.coupons SET status = 'USED', order_id = gen_random_uuid() WHERE id = :cid AND status = 'AVAILABLE';
INSERT INTO pgb.orders (id, user_id, idempotency_key, request_hash, status, total_amount, discount_amount, paid_amount, holds_effects, paid_at)
  VALUES (gen_random_uuid(), 'u' || :uid, gen_random_uuid()::text, 'h', 'success', 1000 * :q, 0, 1000 * :q, true, now()) RETURNING id AS oid \gset
INSERT INTO pgb.order_items (order_id, product_id, quantity, unit_price) VALUES (:oid, :p1, :q, 500);
INSERT INTO pgb.order_items (order_id, product_id, quantity, unit_price) VALUES (:oid, :p2, :q, 500);
INSERT INTO pgb.point_ledger (user_id, type, amount, balance_after, order_id) VALUES ('u' || :uid, 'USE', 1000 * :q, :bal, :oid);
COMMIT;
