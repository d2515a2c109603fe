-- Products and prices, stored like payment objects: sealed documents with plain columns for
-- lookups (a price's parent is its product; status is active or inactive).
CREATE TABLE products (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
CREATE INDEX products_status ON products (status, id);

CREATE TABLE prices (
    id TEXT COLLATE "C" PRIMARY KEY,
    created BIGINT NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BYTEA NOT NULL
);
CREATE INDEX prices_parent ON prices (parent, id) WHERE parent IS NOT NULL;

-- What price lists filter on, and the lookup keys, which are unique across prices.
CREATE TABLE price_attributes (
    price_id TEXT COLLATE "C" PRIMARY KEY REFERENCES prices (id),
    type TEXT NOT NULL,
    currency TEXT NOT NULL,
    recurring_interval TEXT,
    usage_type TEXT,
    meter TEXT,
    lookup_key TEXT UNIQUE
);
