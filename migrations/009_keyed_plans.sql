-- The payment and claim functions find every row by its key. PL/pgSQL keeps
-- a statement's plan for the session, and a plan made while a table was
-- empty, or was last analysed empty, is a sequential scan: right for zero
-- rows, and kept while the table grows to thousands (autovacuum re-plans only
-- after its next analyse). The first flash sale on a fresh database would
-- then scan the whole orders table for each order's idempotency check and
-- foreign-key check. Inside these functions a sequential scan is never what
-- is wanted, so it is switched off for their duration; the foreign-key
-- checks their inserts fire are planned under the same setting.
ALTER FUNCTION place_order(uuid, text, text, text, bigint[], bigint[], bigint[], bigint, boolean, bigint, bigint)
  SET enable_seqscan = off;
ALTER FUNCTION place_orders(uuid[], text[], text[], text[], bigint, bigint[], bigint[], bigint[], boolean[], bigint[], bigint[])
  SET enable_seqscan = off;
ALTER FUNCTION claim_coupons(bigint, text[], timestamptz)
  SET enable_seqscan = off;
