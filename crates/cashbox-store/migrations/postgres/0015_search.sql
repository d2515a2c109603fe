-- The search index (GET /v1/{resource}/search). Exact matches are on keyed blind indexes of
-- (resource, field, value), never on the values: personal data and metadata stay encrypted.
-- Numbers are kept as they are; text that is neither personal nor metadata (a product's name
-- and description), lower-cased, for substring search.
--
-- Written off the request path, as Stripe's own index is: every write of a searchable object
-- marks it in search_pending (these triggers), and the indexer (in `serve`, and before each
-- search answers) opens the marked objects and rewrites their rows.
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

CREATE FUNCTION search_mark() RETURNS trigger AS $$
BEGIN
    INSERT INTO search_pending (object_id, kind, version) VALUES (NEW.id, TG_TABLE_NAME, 1)
    ON CONFLICT (object_id) DO UPDATE SET version = search_pending.version + 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER customers_search AFTER INSERT OR UPDATE OF sealed, deleted ON customers
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER prices_search AFTER INSERT OR UPDATE OF sealed ON prices
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER products_search AFTER INSERT OR UPDATE OF sealed ON products
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER subscriptions_search AFTER INSERT OR UPDATE OF sealed ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER invoices_search AFTER INSERT OR UPDATE OF sealed ON invoices
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER payment_intents_search AFTER INSERT OR UPDATE OF sealed ON payment_intents
    FOR EACH ROW EXECUTE FUNCTION search_mark();
CREATE TRIGGER charges_search AFTER INSERT OR UPDATE OF sealed ON charges
    FOR EACH ROW EXECUTE FUNCTION search_mark();

-- What exists already is indexed by the first indexer to run.
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'customers', 1 FROM customers WHERE deleted = FALSE;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'prices', 1 FROM prices;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'products', 1 FROM products;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'subscriptions', 1 FROM subscriptions;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'invoices', 1 FROM invoices;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'payment_intents', 1 FROM payment_intents;
INSERT INTO search_pending (object_id, kind, version) SELECT id, 'charges', 1 FROM charges;
