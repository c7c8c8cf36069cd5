-- History: replaced by pay_orders (011_pay_orders.sql), which dropped this
-- function; kept as applied.
--
-- place_orders, second form: a batch of single-line orders of one product
-- now touches the product once.
--
-- The first form ran place_order for each order in its own subtransaction.
-- Every paid order then wrote a new version of the product row and of its
-- sales bucket, and each next order read the product by walking the chain of
-- versions its predecessors left in the same transaction: the cost of a
-- batch grew with the square of its size, and with the dead versions earlier
-- batches left behind. Here the batch reads the product once, decides every
-- order against a running stock in the function, and writes the product and
-- its sales bucket once at the end.
--
-- The rules and their order are place_order's: an existing order for the key
-- answers 'duplicate'; a price that differs from the caller's answers 'stale'
-- and writes nothing; then coupon (owned, AVAILABLE, not expired), stock and
-- balance, the first failure recorded as a failed order that changes nothing
-- else. Orders are decided in slot order, so an earlier order of the batch
-- can take the stock, the balance or the coupon a later one needed.
--
-- Locks are taken in place_order's order for each order (coupon, product,
-- wallet) except that the product is locked once, first. When the product's
-- stock cannot serve any order of the batch, nothing is locked at all: every
-- order is refused from a plain read, as place_order refuses.
--
-- No subtransactions: the order row goes in with ON CONFLICT DO NOTHING
-- before any effect is applied, and a conflict (a concurrent twin of its
-- idempotency key, or a recovery fence on its id) answers 'stale' so that the
-- caller looks again and finds the order that won.
DROP FUNCTION place_orders(uuid[], text[], text[], text[], bigint, bigint[], bigint[], bigint[], boolean[], bigint[], bigint[]);

CREATE FUNCTION place_orders(
  p_order_ids    uuid[],
  p_user_ids     text[],
  p_keys         text[],
  p_hashes       text[],
  p_product_id   bigint,
  p_quantities   bigint[],
  p_unit_prices  bigint[],
  p_coupon_ids   bigint[],
  p_coupon_oks   boolean[],
  p_totals       bigint[],
  p_discounts    bigint[]
) RETURNS TABLE (slot integer, outcome text, order_id uuid, order_status text, order_reason text,
                 request_hash text, created_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_now        timestamptz := now();
  v_slot       integer;
  v_existing   orders%ROWTYPE;
  v_stock      bigint;
  v_price      bigint;
  v_locked     boolean := false;
  v_sold       bigint := 0;
  v_reason     text;
  v_status     text;
  v_paid       bigint;
  v_balance    bigint;
  v_coupon_id  bigint;
  v_quantity   bigint;
  v_item_ids   uuid[] := '{}';
  v_item_qty   bigint[] := '{}';
  v_item_price bigint[] := '{}';
  v_use_users  text[] := '{}';
  v_use_paid   bigint[] := '{}';
  v_use_after  bigint[] := '{}';
  v_use_ids    uuid[] := '{}';
BEGIN
  SELECT pr.stock, pr.price INTO v_stock, v_price FROM products pr WHERE pr.id = p_product_id;
  IF FOUND AND v_stock >= (SELECT min(q) FROM unnest(p_quantities) AS q) THEN
    SELECT pr.stock, pr.price INTO v_stock, v_price FROM products pr WHERE pr.id = p_product_id FOR UPDATE;
    v_locked := true;
  END IF;

  FOR v_slot IN 1 .. cardinality(p_order_ids) LOOP
    SELECT * INTO v_existing FROM orders o WHERE o.user_id = p_user_ids[v_slot] AND o.idempotency_key = p_keys[v_slot];
    IF FOUND THEN
      RETURN QUERY SELECT v_slot, 'duplicate'::text, v_existing.id, v_existing.status, v_existing.reason,
                          v_existing.request_hash, v_existing.created_at;
      CONTINUE;
    END IF;
    IF v_stock IS NULL THEN
      RETURN QUERY SELECT v_slot, 'not_found'::text, p_order_ids[v_slot], NULL::text, NULL::text, p_hashes[v_slot], v_now;
      CONTINUE;
    END IF;
    IF v_price <> p_unit_prices[v_slot] THEN
      RETURN QUERY SELECT v_slot, 'stale'::text, p_order_ids[v_slot], NULL::text, NULL::text, p_hashes[v_slot], v_now;
      CONTINUE;
    END IF;

    v_reason := NULL;
    v_coupon_id := p_coupon_ids[v_slot];
    v_quantity := p_quantities[v_slot];
    v_paid := p_totals[v_slot] - p_discounts[v_slot];
    IF v_coupon_id IS NOT NULL THEN
      IF NOT p_coupon_oks[v_slot] THEN
        v_reason := 'INVALID_COUPON';
      ELSIF v_locked THEN
        PERFORM 1 FROM coupons c
          WHERE c.id = v_coupon_id AND c.user_id = p_user_ids[v_slot] AND c.status = 'AVAILABLE' AND c.expires_at > v_now
          FOR UPDATE;
        IF NOT FOUND THEN v_reason := 'INVALID_COUPON'; END IF;
      ELSIF NOT EXISTS (SELECT 1 FROM coupons c
          WHERE c.id = v_coupon_id AND c.user_id = p_user_ids[v_slot] AND c.status = 'AVAILABLE' AND c.expires_at > v_now) THEN
        v_reason := 'INVALID_COUPON';
      END IF;
    END IF;
    IF v_reason IS NULL AND v_stock < v_quantity THEN
      v_reason := 'INSUFFICIENT_STOCK';
    END IF;
    IF v_reason IS NULL AND v_paid > 0 THEN
      UPDATE wallets w SET balance = w.balance - v_paid, updated_at = v_now
        WHERE w.user_id = p_user_ids[v_slot] AND w.balance >= v_paid
        RETURNING w.balance INTO v_balance;
      IF NOT FOUND THEN v_reason := 'INSUFFICIENT_BALANCE'; END IF;
    END IF;

    v_status := CASE WHEN v_reason IS NULL THEN 'success' ELSE 'failed' END;
    INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, reason, total_amount,
                        discount_amount, paid_amount, coupon_id, holds_effects, created_at, paid_at, updated_at)
      VALUES (p_order_ids[v_slot], p_user_ids[v_slot], p_keys[v_slot], p_hashes[v_slot], v_status, v_reason,
              p_totals[v_slot], p_discounts[v_slot], v_paid, v_coupon_id, v_reason IS NULL, v_now,
              CASE WHEN v_reason IS NULL THEN v_now END, v_now)
      ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
      -- Another transaction owns this key or id: give back what this order took and let the caller look again.
      IF v_reason IS NULL AND v_paid > 0 THEN
        UPDATE wallets w SET balance = w.balance + v_paid WHERE w.user_id = p_user_ids[v_slot];
      END IF;
      RETURN QUERY SELECT v_slot, 'stale'::text, p_order_ids[v_slot], NULL::text, NULL::text, p_hashes[v_slot], v_now;
      CONTINUE;
    END IF;

    v_item_ids := v_item_ids || p_order_ids[v_slot];
    v_item_qty := v_item_qty || v_quantity;
    v_item_price := v_item_price || p_unit_prices[v_slot];
    IF v_reason IS NULL THEN
      v_stock := v_stock - v_quantity;
      v_sold := v_sold + v_quantity;
      IF v_paid > 0 THEN
        v_use_users := v_use_users || p_user_ids[v_slot];
        v_use_paid := v_use_paid || v_paid;
        v_use_after := v_use_after || v_balance;
        v_use_ids := v_use_ids || p_order_ids[v_slot];
      END IF;
      IF v_coupon_id IS NOT NULL THEN
        UPDATE coupons c SET status = 'USED', order_id = p_order_ids[v_slot] WHERE c.id = v_coupon_id;
      END IF;
    END IF;
    RETURN QUERY SELECT v_slot, v_status, p_order_ids[v_slot], v_status, v_reason, p_hashes[v_slot], v_now;
  END LOOP;

  INSERT INTO order_items (order_id, product_id, quantity, unit_price)
    SELECT i.id, p_product_id, i.quantity, i.unit_price FROM unnest(v_item_ids, v_item_qty, v_item_price) AS i (id, quantity, unit_price);
  IF v_sold > 0 THEN
    UPDATE products p SET stock = p.stock - v_sold, updated_at = v_now WHERE p.id = p_product_id;
    -- The sales aggregate (005_popular.sql); its rows are only written under the product lock held here.
    INSERT INTO product_sales AS s (product_id, bucket, quantity)
      VALUES (p_product_id, date_bin('1 hour', v_now, timestamptz '2000-01-01 00:00+00'), v_sold)
      ON CONFLICT (product_id, bucket) DO UPDATE SET quantity = s.quantity + EXCLUDED.quantity;
    INSERT INTO point_ledger (user_id, type, amount, balance_after, order_id, created_at)
      SELECT u.user_id, 'USE', u.paid, u.after, u.order_id, v_now
        FROM unnest(v_use_users, v_use_paid, v_use_after, v_use_ids) AS u (user_id, paid, after, order_id);
  END IF;
END
$$;
