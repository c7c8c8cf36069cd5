-- Units sold per product per hour, for GET /api/products/popular (SPEC §5).
--
-- A row counts the order lines of the orders paid in that hour that still
-- hold their effects (orders.holds_effects): the payment (place_order here,
-- pay_orders since 011_pay_orders.sql) adds to it in the
-- payment's transaction, and the compensation (cancel, recovery) takes away
-- from the bucket of the order's paid_at in the transaction that clears
-- holds_effects. So at every commit, for every bucket,
--   quantity = sum of the lines of the holding orders paid in that hour.
-- Buckets are UTC hours (date_bin from 2000-01-01 00:00+00), whatever the
-- session's time zone.
CREATE TABLE product_sales (
  product_id  bigint       NOT NULL,
  bucket      timestamptz  NOT NULL,
  quantity    bigint       NOT NULL CHECK (quantity >= 0),
  PRIMARY KEY (product_id, bucket)
);
CREATE INDEX product_sales_bucket_idx ON product_sales (bucket);

-- The 72-hour window rarely starts on the hour: the part of the edge bucket
-- is counted from the orders themselves.
CREATE INDEX orders_held_paid_idx ON orders (paid_at) WHERE holds_effects;
