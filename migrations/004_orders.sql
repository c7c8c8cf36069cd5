-- History: replaced by pay_orders (011_pay_orders.sql), which dropped this
-- function; kept as applied.
--
-- Payment of one order in one statement, one round trip, one transaction.
--
-- The application has already checked the input, that the products exist,
-- and computed the amounts from the prices it saw (p_unit_prices) and the
-- coupon's discount. This function re-checks everything that can change
-- concurrently, under row locks taken in one fixed order (coupon, then
-- products by id, then wallet) so that concurrent orders cannot deadlock:
--   coupon (owned, AVAILABLE, not expired) → stock → balance.
-- The first failure is recorded as a failed order that changes nothing else.
-- If a price changed since the application read it, nothing is written and
-- the outcome 'stale' asks the caller to recompute.
--
-- The order row is inserted in the same transaction, so the unique
-- (user_id, idempotency_key) and the primary key fence duplicates and
-- recovery: a concurrent twin fails with a unique violation and rolls back.
CREATE FUNCTION place_order(
  p_order_id     uuid,
  p_user_id      text,
  p_key          text,
  p_hash         text,
  p_product_ids  bigint[],
  p_quantities   bigint[],
  p_unit_prices  bigint[],
  p_coupon_id    bigint,
  p_coupon_ok    boolean,
  p_total        bigint,
  p_discount     bigint
) RETURNS TABLE (outcome text, order_id uuid, order_status text, order_reason text, request_hash text, created_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_existing  orders%ROWTYPE;
  v_reason    text;
  v_paid      bigint := p_total - p_discount;
  v_found     integer;
  v_stocked   integer;
  v_priced    integer;
  v_balance   bigint;
  v_status    text;
  v_now       timestamptz := now();
BEGIN
  SELECT * INTO v_existing FROM orders o WHERE o.user_id = p_user_id AND o.idempotency_key = p_key;
  IF FOUND THEN
    RETURN QUERY SELECT 'duplicate'::text, v_existing.id, v_existing.status, v_existing.reason, v_existing.request_hash, v_existing.created_at;
    RETURN;
  END IF;

  -- Refusals first, from a plain read and in the same order (coupon, stock,
  -- balance): an order that cannot succeed as of now is recorded failed
  -- without queueing for any lock. In a sold-out flash sale almost every
  -- order is such a refusal, and each would otherwise wait its turn behind
  -- the hot product's lock. Only an order that may succeed takes the locks
  -- below, which decide again.
  IF p_coupon_id IS NOT NULL AND NOT (p_coupon_ok AND EXISTS (
       SELECT 1 FROM coupons c
        WHERE c.id = p_coupon_id AND c.user_id = p_user_id AND c.status = 'AVAILABLE' AND c.expires_at > v_now)) THEN
    v_reason := 'INVALID_COUPON';
  ELSIF EXISTS (SELECT 1 FROM products pr JOIN unnest(p_product_ids, p_quantities) AS i (id, quantity) ON i.id = pr.id
                 WHERE pr.stock < i.quantity) THEN
    v_reason := 'INSUFFICIENT_STOCK';
  ELSIF v_paid > 0 AND NOT EXISTS (SELECT 1 FROM wallets w WHERE w.user_id = p_user_id AND w.balance >= v_paid) THEN
    v_reason := 'INSUFFICIENT_BALANCE';
  END IF;

  IF v_reason IS NULL AND p_coupon_id IS NOT NULL THEN
    IF p_coupon_ok THEN
      PERFORM 1 FROM coupons c
        WHERE c.id = p_coupon_id AND c.user_id = p_user_id AND c.status = 'AVAILABLE' AND c.expires_at > v_now
        FOR UPDATE;
      IF NOT FOUND THEN v_reason := 'INVALID_COUPON'; END IF;
    ELSE
      v_reason := 'INVALID_COUPON';
    END IF;
  END IF;

  IF v_reason IS NULL THEN
    SELECT count(*)::int,
           count(*) FILTER (WHERE p.stock >= i.quantity)::int,
           count(*) FILTER (WHERE p.price = i.unit_price)::int
      INTO v_found, v_stocked, v_priced
      FROM (SELECT pr.id, pr.stock, pr.price FROM products pr
              WHERE pr.id = ANY (p_product_ids) ORDER BY pr.id FOR UPDATE) p
      JOIN unnest(p_product_ids, p_quantities, p_unit_prices) AS i (id, quantity, unit_price) ON i.id = p.id;
    IF v_found <> cardinality(p_product_ids) THEN
      RETURN QUERY SELECT 'not_found'::text, p_order_id, NULL::text, NULL::text, p_hash, v_now;
      RETURN;
    END IF;
    IF v_priced <> v_found THEN
      RETURN QUERY SELECT 'stale'::text, p_order_id, NULL::text, NULL::text, p_hash, v_now;
      RETURN;
    END IF;
    IF v_stocked <> v_found THEN v_reason := 'INSUFFICIENT_STOCK'; END IF;
  END IF;

  IF v_reason IS NULL AND v_paid > 0 THEN
    SELECT w.balance INTO v_balance FROM wallets w WHERE w.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND OR v_balance < v_paid THEN v_reason := 'INSUFFICIENT_BALANCE'; END IF;
  END IF;

  v_status := CASE WHEN v_reason IS NULL THEN 'success' ELSE 'failed' END;
  INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, reason, total_amount,
                      discount_amount, paid_amount, coupon_id, holds_effects, created_at, paid_at, updated_at)
    VALUES (p_order_id, p_user_id, p_key, p_hash, v_status, v_reason, p_total,
            p_discount, v_paid, p_coupon_id, v_reason IS NULL, v_now,
            CASE WHEN v_reason IS NULL THEN v_now END, v_now);
  INSERT INTO order_items (order_id, product_id, quantity, unit_price)
    SELECT p_order_id, i.id, i.quantity, i.unit_price
      FROM unnest(p_product_ids, p_quantities, p_unit_prices) AS i (id, quantity, unit_price);

  IF v_reason IS NULL THEN
    UPDATE products p SET stock = p.stock - i.quantity, updated_at = v_now
      FROM unnest(p_product_ids, p_quantities) AS i (id, quantity) WHERE p.id = i.id;
    -- The sales aggregate (005_popular.sql); its rows are only written under the product locks held here.
    INSERT INTO product_sales AS s (product_id, bucket, quantity)
      SELECT i.id, date_bin('1 hour', v_now, timestamptz '2000-01-01 00:00+00'), i.quantity
        FROM unnest(p_product_ids, p_quantities) AS i (id, quantity)
      ON CONFLICT (product_id, bucket) DO UPDATE SET quantity = s.quantity + EXCLUDED.quantity;
    IF v_paid > 0 THEN
      UPDATE wallets w SET balance = w.balance - v_paid, updated_at = v_now
        WHERE w.user_id = p_user_id RETURNING w.balance INTO v_balance;
      INSERT INTO point_ledger (user_id, type, amount, balance_after, order_id, created_at)
        VALUES (p_user_id, 'USE', v_paid, v_balance, p_order_id, v_now);
    END IF;
    IF p_coupon_id IS NOT NULL THEN
      UPDATE coupons c SET status = 'USED', order_id = p_order_id WHERE c.id = p_coupon_id;
    END IF;
  END IF;

  RETURN QUERY SELECT v_status, p_order_id, v_status, v_reason, p_hash, v_now;
END
$$;
