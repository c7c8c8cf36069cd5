-- With NATS the relay rewrites each outbox row twice: the claim's lease
-- (claimed_until), then the mark (relayed_at). claimed_until is in no index,
-- so the lease can be a heap-only update, which writes no index entry, but
-- only if the row's page has room for the new version. Pages of the outbox
-- are filled to 70 % for that room.
ALTER TABLE outbox SET (fillfactor = 70);
