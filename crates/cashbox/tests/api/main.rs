//! The HTTP API, driven over the network against a fresh database per test. SQLite by default;
//! PostgreSQL when `CASHBOX_TEST_DATABASE_URL` is set.

mod billing;
mod catalog;
mod checkout;
mod clocks;
mod conventions;
mod customers;
mod differential;
mod discounts;
mod disputes;
mod encryption;
mod entitlements;
mod events;
mod idempotency;
mod ledger_property;
mod payments;
mod portal;
mod recovery;
mod schema;
mod search;
mod stripe_faults;
mod subscription_property;
mod support;
mod usage;
mod webhooks;
