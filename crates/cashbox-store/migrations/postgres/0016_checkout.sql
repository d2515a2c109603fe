-- Checkout Sessions: sealed documents; `parent` is what the session sells through (its
-- PaymentIntent, subscription or SetupIntent), for the list filters.
CREATE TABLE checkout_sessions (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT COLLATE "C",
    status TEXT NOT NULL,
    parent TEXT COLLATE "C",
    sealed BYTEA NOT NULL
);
CREATE INDEX checkout_sessions_customer ON checkout_sessions (customer, id) WHERE customer IS NOT NULL;
CREATE INDEX checkout_sessions_parent ON checkout_sessions (parent, id) WHERE parent IS NOT NULL;
