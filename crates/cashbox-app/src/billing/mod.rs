//! Billing: the catalog of products and prices, subscriptions, invoices and credit notes,
//! coupons and tax rates, test clocks, and the billing run that does what falls due.

pub mod billing_run;
pub mod catalog;
pub mod clocks;
pub mod credit_notes;
pub mod discounts;
pub mod invoice_payments;
pub mod invoices;
pub mod subscriptions;
