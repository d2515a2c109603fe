//! An invoice's payments (`invoice_payment`, Stripe's API since 2025-03-31): one for each
//! PaymentIntent made to pay the invoice. They are not stored apart: each is read from its
//! PaymentIntent and invoice, and named after the PaymentIntent, so the two cannot disagree.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ParamError;
use crate::billing::invoice::Invoice;
use crate::currency::Currency;
use crate::payments::{PI_PREFIX, PaymentIntent, PiStatus};

pub const INVOICE_PAYMENT_PREFIX: &str = "inpay";

/// The invoice payment of the PaymentIntent `pi_id`.
pub fn invoice_payment_id(pi_id: &str) -> String {
    let body = pi_id
        .strip_prefix(PI_PREFIX)
        .and_then(|b| b.strip_prefix('_'))
        .unwrap_or(pi_id);
    format!("{INVOICE_PAYMENT_PREFIX}_{body}")
}

/// The PaymentIntent an invoice payment's id names, if it names one.
pub fn payment_intent_id(id: &str) -> Option<String> {
    let body = id
        .strip_prefix(INVOICE_PAYMENT_PREFIX)?
        .strip_prefix('_')
        .filter(|b| !b.is_empty())?;
    Some(format!("{PI_PREFIX}_{body}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoicePaymentStatus {
    Open,
    Paid,
    Canceled,
}

impl InvoicePaymentStatus {
    pub fn of(pi: PiStatus) -> Self {
        match pi {
            PiStatus::Succeeded => Self::Paid,
            PiStatus::Canceled => Self::Canceled,
            _ => Self::Open,
        }
    }

    /// The PaymentIntent statuses (as the store's status column holds them) of this status.
    pub fn intent_statuses(self) -> &'static [&'static str] {
        match self {
            Self::Paid => &["succeeded"],
            Self::Canceled => &["canceled"],
            Self::Open => &[
                "requires_payment_method",
                "requires_confirmation",
                "requires_action",
                "processing",
                "requires_capture",
            ],
        }
    }
}

#[derive(Debug, Serialize)]
pub struct InvoicePayment<'a> {
    amount_paid: Option<i64>,
    amount_requested: i64,
    created: i64,
    currency: Currency,
    id: String,
    invoice: &'a str,
    is_default: bool,
    livemode: bool,
    object: &'static str,
    payment: PaymentRef<'a>,
    status: InvoicePaymentStatus,
    status_transitions: Transitions,
}

#[derive(Debug, Serialize)]
struct PaymentRef<'a> {
    payment_intent: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
struct Transitions {
    canceled_at: Option<i64>,
    paid_at: Option<i64>,
}

impl<'a> InvoicePayment<'a> {
    /// The payment `pi` makes of `inv` (`pi.invoice` names `inv`).
    pub fn of(pi: &'a PaymentIntent, inv: &'a Invoice) -> Self {
        let status = InvoicePaymentStatus::of(pi.status);
        let paid = status == InvoicePaymentStatus::Paid;
        InvoicePayment {
            amount_paid: paid.then_some(pi.amount_received),
            amount_requested: pi.amount,
            created: pi.created,
            currency: pi.currency,
            id: invoice_payment_id(&pi.id),
            invoice: &inv.id,
            is_default: inv.payment_intent.as_deref() == Some(pi.id.as_str()),
            livemode: false,
            object: "invoice_payment",
            payment: PaymentRef {
                payment_intent: &pi.id,
                kind: "payment_intent",
            },
            status,
            status_transitions: Transitions {
                canceled_at: pi.canceled_at,
                paid_at: if paid {
                    inv.status_transitions.paid_at
                } else {
                    None
                },
            },
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an invoice payment always renders")
    }
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoicePaymentListParams {
    pub invoice: Option<String>,
    pub payment: Option<PaymentFilter>,
    pub status: Option<InvoicePaymentStatus>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(InvoicePaymentListParams);

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentFilter {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub payment_intent: Option<String>,
}

impl PaymentFilter {
    /// Only PaymentIntents pay invoices here.
    pub fn check(&self) -> Result<(), ParamError> {
        match self.kind.as_deref() {
            None | Some("payment_intent") => Ok(()),
            Some(other) => Err(ParamError::invalid(
                "payment[type]",
                format!("Invalid payment[type]: {other}; invoices are paid by payment_intent"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_payment_intent_both_ways() {
        assert_eq!(invoice_payment_id("pi_123abc"), "inpay_123abc");
        assert_eq!(
            payment_intent_id("inpay_123abc").as_deref(),
            Some("pi_123abc")
        );
        assert_eq!(payment_intent_id("inpay_"), None);
        assert_eq!(payment_intent_id("in_123"), None);
        assert_eq!(payment_intent_id("pi_123"), None);
    }

    #[test]
    fn a_payment_is_open_until_its_intent_succeeds_or_is_canceled() {
        assert_eq!(
            InvoicePaymentStatus::of(PiStatus::RequiresAction),
            InvoicePaymentStatus::Open
        );
        assert_eq!(
            InvoicePaymentStatus::of(PiStatus::Succeeded),
            InvoicePaymentStatus::Paid
        );
        // The list filter's statuses are exactly those `of` maps to each status.
        use PiStatus::*;
        for pi in [
            RequiresPaymentMethod,
            RequiresConfirmation,
            RequiresAction,
            Processing,
            RequiresCapture,
            Canceled,
            Succeeded,
        ] {
            let s = InvoicePaymentStatus::of(pi);
            for other in [
                InvoicePaymentStatus::Open,
                InvoicePaymentStatus::Paid,
                InvoicePaymentStatus::Canceled,
            ] {
                let listed = other.intent_statuses().contains(&pi.as_str());
                assert_eq!(listed, other == s, "{pi:?} under {other:?}");
            }
        }
    }
}
