//! Posting to the ledger inside a use case's transaction, and `cashbox ledger check`.

use std::collections::BTreeMap;

use cashbox_core::billing::credit_note::CreditNote;
use cashbox_core::billing::invoice::{Invoice, InvoiceStatus};
use cashbox_core::dispute::Dispute;
use cashbox_core::id::new_id;
use cashbox_core::ledger::{self, Posting};
use cashbox_core::money::Money;
use cashbox_core::payments::{Charge, Refund, RefundStatus};
use cashbox_store::{Imbalance, LedgerLine, Tx};

use crate::docs::Doc;
use crate::{App, AppError, AppResult};

/// What `cashbox ledger check` found; sound when every list is empty.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LedgerReport {
    pub transactions: usize,
    pub imbalances: Vec<Imbalance>,
    pub empty_transactions: Vec<String>,
    /// (account, currency, ledger balance, expected from payments and refunds)
    pub mismatches: Vec<(String, String, i64, i64)>,
}

impl LedgerReport {
    pub fn is_sound(&self) -> bool {
        self.imbalances.is_empty()
            && self.empty_transactions.is_empty()
            && self.mismatches.is_empty()
    }
}

impl App {
    /// Posts a balanced transaction in `tx`; a second posting for the same object is a no-op.
    pub(crate) async fn post(&self, tx: &mut Tx, posting: Posting) -> AppResult<()> {
        debug_assert!(posting.is_balanced());
        let lines: Vec<LedgerLine> = posting
            .lines
            .iter()
            .map(|l| LedgerLine {
                account: l.account.to_string(),
                currency: l.amount.currency().code(),
                amount_minor: l.amount.amount_minor(),
            })
            .collect();
        tx.post_ledger(
            &new_id("ltx"),
            self.now(),
            posting.kind,
            &posting.object_id,
            &lines,
        )
        .await?;
        Ok(())
    }

    /// Calls `f` with every stored document of `T`, a page at a time in id order.
    async fn for_each_doc<T: Doc>(&self, mut f: impl FnMut(T) -> AppResult<()>) -> AppResult<()> {
        let mut after = String::new();
        loop {
            let rows = self.store().docs_batch(T::TABLE, &after, 500).await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            after = last.id.clone();
            for row in &rows {
                f(self.open_doc(row)?)?;
            }
        }
    }

    /// Proves that every transaction balances per currency and that account balances equal
    /// what the payments and refunds say they should be.
    pub async fn check_ledger(&self) -> AppResult<LedgerReport> {
        let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut add = |account: &str, currency: &str, amount: i64| {
            *expected
                .entry((account.to_string(), currency.to_string()))
                .or_insert(0) += amount;
        };
        self.for_each_doc(|c: Charge| {
            if c.amount_captured > 0 {
                let currency = c.currency.as_str();
                add(ledger::PROCESSOR_CLEARING, currency, c.amount_captured);
                // An invoice's sale was posted when it was finalized; its charge settles the
                // receivable.
                let against = match c.invoice {
                    Some(_) => ledger::CUSTOMER_RECEIVABLE,
                    None => ledger::REVENUE,
                };
                add(against, currency, -c.amount_captured);
            }
            Ok(())
        })
        .await?;
        self.for_each_doc(|r: Refund| {
            if r.status == RefundStatus::Succeeded {
                add(ledger::REFUNDS, r.currency.as_str(), r.amount);
                add(ledger::PROCESSOR_CLEARING, r.currency.as_str(), -r.amount);
            }
            Ok(())
        })
        .await?;
        self.for_each_doc(|inv: Invoice| {
            for (account, amount) in invoice_lines(&inv) {
                add(account, inv.currency.as_str(), amount);
            }
            Ok(())
        })
        .await?;
        self.for_each_doc(|note: CreditNote| {
            for (account, amount) in crate::billing::credit_notes::expected_lines(&note) {
                add(account, note.currency.as_str(), amount);
            }
            Ok(())
        })
        .await?;
        // A dispute's money is out while its funds are withdrawn: the lines its opening
        // posted, from the same function.
        self.for_each_doc(|d: Dispute| {
            if d.status.funds_withdrawn() {
                let amount = Money::new(d.amount, d.currency);
                let posting =
                    Posting::dispute_funds_withdrawn(&d.id, amount, d.fee).ok_or_else(|| {
                        AppError::Corrupt(format!("dispute {}: amount and fee overflow", d.id))
                    })?;
                for line in posting.lines {
                    add(
                        line.account,
                        d.currency.as_str(),
                        line.amount.amount_minor(),
                    );
                }
            }
            Ok(())
        })
        .await?;
        let balances = self.store().ledger_balances().await?;
        let mut actual: BTreeMap<(String, String), i64> = BTreeMap::new();
        for b in balances {
            actual.insert((b.account, b.currency), b.amount_minor);
        }
        let mut mismatches = Vec::new();
        let keys: std::collections::BTreeSet<_> =
            expected.keys().chain(actual.keys()).cloned().collect();
        for key in keys {
            let want = expected.get(&key).copied().unwrap_or(0);
            let have = actual.get(&key).copied().unwrap_or(0);
            if want != have {
                mismatches.push((key.0, key.1, have, want));
            }
        }
        Ok(LedgerReport {
            transactions: self.store().ledger_transaction_count().await?,
            imbalances: self.store().ledger_imbalances().await?,
            empty_transactions: self.store().ledger_empty_transactions().await?,
            mismatches,
        })
    }
}

/// What a non-draft invoice leaves on the ledger: its sale (unless voided), a write-off still
/// standing, a payment received outside Cashbox.
fn invoice_lines(inv: &Invoice) -> Vec<(&'static str, i64)> {
    let mut lines = Vec::new();
    if inv.status == InvoiceStatus::Draft {
        return lines;
    }
    if inv.status != InvoiceStatus::Void {
        lines.extend(inv.ledger_amounts().lines());
    }
    // Written off, then brought back: the two cancel.
    if inv.written_off != 0 && inv.status == InvoiceStatus::Uncollectible {
        lines.push((ledger::BAD_DEBT, inv.written_off));
        lines.push((ledger::CUSTOMER_RECEIVABLE, -inv.written_off));
    }
    if inv.paid_out_of_band {
        lines.push((ledger::PAID_OUT_OF_BAND, inv.amount_paid));
        lines.push((ledger::CUSTOMER_RECEIVABLE, -inv.amount_paid));
    }
    lines
}
