-- An event is queued for fan-out only while some webhook endpoint exists (see the PostgreSQL
-- migration of the same number: with no endpoint, nobody could want it).
DROP TRIGGER events_webhook_outbox;
CREATE TRIGGER events_webhook_outbox AFTER INSERT ON events
WHEN EXISTS (SELECT 1 FROM webhook_endpoints)
BEGIN
    INSERT INTO webhook_outbox (event_id) VALUES (NEW.id);
END;
