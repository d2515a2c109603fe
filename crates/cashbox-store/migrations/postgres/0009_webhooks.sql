-- Webhook endpoints: sealed documents (their signing secrets are in the sealed part).
CREATE TABLE webhook_endpoints (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT COLLATE "C",
    sealed BYTEA NOT NULL
);

-- Every event waits here, from its own transaction, until it is fanned out to the endpoints
-- that want it; written by a trigger, so no path that records an event can miss it.
CREATE TABLE webhook_outbox (
    seq BIGSERIAL PRIMARY KEY,
    event_id TEXT COLLATE "C" NOT NULL
);
CREATE FUNCTION webhook_outbox_enqueue() RETURNS trigger AS $$
BEGIN
    INSERT INTO webhook_outbox (event_id) VALUES (NEW.id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER events_webhook_outbox AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION webhook_outbox_enqueue();

-- One delivery per endpoint and event. next_attempt_at is when it is next tried (NULL once
-- it succeeded or gave up); a worker that takes it moves next_attempt_at past the attempt's
-- timeout, so a worker that dies mid-attempt leaves it due again (its lease).
CREATE TABLE webhook_deliveries (
    id TEXT COLLATE "C" PRIMARY KEY,
    endpoint_id TEXT COLLATE "C" NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    created BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id)
    WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- Every attempt: when, the answer (or the error), how long it took, a bounded excerpt.
CREATE TABLE webhook_attempts (
    id TEXT COLLATE "C" PRIMARY KEY,
    delivery_id TEXT COLLATE "C" NOT NULL,
    endpoint_id TEXT COLLATE "C" NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    attempted_at BIGINT NOT NULL,
    status_code BIGINT,
    latency_ms BIGINT NOT NULL,
    error TEXT,
    response_excerpt TEXT
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, id);
