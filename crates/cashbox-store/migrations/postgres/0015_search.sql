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
    term BYTEA NOT NULL,
    object_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (term, object_id)
);
CREATE INDEX search_terms_object ON search_terms (object_id);

CREATE TABLE search_values (
    field TEXT COLLATE "C" NOT NULL,
    object_id TEXT COLLATE "C" NOT NULL,
    number BIGINT,
    text TEXT,
    PRIMARY KEY (field, object_id)
);
CREATE INDEX search_values_number ON search_values (field, number) WHERE number IS NOT NULL;
CREATE INDEX search_values_object ON search_values (object_id);

-- Objects whose index rows are to be rewritten; `version` moves at every write, so the
-- indexer removes a mark only if no write came after what it indexed.
CREATE TABLE search_pending (
    object_id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT NOT NULL,
    version BIGINT NOT NULL
);

-- A keyed digest of what each row indexes, written with the row: a write that changes it
-- (or a new row, or a customer deleted) marks the object for indexing; one that changes only
-- what the index does not hold (a status, a due time) marks nothing.
ALTER TABLE customers ADD COLUMN search_fp BYTEA;
ALTER TABLE prices ADD COLUMN search_fp BYTEA;
ALTER TABLE products ADD COLUMN search_fp BYTEA;
ALTER TABLE subscriptions ADD COLUMN search_fp BYTEA;
ALTER TABLE invoices ADD COLUMN search_fp BYTEA;
ALTER TABLE payment_intents ADD COLUMN search_fp BYTEA;
ALTER TABLE charges ADD COLUMN search_fp BYTEA;

CREATE FUNCTION search_mark() RETURNS trigger AS $$
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, TG_TABLE_NAME, 1)
    ON CONFLICT (object_id) DO UPDATE SET version = search_pending.version + 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER customers_search_insert AFTER INSERT ON customers
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER customers_search_update AFTER UPDATE OF search_fp, deleted ON customers
    FOR EACH ROW WHEN (OLD.search_fp IS DISTINCT FROM NEW.search_fp OR OLD.deleted IS DISTINCT FROM NEW.deleted)
    EXECUTE FUNCTION search_mark();
CREATE TRIGGER prices_search_insert AFTER INSERT ON prices
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER prices_search_update AFTER UPDATE OF search_fp ON prices
    FOR EACH ROW WHEN (OLD.search_fp IS DISTINCT FROM NEW.search_fp)
    EXECUTE FUNCTION search_mark();
CREATE TRIGGER products_search_insert AFTER INSERT ON products
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER products_search_update AFTER UPDATE OF search_fp ON products
    FOR EACH ROW WHEN (OLD.search_fp IS DISTINCT FROM NEW.search_fp)
    EXECUTE FUNCTION search_mark();
CREATE TRIGGER subscriptions_search_insert AFTER INSERT ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER subscriptions_search_update AFTER UPDATE OF search_fp ON subscriptions
    FOR EACH ROW WHEN (OLD.search_fp IS DISTINCT FROM NEW.search_fp)
    EXECUTE FUNCTION search_mark();
CREATE TRIGGER invoices_search_insert AFTER INSERT ON invoices
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER invoices_search_update AFTER UPDATE OF search_fp ON invoices
    FOR EACH ROW WHEN (OLD.search_fp IS DISTINCT FROM NEW.search_fp)
    EXECUTE FUNCTION search_mark();
CREATE TRIGGER payment_intents_search_insert AFTER INSERT ON payment_intents
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER payment_intents_search_update AFTER UPDATE OF search_fp ON payment_intents
    FOR EACH ROW WHEN (OLD.search_fp IS DISTINCT FROM NEW.search_fp)
    EXECUTE FUNCTION search_mark();
CREATE TRIGGER charges_search_insert AFTER INSERT ON charges
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER charges_search_update AFTER UPDATE OF search_fp ON charges
    FOR EACH ROW WHEN (OLD.search_fp IS DISTINCT FROM NEW.search_fp)
    EXECUTE FUNCTION search_mark();

-- What exists already is indexed by the first indexer to run.
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'customers', 1 FROM customers WHERE deleted = FALSE;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'prices', 1 FROM prices;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'products', 1 FROM products;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'subscriptions', 1 FROM subscriptions;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'invoices', 1 FROM invoices;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'payment_intents', 1 FROM payment_intents;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'charges', 1 FROM charges;
