-- The functions that switch sequential scans off (009_keyed_plans.sql) make
-- any plan that still has one cost at least 10^10, far past
-- jit_above_cost: PostgreSQL would then compile that statement with LLVM on
-- every call, 100–200 ms for a statement of a millisecond (measured on the
-- outbox relay's claim, which now switches JIT off the same way). None of
-- these statements runs long enough for JIT to pay, so it is off for them.
ALTER FUNCTION pay_orders(uuid[], text[], text[], text[], bigint[], integer[], bigint[], bigint[]) SET jit = off;
ALTER FUNCTION enqueue_order_events(uuid[]) SET jit = off;
ALTER FUNCTION claim_coupons(bigint, text[], timestamptz) SET jit = off;
