-- The customer portal: configurations (status: active or not, parent: "default" for the
-- default one) and sessions (customer, parent: the configuration), as sealed documents.
CREATE TABLE billing_portal_configurations (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BLOB NOT NULL
);
CREATE INDEX billing_portal_configurations_parent ON billing_portal_configurations (parent, id) WHERE parent IS NOT NULL;
CREATE TABLE billing_portal_sessions (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BLOB NOT NULL
);
CREATE INDEX billing_portal_sessions_customer ON billing_portal_sessions (customer, id) WHERE customer IS NOT NULL;
