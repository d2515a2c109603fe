//! Credit notes: a credit against an open invoice (it lowers what is due) or against a paid
//! one (refunded to the card, credited to the customer's balance, or settled outside).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ParamError;
use crate::billing::invoice::{Invoice, InvoiceStatus};
use crate::currency::Currency;
use crate::metadata::{Metadata, MetadataParam, present};

pub const CREDIT_NOTE_PREFIX: &str = "cn";
pub const CREDIT_NOTE_LINE_PREFIX: &str = "cnli";
pub const REASONS: [&str; 4] = [
    "duplicate",
    "fraudulent",
    "order_change",
    "product_unsatisfactory",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNoteLine {
    pub id: String,
    pub amount: i64,
    pub description: Option<String>,
    pub invoice_line_item: Option<String>,
    pub quantity: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditNote {
    pub id: String,
    pub created: i64,
    pub customer: String,
    pub invoice: String,
    pub currency: Currency,
    pub number: String,
    pub amount: i64,
    /// The part of `amount` that is tax, in proportion to the invoice's.
    pub tax_amount: i64,
    /// `pre_payment` (the invoice was open) or `post_payment` (it was paid).
    pub pre_payment: bool,
    pub voided_at: Option<i64>,
    pub reason: Option<String>,
    pub memo: Option<String>,
    pub credit_amount: i64,
    pub refund_amount: i64,
    pub refund: Option<String>,
    pub out_of_band_amount: i64,
    pub lines: Vec<CreditNoteLine>,
    pub metadata: Metadata,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteLineParams {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub invoice_line_item: Option<String>,
    pub amount: Option<i64>,
    pub quantity: Option<i64>,
    pub unit_amount: Option<i64>,
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteCreateParams {
    pub invoice: Option<String>,
    pub amount: Option<i64>,
    pub lines: Option<Vec<CreditNoteLineParams>>,
    pub reason: Option<String>,
    pub memo: Option<String>,
    pub credit_amount: Option<i64>,
    pub refund_amount: Option<i64>,
    pub out_of_band_amount: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteListParams {
    pub customer: Option<String>,
    pub invoice: Option<String>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(CreditNoteListParams);

/// How a paid invoice's credit note is settled: `(credit, refund, out_of_band)`, each at
/// least 0, adding up to `amount`.
pub fn split_checked(
    amount: i64,
    credit: Option<i64>,
    refund: Option<i64>,
    out_of_band: Option<i64>,
) -> Result<(i64, i64, i64), ParamError> {
    let [c, r, o] = [credit, refund, out_of_band].map(|x| x.unwrap_or(0));
    let sum = c.checked_add(r).and_then(|s| s.checked_add(o));
    if c < 0 || r < 0 || o < 0 || sum != Some(amount) {
        return Err(ParamError::invalid(
            "amount",
            format!(
                "credit_amount, refund_amount and out_of_band_amount must add up to the credit note's amount ({amount})."
            ),
        ));
    }
    Ok((c, r, o))
}

/// How much of the invoice a credit note may still credit.
pub fn creditable(inv: &Invoice) -> Result<(bool, i64), ParamError> {
    match inv.status {
        InvoiceStatus::Open => Ok((true, inv.amount_remaining)),
        InvoiceStatus::Paid => Ok((
            false,
            inv.amount_paid - inv.post_payment_credit_notes_amount,
        )),
        other => Err(ParamError::invalid(
            "invoice",
            format!(
                "A credit note can only be issued for an open or paid invoice; this one is {}.",
                other.as_str()
            ),
        )),
    }
}

/// The note's lines and amount from the parameters, checked against the invoice.
pub fn lines_from(
    inv: &Invoice,
    p: &CreditNoteCreateParams,
    new_line_id: &mut dyn FnMut() -> String,
) -> Result<(Vec<CreditNoteLine>, i64), ParamError> {
    let mut lines = Vec::new();
    if let Some(ls) = &p.lines {
        for (i, l) in ls.iter().enumerate() {
            let param = |f: &str| format!("lines[{i}][{f}]");
            let quantity = l.quantity.unwrap_or(1);
            if quantity < 1 {
                return Err(ParamError::invalid(
                    param("quantity"),
                    "quantity must be at least 1.",
                ));
            }
            let (amount, description, item) = match l.kind.as_deref() {
                Some("invoice_line_item") => {
                    let id = l
                        .invoice_line_item
                        .as_deref()
                        .ok_or_else(|| ParamError::missing(param("invoice_line_item")))?;
                    let line = inv.lines.iter().find(|x| x.id == id).ok_or_else(|| {
                        ParamError::invalid(
                            param("invoice_line_item"),
                            format!("The invoice has no line {id}."),
                        )
                    })?;
                    let amount = l.amount.unwrap_or(line.amount);
                    if amount > line.amount {
                        return Err(ParamError::invalid(
                            param("amount"),
                            "A credit note line cannot credit more than its invoice line.",
                        ));
                    }
                    (amount, line.description.clone(), Some(id.to_string()))
                }
                Some("custom_line_item") => {
                    let unit = l
                        .unit_amount
                        .ok_or_else(|| ParamError::missing(param("unit_amount")))?;
                    let amount = unit.checked_mul(quantity).ok_or_else(|| {
                        ParamError::invalid(param("unit_amount"), "The amount is too large.")
                    })?;
                    (amount, l.description.clone(), None)
                }
                _ => {
                    return Err(ParamError::invalid(
                        param("type"),
                        "type must be invoice_line_item or custom_line_item.",
                    ));
                }
            };
            if amount < 0 {
                return Err(ParamError::invalid(
                    param("amount"),
                    "A credit note line cannot credit less than 0.",
                ));
            }
            lines.push(CreditNoteLine {
                id: new_line_id(),
                amount,
                description,
                invoice_line_item: item,
                quantity: quantity as u64,
            });
        }
    }
    let from_lines = lines
        .iter()
        .try_fold(0i64, |sum, l| sum.checked_add(l.amount))
        .ok_or_else(|| ParamError::invalid("lines", "The lines' amounts are too large."))?;
    let amount = match (p.amount, lines.is_empty()) {
        (Some(a), true) => {
            lines.push(CreditNoteLine {
                id: new_line_id(),
                amount: a,
                description: p.memo.clone().or_else(|| Some("Credit".into())),
                invoice_line_item: None,
                quantity: 1,
            });
            a
        }
        (Some(a), false) if a != from_lines => {
            return Err(ParamError::invalid(
                "amount",
                format!("amount ({a}) must equal the sum of the lines ({from_lines})."),
            ));
        }
        (_, false) => from_lines,
        (None, true) => return Err(ParamError::missing("amount")),
    };
    if amount <= 0 {
        return Err(ParamError::invalid(
            "amount",
            "A credit note must credit more than 0.",
        ));
    }
    Ok((lines, amount))
}

impl CreditNote {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "credit_note",
            "amount": self.amount,
            "amount_shipping": 0,
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "customer_balance_transaction": null,
            "discount_amount": 0,
            "discount_amounts": [],
            "effective_at": self.created,
            "invoice": self.invoice,
            "lines": {
                "object": "list",
                "data": self.lines.iter().map(|l| json!({
                    "id": l.id,
                    "object": "credit_note_line_item",
                    "amount": l.amount,
                    "description": l.description,
                    "discount_amount": 0,
                    "discount_amounts": [],
                    "invoice_line_item": l.invoice_line_item,
                    "livemode": false,
                    "quantity": l.quantity,
                    "tax_rates": [],
                    "type": if l.invoice_line_item.is_some() { "invoice_line_item" } else { "custom_line_item" },
                    "unit_amount": null,
                })).collect::<Vec<_>>(),
                "has_more": false,
                "url": format!("/v1/credit_notes/{}/lines", self.id),
            },
            "livemode": false,
            "memo": self.memo,
            "metadata": self.metadata,
            "number": self.number,
            "out_of_band_amount": (self.out_of_band_amount > 0).then_some(self.out_of_band_amount),
            "pdf": null,
            "pre_payment_amount": if self.pre_payment { self.amount } else { 0 },
            "post_payment_amount": if self.pre_payment { 0 } else { self.amount },
            "reason": self.reason,
            "refunds": self.refund.as_ref().map(|r| vec![json!({"amount_refunded": self.refund_amount, "refund": r, "type": "refund"})]).unwrap_or_default(),
            "status": if self.voided_at.is_some() { "void" } else { "issued" },
            "subtotal": self.amount - self.tax_amount,
            "subtotal_excluding_tax": self.amount - self.tax_amount,
            "total": self.amount,
            "total_excluding_tax": self.amount - self.tax_amount,
            "total_taxes": [],
            "type": if self.pre_payment { "pre_payment" } else { "post_payment" },
            "voided_at": self.voided_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_adds_up_without_wrapping() {
        assert_eq!(split_checked(10, Some(4), Some(6), None), Ok((4, 6, 0)));
        assert!(split_checked(10, Some(-1), Some(11), None).is_err());
        // i64::MAX + i64::MAX + 12 wraps to 10 in a release build.
        assert!(split_checked(10, Some(i64::MAX), Some(i64::MAX), Some(12)).is_err());
        assert!(split_checked(10, Some(5), None, None).is_err());
    }
}
