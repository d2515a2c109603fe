-- Disputes (chargebacks) as sealed documents: customer, status, parent: the disputed charge.
CREATE TABLE disputes (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BLOB NOT NULL
);
CREATE INDEX disputes_parent ON disputes (parent, id);
