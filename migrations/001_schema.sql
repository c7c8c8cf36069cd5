-- The system of record. Money and quantities are bigint won / units; every
-- rule that must hold under concurrency is a constraint or a conditional
-- update here, never a read-then-write in the application.

CREATE TABLE products (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  price       bigint      NOT NULL CHECK (price >= 0),
  stock       bigint      NOT NULL CHECK (stock >= 0),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The balance limit (POINTS_MAX_BALANCE) is configuration, so it is enforced by
-- the charge's conditional update; a refund may pass it (SPEC §9.1).
CREATE TABLE wallets (
  user_id     text        PRIMARY KEY,
  balance     bigint      NOT NULL CHECK (balance >= 0),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE point_ledger (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id          text        NOT NULL,
  type             text        NOT NULL CHECK (type IN ('CHARGE', 'USE', 'REFUND')),
  amount           bigint      NOT NULL CHECK (amount > 0),
  balance_after    bigint      NOT NULL CHECK (balance_after >= 0),
  order_id         uuid,
  idempotency_key  text,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX point_ledger_user_idx ON point_ledger (user_id, id DESC);
CREATE UNIQUE INDEX point_ledger_charge_key_idx ON point_ledger (user_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
-- An order is paid at most once and refunded at most once.
CREATE UNIQUE INDEX point_ledger_order_idx ON point_ledger (order_id, type) WHERE order_id IS NOT NULL;

CREATE TABLE coupon_campaigns (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  code                 text        NOT NULL UNIQUE CHECK (char_length(code) BETWEEN 1 AND 64),
  name                 text        NOT NULL,
  discount_type        text        NOT NULL CHECK (discount_type IN ('FIXED', 'RATE')),
  discount_value       bigint      NOT NULL CHECK (discount_value >= 1),
  total_quantity       bigint      NOT NULL CHECK (total_quantity >= 1),
  issued_quantity      bigint      NOT NULL DEFAULT 0,
  min_order_amount     bigint      NOT NULL DEFAULT 0 CHECK (min_order_amount >= 0),
  max_discount_amount  bigint      CHECK (max_discount_amount >= 0),
  valid_days           integer     NOT NULL DEFAULT 30 CHECK (valid_days >= 1),
  issue_starts_at      timestamptz,
  issue_ends_at        timestamptz,
  eligible_user_ids    text[],
  created_at           timestamptz NOT NULL DEFAULT now(),
  CHECK (issued_quantity BETWEEN 0 AND total_quantity),
  CHECK (discount_type <> 'RATE' OR discount_value <= 100)
);

-- Issued coupons. EXPIRED is not stored: it is AVAILABLE past expires_at.
CREATE TABLE coupons (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  campaign_id  bigint      NOT NULL REFERENCES coupon_campaigns (id),
  user_id      text        NOT NULL,
  status       text        NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'USED')),
  order_id     uuid,
  issued_at    timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  UNIQUE (campaign_id, user_id),
  CHECK ((status = 'USED') = (order_id IS NOT NULL))
);
CREATE INDEX coupons_user_idx ON coupons (user_id, id DESC);

CREATE TABLE orders (
  id               uuid        PRIMARY KEY,
  user_id          text        NOT NULL,
  idempotency_key  text        NOT NULL,
  -- A fingerprint of the request body: the same key with another body is 422.
  request_hash     text        NOT NULL,
  status           text        NOT NULL CHECK (status IN ('pending', 'success', 'failed', 'canceled')),
  reason           text,
  total_amount     bigint      NOT NULL CHECK (total_amount >= 0),
  discount_amount  bigint      NOT NULL CHECK (discount_amount >= 0),
  paid_amount      bigint      NOT NULL CHECK (paid_amount >= 0),
  coupon_id        bigint,
  -- True exactly while this order holds stock, points and its coupon; the
  -- compensation that clears it runs once, in the transaction that clears it.
  holds_effects    boolean     NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  paid_at          timestamptz,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, idempotency_key),
  CHECK (paid_amount = total_amount - discount_amount)
);
CREATE INDEX orders_user_idx ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_pending_idx ON orders (updated_at) WHERE status = 'pending';

CREATE TABLE order_items (
  order_id    uuid    NOT NULL REFERENCES orders (id),
  product_id  bigint  NOT NULL,
  quantity    bigint  NOT NULL CHECK (quantity > 0),
  unit_price  bigint  NOT NULL CHECK (unit_price >= 0),
  PRIMARY KEY (order_id, product_id)
);
