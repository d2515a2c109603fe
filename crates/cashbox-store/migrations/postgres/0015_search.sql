-- The search index (GET /v1/{resource}/search). Exact matches are on keyed blind indexes of
-- (resource, field, value), never on the values: personal data and metadata stay encrypted.
-- Numbers are kept as they are; text that is neither personal nor metadata (a product's name
-- and description), lower-cased, for substring search. Each object's rows are rewritten
-- whenever the object is saved.
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

-- Objects saved before the index existed are indexed once at start-up, then this says so.
CREATE TABLE search_state (
    id INTEGER PRIMARY KEY,
    built_at BIGINT
);
INSERT INTO search_state (id, built_at) VALUES (1, NULL);
