-- Payment objects. Plain columns serve lookups and locking; everything else, including all
-- personal data and metadata, is in the sealed document.
CREATE TABLE payment_methods (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
CREATE INDEX payment_methods_customer ON payment_methods (customer, id) WHERE customer IS NOT NULL;
CREATE INDEX payment_methods_parent ON payment_methods (parent, id) WHERE parent IS NOT NULL;

CREATE TABLE setup_intents (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
CREATE INDEX setup_intents_customer ON setup_intents (customer, id) WHERE customer IS NOT NULL;
CREATE INDEX setup_intents_parent ON setup_intents (parent, id) WHERE parent IS NOT NULL;

CREATE TABLE payment_intents (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
CREATE INDEX payment_intents_customer ON payment_intents (customer, id) WHERE customer IS NOT NULL;
CREATE INDEX payment_intents_parent ON payment_intents (parent, id) WHERE parent IS NOT NULL;

CREATE TABLE charges (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
CREATE INDEX charges_customer ON charges (customer, id) WHERE customer IS NOT NULL;
CREATE INDEX charges_parent ON charges (parent, id) WHERE parent IS NOT NULL;

CREATE TABLE refunds (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
CREATE INDEX refunds_customer ON refunds (customer, id) WHERE customer IS NOT NULL;
CREATE INDEX refunds_parent ON refunds (parent, id) WHERE parent IS NOT NULL;

-- The double-entry ledger: a transaction per movement of money, posted once per (kind, object).
CREATE TABLE ledger_transactions (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    UNIQUE (kind, object_id)
);
CREATE TABLE ledger_entries (
    id BIGSERIAL PRIMARY KEY,
    txn_id TEXT NOT NULL REFERENCES ledger_transactions (id),
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL
);
CREATE INDEX ledger_entries_txn ON ledger_entries (txn_id);
CREATE INDEX ledger_entries_account ON ledger_entries (account, currency);

-- The sandbox processor's own records, apart from Cashbox's: what reconciliation compares against.
CREATE TABLE sandbox_operations (
    id TEXT COLLATE "C" PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    card_token TEXT NOT NULL,
    reference TEXT,
    outcome TEXT NOT NULL,
    error_code TEXT,
    decline_code TEXT,
    message TEXT,
    created BIGINT NOT NULL
);
CREATE INDEX sandbox_operations_reference ON sandbox_operations (reference) WHERE reference IS NOT NULL;
