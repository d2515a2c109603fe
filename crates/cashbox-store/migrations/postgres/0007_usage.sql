-- Billing meters (sealed documents; status active or inactive) and the event names they own:
-- an event name belongs to one meter for good.
CREATE TABLE meters (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
CREATE TABLE meter_event_names (
    event_name TEXT COLLATE "C" PRIMARY KEY,
    meter_id TEXT COLLATE "C" NOT NULL
);

-- Meter events: one row each, deduplicated by identifier for good (Stripe promises at least
-- 24 hours). seq orders arrival; canceled marks an adjustment's cancel.
CREATE TABLE meter_events (
    seq BIGSERIAL PRIMARY KEY,
    identifier TEXT COLLATE "C" NOT NULL UNIQUE,
    meter_id TEXT COLLATE "C" NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL,
    ts BIGINT NOT NULL,
    value BIGINT NOT NULL,
    created BIGINT NOT NULL,
    canceled BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX meter_events_usage ON meter_events (meter_id, customer_id, ts);

-- How far each customer's usage of a meter has been invoiced: events before it are refused,
-- so a period's usage is billed once.
CREATE TABLE meter_watermarks (
    meter_id TEXT COLLATE "C" NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL,
    billed_through BIGINT NOT NULL,
    PRIMARY KEY (meter_id, customer_id)
);

-- Entitlement features (sealed documents; status active or inactive) and their unique
-- lookup keys; product features (parent is the product).
CREATE TABLE features (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
CREATE TABLE feature_lookup_keys (
    lookup_key TEXT COLLATE "C" PRIMARY KEY,
    feature_id TEXT COLLATE "C" NOT NULL
);
CREATE TABLE product_features (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT COLLATE "C",
    sealed BYTEA NOT NULL
);
CREATE INDEX product_features_parent ON product_features (parent, id);

-- What one-time purchases grant: a product from a paid invoice, until ends_at (NULL: for
-- life) or until a full refund revokes it.
CREATE TABLE entitlement_grants (
    id TEXT COLLATE "C" PRIMARY KEY,
    customer_id TEXT COLLATE "C" NOT NULL,
    product_id TEXT COLLATE "C" NOT NULL,
    invoice_id TEXT COLLATE "C" NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT,
    revoked_at BIGINT,
    UNIQUE (invoice_id, product_id)
);
CREATE INDEX entitlement_grants_customer ON entitlement_grants (customer_id);

-- Quota use per customer, feature and period, and the consumes that made it (by key, so a
-- repeated consume counts once).
CREATE TABLE quota_usage (
    customer_id TEXT COLLATE "C" NOT NULL,
    feature_id TEXT COLLATE "C" NOT NULL,
    period_start BIGINT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (customer_id, feature_id, period_start)
);
CREATE TABLE quota_consumptions (
    key TEXT COLLATE "C" PRIMARY KEY,
    customer_id TEXT COLLATE "C" NOT NULL,
    feature_id TEXT COLLATE "C" NOT NULL,
    period_start BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    created BIGINT NOT NULL
);

-- The last active-entitlement summary told for each customer (feature ids, sorted), so a
-- change is announced once.
CREATE TABLE entitlement_summaries (
    customer_id TEXT COLLATE "C" PRIMARY KEY,
    features TEXT NOT NULL
);

-- Credit grants (customer; status available or voided) and spend limits (customer; parent
-- is the subscription a limit is on, NULL for a customer-wide limit).
CREATE TABLE credit_grants (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT COLLATE "C",
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
CREATE INDEX credit_grants_customer ON credit_grants (customer, id);
CREATE TABLE spend_limits (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT COLLATE "C",
    status TEXT NOT NULL,
    parent TEXT COLLATE "C",
    sealed BYTEA NOT NULL
);
CREATE INDEX spend_limits_customer ON spend_limits (customer, id);

-- Billing alerts (parent is the meter) and the customers each has fired for (once each).
CREATE TABLE alerts (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT COLLATE "C",
    sealed BYTEA NOT NULL
);
CREATE INDEX alerts_parent ON alerts (parent, id);
CREATE TABLE alert_triggers (
    alert_id TEXT COLLATE "C" NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL,
    value BIGINT NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (alert_id, customer_id)
);

-- A counter per customer, bumped in every transaction that changes what a usage check reads
-- (subscriptions, spend limits, credit grants): a process's cached view of the customer is
-- good while the counter is unchanged.
CREATE TABLE customer_versions (
    customer_id TEXT COLLATE "C" PRIMARY KEY,
    version BIGINT NOT NULL
);
