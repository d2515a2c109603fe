-- Ids sort by creation time (UUIDv7 bodies); SQLite compares TEXT bytewise, which is what lists need.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE,
    redacted TEXT NOT NULL,
    permissions TEXT NOT NULL,
    source TEXT NOT NULL,
    note TEXT,
    created INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    email_bidx BLOB,
    sealed BLOB,
    balance INTEGER NOT NULL,
    currency TEXT,
    default_payment_method TEXT,
    delinquent BOOLEAN NOT NULL,
    invoice_prefix TEXT NOT NULL,
    next_invoice_sequence INTEGER NOT NULL,
    test_clock TEXT
);
CREATE INDEX customers_email_bidx ON customers (email_bidx) WHERE email_bidx IS NOT NULL;

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    object_id TEXT NOT NULL,
    sealed BLOB NOT NULL,
    request_id TEXT,
    idempotency_key TEXT
);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_object ON events (object_id, id);

CREATE TABLE idempotency_keys (
    id TEXT PRIMARY KEY,
    api_key_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    state TEXT NOT NULL,
    lock_token TEXT NOT NULL,
    locked_until INTEGER NOT NULL,
    response_status INTEGER,
    response_sealed BLOB,
    created INTEGER NOT NULL,
    UNIQUE (api_key_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created);
