-- Billing meters (sealed documents; status active or inactive) and the event names they own:
-- an event name belongs to one meter for good.
CREATE TABLE meters (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BLOB NOT NULL
);
CREATE TABLE meter_event_names (
    event_name TEXT PRIMARY KEY,
    meter_id TEXT NOT NULL
);

-- Meter events: one row each, deduplicated by identifier for good (Stripe promises at least
-- 24 hours). seq orders arrival; canceled marks an adjustment's cancel.
CREATE TABLE meter_events (
    seq INTEGER PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE,
    meter_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    value INTEGER NOT NULL,
    created INTEGER NOT NULL,
    canceled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX meter_events_usage ON meter_events (meter_id, customer_id, ts);

-- How far each customer's usage of a meter has been invoiced: events before it are refused,
-- so a period's usage is billed once.
CREATE TABLE meter_watermarks (
    meter_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    billed_through INTEGER NOT NULL,
    PRIMARY KEY (meter_id, customer_id)
);
