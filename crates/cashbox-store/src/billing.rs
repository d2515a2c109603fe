//! Billing's own indexes: when each subscription's and invoice's next work falls due (and in
//! which test clock's time), subscription items by id and price, and the one-invoice-per-period
//! guard.

use crate::db::{Row, query};
use crate::docs::Write;
use crate::{DocRow, DocTable, Result, Store, Tx};

/// What a piece of due work is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueKind {
    /// A subscription's next step (a renewal, a trial's end, a cancellation).
    Subscription,
    /// An invoice's payment retry or due date.
    Invoice,
    /// A customer's entitlements changing by themselves (a purchase's duration ends).
    Entitlements,
}

impl DueKind {
    const ALL: [DueKind; 3] = [Self::Subscription, Self::Invoice, Self::Entitlements];

    /// The table that indexes it and that table's id column.
    fn source(self) -> (&'static str, &'static str) {
        match self {
            Self::Subscription => (DocTable::Subscriptions.name(), "id"),
            Self::Invoice => (DocTable::Invoices.name(), "id"),
            Self::Entitlements => ("entitlement_summaries", "customer_id"),
        }
    }
}

/// A piece of due work: what it is about, the object's id (a customer's for entitlements),
/// and when it fell due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueWork {
    pub kind: DueKind,
    pub id: String,
    pub due_at: i64,
}

fn due_work(kind: DueKind, r: &Row) -> Result<DueWork> {
    Ok(DueWork {
        kind,
        id: r.try_get("id")?,
        due_at: r.try_get("due_at")?,
    })
}

/// Up to `limit` pieces of `kind` due by `until` on `clock` (`None`: the wall clock),
/// earliest first: an ordered scan of the `(clock, due_at, id)` index.
fn due_sql(kind: DueKind, on_clock: bool) -> String {
    let clock = if on_clock {
        "clock = $3"
    } else {
        "clock IS NULL"
    };
    let (table, id) = kind.source();
    format!(
        "SELECT {id} AS id, due_at FROM {table} WHERE {clock} AND due_at IS NOT NULL AND due_at <= $1 \
         ORDER BY due_at, {id} LIMIT $2"
    )
}

/// Merges two lists that are each ordered by (due_at, id), keeping the first `limit`.
fn merge(mut a: Vec<DueWork>, b: Vec<DueWork>, limit: usize) -> Vec<DueWork> {
    a.extend(b);
    a.sort_by(|x, y| (x.due_at, &x.id).cmp(&(y.due_at, &y.id)));
    a.truncate(limit);
    a
}

impl Store {
    /// Up to `limit` pieces of work due by `now` in wall-clock time (objects on no test clock).
    pub async fn due_work(&self, now: i64, limit: i64) -> Result<Vec<DueWork>> {
        let mut found = Vec::new();
        for kind in DueKind::ALL {
            let rows = query(due_sql(kind, false))
                .bind(now)
                .bind(limit)
                .fetch_all(self)
                .await?;
            let rows: Vec<DueWork> = rows
                .iter()
                .map(|r| due_work(kind, r))
                .collect::<Result<_>>()?;
            found = merge(found, rows, usize::try_from(limit).unwrap_or(0));
        }
        Ok(found)
    }
}

impl Tx {
    /// Indexes when `id`'s next work falls due (`None`: nothing pending) and on which clock.
    pub async fn set_due(
        &mut self,
        table: DocTable,
        id: &str,
        due_at: Option<i64>,
        clock: Option<&str>,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET due_at = $2, clock = $3 WHERE id = $1",
            table.name()
        );
        query(sql)
            .bind(id)
            .bind(due_at)
            .bind(clock)
            .execute(&mut *self, 1)
            .await?;
        Ok(())
    }

    /// Inserts a document of a table with due work (subscriptions, invoices) and its due
    /// time, in one statement.
    pub async fn insert_due_doc(
        &mut self,
        table: DocTable,
        d: &DocRow,
        due_at: Option<i64>,
        clock: Option<&str>,
    ) -> Result<()> {
        self.write_doc(table, d, Write::Insert, Some((due_at, clock)))
            .await
    }

    /// Rewrites a document of a table with due work and its due time, in one statement.
    pub async fn update_due_doc(
        &mut self,
        table: DocTable,
        d: &DocRow,
        due_at: Option<i64>,
        clock: Option<&str>,
    ) -> Result<()> {
        self.write_doc(table, d, Write::Update, Some((due_at, clock)))
            .await
    }

    /// The earliest work due by `until` on test clock `clock`: every piece due at that same
    /// earliest moment, up to `limit`.
    pub async fn next_due_on_clock(
        &mut self,
        clock: &str,
        until: i64,
        limit: i64,
    ) -> Result<Vec<DueWork>> {
        let mut found = Vec::new();
        for kind in DueKind::ALL {
            let rows = query(due_sql(kind, true))
                .bind(until)
                .bind(limit)
                .bind(clock)
                .fetch_all(&mut *self)
                .await?;
            let rows: Vec<DueWork> = rows
                .iter()
                .map(|r| due_work(kind, r))
                .collect::<Result<_>>()?;
            found = merge(found, rows, usize::try_from(limit).unwrap_or(0));
        }
        if let Some(first) = found.first().map(|w| w.due_at) {
            found.retain(|w| w.due_at == first);
        }
        Ok(found)
    }

    /// Replaces the index of a subscription's items: (item id, price id).
    pub async fn save_subscription_items(
        &mut self,
        subscription: &str,
        items: &[(String, String)],
    ) -> Result<()> {
        query("DELETE FROM subscription_items WHERE subscription_id = $1")
            .bind(subscription)
            .run_ignoring_count(&mut *self)
            .await?;
        for (item, price) in items {
            query("INSERT INTO subscription_items (id, subscription_id, price_id) VALUES ($1, $2, $3)")
                .bind(item)
                .bind(subscription)
                .bind(price)
                .execute(&mut *self, 1)
                .await?;
        }
        Ok(())
    }

    /// Records `invoice` as the invoice of `subscription`'s period starting at `period_start`;
    /// `false` when that period already has one.
    pub async fn claim_period(
        &mut self,
        subscription: &str,
        period_start: i64,
        invoice: &str,
    ) -> Result<bool> {
        let n = query(
            "INSERT INTO subscription_periods (subscription_id, period_start, invoice_id)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(subscription)
        .bind(period_start)
        .bind(invoice)
        .execute(&mut *self, 1)
        .await?;
        Ok(n == 1)
    }
}

impl Store {
    /// The subscription an item belongs to.
    pub async fn subscription_of_item(&self, item: &str) -> Result<Option<String>> {
        let row = query("SELECT subscription_id FROM subscription_items WHERE id = $1")
            .bind(item)
            .fetch_optional(self)
            .await?;
        row.map(|r| r.try_get("subscription_id")).transpose()
    }
}
