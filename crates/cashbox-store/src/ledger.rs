//! The double-entry ledger's storage. Postings are balanced by construction in cashbox-core;
//! the store keeps each (kind, object) posted at most once and answers the checks.

use crate::db::query;
use crate::{Result, Store, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerLine {
    pub account: String,
    pub currency: String,
    /// Debits positive, credits negative.
    pub amount_minor: i64,
}

/// A (transaction, currency) whose lines do not sum to zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imbalance {
    pub txn_id: String,
    pub currency: String,
    pub sum_minor: i64,
}

impl Tx {
    /// Posts a transaction; false if this (kind, object) was posted before (nothing written).
    pub async fn post_ledger(
        &mut self,
        txn_id: &str,
        created: i64,
        kind: &str,
        object_id: &str,
        lines: &[LedgerLine],
    ) -> Result<bool> {
        let inserted = query(
            "INSERT INTO ledger_transactions (id, created, kind, object_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind, object_id) DO NOTHING",
        )
        .bind(txn_id)
        .bind(created)
        .bind(kind)
        .bind(object_id)
        .execute(&mut *self, 1)
        .await?;
        if inserted == 0 {
            return Ok(false);
        }
        if lines.is_empty() {
            return Ok(true);
        }
        // One statement for all lines of the transaction.
        let placeholders: Vec<String> = (0..lines.len())
            .map(|i| {
                format!(
                    "(${}, ${}, ${}, ${})",
                    4 * i + 1,
                    4 * i + 2,
                    4 * i + 3,
                    4 * i + 4
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO ledger_entries (txn_id, account, currency, amount_minor) VALUES {}",
            placeholders.join(", ")
        );
        {
            let mut q = query(sql);
            for l in lines {
                q = q
                    .bind(txn_id)
                    .bind(&l.account)
                    .bind(&l.currency)
                    .bind(l.amount_minor);
            }
            q.run_ignoring_count(&mut *self).await
        }?;
        Ok(true)
    }
}

impl Store {
    /// Every (transaction, currency) that does not balance. Empty when the ledger is sound.
    pub async fn ledger_imbalances(&self) -> Result<Vec<Imbalance>> {
        let rows = query(
            "SELECT txn_id, currency, CAST(SUM(amount_minor) AS BIGINT) AS s FROM ledger_entries
             GROUP BY txn_id, currency HAVING SUM(amount_minor) <> 0 ORDER BY txn_id",
        )
        .fetch_all(self)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Imbalance {
                    txn_id: r.try_get("txn_id")?,
                    currency: r.try_get("currency")?,
                    sum_minor: r.try_get::<i64>("s")?,
                })
            })
            .collect()
    }

    /// Each account's balance per currency.
    pub async fn ledger_balances(&self) -> Result<Vec<LedgerLine>> {
        let rows = query(
            "SELECT account, currency, CAST(SUM(amount_minor) AS BIGINT) AS s FROM ledger_entries
             GROUP BY account, currency ORDER BY account, currency",
        )
        .fetch_all(self)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LedgerLine {
                    account: r.try_get("account")?,
                    currency: r.try_get("currency")?,
                    amount_minor: r.try_get::<i64>("s")?,
                })
            })
            .collect()
    }

    pub async fn ledger_transaction_count(&self) -> Result<usize> {
        let r = query("SELECT COUNT(*) AS n FROM ledger_transactions")
            .fetch_one(self)
            .await?;
        Ok(r.try_get::<i64>("n")? as usize)
    }

    /// Transactions with no lines at all (a posting that lost its entries).
    pub async fn ledger_empty_transactions(&self) -> Result<Vec<String>> {
        let rows = query(
            "SELECT t.id FROM ledger_transactions t
             WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.txn_id = t.id) ORDER BY t.id",
        )
        .fetch_all(self)
        .await?;
        rows.iter().map(|r| r.try_get("id")).collect()
    }
}
