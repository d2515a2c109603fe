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
//! - `disputes`: money a cardholder's bank took back (contra-income, a debit balance).
//! - `dispute_fees`: the banks' fees for disputes (an expense).

use crate::currency::Currency;
use crate::money::Money;
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
pub const DISPUTES: &str = "disputes";
pub const DISPUTE_FEES: &str = "dispute_fees";

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
    pub amount: Money,
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
        let mut sums: BTreeMap<Currency, Money> = BTreeMap::new();
        for l in &self.lines {
            let c = l.amount.currency();
            let s = sums.entry(c).or_insert(Money::zero(c));
            match s.checked_add(l.amount) {
                Ok(v) => *s = v,
                Err(_) => return false,
            }
        }
        sums.values().all(|v| v.is_zero())
    }

    /// A posting of `lines` (account, amount in `currency`), leaving out lines of zero;
    /// `None` when nothing moves.
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
                amount: Money::new(*amount_minor, currency),
            })
            .collect();
        (!lines.is_empty()).then(|| Self::new(kind, id, lines))
    }

    /// `amount` moved from `from` to `to` (lines of `amount` and its opposite); `None` when
    /// it is zero.
    fn transfer(
        kind: &'static str,
        id: &str,
        amount: Money,
        to: &'static str,
        from: &'static str,
    ) -> Option<Self> {
        let minor = amount.amount_minor();
        Self::of(
            kind,
            id,
            amount.currency(),
            &[(to, minor), (from, minor.checked_neg()?)],
        )
    }

    /// A captured payment: the sale (receivable against revenue) and its settlement (clearing
    /// against receivable), so the receivable nets to zero for a paid one-time payment.
    pub fn payment_captured(charge_id: &str, amount: Money) -> Self {
        let kind = "payment_captured";
        let minor = amount.amount_minor();
        minor
            .checked_neg()
            .and_then(|neg| {
                Self::of(
                    kind,
                    charge_id,
                    amount.currency(),
                    &[
                        (CUSTOMER_RECEIVABLE, minor),
                        (REVENUE, neg),
                        (PROCESSOR_CLEARING, minor),
                        (CUSTOMER_RECEIVABLE, neg),
                    ],
                )
            })
            .unwrap_or_else(|| Self::new(kind, charge_id, Vec::new()))
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
    pub fn invoice_payment_captured(charge_id: &str, amount: Money) -> Self {
        let kind = "payment_captured";
        Self::transfer(
            kind,
            charge_id,
            amount,
            PROCESSOR_CLEARING,
            CUSTOMER_RECEIVABLE,
        )
        .unwrap_or_else(|| Self::new(kind, charge_id, Vec::new()))
    }

    pub fn invoice_paid_out_of_band(id: &str, amount: Money) -> Option<Self> {
        Self::transfer(
            "invoice_paid_out_of_band",
            id,
            amount,
            PAID_OUT_OF_BAND,
            CUSTOMER_RECEIVABLE,
        )
    }

    pub fn invoice_written_off(id: &str, amount: Money) -> Option<Self> {
        Self::transfer(
            "invoice_written_off",
            id,
            amount,
            BAD_DEBT,
            CUSTOMER_RECEIVABLE,
        )
    }

    /// An uncollectible invoice brought back (to be paid or voided).
    pub fn invoice_recovered(id: &str, amount: Money) -> Option<Self> {
        Self::transfer(
            "invoice_recovered",
            id,
            amount,
            CUSTOMER_RECEIVABLE,
            BAD_DEBT,
        )
    }

    pub fn credit_note_issued(id: &str, a: &CreditNoteAmounts, currency: Currency) -> Option<Self> {
        Self::of("credit_note_issued", id, currency, &a.lines())
    }

    pub fn credit_note_voided(id: &str, a: &CreditNoteAmounts, currency: Currency) -> Option<Self> {
        let lines: Vec<_> = a.lines().into_iter().map(|(k, v)| (k, -v)).collect();
        Self::of("credit_note_voided", id, currency, &lines)
    }

    /// A dispute's amount and fee withdrawn from the processor's balance; `None` for none.
    pub fn dispute_funds_withdrawn(id: &str, amount: Money, fee: i64) -> Option<Self> {
        let (minor, currency) = (amount.amount_minor(), amount.currency());
        let out = minor.checked_add(fee)?.checked_neg()?;
        Self::of(
            "dispute_funds_withdrawn",
            id,
            currency,
            &[
                (DISPUTES, minor),
                (DISPUTE_FEES, fee),
                (PROCESSOR_CLEARING, out),
            ],
        )
    }

    /// A won dispute's amount and fee returned.
    pub fn dispute_funds_reinstated(id: &str, amount: Money, fee: i64) -> Option<Self> {
        let (minor, currency) = (amount.amount_minor(), amount.currency());
        let back = minor.checked_add(fee)?;
        Self::of(
            "dispute_funds_reinstated",
            id,
            currency,
            &[
                (DISPUTES, minor.checked_neg()?),
                (DISPUTE_FEES, fee.checked_neg()?),
                (PROCESSOR_CLEARING, back),
            ],
        )
    }

    /// A refund paid out of the processor's balance.
    pub fn refund_succeeded(refund_id: &str, amount: Money) -> Self {
        let kind = "refund_succeeded";
        Self::transfer(kind, refund_id, amount, REFUNDS, PROCESSOR_CLEARING)
            .unwrap_or_else(|| Self::new(kind, refund_id, Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currency::USD;

    #[test]
    fn postings_balance() {
        assert!(Posting::payment_captured("ch_1", Money::new(1000, USD)).is_balanced());
        assert!(Posting::refund_succeeded("re_1", Money::new(400, USD)).is_balanced());
        let out = Posting::dispute_funds_withdrawn("dp_1", Money::new(400, USD), 1500).unwrap();
        let back = Posting::dispute_funds_reinstated("dp_1", Money::new(400, USD), 1500).unwrap();
        assert!(out.is_balanced() && back.is_balanced());
        assert!(Posting::dispute_funds_withdrawn("dp_1", Money::new(i64::MAX, USD), 1).is_none());
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
                amount: Money::new(1, USD),
            }],
        };
        assert!(!broken.is_balanced());
        let mixed = Posting {
            kind: "x",
            object_id: "y".into(),
            lines: vec![
                Line {
                    account: REVENUE,
                    amount: Money::new(1, USD),
                },
                Line {
                    account: REFUNDS,
                    amount: Money::new(-1, Currency::parse("c", "eur").unwrap()),
                },
            ],
        };
        assert!(
            !mixed.is_balanced(),
            "balancing across currencies is not balancing"
        );
    }
}
