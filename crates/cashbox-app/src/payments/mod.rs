//! Payments: PaymentIntents and their three phases ([`payment_intents`]), saved cards
//! ([`payment_methods`], [`setup_intents`]), refunds, and the sweep that finishes a payment
//! whose process died ([`recovery`]).

pub mod disputes;
pub mod payment_intents;
pub mod payment_methods;
pub mod processor;
pub mod recovery;
pub mod refunds;
pub mod setup_intents;
