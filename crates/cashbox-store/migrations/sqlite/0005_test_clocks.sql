-- Test clocks, stored like the other documents (status: ready, advancing, internal_failure).
CREATE TABLE test_clocks (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BLOB NOT NULL
);
