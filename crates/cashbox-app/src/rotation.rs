//! `cashbox keys rotate-encryption`: re-seals every sealed value under the key ring's primary
//! key and recomputes blind indexes (the customers' email index and the search index). Safe to run while `serve` runs and to run again.

use cashbox_core::customer::CustomerPrivate;
use cashbox_store::SealedColumn;

use crate::{App, AppError, AppResult};

/// Rows read per batch.
pub const ROTATION_BATCH_ROWS: i64 = 500;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    pub scanned: u64,
    pub resealed: u64,
    /// Searchable objects whose blind indexes were rewritten under the primary key.
    pub reindexed: u64,
}

impl App {
    pub async fn rotate_encryption(&self) -> AppResult<RotationReport> {
        let mut report = RotationReport::default();
        for col in SealedColumn::ALL {
            let mut after = String::new();
            loop {
                let batch = self
                    .store()
                    .sealed_batch(col, &after, ROTATION_BATCH_ROWS)
                    .await?;
                let Some((last, _)) = batch.last() else { break };
                after = last.clone();
                for (id, sealed) in batch {
                    report.scanned += 1;
                    if self.keys().is_current(&sealed) {
                        continue;
                    }
                    let aad = col.aad(&id);
                    let plain = self.keys().open(&aad, &sealed)?;
                    let email_bidx = if col == SealedColumn::Customers {
                        let private: CustomerPrivate = cashbox_core::json::from_bytes(&plain)
                            .map_err(|e| AppError::Corrupt(format!("customer {id}: {e}")))?;
                        private.email.as_deref().map(|e| self.email_index(e))
                    } else {
                        None
                    };
                    let resealed = self.keys().seal(&aad, &plain);
                    if self
                        .store()
                        .reseal(col, &id, &sealed, &resealed, email_bidx)
                        .await?
                    {
                        report.resealed += 1;
                    }
                }
            }
        }
        // The search index's blind indexes too, so that the old key can leave the ring.
        report.reindexed = self.rebuild_search_index().await?;
        Ok(report)
    }
}
