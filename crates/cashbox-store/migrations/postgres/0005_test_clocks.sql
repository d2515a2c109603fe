-- Test clocks, stored like the other documents (status: ready, advancing, internal_failure).
CREATE TABLE test_clocks (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
