//! Posting to the ledger inside a use case's transaction, and `cashbox ledger check`.

use std::collections::BTreeMap;

use cashbox_core::billing::credit_note::CreditNote;
use cashbox_core::billing::invoice::{Invoice, InvoiceStatus};
use cashbox_core::dispute::Dispute;
use cashbox_core::id::new_id;
use cashbox_core::ledger::{self, Posting};
use cashbox_core::payments::{Charge, Refund, RefundStatus};
use cashbox_store::{DocTable, Imbalance, LedgerLine, Tx};

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

    /// Proves that every transaction balances per currency and that account balances equal
    /// what the payments and refunds say they should be.
    pub async fn check_ledger(&self) -> AppResult<LedgerReport> {
        let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut add = |account: &str, currency: &str, amount: i64| {
            *expected
                .entry((account.to_string(), currency.to_string()))
                .or_insert(0) += amount;
        };
        let mut after = String::new();
        loop {
            let rows = self
                .store()
                .docs_batch(DocTable::Charges, &after, 500)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.id.clone();
            for row in &rows {
                let c: Charge = self.open_doc(row)?;
                if c.amount_captured > 0 {
                    add(
                        ledger::PROCESSOR_CLEARING,
                        c.currency.as_str(),
                        c.amount_captured,
                    );
                    // An invoice's sale was posted when it was finalized; its charge settles
                    // the receivable.
                    let against = match c.invoice {
                        Some(_) => ledger::CUSTOMER_RECEIVABLE,
                        None => ledger::REVENUE,
                    };
                    add(against, c.currency.as_str(), -c.amount_captured);
                }
            }
        }
        let mut after = String::new();
        loop {
            let rows = self.store().docs_batch(Refund::TABLE, &after, 500).await?;
            let Some(last) = rows.last() else { break };
            after = last.id.clone();
            for row in &rows {
                let r: Refund = self.open_doc(row)?;
                if r.status == RefundStatus::Succeeded {
                    add(ledger::REFUNDS, r.currency.as_str(), r.amount);
                    add(ledger::PROCESSOR_CLEARING, r.currency.as_str(), -r.amount);
                }
            }
        }
        let mut after = String::new();
        loop {
            let rows = self.store().docs_batch(Invoice::TABLE, &after, 500).await?;
            let Some(last) = rows.last() else { break };
            after = last.id.clone();
            for row in &rows {
                let inv: Invoice = self.open_doc(row)?;
                if inv.status == InvoiceStatus::Draft {
                    continue;
                }
                let sale = inv.ledger_amounts();
                let voided = inv.status == InvoiceStatus::Void;
                for (account, amount) in sale.lines() {
                    if !voided {
                        add(account, inv.currency.as_str(), amount);
                    }
                }
                if inv.written_off != 0 && inv.status != InvoiceStatus::Uncollectible {
                    // Written off, then brought back: the two cancel.
                } else if inv.written_off != 0 {
                    add(ledger::BAD_DEBT, inv.currency.as_str(), inv.written_off);
                    add(
                        ledger::CUSTOMER_RECEIVABLE,
                        inv.currency.as_str(),
                        -inv.written_off,
                    );
                }
                if inv.paid_out_of_band {
                    add(
                        ledger::PAID_OUT_OF_BAND,
                        inv.currency.as_str(),
                        inv.amount_paid,
                    );
                    add(
                        ledger::CUSTOMER_RECEIVABLE,
                        inv.currency.as_str(),
                        -inv.amount_paid,
                    );
                }
            }
        }
        let mut after = String::new();
        loop {
            let rows = self
                .store()
                .docs_batch(CreditNote::TABLE, &after, 500)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.id.clone();
            for row in &rows {
                let note: CreditNote = self.open_doc(row)?;
                for (account, amount) in crate::billing::credit_notes::expected_lines(&note) {
                    add(account, note.currency.as_str(), amount);
                }
            }
        }
        let mut after = String::new();
        loop {
            let rows = self.store().docs_batch(Dispute::TABLE, &after, 500).await?;
            let Some(last) = rows.last() else { break };
            after = last.id.clone();
            for row in &rows {
                let d: Dispute = self.open_doc(row)?;
                if d.status.funds_withdrawn() {
                    let currency = d.currency.as_str();
                    add(ledger::DISPUTES, currency, d.amount);
                    add(ledger::DISPUTE_FEES, currency, d.fee);
                    let out = d.amount.checked_add(d.fee).ok_or_else(|| {
                        AppError::Corrupt(format!("dispute {}: amount and fee overflow", d.id))
                    })?;
                    add(ledger::PROCESSOR_CLEARING, currency, -out);
                }
            }
        }
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
