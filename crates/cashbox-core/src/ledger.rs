//! Double-entry postings. Every movement of money is one balanced transaction: its lines sum to
//! zero in each currency, checked where it is built.
//!
//! Accounts (debits positive, credits negative):
//! - `processor_clearing`: money the processor holds for us (an asset).
//! - `customer_receivable`: what customers owe (an asset); a sale debits it, a payment credits it.
//! - `revenue`: sales (income, so normally a credit balance).
//! - `refunds`: money returned (contra-income, a debit balance).

use std::collections::BTreeMap;

pub const PROCESSOR_CLEARING: &str = "processor_clearing";
pub const CUSTOMER_RECEIVABLE: &str = "customer_receivable";
pub const REVENUE: &str = "revenue";
pub const REFUNDS: &str = "refunds";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub account: &'static str,
    pub currency: String,
    pub amount_minor: i64,
}

/// A balanced transaction, posted once per (`kind`, `object_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub kind: &'static str,
    pub object_id: String,
    pub lines: Vec<Line>,
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
        let mut sums: BTreeMap<&str, i64> = BTreeMap::new();
        for l in &self.lines {
            let s = sums.entry(&l.currency).or_insert(0);
            match s.checked_add(l.amount_minor) {
                Some(v) => *s = v,
                None => return false,
            }
        }
        sums.values().all(|v| *v == 0)
    }

    /// A captured payment: the sale (receivable against revenue) and its settlement (clearing
    /// against receivable), so the receivable nets to zero for a paid one-time payment.
    pub fn payment_captured(charge_id: &str, amount_minor: i64, currency: &str) -> Self {
        let line = |account, amount_minor| Line {
            account,
            currency: currency.to_string(),
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

    /// A refund paid out of the processor's balance.
    pub fn refund_succeeded(refund_id: &str, amount_minor: i64, currency: &str) -> Self {
        let line = |account, amount_minor| Line {
            account,
            currency: currency.to_string(),
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

    #[test]
    fn postings_balance() {
        assert!(Posting::payment_captured("ch_1", 1000, "usd").is_balanced());
        assert!(Posting::refund_succeeded("re_1", 400, "usd").is_balanced());
        let broken = Posting {
            kind: "x",
            object_id: "y".into(),
            lines: vec![Line {
                account: REVENUE,
                currency: "usd".into(),
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
                    currency: "usd".into(),
                    amount_minor: 1,
                },
                Line {
                    account: REFUNDS,
                    currency: "eur".into(),
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
