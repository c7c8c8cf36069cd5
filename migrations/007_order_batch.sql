-- History: replaced by pay_orders (011_pay_orders.sql), which dropped this
-- function; kept as applied.
--
-- Group commit for single-line orders of one product (a flash sale): every
-- such order waits for the product's row lock and used to pay a whole commit
-- while holding it. place_orders pays a batch of them in one transaction,
-- each through place_order exactly as if alone, so every rule and every
-- outcome is the same; only the commit is shared.
--
-- Each order runs in its own subtransaction: a unique violation (a concurrent
-- twin of its idempotency key, or a recovery fence on its id) undoes that
-- order alone and answers 'stale', so that the caller looks again and finds
-- the order that won. The caller keeps batches small (subtransactions stay
-- few) and sends an order alone when nothing else is queued.
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
  v_slot  integer;
  v_row   record;
BEGIN
  FOR v_slot IN 1 .. cardinality(p_order_ids) LOOP
    BEGIN
      SELECT * INTO v_row FROM place_order(
        p_order_ids[v_slot], p_user_ids[v_slot], p_keys[v_slot], p_hashes[v_slot],
        ARRAY[p_product_id], ARRAY[p_quantities[v_slot]], ARRAY[p_unit_prices[v_slot]],
        p_coupon_ids[v_slot], p_coupon_oks[v_slot], p_totals[v_slot], p_discounts[v_slot]);
      RETURN QUERY SELECT v_slot, v_row.outcome, v_row.order_id, v_row.order_status, v_row.order_reason,
                          v_row.request_hash, v_row.created_at;
    EXCEPTION WHEN unique_violation THEN
      RETURN QUERY SELECT v_slot, 'stale'::text, p_order_ids[v_slot], NULL::text, NULL::text,
                          p_hashes[v_slot], now();
    END;
  END LOOP;
END
$$;
