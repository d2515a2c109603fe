-- When a customer's entitlements next change by themselves (a purchase's set duration runs
-- out), as due work in the customer's time: clock is their test clock (NULL: the wall clock).
ALTER TABLE entitlement_summaries ADD COLUMN due_at INTEGER;
ALTER TABLE entitlement_summaries ADD COLUMN clock TEXT;
CREATE INDEX entitlement_summaries_due ON entitlement_summaries (clock, due_at, customer_id)
    WHERE due_at IS NOT NULL;
