-- Ids sort by creation time (UUIDv7 bodies); COLLATE "C" makes TEXT compare bytewise as lists need.
CREATE TABLE api_keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT NOT NULL,
    secret_hash BYTEA NOT NULL UNIQUE,
    redacted TEXT NOT NULL,
    permissions TEXT NOT NULL,
    source TEXT NOT NULL,
    note TEXT,
    created BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE customers (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    email_bidx BYTEA,
    sealed BYTEA,
    balance BIGINT NOT NULL,
    currency TEXT,
    default_payment_method TEXT,
    delinquent BOOLEAN NOT NULL,
    invoice_prefix TEXT NOT NULL,
    next_invoice_sequence BIGINT NOT NULL,
    test_clock TEXT
);
CREATE INDEX customers_email_bidx ON customers (email_bidx) WHERE email_bidx IS NOT NULL;

CREATE TABLE events (
    id TEXT COLLATE "C" PRIMARY KEY,
    type TEXT NOT NULL,
    created BIGINT NOT NULL,
    object_id TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    request_id TEXT,
    idempotency_key TEXT
);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_object ON events (object_id, id);

CREATE TABLE idempotency_keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    api_key_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    state TEXT NOT NULL,
    lock_token TEXT NOT NULL,
    locked_until BIGINT NOT NULL,
    response_status INTEGER,
    response_sealed BYTEA,
    created BIGINT NOT NULL,
    UNIQUE (api_key_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created);
