//! Cashbox's pure domain. Nothing in this crate does IO or reads a clock: time arrives as a
//! parameter (Unix seconds), randomness only through [`id`] and [`crypto`].
//!
//! Renderings (`to_json`) build on `serde_json::json!`, which serializes every value it is
//! given into a new `Value`: a part already rendered as a `Value` (a price inside an item,
//! the lines of an invoice) would be copied whole that way, so it is left `null` in the macro
//! and moved into place after.

#![recursion_limit = "256"]

pub mod api_key;
pub mod billing;
pub mod checkout;
pub mod clock;
pub mod crypto;
pub mod currency;
pub mod customer;
pub mod dispute;
pub mod event;
pub mod id;
pub mod inbound;
pub mod json;
pub mod ledger;
pub mod list;
pub mod metadata;
pub mod money;
pub mod param;
pub mod payments;
pub mod portal;
pub mod schema;
pub mod search;
pub mod usage;
pub mod webhooks;

pub use param::ParamError;
