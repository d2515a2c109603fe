//! Access to every sealed column, for re-encryption under a new key.

use crate::db::query;
use crate::{DocTable, Result, Store};

/// Every column that holds sealed data. Adding a sealed column means adding it here, or
/// `cashbox keys rotate-encryption` would leave it under the old key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    Customers,
    Events,
    IdempotencyResponses,
    Doc(DocTable),
}

impl SealedColumn {
    pub const ALL: [SealedColumn; 30] = [
        Self::Customers,
        Self::Events,
        Self::IdempotencyResponses,
        Self::Doc(DocTable::PaymentMethods),
        Self::Doc(DocTable::SetupIntents),
        Self::Doc(DocTable::PaymentIntents),
        Self::Doc(DocTable::Charges),
        Self::Doc(DocTable::Refunds),
        Self::Doc(DocTable::Products),
        Self::Doc(DocTable::Prices),
        Self::Doc(DocTable::Coupons),
        Self::Doc(DocTable::PromotionCodes),
        Self::Doc(DocTable::TaxRates),
        Self::Doc(DocTable::TestClocks),
        Self::Doc(DocTable::Subscriptions),
        Self::Doc(DocTable::Invoices),
        Self::Doc(DocTable::InvoiceItems),
        Self::Doc(DocTable::CreditNotes),
        Self::Doc(DocTable::Meters),
        Self::Doc(DocTable::Features),
        Self::Doc(DocTable::ProductFeatures),
        Self::Doc(DocTable::CreditGrants),
        Self::Doc(DocTable::SpendLimits),
        Self::Doc(DocTable::Alerts),
        Self::Doc(DocTable::WebhookEndpoints),
        Self::Doc(DocTable::CheckoutSessions),
        Self::Doc(DocTable::PortalConfigurations),
        Self::Doc(DocTable::PortalSessions),
        Self::Doc(DocTable::ProcessorEvents),
        Self::Doc(DocTable::Disputes),
    ];

    /// (table, sealed column); the row id is always `id`.
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Self::Customers => ("customers", "sealed"),
            Self::Events => ("events", "sealed"),
            Self::IdempotencyResponses => ("idempotency_keys", "response_sealed"),
            Self::Doc(t) => (t.name(), "sealed"),
        }
    }

    /// The associated data that binds a sealed value to its row.
    pub fn aad(self, row_id: &str) -> String {
        let (table, column) = self.table();
        // `table.column:row_id`, built without the formatting machinery: every document
        // sealed or opened makes one (~20 for a renewal).
        let mut aad = String::with_capacity(table.len() + column.len() + row_id.len() + 2);
        for part in [table, ".", column, ":", row_id] {
            aad.push_str(part);
        }
        aad
    }
}

impl Store {
    /// Up to `limit` (id, sealed) pairs with ids after `after`, in id order.
    pub async fn sealed_batch(
        &self,
        col: SealedColumn,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let (table, column) = col.table();
        let sql = format!(
            "SELECT id, {column} AS sealed FROM {table}
             WHERE id > $1 AND {column} IS NOT NULL ORDER BY id LIMIT $2"
        );
        {
            let rows = query(sql).bind(after).bind(limit).fetch_all(self).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("sealed")?)))
                .collect()
        }
    }

    /// Replaces a sealed value if it is still `old` (a concurrent write wins over rotation,
    /// and is already under the new key). Customers also get their email index recomputed.
    pub async fn reseal(
        &self,
        col: SealedColumn,
        id: &str,
        old: &[u8],
        new: &[u8],
        email_bidx: Option<Vec<u8>>,
    ) -> Result<bool> {
        let (table, column) = col.table();
        let mut tx = self.begin().await?;
        let n =
            if col == SealedColumn::Customers {
                query(
                "UPDATE customers SET sealed = $1, email_bidx = $2 WHERE id = $3 AND sealed = $4")
                .bind(new).bind(email_bidx).bind(id).bind(old).execute(&mut tx, 1).await?
            } else {
                let sql =
                    format!("UPDATE {table} SET {column} = $1 WHERE id = $2 AND {column} = $3");
                query(sql)
                    .bind(new)
                    .bind(id)
                    .bind(old)
                    .execute(&mut tx, 1)
                    .await?
            };
        tx.commit().await?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::SealedColumn;
    use crate::DocTable;

    #[test]
    fn the_associated_data_names_table_column_and_row() {
        // Sealed values are bound to these: a change of form would open none of them.
        assert_eq!(
            SealedColumn::Doc(DocTable::Invoices).aad("in_1"),
            "invoices.sealed:in_1"
        );
        assert_eq!(
            SealedColumn::IdempotencyResponses.aad("k"),
            "idempotency_keys.response_sealed:k"
        );
    }
}
