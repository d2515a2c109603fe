//! The recovery sweep: operations whose processor call was interrupted (the process died, the
//! processor timed out) stay pending; once their lease has passed, the sweep finishes them
//! with the same processor idempotency key, so the processor answers with what it already did
//! and nothing is charged twice. `serve` runs it periodically; a client retry does the same.

use cashbox_core::list::Page;
use cashbox_core::payments::{PaymentIntent, Refund, SetupIntent};
use cashbox_store::DocFilter;

use crate::docs::Doc;
use crate::{App, AppResult};

/// Objects examined per kind in one sweep.
pub const RECOVERY_BATCH: u32 = 100;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub examined: usize,
    pub failed: usize,
}

impl App {
    pub async fn recover_interrupted(&self) -> AppResult<RecoveryReport> {
        let mut report = RecoveryReport::default();
        let page = Page::parse(Some(i64::from(RECOVERY_BATCH)), None, None)?;
        for (table, status) in [
            (PaymentIntent::TABLE, "processing"),
            (Refund::TABLE, "pending"),
            (SetupIntent::TABLE, "processing"),
        ] {
            let filter = DocFilter {
                status: Some(status.into()),
                ..DocFilter::default()
            };
            let rows = self.store().list_docs(table, &filter, &page).await?.data;
            for row in rows {
                report.examined += 1;
                let result = match table {
                    t if t == PaymentIntent::TABLE => self.resume_payment_intent(&row.id).await,
                    t if t == Refund::TABLE => self.resume_refund(&row.id).await,
                    _ => self.resume_setup_intent(&row.id).await,
                };
                if let Err(e) = result {
                    report.failed += 1;
                    tracing::warn!(object = %row.id, error = %e, "could not finish an interrupted operation; will retry");
                }
            }
        }
        Ok(report)
    }
}
