-- An event is queued for fan-out only while some webhook endpoint exists. An endpoint only
-- wants events made after it (`WebhookEndpoint::wants`), so with none there is nobody an event
-- could be fanned out to, and its outbox row was written, fanned out to no one and deleted:
-- a row and an index entry for each event (eight per renewal) written for nothing.
-- The statement's check sees the endpoints committed when it runs: an endpoint whose creation
-- commits while a transaction records events may miss those events, as it may when the
-- fan-out read the endpoints before they were committed.
CREATE OR REPLACE FUNCTION webhook_outbox_enqueue() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_endpoints) THEN
        INSERT INTO webhook_outbox (event_id) SELECT id FROM recorded_events;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
