-- Keyed lookups that stay keyed whatever the statistics say, and a cheaper
-- first read for the batches that pay.
--
-- The payment, the order events and the claim keep their statements' plans
-- for the session (PL/pgSQL), and a plan is made from the statistics of the
-- moment. 009_keyed_plans.sql switched sequential scans off, but a join
-- still let the planner drive from the table instead of from the batch: the
-- idempotency lookup, made while `orders` was analysed empty, became a hash
-- join that read every order on each call, until an ANALYZE made the
-- session plan again; the coupons of a batch were found by scanning every coupon of
-- their campaign; the claim's "has this user a coupon of this campaign"
-- hashed the campaign's coupons; the stock and wallet updates read every
-- product and wallet to join them to the batch's arrays. The service analyses tables that grow where no autovacuum does
-- (src/housekeeping.ts), which bounds how long such a plan lives, but the
-- first minutes of a fresh database, or a table a session planned before it
-- grew, still paid for it.
--
-- So every statement here starts from the batch's own arrays and reaches a
-- table only through a key:
--   * `WHERE key = ANY (array)`, the array's element picked back with
--     array_position, instead of joining the table to unnest(array);
--   * a LATERAL subquery with LIMIT 1 for a row found by its key (the
--     planner cannot turn it into a join that reads the whole table);
--   * for a two-column unique key, a seek: the first row at or after
--     (a, b) in the order of the unique index, kept only if it is (a, b).
--     An equality on both columns would tie, on a table analysed empty,
--     with an index on the first column alone (orders_user_idx,
--     coupons_user_idx), which then reads every order of the user; the
--     row comparison and its ORDER BY only the unique index serves.
-- Measured on tables analysed nearly empty and then grown to 300,000 orders
-- and 200,000 products, wallets and coupons: a payment of four orders took
-- 365–371 ms before, 1.2–2.3 ms now. Nothing else changes in what is
-- decided: the same rules, the same lock order, the same answers.
--
-- And the payment's first, lock-free read is cheaper for the batches that
-- go on to pay. A batch was first decided on a plain read of everything it
-- touches — coupons, products, wallets and the orders of its keys — so that
-- a batch that could pay nothing (a crowd after a sell-out) is refused
-- without taking a lock; a batch that could pay read it all again under
-- lock. Most batches pay, and for them the first read was spent: 112 µs of
-- a 1.2 ms call of fifteen flash-sale orders (pg_stat_statements). Now the
-- first read is of stock and balances alone; only a batch it finds nothing
-- to pay in reads the rest without a lock, as before. And a pass on a plain
-- read stops at the first order it would pay: the locked pass decides them
-- all.

CREATE OR REPLACE FUNCTION pay_orders(
  p_order_ids        uuid[],
  p_user_ids         text[],
  p_keys             text[],
  p_hashes           text[],
  p_coupon_ids       bigint[],
  -- The lines of every order, flattened: each line's order slot (1-based),
  -- grouped by slot in slot order.
  p_line_slots       integer[],
  p_line_products    bigint[],
  p_line_quantities  bigint[],
  -- The answer, one element per order (per line for line_prices).
  OUT outcomes       text[],
  OUT order_ids      uuid[],
  OUT statuses       text[],
  OUT reasons        text[],
  OUT hashes         text[],
  OUT created_ats    timestamptz[],
  OUT totals         bigint[],
  OUT discounts      bigint[],
  OUT line_prices    bigint[]
)
-- Every statement below finds its rows by key, from the batch's own arrays
-- (see the top of this file). Planned once per session (custom plans would
-- re-plan each statement on every call), never as a sequential scan
-- (009_keyed_plans.sql), and without JIT (013_no_jit.sql).
LANGUAGE plpgsql SET enable_seqscan = off SET plan_cache_mode = force_generic_plan SET jit = off AS $$
#variable_conflict use_column
DECLARE
  v_now         timestamptz := now();
  v_orders      integer := cardinality(p_order_ids);
  v_lines       integer := cardinality(p_line_slots);
  -- 1: stock and balances only; 2: everything, as read; 3: everything, under lock.
  v_pass        integer := 1;
  v_locked      boolean := false;
  v_reason      text;
  v_total       bigint;
  v_paid        bigint;
  v_p           integer;
  v_c           integer;
  v_w           integer;
  -- Paid orders that take points; the coupons paid orders use, and those orders.
  v_debits      integer;
  v_used_coupons bigint[];
  v_used_by     uuid[];
  -- The batch's products by id, wallets by user id and coupons by id, as read:
  pr_id bigint[];  pr_stock bigint[];  pr_price bigint[];  pr_sold bigint[];
  w_user text[];   w_balance bigint[]; w_used bigint[];
  c_id bigint[];   c_owner text[];     c_live boolean[];   c_type text[];  c_value bigint[];  c_max bigint[];  c_min bigint[];
  -- Per line: its product's index in pr_*.
  l_product integer[] := '{}';
  -- Per order: its lines' range, its twin's slot, its coupon's and wallet's index, the existing order for its key.
  o_first integer[] := '{}';  o_last integer[] := '{}';  o_twin integer[];  o_coupon integer[] := '{}';  o_wallet integer[] := '{}';
  e_id uuid[];  e_status text[];  e_reason text[];  e_hash text[];  e_created timestamptz[];
  -- Per order: the decision.
  d_outcome text[];  d_reason text[];  d_total bigint[];  d_discount bigint[];  d_after bigint[];
BEGIN
  ASSERT v_orders >= 1 AND cardinality(p_user_ids) = v_orders AND cardinality(p_keys) = v_orders
     AND cardinality(p_hashes) = v_orders AND cardinality(p_coupon_ids) = v_orders
     AND cardinality(p_line_products) = v_lines AND cardinality(p_line_quantities) = v_lines,
    'pay_orders: arrays of different lengths';
  FOR l IN 1 .. v_lines LOOP
    IF o_first[p_line_slots[l]] IS NULL THEN o_first[p_line_slots[l]] := l; END IF;
    o_last[p_line_slots[l]] := l;
  END LOOP;
  ASSERT cardinality(o_last) = v_orders AND array_position(o_first, NULL) IS NULL, 'pay_orders: an order without lines';
  IF v_orders = 1 THEN
    o_twin := ARRAY[1];
  ELSE
    SELECT array_agg(t.twin ORDER BY t.n) INTO o_twin
      FROM (SELECT r.n, first_value(r.n) OVER (PARTITION BY r.u, r.k ORDER BY r.n)::int AS twin
              FROM unnest(p_user_ids, p_keys) WITH ORDINALITY AS r (u, k, n)) t;
  END IF;

  -- Pass 1 decides on a plain read of stock and balances alone (no
  -- duplicates, no coupons). If it would pay some order, pass 3 reads
  -- everything under lock and decides for good. If it would pay none, pass 2
  -- reads everything without a lock: if it still pays none (a sold-out
  -- product, an empty wallet, a used coupon), its refusals are recorded
  -- without locking anything; else pass 3 decides. Pass 1 can only err
  -- towards pass 2 (it sees an order with a coupon as refused), and pass 2
  -- or 3 decides every batch: pass 1 saves the lock-free read of orders and
  -- coupons for the batches that go on to pay.
  LOOP
    IF v_pass = 1 THEN
      SELECT p.*, w.*
        INTO pr_id, pr_stock, pr_price, w_user, w_balance
        FROM (SELECT array_agg(p.id ORDER BY p.id), array_agg(p.stock ORDER BY p.id), array_agg(p.price ORDER BY p.id)
                FROM products p WHERE p.id = ANY (p_line_products)) p,
             (SELECT array_agg(w.user_id ORDER BY w.user_id), array_agg(w.balance ORDER BY w.user_id)
                FROM wallets w WHERE w.user_id = ANY (p_user_ids)) w;
    ELSIF v_pass = 2 THEN
      SELECT c.*, p.*, w.*, e.*
        INTO c_id, c_owner, c_live, c_type, c_value, c_max, c_min, pr_id, pr_stock, pr_price, w_user, w_balance,
             e_id, e_status, e_reason, e_hash, e_created
        FROM (SELECT array_agg(c.id ORDER BY c.id), array_agg(c.user_id ORDER BY c.id),
                     array_agg(c.status = 'AVAILABLE' AND c.expires_at > v_now ORDER BY c.id),
                     array_agg(k.discount_type ORDER BY c.id), array_agg(k.discount_value ORDER BY c.id),
                     array_agg(k.max_discount_amount ORDER BY c.id), array_agg(k.min_order_amount ORDER BY c.id)
                FROM coupons c CROSS JOIN LATERAL (SELECT * FROM coupon_campaigns k WHERE k.id = c.campaign_id LIMIT 1) k
               WHERE c.id = ANY (p_coupon_ids)) c,
             (SELECT array_agg(p.id ORDER BY p.id), array_agg(p.stock ORDER BY p.id), array_agg(p.price ORDER BY p.id)
                FROM products p WHERE p.id = ANY (p_line_products)) p,
             (SELECT array_agg(w.user_id ORDER BY w.user_id), array_agg(w.balance ORDER BY w.user_id)
                FROM wallets w WHERE w.user_id = ANY (p_user_ids)) w,
             (SELECT array_agg(o.id ORDER BY r.n), array_agg(o.status ORDER BY r.n), array_agg(o.reason ORDER BY r.n),
                     array_agg(o.request_hash ORDER BY r.n), array_agg(o.created_at ORDER BY r.n)
                FROM unnest(p_user_ids, p_keys) WITH ORDINALITY AS r (u, k, n)
                LEFT JOIN LATERAL (SELECT * FROM orders o WHERE (o.user_id, o.idempotency_key) >= (r.u, r.k)
                                                   ORDER BY o.user_id, o.idempotency_key LIMIT 1) o ON o.user_id = r.u AND o.idempotency_key = r.k) e;
    ELSE
      -- The locks, one statement each so that they are taken in this order.
      SELECT array_agg(c.id ORDER BY c.id), array_agg(c.user_id ORDER BY c.id),
             array_agg(c.status = 'AVAILABLE' AND c.expires_at > v_now ORDER BY c.id),
             array_agg(k.discount_type ORDER BY c.id), array_agg(k.discount_value ORDER BY c.id),
             array_agg(k.max_discount_amount ORDER BY c.id), array_agg(k.min_order_amount ORDER BY c.id)
        INTO c_id, c_owner, c_live, c_type, c_value, c_max, c_min
        FROM (SELECT * FROM coupons WHERE id = ANY (p_coupon_ids) ORDER BY id FOR UPDATE) c
        CROSS JOIN LATERAL (SELECT * FROM coupon_campaigns k WHERE k.id = c.campaign_id LIMIT 1) k;
      SELECT array_agg(p.id ORDER BY p.id), array_agg(p.stock ORDER BY p.id), array_agg(p.price ORDER BY p.id)
        INTO pr_id, pr_stock, pr_price
        FROM (SELECT id, stock, price FROM products WHERE id = ANY (p_line_products) ORDER BY id FOR UPDATE) p;
      SELECT array_agg(w.user_id ORDER BY w.user_id), array_agg(w.balance ORDER BY w.user_id)
        INTO w_user, w_balance
        FROM (SELECT user_id, balance FROM wallets WHERE user_id = ANY (p_user_ids) ORDER BY user_id FOR UPDATE) w;
      -- A statement of its own, after the locks: it sees every order committed
      -- by a transaction that held one of these rows before this one.
      SELECT array_agg(o.id ORDER BY r.n), array_agg(o.status ORDER BY r.n), array_agg(o.reason ORDER BY r.n),
             array_agg(o.request_hash ORDER BY r.n), array_agg(o.created_at ORDER BY r.n)
        INTO e_id, e_status, e_reason, e_hash, e_created
        FROM unnest(p_user_ids, p_keys) WITH ORDINALITY AS r (u, k, n)
        LEFT JOIN LATERAL (SELECT * FROM orders o WHERE (o.user_id, o.idempotency_key) >= (r.u, r.k)
                                           ORDER BY o.user_id, o.idempotency_key LIMIT 1) o ON o.user_id = r.u AND o.idempotency_key = r.k;
    END IF;

    FOR l IN 1 .. v_lines LOOP
      l_product[l] := array_position(pr_id, p_line_products[l]);
    END LOOP;
    FOR i IN 1 .. v_orders LOOP
      o_coupon[i] := array_position(c_id, p_coupon_ids[i]);
      o_wallet[i] := array_position(w_user, p_user_ids[i]);
    END LOOP;
    pr_sold := array_fill(0::bigint, ARRAY[coalesce(cardinality(pr_id), 0)]);
    w_used := array_fill(0::bigint, ARRAY[coalesce(cardinality(w_user), 0)]);
    d_outcome := '{}';  d_reason := '{}';  d_total := '{}';  d_discount := '{}';  d_after := '{}';
    v_debits := 0;
    v_used_coupons := '{}';
    v_used_by := '{}';

    FOR i IN 1 .. v_orders LOOP
      d_total[i] := 0;
      d_discount[i] := 0;
      IF e_id[i] IS NOT NULL THEN
        d_outcome[i] := 'duplicate';
        CONTINUE;
      END IF;
      IF o_twin[i] <> i THEN
        d_outcome[i] := 'retry';
        CONTINUE;
      END IF;
      v_total := 0;
      FOR l IN o_first[i] .. o_last[i] LOOP
        v_p := l_product[l];
        EXIT WHEN v_p IS NULL;
        v_total := v_total + pr_price[v_p] * p_line_quantities[l];
      END LOOP;
      IF v_p IS NULL THEN
        d_outcome[i] := 'not_found';
        CONTINUE;
      END IF;
      d_total[i] := v_total;

      v_reason := NULL;
      v_c := o_coupon[i];
      IF p_coupon_ids[i] IS NOT NULL THEN
        IF v_c IS NULL OR c_owner[v_c] <> p_user_ids[i] OR NOT c_live[v_c] OR v_total < c_min[v_c] THEN
          v_reason := 'INVALID_COUPON';
        ELSE
          d_discount[i] := coupon_discount(c_type[v_c], c_value[v_c], c_max[v_c], v_total);
        END IF;
      END IF;
      IF v_reason IS NULL THEN
        FOR l IN o_first[i] .. o_last[i] LOOP
          IF pr_stock[l_product[l]] < p_line_quantities[l] THEN
            v_reason := 'INSUFFICIENT_STOCK';
            EXIT;
          END IF;
        END LOOP;
      END IF;
      v_paid := v_total - d_discount[i];
      v_w := o_wallet[i];
      IF v_reason IS NULL AND v_paid > 0 AND (v_w IS NULL OR w_balance[v_w] < v_paid) THEN
        v_reason := 'INSUFFICIENT_BALANCE';
      END IF;

      d_reason[i] := v_reason;
      IF v_reason IS NOT NULL THEN
        d_outcome[i] := 'failed';
        CONTINUE;
      END IF;
      d_outcome[i] := 'paid';
      -- A plain-read pass only asks whether the batch pays anything: the locked pass decides it.
      EXIT WHEN NOT v_locked;
      FOR l IN o_first[i] .. o_last[i] LOOP
        v_p := l_product[l];
        pr_stock[v_p] := pr_stock[v_p] - p_line_quantities[l];
        pr_sold[v_p] := pr_sold[v_p] + p_line_quantities[l];
      END LOOP;
      IF v_paid > 0 THEN
        w_balance[v_w] := w_balance[v_w] - v_paid;
        w_used[v_w] := w_used[v_w] + v_paid;
        d_after[i] := w_balance[v_w];
        v_debits := v_debits + 1;
      END IF;
      IF v_c IS NOT NULL THEN
        c_live[v_c] := false;
        v_used_coupons := v_used_coupons || p_coupon_ids[i];
        v_used_by := v_used_by || p_order_ids[i];
      END IF;
    END LOOP;

    EXIT WHEN v_locked OR (v_pass = 2 AND NOT ('paid' = ANY (d_outcome)));
    v_pass := CASE WHEN v_pass = 1 AND NOT ('paid' = ANY (d_outcome)) THEN 2 ELSE 3 END;
    v_locked := v_pass = 3;
  END LOOP;

  IF 'paid' = ANY (d_outcome) OR 'failed' = ANY (d_outcome) THEN
    -- Orders in (user, key) order, so that two batches waiting on each other's keys wait in one direction.
    WITH recorded AS (
      INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, reason, total_amount,
                          discount_amount, paid_amount, coupon_id, holds_effects, created_at, paid_at, updated_at)
        SELECT p_order_ids[s], p_user_ids[s], p_keys[s], p_hashes[s],
               CASE d_outcome[s] WHEN 'paid' THEN 'success' ELSE 'failed' END, d_reason[s],
               d_total[s], d_discount[s], d_total[s] - d_discount[s], p_coupon_ids[s], d_outcome[s] = 'paid',
               v_now, CASE WHEN d_outcome[s] = 'paid' THEN v_now END, v_now
          FROM generate_series(1, v_orders) s
         WHERE d_outcome[s] IN ('paid', 'failed')
         ORDER BY p_user_ids[s], p_keys[s]
    )
    INSERT INTO order_items (order_id, product_id, quantity, unit_price)
      SELECT p_order_ids[p_line_slots[l]], p_line_products[l], p_line_quantities[l], pr_price[l_product[l]]
        FROM generate_series(1, v_lines) l
       WHERE d_outcome[p_line_slots[l]] IN ('paid', 'failed');
    PERFORM enqueue_order_events(ARRAY(SELECT p_order_ids[s] FROM generate_series(1, v_orders) s
                                        WHERE d_outcome[s] IN ('paid', 'failed') ORDER BY s));
  END IF;

  IF v_locked THEN
    -- The sales aggregate (005_popular.sql); its rows are only written under the product locks held here.
    WITH sold AS (
      UPDATE products p SET stock = p.stock - pr_sold[array_position(pr_id, p.id)], updated_at = v_now
       WHERE p.id = ANY (pr_id) AND pr_sold[array_position(pr_id, p.id)] > 0
      RETURNING p.id, pr_sold[array_position(pr_id, p.id)] AS sold
    )
    INSERT INTO product_sales AS s (product_id, bucket, quantity)
      SELECT sold.id, date_bin('1 hour', v_now, timestamptz '2000-01-01 00:00+00'), sold.sold FROM sold
      ON CONFLICT (product_id, bucket) DO UPDATE SET quantity = s.quantity + EXCLUDED.quantity;
    IF v_debits > 0 THEN
      WITH debited AS (
        UPDATE wallets w SET balance = w.balance - w_used[array_position(w_user, w.user_id)], updated_at = v_now
         WHERE w.user_id = ANY (w_user) AND w_used[array_position(w_user, w.user_id)] > 0
      )
      INSERT INTO point_ledger (user_id, type, amount, balance_after, order_id, created_at)
        SELECT p_user_ids[s], 'USE', d_total[s] - d_discount[s], d_after[s], p_order_ids[s], v_now
          FROM generate_series(1, v_orders) s
         WHERE d_after[s] IS NOT NULL
         ORDER BY s;
    END IF;
    IF cardinality(v_used_coupons) > 0 THEN
      UPDATE coupons c SET status = 'USED', order_id = v_used_by[array_position(v_used_coupons, c.id)]
       WHERE c.id = ANY (v_used_coupons);
    END IF;
  END IF;

  outcomes := d_outcome;
  totals := d_total;
  discounts := d_discount;
  order_ids := '{}';  statuses := '{}';  reasons := '{}';  hashes := '{}';  created_ats := '{}';  line_prices := '{}';
  FOR i IN 1 .. v_orders LOOP
    IF d_outcome[i] = 'duplicate' THEN
      order_ids[i] := e_id[i];  statuses[i] := e_status[i];  reasons[i] := e_reason[i];
      hashes[i] := e_hash[i];  created_ats[i] := e_created[i];
    ELSE
      order_ids[i] := p_order_ids[i];  reasons[i] := d_reason[i];  hashes[i] := p_hashes[i];  created_ats[i] := v_now;
      statuses[i] := CASE d_outcome[i] WHEN 'paid' THEN 'success' WHEN 'failed' THEN 'failed' END;
    END IF;
  END LOOP;
  FOR l IN 1 .. v_lines LOOP
    line_prices[l] := pr_price[l_product[l]];
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION enqueue_order_events(p_order_ids uuid[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET plan_cache_mode = force_generic_plan SET jit = off AS $$
BEGIN
  INSERT INTO outbox (type, subject, data)
  SELECT CASE o.status WHEN 'success' THEN 'order.paid' WHEN 'failed' THEN 'order.failed' ELSE 'order.canceled' END,
         o.id::text,
         json_build_object('userId', o.user_id, 'order', json_build_object(
           'orderId', o.id,
           'status', o.status,
           'reason', o.reason,
           'items', COALESCE((SELECT json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity,
                                                                'unitPrice', i.unit_price) ORDER BY i.product_id)
                                FROM order_items i WHERE i.order_id = o.id), '[]'::json),
           'totalAmount', o.total_amount,
           'discountAmount', o.discount_amount,
           'paidAmount', o.paid_amount,
           'couponId', o.coupon_id,
           'createdAt', to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
    FROM unnest(p_order_ids) WITH ORDINALITY AS u (id, n)
    CROSS JOIN LATERAL (SELECT * FROM orders o WHERE o.id = u.id LIMIT 1) o
   WHERE o.status IN ('success', 'failed', 'canceled')
   ORDER BY u.n;
END
$$;

CREATE OR REPLACE FUNCTION claim_coupons(p_campaign_id bigint, p_user_ids text[], p_now timestamptz)
RETURNS TABLE (slot integer, outcome text, coupon_id bigint, coupon_expires_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off SET jit = off AS $$
DECLARE
  v_left        bigint;
  v_valid_days  integer;
BEGIN
  SELECT k.total_quantity - k.issued_quantity, k.valid_days INTO v_left, v_valid_days
    FROM coupon_campaigns k WHERE k.id = p_campaign_id
    FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no coupon campaign %', p_campaign_id;
  END IF;

  RETURN QUERY
  WITH claims AS (
    SELECT u.user_id, u.slot::int AS slot,
           row_number() OVER (PARTITION BY u.user_id ORDER BY u.slot) AS nth
      FROM unnest(p_user_ids) WITH ORDINALITY AS u(user_id, slot)
  ), fresh AS (
    SELECT c.user_id, c.slot, row_number() OVER (ORDER BY c.slot) AS rank
      FROM claims c
     WHERE c.nth = 1
       AND NOT EXISTS (SELECT 1 FROM (SELECT h.campaign_id, h.user_id FROM coupons h
                                       WHERE (h.campaign_id, h.user_id) >= (p_campaign_id, c.user_id)
                                       ORDER BY h.campaign_id, h.user_id LIMIT 1) h
                        WHERE h.campaign_id = p_campaign_id AND h.user_id = c.user_id)
  ), inserted AS (
    INSERT INTO coupons (campaign_id, user_id, issued_at, expires_at)
    SELECT p_campaign_id, f.user_id, p_now, p_now + v_valid_days * interval '1 day'
      FROM fresh f WHERE f.rank <= v_left
     ORDER BY f.slot
    ON CONFLICT (campaign_id, user_id) DO NOTHING
    RETURNING coupons.id, coupons.user_id, coupons.expires_at
  ), counted AS (
    UPDATE coupon_campaigns k SET issued_quantity = k.issued_quantity + (SELECT count(*) FROM inserted)
     WHERE k.id = p_campaign_id
    RETURNING k.id
  ), events AS (
    INSERT INTO outbox (type, subject, data)
    SELECT 'coupon.issued', i.user_id,
           json_build_object('userId', i.user_id, 'coupon', json_build_object(
             'id', i.id, 'code', k.code, 'name', k.name, 'discountType', k.discount_type,
             'discountValue', k.discount_value, 'minOrderAmount', k.min_order_amount,
             'expiresAt', to_char(i.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
             'status', 'AVAILABLE'))
      FROM inserted i CROSS JOIN coupon_campaigns k
     WHERE k.id = p_campaign_id
     ORDER BY i.id
  ), per_user AS (
    -- A claimant left out of fresh, or in it within the quota but not inserted
    -- (a conflicting row), holds a coupon; one beyond the quota holds none.
    SELECT c.user_id,
           CASE WHEN i.id IS NOT NULL THEN 'issued'
                WHEN f.user_id IS NULL OR f.rank <= v_left THEN 'already'
                ELSE 'soldout' END AS outcome,
           i.id, i.expires_at
      FROM claims c
      LEFT JOIN fresh f ON f.user_id = c.user_id
      LEFT JOIN inserted i ON i.user_id = c.user_id
     WHERE c.nth = 1
  )
  SELECT c.slot,
         CASE WHEN c.nth = 1 THEN p.outcome
              WHEN p.outcome = 'soldout' THEN 'soldout'
              ELSE 'already' END,
         CASE WHEN c.nth = 1 THEN p.id END,
         CASE WHEN c.nth = 1 THEN p.expires_at END
    FROM claims c
    JOIN per_user p ON p.user_id = c.user_id
   ORDER BY c.slot;
END;
$$;
