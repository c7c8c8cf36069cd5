-- Webhook endpoints and their deliveries (src/events/).
--
-- The relay turns each outbox event into one delivery per enabled endpoint
-- that wants its type, in the transaction that claims the event; a delivery
-- is then tried until a 2xx or until its attempts run out. Deliveries go in
-- `sequence` order per endpoint and subject: one waits while an earlier
-- delivery of its subject to the same endpoint is still pending.
CREATE TABLE webhooks (
  id                    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  url                   text        NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2000),
  -- Event types, or the one element '*' for every type.
  event_types           text[]      NOT NULL CHECK (cardinality(event_types) >= 1),
  -- Standard Webhooks form: whsec_ and the base64 of the key.
  secret                text        NOT NULL,
  enabled               boolean     NOT NULL DEFAULT true,
  -- Set when the circuit breaker disabled the endpoint; cleared when enabled again.
  disabled_reason       text,
  disabled_at           timestamptz,
  consecutive_failures  integer     NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  created_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook_id       bigint      NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event_sequence   bigint      NOT NULL REFERENCES outbox (sequence) ON DELETE CASCADE,
  subject          text        NOT NULL,
  state            text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- The HTTP status of the last attempt; null when it got no answer.
  last_status      integer,
  last_error       text,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  -- An attempt in flight owns the delivery until then.
  locked_until     timestamptz,
  delivered_at     timestamptz,
  finished_at      timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (event_sequence, webhook_id),
  CHECK ((state = 'pending') = (finished_at IS NULL))
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_subject_idx ON webhook_deliveries (webhook_id, subject, event_sequence) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (webhook_id, id DESC);
