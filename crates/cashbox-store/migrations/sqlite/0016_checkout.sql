-- Checkout Sessions: sealed documents; `parent` is what the session sells through (its
-- PaymentIntent, subscription or SetupIntent), for the list filters.
CREATE TABLE checkout_sessions (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BLOB NOT NULL
);
CREATE INDEX checkout_sessions_customer ON checkout_sessions (customer, id) WHERE customer IS NOT NULL;
CREATE INDEX checkout_sessions_parent ON checkout_sessions (parent, id) WHERE parent IS NOT NULL;
