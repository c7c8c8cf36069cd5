-- Issuance of a batch of claims for one campaign in one statement, one
-- transaction, one commit (group commit, SPEC §6, §9.3).
--
-- p_user_ids is the batch in its order of arrival; a user may appear more
-- than once. The campaign row lock serializes batches from every instance,
-- so once it is held the set of holders cannot change under us and the
-- existence check is exact; the unique (campaign_id, user_id) stays the
-- guard all the same. Up to (total - issued) coupons go to the first
-- claimants without one, in arrival order, and issued_quantity grows by
-- exactly the number of rows inserted, in the same transaction.
--
-- One row per element of p_user_ids, by its 1-based position (slot):
--   'issued'  the coupon inserted for this claim (coupon_id, coupon_expires_at);
--   'already' the user holds a coupon of this campaign (from before, or from
--             an earlier claim of the same batch);
--   'soldout' no quota was left for this user, who holds none.
CREATE FUNCTION claim_coupons(p_campaign_id bigint, p_user_ids text[], p_now timestamptz)
RETURNS TABLE (slot integer, outcome text, coupon_id bigint, coupon_expires_at timestamptz)
LANGUAGE plpgsql AS $$
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
