//! Double-entry postings. Every movement of money is one balanced transaction: its lines sum to
//! zero in each currency, checked where it is built.
//!
//! Accounts (debits positive, credits negative):
//! - `processor_clearing`: money the processor holds for us (an asset).
//! - `customer_receivable`: what customers owe (an asset); a sale debits it, a payment credits it.
//! - `revenue`: sales (income, so normally a credit balance).
//! - `refunds`: money returned (contra-income, a debit balance).
//! - `customer_balance`: customers' invoice balances (positive: they owe us; negative: credit
//!   we hold for them).
//! - `tax_payable`: tax collected on invoices (a liability).
//! - `discounts`: discounts given on invoices (contra-income).
//! - `credits_applied`: credit grants' credit applied to invoices (contra-income; a paid
//!   grant's money was income when its top-up was captured).
//! - `paid_out_of_band`: invoice payments received outside Cashbox.
//! - `bad_debt`: invoices written off as uncollectible.

use crate::currency::Currency;
use std::collections::BTreeMap;

pub const PROCESSOR_CLEARING: &str = "processor_clearing";
pub const CUSTOMER_RECEIVABLE: &str = "customer_receivable";
pub const REVENUE: &str = "revenue";
pub const REFUNDS: &str = "refunds";
pub const CUSTOMER_BALANCE: &str = "customer_balance";
pub const TAX_PAYABLE: &str = "tax_payable";
pub const DISCOUNTS: &str = "discounts";
pub const CREDITS_APPLIED: &str = "credits_applied";
pub const PAID_OUT_OF_BAND: &str = "paid_out_of_band";
pub const BAD_DEBT: &str = "bad_debt";

/// What a finalized invoice posts: the sale net of tax, its discounts, its tax, what moved on
/// the customer's balance, and what the customer now owes on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InvoiceAmounts {
    pub amount_due: i64,
    /// The customer's balance after finalizing minus before.
    pub balance_change: i64,
    pub subtotal_excluding_tax: i64,
    pub discounts: i64,
    pub credits: i64,
    pub taxes: i64,
}

impl InvoiceAmounts {
    /// The lines of the invoice's sale, as (account, amount).
    pub fn lines(&self) -> [(&'static str, i64); 6] {
        [
            (CUSTOMER_RECEIVABLE, self.amount_due),
            (CUSTOMER_BALANCE, self.balance_change),
            (REVENUE, -self.subtotal_excluding_tax),
            (DISCOUNTS, self.discounts),
            (CREDITS_APPLIED, self.credits),
            (TAX_PAYABLE, -self.taxes),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub account: &'static str,
    pub currency: Currency,
    pub amount_minor: i64,
}

/// A balanced transaction, posted once per (`kind`, `object_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub kind: &'static str,
    pub object_id: String,
    pub lines: Vec<Line>,
}

/// What a credit note posts: the credited sale (net and tax) reversed against what it
/// credits: the open invoice's receivable, or for a paid invoice the customer's balance, the
/// card refund and money settled outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreditNoteAmounts {
    pub amount: i64,
    pub tax: i64,
    pub pre_payment: bool,
    pub credit: i64,
    pub refund: i64,
    pub out_of_band: i64,
}

impl CreditNoteAmounts {
    pub fn lines(&self) -> Vec<(&'static str, i64)> {
        let mut v = vec![(REVENUE, self.amount - self.tax), (TAX_PAYABLE, self.tax)];
        if self.pre_payment {
            v.push((CUSTOMER_RECEIVABLE, -self.amount));
        } else {
            v.push((CUSTOMER_BALANCE, -self.credit));
            v.push((REFUNDS, -self.refund));
            v.push((PAID_OUT_OF_BAND, -self.out_of_band));
        }
        v
    }
}

impl Posting {
    fn new(kind: &'static str, object_id: &str, lines: Vec<Line>) -> Self {
        let posting = Self {
            kind,
            object_id: object_id.to_string(),
            lines,
        };
        assert!(posting.is_balanced(), "unbalanced posting {posting:?}");
        posting
    }

    /// Whether the lines sum to zero in every currency (with overflow counted as unbalanced).
    pub fn is_balanced(&self) -> bool {
        let mut sums: BTreeMap<Currency, i64> = BTreeMap::new();
        for l in &self.lines {
            let s = sums.entry(l.currency).or_insert(0);
            match s.checked_add(l.amount_minor) {
                Some(v) => *s = v,
                None => return false,
            }
        }
        sums.values().all(|v| *v == 0)
    }

    /// A captured payment: the sale (receivable against revenue) and its settlement (clearing
    /// against receivable), so the receivable nets to zero for a paid one-time payment.
    pub fn payment_captured(charge_id: &str, amount_minor: i64, currency: Currency) -> Self {
        let line = |account, amount_minor| Line {
            account,
            currency,
            amount_minor,
        };
        Self::new(
            "payment_captured",
            charge_id,
            vec![
                line(CUSTOMER_RECEIVABLE, amount_minor),
                line(REVENUE, -amount_minor),
                line(PROCESSOR_CLEARING, amount_minor),
                line(CUSTOMER_RECEIVABLE, -amount_minor),
            ],
        )
    }

    fn of(
        kind: &'static str,
        id: &str,
        currency: Currency,
        lines: &[(&'static str, i64)],
    ) -> Option<Self> {
        let lines: Vec<Line> = lines
            .iter()
            .filter(|(_, amount)| *amount != 0)
            .map(|(account, amount_minor)| Line {
                account,
                currency,
                amount_minor: *amount_minor,
            })
            .collect();
        (!lines.is_empty()).then(|| Self::new(kind, id, lines))
    }

    /// A finalized invoice's sale; `None` when it moves nothing (a trial's zero invoice).
    pub fn invoice_finalized(id: &str, a: &InvoiceAmounts, currency: Currency) -> Option<Self> {
        Self::of("invoice_finalized", id, currency, &a.lines())
    }

    /// A voided invoice: its sale reversed.
    pub fn invoice_voided(id: &str, a: &InvoiceAmounts, currency: Currency) -> Option<Self> {
        let lines = a.lines().map(|(account, amount)| (account, -amount));
        Self::of("invoice_voided", id, currency, &lines)
    }

    /// A card payment of an invoice: settlement only, the sale was posted at finalization.
    pub fn invoice_payment_captured(
        charge_id: &str,
        amount_minor: i64,
        currency: Currency,
    ) -> Self {
        Self::of(
            "payment_captured",
            charge_id,
            currency,
            &[
                (PROCESSOR_CLEARING, amount_minor),
                (CUSTOMER_RECEIVABLE, -amount_minor),
            ],
        )
        .unwrap_or_else(|| Self::new("payment_captured", charge_id, Vec::new()))
    }

    pub fn invoice_paid_out_of_band(
        id: &str,
        amount_minor: i64,
        currency: Currency,
    ) -> Option<Self> {
        Self::of(
            "invoice_paid_out_of_band",
            id,
            currency,
            &[
                (PAID_OUT_OF_BAND, amount_minor),
                (CUSTOMER_RECEIVABLE, -amount_minor),
            ],
        )
    }

    pub fn invoice_written_off(id: &str, amount_minor: i64, currency: Currency) -> Option<Self> {
        Self::of(
            "invoice_written_off",
            id,
            currency,
            &[
                (BAD_DEBT, amount_minor),
                (CUSTOMER_RECEIVABLE, -amount_minor),
            ],
        )
    }

    /// An uncollectible invoice brought back (to be paid or voided).
    pub fn invoice_recovered(id: &str, amount_minor: i64, currency: Currency) -> Option<Self> {
        Self::of(
            "invoice_recovered",
            id,
            currency,
            &[
                (CUSTOMER_RECEIVABLE, amount_minor),
                (BAD_DEBT, -amount_minor),
            ],
        )
    }

    pub fn credit_note_issued(id: &str, a: &CreditNoteAmounts, currency: Currency) -> Option<Self> {
        Self::of("credit_note_issued", id, currency, &a.lines())
    }

    pub fn credit_note_voided(id: &str, a: &CreditNoteAmounts, currency: Currency) -> Option<Self> {
        let lines: Vec<_> = a.lines().into_iter().map(|(k, v)| (k, -v)).collect();
        Self::of("credit_note_voided", id, currency, &lines)
    }

    /// A refund paid out of the processor's balance.
    pub fn refund_succeeded(refund_id: &str, amount_minor: i64, currency: Currency) -> Self {
        let line = |account, amount_minor| Line {
            account,
            currency,
            amount_minor,
        };
        Self::new(
            "refund_succeeded",
            refund_id,
            vec![
                line(REFUNDS, amount_minor),
                line(PROCESSOR_CLEARING, -amount_minor),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currency::USD;

    #[test]
    fn postings_balance() {
        assert!(Posting::payment_captured("ch_1", 1000, USD).is_balanced());
        assert!(Posting::refund_succeeded("re_1", 400, USD).is_balanced());
        // 1000 with 200 off, 10% tax, 300 of credit used: 780 due.
        let a = InvoiceAmounts {
            amount_due: 580,
            balance_change: 300,
            subtotal_excluding_tax: 1_000,
            discounts: 200,
            credits: 0,
            taxes: 80,
        };
        // 1000 of usage with 400 paid by credit grants and 10% tax on the rest: 660 due.
        let credited = InvoiceAmounts {
            amount_due: 660,
            subtotal_excluding_tax: 1_000,
            credits: 400,
            taxes: 60,
            ..InvoiceAmounts::default()
        };
        assert!(
            Posting::invoice_finalized("in_3", &credited, USD)
                .unwrap()
                .is_balanced()
        );
        assert!(
            Posting::invoice_finalized("in_1", &a, USD)
                .unwrap()
                .is_balanced()
        );
        assert!(
            Posting::invoice_voided("in_1", &a, USD)
                .unwrap()
                .is_balanced()
        );
        assert_eq!(
            Posting::invoice_finalized("in_2", &InvoiceAmounts::default(), USD),
            None
        );
        let broken = Posting {
            kind: "x",
            object_id: "y".into(),
            lines: vec![Line {
                account: REVENUE,
                currency: USD,
                amount_minor: 1,
            }],
        };
        assert!(!broken.is_balanced());
        let mixed = Posting {
            kind: "x",
            object_id: "y".into(),
            lines: vec![
                Line {
                    account: REVENUE,
                    currency: USD,
                    amount_minor: 1,
                },
                Line {
                    account: REFUNDS,
                    currency: Currency::parse("c", "eur").unwrap(),
                    amount_minor: -1,
                },
            ],
        };
        assert!(
            !mixed.is_balanced(),
            "balancing across currencies is not balancing"
        );
    }
}
