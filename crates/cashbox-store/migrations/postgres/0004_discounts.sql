-- Coupons, promotion codes and tax rates: sealed documents with plain lookup columns (a
-- promotion code's parent is its coupon and its customer the customer it is restricted to).
CREATE TABLE coupons (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);

CREATE TABLE promotion_codes (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
CREATE INDEX promotion_codes_parent ON promotion_codes (parent, id) WHERE parent IS NOT NULL;
CREATE INDEX promotion_codes_customer ON promotion_codes (customer, id) WHERE customer IS NOT NULL;

-- Codes as customers type them (upper-cased): unique among active promotion codes.
CREATE TABLE promotion_code_keys (
    promotion_code_id TEXT COLLATE "C" PRIMARY KEY REFERENCES promotion_codes (id),
    code_key TEXT NOT NULL,
    active BOOLEAN NOT NULL
);
CREATE UNIQUE INDEX promotion_code_keys_active ON promotion_code_keys (code_key) WHERE active;
CREATE INDEX promotion_code_keys_code ON promotion_code_keys (code_key);

CREATE TABLE tax_rates (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
