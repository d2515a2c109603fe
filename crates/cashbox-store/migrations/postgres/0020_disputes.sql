-- Disputes (chargebacks) as sealed documents: customer, status, parent: the disputed charge.
CREATE TABLE disputes (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT COLLATE "C",
    status TEXT NOT NULL,
    parent TEXT COLLATE "C",
    sealed BYTEA NOT NULL
);
CREATE INDEX disputes_parent ON disputes (parent, id);
