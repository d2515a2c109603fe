-- The webhook log is kept for a retention window: old attempts and finished deliveries are
-- found by age.
CREATE INDEX webhook_attempts_age ON webhook_attempts (attempted_at);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created)
    WHERE next_attempt_at IS NULL;
