-- The transactional outbox: one row per event, written by the statement (or
-- the transaction) that makes the change it tells of, so an event exists if
-- and only if its change committed. The relay (src/events/) reads the rows
-- that are not yet relayed, publishes them, and deletes them once they are
-- relayed, delivered and older than OUTBOX_RETENTION_MS.
--
-- `sequence` orders every event. Events of one subject are written by
-- transactions that hold that subject's row lock (the order row, the wallet
-- row), so their numbers grow in the order in which they committed: it is
-- the CloudEvents `sequence` of the event, increasing per subject.
CREATE TABLE outbox (
  sequence       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The CloudEvents id; consumers dedupe on it, JetStream as Nats-Msg-Id.
  id             uuid        NOT NULL DEFAULT gen_random_uuid(),
  type           text        NOT NULL CHECK (type IN ('order.paid', 'order.failed', 'order.canceled',
                                                      'points.charged', 'coupon.issued')),
  subject        text        NOT NULL,
  -- json, not jsonb: the keys stay in the order they were written in.
  data           json        NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  -- A relay that took the row for publishing owns it until then.
  claimed_until  timestamptz,
  relayed_at     timestamptz
);
CREATE INDEX outbox_unrelayed_idx ON outbox (sequence) WHERE relayed_at IS NULL;
CREATE INDEX outbox_relayed_idx ON outbox (relayed_at) WHERE relayed_at IS NOT NULL;

-- One event per given order, of the type its current status names:
-- success → order.paid, failed → order.failed, canceled → order.canceled;
-- a pending order (or an id with no order) gets none. Called by the payment
-- in its own statement, and by the cancel and the recovery in the
-- transaction that moved the order. Events go in the order of p_order_ids;
-- an id given twice gets two events.
--
-- `data.order` is the answer of GET /api/orders/:id: items by product id,
-- createdAt with milliseconds in UTC, as JavaScript's toISOString writes it.
-- It is built in this one statement (no SQL function per row, which would be
-- planned again on every call), planned once per session like the payment.
CREATE FUNCTION enqueue_order_events(p_order_ids uuid[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET plan_cache_mode = force_generic_plan AS $$
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
    JOIN orders o ON o.id = u.id
   WHERE o.status IN ('success', 'failed', 'canceled')
   ORDER BY u.n;
END
$$;

-- claim_coupons (006) as before, and one coupon.issued event per coupon
-- inserted, in the same statement; the coupon is the claim's answer.
CREATE OR REPLACE FUNCTION claim_coupons(p_campaign_id bigint, p_user_ids text[], p_now timestamptz)
RETURNS TABLE (slot integer, outcome text, coupon_id bigint, coupon_expires_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
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
       AND NOT EXISTS (SELECT 1 FROM coupons h WHERE h.campaign_id = p_campaign_id AND h.user_id = c.user_id)
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
