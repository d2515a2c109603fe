//! Meter events and what they add up to: the raw events (deduplicated by identifier), the
//! event names meters own, and how far each customer's usage of a meter has been invoiced.

use cashbox_core::usage::{Aggregate, UsageEvent};

use crate::db::{Row, query};
use crate::{Result, Store, Tx};

/// One stored event's contribution, for folding into an [`Aggregate`].
fn fold(rows: &[Row]) -> Result<Aggregate> {
    let mut a = Aggregate::default();
    for r in rows {
        a.add(r.try_get("ts")?, r.try_get("value")?);
    }
    Ok(a)
}

/// A PostgreSQL advisory-lock key for one customer's usage of one meter (FNV-1a).
fn usage_lock_key(meter: &str, customer: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in meter.bytes().chain([0]).chain(customer.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

impl Store {
    /// The meter that owns `event_name`.
    pub async fn meter_for_event(&self, event_name: &str) -> Result<Option<String>> {
        let row = query("SELECT meter_id FROM meter_event_names WHERE event_name = $1")
            .bind(event_name)
            .fetch_optional(self)
            .await?;
        row.map(|r| r.try_get("meter_id")).transpose()
    }

    /// `customer`'s version (0 before anything bumped it).
    pub async fn customer_version(&self, customer: &str) -> Result<i64> {
        let row = query("SELECT version FROM customer_versions WHERE customer_id = $1")
            .bind(customer)
            .fetch_optional(self)
            .await?;
        Ok(row.map(|r| r.try_get("version")).transpose()?.unwrap_or(0))
    }

    /// `customer`'s version and the catalog-wide one (bumped when product features or
    /// features change, which touches everyone's entitlements).
    pub async fn entitlement_versions(&self, customer: &str) -> Result<(i64, i64)> {
        let rows = query(
            "SELECT customer_id, version FROM customer_versions WHERE customer_id = $1 OR customer_id = '*'",
        )
        .bind(customer)
        .fetch_all(self)
        .await?;
        let (mut mine, mut global) = (0, 0);
        for r in &rows {
            let id: String = r.try_get("customer_id")?;
            let v: i64 = r.try_get("version")?;
            if id == "*" {
                global = v;
            } else {
                mine = v;
            }
        }
        Ok((mine, global))
    }

    /// Uses so far of `feature` by `customer` in the period starting at `period_start`.
    pub async fn quota_used(
        &self,
        customer: &str,
        feature: &str,
        period_start: i64,
    ) -> Result<i64> {
        let row = query(
            "SELECT used FROM quota_usage WHERE customer_id = $1 AND feature_id = $2 AND period_start = $3",
        )
        .bind(customer)
        .bind(feature)
        .bind(period_start)
        .fetch_optional(self)
        .await?;
        Ok(row.map(|r| r.try_get("used")).transpose()?.unwrap_or(0))
    }

    /// Every live event of `customer` on `meter` from `from` on, as (seq, timestamp, value).
    pub async fn usage_since(
        &self,
        meter: &str,
        customer: &str,
        from: i64,
    ) -> Result<Vec<(i64, i64, i64)>> {
        let rows = query(
            "SELECT seq, ts, value FROM meter_events \
             WHERE meter_id = $1 AND customer_id = $2 AND ts >= $3 AND canceled = 0",
        )
        .bind(meter)
        .bind(customer)
        .bind(from)
        .fetch_all(self)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("ts")?, r.try_get("value")?)))
            .collect()
    }

    /// Waits for notifications on `channel` (PostgreSQL only): each payload is handed to
    /// `on_message`; `on_reconnect` runs once listening and whenever the listening
    /// connection was lost and re-established (notifications in between are lost). Runs
    /// until the connection fails for good.
    pub async fn listen(
        &self,
        channel: &str,
        on_message: impl Fn(&str) + Send + Sync,
        on_reconnect: impl Fn() + Send + Sync,
    ) -> Result<()> {
        let Self::Postgres(pool) = self else {
            return Ok(());
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(channel).await?;
        // Whatever was cached before listening may have missed notifications.
        on_reconnect();
        loop {
            match listener.try_recv().await? {
                Some(n) => on_message(n.payload()),
                None => on_reconnect(),
            }
        }
    }

    /// Every live event of `customer` on `meter` in `[from, to)` as (timestamp, value), in
    /// timestamp then arrival order: for summaries by window.
    pub async fn usage_events(
        &self,
        meter: &str,
        customer: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let rows = query(USAGE_SQL)
            .bind(meter)
            .bind(customer)
            .bind(from)
            .bind(to)
            .fetch_all(self)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("ts")?, r.try_get("value")?)))
            .collect()
    }
}

const USAGE_SQL: &str = "SELECT ts, value FROM meter_events \
     WHERE meter_id = $1 AND customer_id = $2 AND ts >= $3 AND ts < $4 AND canceled = 0 \
     ORDER BY ts, seq";

impl Tx {
    /// Gives `event_name` to `meter`; `false` if another meter has it.
    pub async fn claim_event_name(&mut self, event_name: &str, meter: &str) -> Result<bool> {
        let n = query(
            "INSERT INTO meter_event_names (event_name, meter_id) VALUES ($1, $2) \
             ON CONFLICT (event_name) DO NOTHING",
        )
        .bind(event_name)
        .bind(meter)
        .execute(&mut *self, 1)
        .await?;
        Ok(n == 1)
    }

    /// Serializes recording usage against invoicing it, per meter and customer: on
    /// PostgreSQL an advisory lock until the transaction ends (shared for recording,
    /// exclusive for invoicing); SQLite's single writer already serializes them.
    pub async fn lock_usage(&mut self, meter: &str, customer: &str, exclusive: bool) -> Result<()> {
        if self.is_postgres() {
            let sql = if exclusive {
                "SELECT pg_advisory_xact_lock($1)"
            } else {
                "SELECT pg_advisory_xact_lock_shared($1)"
            };
            query(sql)
                .bind(usage_lock_key(meter, customer))
                .fetch_all(&mut *self)
                .await?;
        }
        Ok(())
    }

    /// How far `customer`'s usage of `meter` has been invoiced.
    pub async fn usage_billed_through(
        &mut self,
        meter: &str,
        customer: &str,
    ) -> Result<Option<i64>> {
        let row = query(
            "SELECT billed_through FROM meter_watermarks WHERE meter_id = $1 AND customer_id = $2",
        )
        .bind(meter)
        .bind(customer)
        .fetch_optional(&mut *self)
        .await?;
        row.map(|r| r.try_get("billed_through")).transpose()
    }

    /// Marks `customer`'s usage of `meter` invoiced up to `through` (never backwards).
    pub async fn set_usage_billed_through(
        &mut self,
        meter: &str,
        customer: &str,
        through: i64,
    ) -> Result<()> {
        query(
            "INSERT INTO meter_watermarks (meter_id, customer_id, billed_through) VALUES ($1, $2, $3) \
             ON CONFLICT (meter_id, customer_id) DO UPDATE SET billed_through = \
             CASE WHEN meter_watermarks.billed_through > excluded.billed_through \
             THEN meter_watermarks.billed_through ELSE excluded.billed_through END",
        )
        .bind(meter)
        .bind(customer)
        .bind(through)
        .execute(&mut *self, 1)
        .await?;
        Ok(())
    }

    /// Records an event; returns its arrival sequence number, or `None` if its identifier
    /// was seen before (nothing is written).
    pub async fn insert_usage_event(
        &mut self,
        e: &UsageEvent,
        created: i64,
    ) -> Result<Option<i64>> {
        let row = query(
            "INSERT INTO meter_events (identifier, meter_id, customer_id, ts, value, created) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (identifier) DO NOTHING RETURNING seq",
        )
        .bind(&e.identifier)
        .bind(&e.meter)
        .bind(&e.customer)
        .bind(e.timestamp)
        .bind(e.value)
        .bind(created)
        .fetch_optional(&mut *self)
        .await?;
        row.map(|r| r.try_get("seq")).transpose()
    }

    /// Records events (each with its `created`) in multi-row statements; returns the
    /// sequence numbers of those written by identifier (an identifier seen before, or twice
    /// here, is written once: the first time).
    pub async fn insert_usage_events(
        &mut self,
        events: &[(&UsageEvent, i64)],
    ) -> Result<std::collections::HashMap<String, i64>> {
        const ROWS: usize = 500;
        let mut out = std::collections::HashMap::with_capacity(events.len());
        for chunk in events.chunks(ROWS) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 6;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO meter_events (identifier, meter_id, customer_id, ts, value, created) \
                 VALUES {} ON CONFLICT (identifier) DO NOTHING RETURNING identifier, seq",
                values.join(", ")
            );
            let mut q = query(sql);
            for (e, created) in chunk {
                q = q
                    .bind(&e.identifier)
                    .bind(&e.meter)
                    .bind(&e.customer)
                    .bind(e.timestamp)
                    .bind(e.value)
                    .bind(*created);
            }
            for r in q.fetch_all(&mut *self).await? {
                out.insert(r.try_get("identifier")?, r.try_get("seq")?);
            }
        }
        Ok(out)
    }

    /// Bumps `customer`'s version: what a usage check caches about them is stale.
    pub async fn bump_customer_version(&mut self, customer: &str) -> Result<()> {
        query(
            "INSERT INTO customer_versions (customer_id, version) VALUES ($1, 1) \
             ON CONFLICT (customer_id) DO UPDATE SET version = customer_versions.version + 1",
        )
        .bind(customer)
        .execute(&mut *self, 1)
        .await?;
        Ok(())
    }

    /// Tells every process listening on PostgreSQL, when this transaction commits (SQLite:
    /// nothing; its processes do not share a cache).
    pub async fn notify(&mut self, channel: &str, payload: &str) -> Result<()> {
        if self.is_postgres() {
            query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .fetch_all(&mut *self)
                .await?;
        }
        Ok(())
    }

    /// Cancels the live event `identifier` of `meter`; returns it (customer, timestamp,
    /// value), or `None` if there is no such live event.
    pub async fn cancel_usage_event(
        &mut self,
        meter: &str,
        identifier: &str,
    ) -> Result<Option<(String, i64, i64)>> {
        let row = query(
            "SELECT customer_id, ts, value FROM meter_events \
             WHERE identifier = $1 AND meter_id = $2 AND canceled = 0",
        )
        .bind(identifier)
        .bind(meter)
        .fetch_optional(&mut *self)
        .await?;
        let Some(r) = row else { return Ok(None) };
        query("UPDATE meter_events SET canceled = 1 WHERE identifier = $1")
            .bind(identifier)
            .execute(&mut *self, 1)
            .await?;
        Ok(Some((
            r.try_get("customer_id")?,
            r.try_get("ts")?,
            r.try_get("value")?,
        )))
    }

    /// `customer`'s usage of `meter` in `[from, to)`, inside the transaction.
    pub async fn usage_in(
        &mut self,
        meter: &str,
        customer: &str,
        from: i64,
        to: i64,
    ) -> Result<Aggregate> {
        let rows = query(USAGE_SQL)
            .bind(meter)
            .bind(customer)
            .bind(from)
            .bind(to)
            .fetch_all(&mut *self)
            .await?;
        fold(&rows)
    }

    /// Records that `alert` fired for `customer`; `false` if it already had.
    pub async fn claim_alert_trigger(
        &mut self,
        alert: &str,
        customer: &str,
        value: i64,
        created: i64,
    ) -> Result<bool> {
        let n = query(
            "INSERT INTO alert_triggers (alert_id, customer_id, value, created) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (alert_id, customer_id) DO NOTHING",
        )
        .bind(alert)
        .bind(customer)
        .bind(value)
        .bind(created)
        .execute(&mut *self, 1)
        .await?;
        Ok(n == 1)
    }
}
