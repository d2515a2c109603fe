-- The search index (GET /v1/{resource}/search). Exact matches are on keyed blind indexes of
-- (resource, field, value), never on the values: personal data and metadata stay encrypted.
-- Numbers are kept as they are; text that is neither personal nor metadata (a product's name
-- and description), lower-cased, for substring search.
--
-- Written off the request path, as Stripe's own index is: a write of a searchable object
-- that changes what it indexes marks it in search_pending (these triggers), and the indexer
-- (in `serve`, and before each search answers) opens the marked objects and rewrites their
-- rows. Statuses, customers and parents are searched in the tables' own columns.
CREATE TABLE search_terms (
    term BLOB NOT NULL,
    object_id TEXT NOT NULL,
    PRIMARY KEY (term, object_id)
);
CREATE INDEX search_terms_object ON search_terms (object_id);

CREATE TABLE search_values (
    field TEXT NOT NULL,
    object_id TEXT NOT NULL,
    number INTEGER,
    text TEXT,
    PRIMARY KEY (field, object_id)
);
CREATE INDEX search_values_number ON search_values (field, number) WHERE number IS NOT NULL;
CREATE INDEX search_values_object ON search_values (object_id);

-- Objects whose index rows are to be rewritten; `version` moves at every write, so the
-- indexer removes a mark only if no write came after what it indexed.
CREATE TABLE search_pending (
    object_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL
);

-- A keyed digest of what each row indexes, written with the row: a write that changes it
-- (or a new row, or a customer deleted) marks the object for indexing; one that changes only
-- what the index does not hold (a status, a due time) marks nothing.
ALTER TABLE customers ADD COLUMN search_fp BLOB;
ALTER TABLE prices ADD COLUMN search_fp BLOB;
ALTER TABLE products ADD COLUMN search_fp BLOB;
ALTER TABLE subscriptions ADD COLUMN search_fp BLOB;
ALTER TABLE invoices ADD COLUMN search_fp BLOB;
ALTER TABLE payment_intents ADD COLUMN search_fp BLOB;
ALTER TABLE charges ADD COLUMN search_fp BLOB;

CREATE TRIGGER customers_search_insert AFTER INSERT ON customers
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'customers', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER customers_search_update AFTER UPDATE OF search_fp, deleted ON customers
WHEN OLD.search_fp IS NOT NEW.search_fp OR OLD.deleted IS NOT NEW.deleted
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'customers', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER prices_search_insert AFTER INSERT ON prices
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'prices', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER prices_search_update AFTER UPDATE OF search_fp ON prices
WHEN OLD.search_fp IS NOT NEW.search_fp
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'prices', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER products_search_insert AFTER INSERT ON products
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'products', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER products_search_update AFTER UPDATE OF search_fp ON products
WHEN OLD.search_fp IS NOT NEW.search_fp
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'products', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER subscriptions_search_insert AFTER INSERT ON subscriptions
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'subscriptions', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER subscriptions_search_update AFTER UPDATE OF search_fp ON subscriptions
WHEN OLD.search_fp IS NOT NEW.search_fp
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'subscriptions', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER invoices_search_insert AFTER INSERT ON invoices
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'invoices', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER invoices_search_update AFTER UPDATE OF search_fp ON invoices
WHEN OLD.search_fp IS NOT NEW.search_fp
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'invoices', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER payment_intents_search_insert AFTER INSERT ON payment_intents
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'payment_intents', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER payment_intents_search_update AFTER UPDATE OF search_fp ON payment_intents
WHEN OLD.search_fp IS NOT NEW.search_fp
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'payment_intents', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER charges_search_insert AFTER INSERT ON charges
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'charges', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER charges_search_update AFTER UPDATE OF search_fp ON charges
WHEN OLD.search_fp IS NOT NEW.search_fp
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, 'charges', 1)
    ON CONFLICT (object_id) DO UPDATE SET version = version + 1;
END;

-- What exists already is indexed by the first indexer to run.
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'customers', 1 FROM customers WHERE deleted = FALSE;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'prices', 1 FROM prices;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'products', 1 FROM products;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'subscriptions', 1 FROM subscriptions;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'invoices', 1 FROM invoices;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'payment_intents', 1 FROM payment_intents;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'charges', 1 FROM charges;
