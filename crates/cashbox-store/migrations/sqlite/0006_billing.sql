-- Subscriptions, invoices and invoice items: sealed documents with plain lookup columns.
-- due_at is when the object's next piece of billing work falls due (a renewal, a trial's end,
-- a payment retry); clock is the test clock whose time it lives in (NULL: the wall clock).
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BLOB NOT NULL,
    due_at INTEGER,
    clock TEXT
);
CREATE INDEX subscriptions_customer ON subscriptions (customer, id);
CREATE INDEX subscriptions_due ON subscriptions (clock, due_at, id) WHERE due_at IS NOT NULL;

-- Each subscription's items, for /v1/subscription_items/{id} and listing by price.
CREATE TABLE subscription_items (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    price_id TEXT NOT NULL
);
CREATE INDEX subscription_items_subscription ON subscription_items (subscription_id);
CREATE INDEX subscription_items_price ON subscription_items (price_id, subscription_id);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BLOB NOT NULL,
    due_at INTEGER,
    clock TEXT
);
CREATE INDEX invoices_customer ON invoices (customer, id);
CREATE INDEX invoices_parent ON invoices (parent, id) WHERE parent IS NOT NULL;
CREATE INDEX invoices_due ON invoices (clock, due_at, id) WHERE due_at IS NOT NULL;

-- One invoice per subscription period: a second renewal of the same period cannot be written,
-- however many workers or processes try.
CREATE TABLE subscription_periods (
    subscription_id TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    invoice_id TEXT NOT NULL,
    PRIMARY KEY (subscription_id, period_start)
);

-- Invoice items: status pending until an invoice takes them (parent is then the invoice).
CREATE TABLE invoiceitems (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BLOB NOT NULL
);
CREATE INDEX invoiceitems_customer ON invoiceitems (customer, status, id);
CREATE INDEX invoiceitems_parent ON invoiceitems (parent, id) WHERE parent IS NOT NULL;

-- Credit notes (status issued or void; parent is the invoice).
CREATE TABLE credit_notes (
    id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    customer TEXT,
    status TEXT NOT NULL,
    parent TEXT,
    sealed BLOB NOT NULL
);
CREATE INDEX credit_notes_parent ON credit_notes (parent, id);
CREATE INDEX credit_notes_customer ON credit_notes (customer, id);
