-- The processor's webhooks coming in (Stripe's events), each kept once by the processor's
-- event id as a sealed document (status: pending, applied, ignored or failed; parent: the id
-- of the object it is about). Pending ones are applied from a queue.
CREATE TABLE processor_events (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT COLLATE "C",
    status TEXT NOT NULL,
    parent TEXT COLLATE "C",
    sealed BYTEA NOT NULL
);
CREATE INDEX processor_events_status ON processor_events (status, id);
