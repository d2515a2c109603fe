-- Webhook endpoints: sealed documents (their signing secrets are in the sealed part).
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BLOB NOT NULL
);

-- Every event waits here, from its own transaction, until it is fanned out to the endpoints
-- that want it; written by a trigger, so no path that records an event can miss it.
CREATE TABLE webhook_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL
);
CREATE TRIGGER events_webhook_outbox AFTER INSERT ON events
BEGIN
    INSERT INTO webhook_outbox (event_id) VALUES (NEW.id);
END;

-- One delivery per endpoint and event. next_attempt_at is when it is next tried (NULL once
-- it succeeded or gave up); a worker that takes it moves next_attempt_at past the attempt's
-- timeout, so a worker that dies mid-attempt leaves it due again (its lease).
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id)
    WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- Every attempt: when, the answer (or the error), how long it took, a bounded excerpt.
CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    attempted_at INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms INTEGER NOT NULL,
    error TEXT,
    response_excerpt TEXT
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, id);
