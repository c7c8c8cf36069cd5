-- The relay keeps one position instead of marking every row it relays.
--
-- Marking wrote each outbox row twice more after its insert (the claim's
-- lease, then relayed_at): two new versions of a row of ~400 bytes, their
-- index entries and their WAL, and the dead versions for vacuum — more than
-- half of what relaying cost PostgreSQL during a flash sale.
--
-- Each row now records the transaction that wrote it (`xid`). The position
-- is a snapshot, `relayed`: every event whose transaction that snapshot sees
-- as finished has been relayed. The relay moves it forward a tick at a time:
-- it takes a new snapshot (`tick`), relays in `sequence` order the events
-- the tick sees and `relayed` does not (`tick_after` is how far it got), and
-- then the tick becomes `relayed`. A snapshot sees a transaction only once
-- it has committed, and sees every transaction that committed before one it
-- sees, so
--   - no event is relayed before its transaction committed,
--   - every committed event falls in exactly one tick, however late it
--     commits (a long transaction holds back only its own events),
--   - events of one subject, whose transactions commit in their `sequence`
--     order (010_outbox.sql), are relayed in that order: in one tick by
--     `sequence`, or in the tick of each.
-- A relay that publishes a batch leases the position until `leased_until`;
-- one that died is replaced once the lease runs out, and publishes the same
-- batch again (JetStream drops the duplicates by Nats-Msg-Id).

ALTER TABLE outbox ADD COLUMN xid xid8;
-- Rows written before: relayed ones become visible to the first position,
-- the others not, so the first tick relays them.
UPDATE outbox SET xid = CASE WHEN relayed_at IS NULL THEN '3'::xid8 ELSE '1'::xid8 END;
ALTER TABLE outbox ALTER COLUMN xid SET DEFAULT pg_current_xact_id(), ALTER COLUMN xid SET NOT NULL;
DROP INDEX outbox_unrelayed_idx;
DROP INDEX outbox_relayed_idx;
ALTER TABLE outbox DROP COLUMN claimed_until, DROP COLUMN relayed_at;
-- The relay finds the transactions of a tick by xid: those its position saw
-- running, and those that began after.
CREATE INDEX outbox_xid_idx ON outbox (xid);
-- Rows are written once and deleted; no room is kept for new versions.
ALTER TABLE outbox RESET (fillfactor);

CREATE TABLE outbox_relay (
  singleton     boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  relayed       pg_snapshot NOT NULL,
  tick          pg_snapshot,
  tick_after    bigint      NOT NULL DEFAULT 0,
  -- A batch being published: the relay that holds the token, until when.
  lease_token   uuid,
  leased_until  timestamptz
);
INSERT INTO outbox_relay (relayed) VALUES ('3:3:');

-- The events no relay has relayed yet. They all belong to transactions the
-- position saw running or that began after it (found by `outbox_xid_idx`).
CREATE VIEW outbox_unrelayed AS
SELECT o.*
  FROM outbox_relay r
  JOIN outbox o ON o.xid = ANY (ARRAY(SELECT pg_snapshot_xip(r.relayed))) OR o.xid >= pg_snapshot_xmax(r.relayed)
 WHERE NOT pg_visible_in_snapshot(o.xid, r.relayed)
   AND NOT (r.tick IS NOT NULL AND pg_visible_in_snapshot(o.xid, r.tick) AND o.sequence <= r.tick_after);
