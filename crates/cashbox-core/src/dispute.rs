//! Disputes (chargebacks) in Stripe's dialect: a cardholder's bank takes a charge's money
//! back, the business answers with evidence or accepts, and the bank decides.
//!
//! Statuses: an inquiry (`warning_needs_response` → `warning_under_review` →
//! `warning_closed`) moves no money; a dispute (`needs_response` → `under_review` → `won` or
//! `lost`) withdraws the amount and the fee when it opens and returns both if won.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ParamError;
use crate::currency::Currency;
use crate::metadata::{Metadata, MetadataParam, present};
use crate::money::Money;

pub const DISPUTE_PREFIX: &str = "dp";
/// Days the business has to answer, as Stripe's test disputes give.
pub const RESPONSE_DAYS: i64 = 21;
/// Characters in one evidence field, and in all of them together (Stripe's limit).
pub const EVIDENCE_FIELD_CHARS_MAX: usize = 20_000;
pub const EVIDENCE_TOTAL_CHARS_MAX: usize = 150_000;
/// What Stripe's test mode reads in `evidence[uncategorized_text]` to decide a dispute.
pub const WINNING_EVIDENCE: &str = "winning_evidence";
pub const LOSING_EVIDENCE: &str = "losing_evidence";

/// The evidence fields that take text (the file fields need Stripe's File uploads, which
/// Cashbox does not have).
pub const EVIDENCE_TEXT_FIELDS: [&str; 18] = [
    "access_activity_log",
    "billing_address",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_tracking_number",
    "uncategorized_text",
];

/// The file evidence fields of Stripe's object, always `null` here.
const EVIDENCE_FILE_FIELDS: [&str; 9] = [
    "cancellation_policy",
    "customer_communication",
    "customer_signature",
    "duplicate_charge_documentation",
    "receipt",
    "refund_policy",
    "service_documentation",
    "shipping_documentation",
    "uncategorized_file",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    WarningNeedsResponse,
    WarningUnderReview,
    WarningClosed,
    NeedsResponse,
    UnderReview,
    Won,
    Lost,
}

impl DisputeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WarningNeedsResponse => "warning_needs_response",
            Self::WarningUnderReview => "warning_under_review",
            Self::WarningClosed => "warning_closed",
            Self::NeedsResponse => "needs_response",
            Self::UnderReview => "under_review",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::WarningNeedsResponse,
            Self::WarningUnderReview,
            Self::WarningClosed,
            Self::NeedsResponse,
            Self::UnderReview,
            Self::Won,
            Self::Lost,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    pub fn is_inquiry(self) -> bool {
        matches!(
            self,
            Self::WarningNeedsResponse | Self::WarningUnderReview | Self::WarningClosed
        )
    }

    pub fn is_closed(self) -> bool {
        matches!(self, Self::WarningClosed | Self::Won | Self::Lost)
    }

    /// Whether the disputed amount and fee are out of the business's balance.
    pub fn funds_withdrawn(self) -> bool {
        !self.is_inquiry() && self != Self::Won
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub currency: Currency,
    /// The fee the bank charges for a dispute (none for an inquiry).
    pub fee: i64,
    pub charge: String,
    pub payment_intent: String,
    pub customer: Option<String>,
    pub reason: String,
    pub status: DisputeStatus,
    pub evidence: BTreeMap<String, String>,
    pub due_by: i64,
    pub submission_count: u32,
    pub metadata: Metadata,
    /// The card's brand, for `payment_method_details`.
    pub brand: String,
    /// The processor's dispute id (Stripe's `dp_…`); none on the sandbox.
    pub processor_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisputeRefused {
    #[error("This dispute is already closed.")]
    Closed,
    #[error("This dispute is under review: its evidence can no longer be changed.")]
    UnderReview,
}

impl From<DisputeRefused> for ParamError {
    fn from(e: DisputeRefused) -> Self {
        ParamError::new("", "dispute_already_closed", e.to_string())
    }
}

/// `POST /v1/disputes/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeUpdateParams {
    /// Text evidence fields, by Stripe's names.
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub evidence: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    /// Submit the evidence to the bank now (`true`, Stripe's default) or keep it staged.
    pub submit: Option<bool>,
}

/// `GET /v1/disputes`.
#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DisputeListParams {
    pub charge: Option<String>,
    pub payment_intent: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(DisputeListParams);

impl DisputeUpdateParams {
    /// Whether the update submits the evidence: `submit=true`, or evidence sent without
    /// `submit=false` (Stripe's default); metadata alone submits nothing.
    pub fn submits(&self) -> bool {
        match self.submit {
            Some(submit) => submit,
            None => self.evidence.is_some(),
        }
    }
}

/// What an update changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted(pub bool);

impl Dispute {
    /// A dispute of a charge of `amount` (minor units of `currency`) opened at `now`.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        id: String,
        now: i64,
        amount: Money,
        charge: &str,
        payment_intent: &str,
        customer: Option<String>,
        reason: &str,
        inquiry: bool,
        brand: &str,
    ) -> Self {
        let currency = amount.currency();
        Self {
            id,
            created: now,
            amount: amount.amount_minor(),
            currency,
            fee: if inquiry { 0 } else { dispute_fee(currency) },
            charge: charge.to_string(),
            payment_intent: payment_intent.to_string(),
            customer,
            reason: reason.to_string(),
            status: if inquiry {
                DisputeStatus::WarningNeedsResponse
            } else {
                DisputeStatus::NeedsResponse
            },
            evidence: BTreeMap::new(),
            due_by: now + RESPONSE_DAYS * 86_400,
            submission_count: 0,
            metadata: Metadata::new(),
            brand: brand.to_string(),
            processor_ref: None,
        }
    }

    /// Checks an update before anything is asked of the processor.
    pub fn check_update(&self, p: &DisputeUpdateParams) -> Result<(), ParamError> {
        if !p.submits() && p.evidence.is_none() {
            return Ok(());
        }
        let no_evidence = BTreeMap::new();
        let evidence = p.evidence.as_ref().unwrap_or(&no_evidence);
        if self.status.is_closed() {
            return Err(DisputeRefused::Closed.into());
        }
        if matches!(
            self.status,
            DisputeStatus::UnderReview | DisputeStatus::WarningUnderReview
        ) {
            return Err(DisputeRefused::UnderReview.into());
        }
        let mut total = 0;
        for (field, text) in evidence {
            let param = format!("evidence[{field}]");
            if EVIDENCE_FILE_FIELDS.contains(&field.as_str()) {
                return Err(ParamError::invalid(
                    &param,
                    "File evidence needs Stripe's File uploads, which Cashbox does not have: describe it in evidence[uncategorized_text].",
                ));
            }
            if !EVIDENCE_TEXT_FIELDS.contains(&field.as_str()) {
                return Err(ParamError::invalid(
                    &param,
                    format!("Received unknown parameter: {param}"),
                ));
            }
            let chars = text.chars().count();
            if chars > EVIDENCE_FIELD_CHARS_MAX {
                return Err(ParamError::invalid(
                    &param,
                    format!("Evidence fields are at most {EVIDENCE_FIELD_CHARS_MAX} characters."),
                ));
            }
            total += chars;
        }
        let kept: usize = self
            .evidence
            .iter()
            .filter(|(k, _)| !evidence.contains_key(*k))
            .map(|(_, v)| v.chars().count())
            .sum();
        if total + kept > EVIDENCE_TOTAL_CHARS_MAX {
            return Err(ParamError::invalid(
                "evidence",
                format!("All evidence together is at most {EVIDENCE_TOTAL_CHARS_MAX} characters."),
            ));
        }
        Ok(())
    }

    /// Applies a checked update: evidence staged, metadata, and (unless `submit=false`) the
    /// evidence submitted, which puts the dispute under review.
    pub fn update(&mut self, p: &DisputeUpdateParams) -> Result<Submitted, ParamError> {
        self.check_update(p)?;
        if let Some(m) = &p.metadata {
            self.metadata = m.apply(&self.metadata)?;
        }
        for (field, text) in p.evidence.iter().flatten() {
            if text.is_empty() {
                self.evidence.remove(field);
            } else {
                self.evidence.insert(field.clone(), text.clone());
            }
        }
        if !p.submits() {
            return Ok(Submitted(false));
        }
        self.submission_count += 1;
        self.status = match self.status {
            DisputeStatus::WarningNeedsResponse => DisputeStatus::WarningUnderReview,
            _ => DisputeStatus::UnderReview,
        };
        Ok(Submitted(true))
    }

    /// How Stripe's test mode decides a submitted dispute: by the words in
    /// `evidence[uncategorized_text]`; `None` leaves it under review.
    pub fn test_mode_decision(&self) -> Option<DisputeStatus> {
        if self.status.is_inquiry() {
            return (self.status == DisputeStatus::WarningUnderReview)
                .then_some(DisputeStatus::WarningClosed);
        }
        match self.evidence.get("uncategorized_text").map(String::as_str) {
            Some(WINNING_EVIDENCE) => Some(DisputeStatus::Won),
            Some(LOSING_EVIDENCE) => Some(DisputeStatus::Lost),
            _ => None,
        }
    }

    /// Accepting the dispute (`POST /v1/disputes/{id}/close`): it is lost; an inquiry closes.
    pub fn close(&mut self) -> Result<(), DisputeRefused> {
        if self.status.is_closed() {
            return Err(DisputeRefused::Closed);
        }
        self.status = if self.status.is_inquiry() {
            DisputeStatus::WarningClosed
        } else {
            DisputeStatus::Lost
        };
        Ok(())
    }

    pub fn to_json(&self) -> Value {
        let mut evidence = serde_json::Map::new();
        for field in EVIDENCE_TEXT_FIELDS {
            evidence.insert(
                field.into(),
                self.evidence.get(field).map_or(Value::Null, |t| json!(t)),
            );
        }
        for field in EVIDENCE_FILE_FIELDS {
            evidence.insert(field.into(), Value::Null);
        }
        evidence.insert("enhanced_evidence".into(), json!({}));
        json!({
            "id": self.id,
            "object": "dispute",
            "amount": self.amount,
            "balance_transactions": [],
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency.as_str(),
            "enhanced_eligibility_types": [],
            "evidence": evidence,
            "evidence_details": {
                "due_by": self.due_by,
                "enhanced_eligibility": {},
                "has_evidence": !self.evidence.is_empty(),
                "past_due": false,
                "submission_count": self.submission_count,
            },
            "is_charge_refundable": self.status.is_inquiry() && !self.status.is_closed(),
            "livemode": false,
            "metadata": self.metadata,
            "payment_intent": self.payment_intent,
            "payment_method_details": {
                "card": {
                    "brand": self.brand,
                    "case_type": if self.status.is_inquiry() { "inquiry" } else { "chargeback" },
                    "network_reason_code": null,
                },
                "type": "card",
            },
            "reason": self.reason,
            "status": self.status.as_str(),
        })
    }
}

/// The bank's dispute fee: Stripe's 15.00 in the charge's currency's major unit.
pub fn dispute_fee(currency: Currency) -> i64 {
    15 * 10_i64.pow(u32::from(currency.exponent()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currency::USD;

    fn dispute(inquiry: bool) -> Dispute {
        Dispute::open(
            "dp_1".into(),
            100,
            Money::new(2000, USD),
            "ch_1",
            "pi_1",
            None,
            "fraudulent",
            inquiry,
            "visa",
        )
    }

    fn evidence(pairs: &[(&str, &str)], submit: Option<bool>) -> DisputeUpdateParams {
        DisputeUpdateParams {
            evidence: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            metadata: None,
            submit,
        }
    }

    #[test]
    fn a_dispute_withdraws_until_won_and_an_inquiry_never() {
        let mut d = dispute(false);
        assert_eq!((d.status, d.fee), (DisputeStatus::NeedsResponse, 1500));
        assert!(d.status.funds_withdrawn());
        d.update(&evidence(&[("uncategorized_text", WINNING_EVIDENCE)], None))
            .unwrap();
        assert_eq!(d.status, DisputeStatus::UnderReview);
        assert_eq!(d.test_mode_decision(), Some(DisputeStatus::Won));
        assert!(!DisputeStatus::Won.funds_withdrawn());
        assert!(DisputeStatus::Lost.funds_withdrawn());
        let inquiry = dispute(true);
        assert_eq!(
            (inquiry.status, inquiry.fee),
            (DisputeStatus::WarningNeedsResponse, 0)
        );
        assert!(!inquiry.status.funds_withdrawn());
    }

    #[test]
    fn staged_evidence_waits_and_closed_disputes_refuse_more() {
        let mut d = dispute(false);
        let staged = d
            .update(&evidence(&[("customer_name", "Ada")], Some(false)))
            .unwrap();
        assert_eq!(staged, Submitted(false));
        assert_eq!(d.status, DisputeStatus::NeedsResponse);
        assert_eq!(d.to_json()["evidence"]["customer_name"], "Ada");
        assert_eq!(d.to_json()["evidence_details"]["has_evidence"], true);
        // Staged evidence is submitted by `submit=true` alone, as on Stripe.
        let mut submitted = d.clone();
        let submit = DisputeUpdateParams {
            submit: Some(true),
            ..DisputeUpdateParams::default()
        };
        assert_eq!(submitted.update(&submit).unwrap(), Submitted(true));
        assert_eq!(submitted.status, DisputeStatus::UnderReview);
        assert!(submitted.update(&submit).is_err(), "under review already");
        d.close().unwrap();
        assert_eq!(d.status, DisputeStatus::Lost);
        assert_eq!(d.close(), Err(DisputeRefused::Closed));
        assert!(
            d.update(&evidence(&[("customer_name", "B")], None))
                .is_err()
        );
    }

    #[test]
    fn evidence_is_bounded_and_named() {
        let d = dispute(false);
        assert!(
            d.check_update(&evidence(&[("receipt", "file_1")], None))
                .is_err()
        );
        assert!(
            d.check_update(&evidence(&[("favourite_colour", "red")], None))
                .is_err()
        );
        let long = "x".repeat(EVIDENCE_FIELD_CHARS_MAX + 1);
        assert!(
            d.check_update(&evidence(&[("uncategorized_text", &long)], None))
                .is_err()
        );
        let full = "x".repeat(EVIDENCE_FIELD_CHARS_MAX);
        let many: Vec<(&str, &str)> = EVIDENCE_TEXT_FIELDS
            .iter()
            .map(|f| (*f, full.as_str()))
            .collect();
        assert!(d.check_update(&evidence(&many, None)).is_err());
    }

    /// Every field of Stripe's example dispute (its API reference, 2026-11) is rendered.
    #[test]
    fn the_object_has_every_field_of_stripes_example() {
        const STRIPE: &[&str] = &[
            "amount",
            "balance_transactions",
            "charge",
            "created",
            "currency",
            "enhanced_eligibility_types",
            "evidence",
            "evidence_details",
            "id",
            "is_charge_refundable",
            "livemode",
            "metadata",
            "object",
            "payment_intent",
            "payment_method_details",
            "reason",
            "status",
        ];
        let ours = dispute(false).to_json();
        for key in STRIPE {
            assert!(ours.get(key).is_some(), "missing {key}");
        }
        let evidence = ours["evidence"].as_object().unwrap();
        assert_eq!(
            evidence.len(),
            28,
            "Stripe's example has 28 evidence fields"
        );
        for key in ["due_by", "has_evidence", "past_due", "submission_count"] {
            assert!(ours["evidence_details"].get(key).is_some(), "missing {key}");
        }
    }
}
