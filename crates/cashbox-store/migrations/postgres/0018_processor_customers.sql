-- The processor's own customer for each Cashbox customer that saved a card there (Stripe's
-- cus_… id), created on first need. One per customer: a second creation keeps the first.
CREATE TABLE processor_customers (
    customer TEXT COLLATE "C" PRIMARY KEY,
    processor TEXT NOT NULL,
    reference TEXT NOT NULL,
    created BIGINT NOT NULL
);
