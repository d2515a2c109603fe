-- The outbox is filled once per statement that records events, not once per event: a billing
-- run writes a batch's events in one statement, and a row trigger ran a PL/pgSQL call and a
-- one-row insert for each of them (a tenth of a renewal's time in PostgreSQL). The outbox rows
-- come in the order the statement inserted the events, as they did.
DROP TRIGGER events_webhook_outbox ON events;
DROP FUNCTION webhook_outbox_enqueue();
CREATE FUNCTION webhook_outbox_enqueue() RETURNS trigger AS $$
BEGIN
    INSERT INTO webhook_outbox (event_id) SELECT id FROM recorded_events;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER events_webhook_outbox AFTER INSERT ON events
    REFERENCING NEW TABLE AS recorded_events
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_outbox_enqueue();
