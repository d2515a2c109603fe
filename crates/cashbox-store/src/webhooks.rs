//! The webhook queue: events waiting to be fanned out (`webhook_outbox`, filled by a trigger
//! on `events` while some endpoint exists), one delivery per endpoint and event, and the log
//! of attempts.

use std::collections::{HashMap, HashSet};

use crate::db::{Row, placeholders, query, rows_in};
use crate::{Result, Store, Tx};

/// An event waiting to be fanned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
}

/// A delivery a worker has taken: it owns it until `next_attempt_at` (its lease) passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenDelivery {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// One attempt, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    pub id: String,
    pub delivery_id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub attempted_at: i64,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

impl AttemptRow {
    fn from_row(r: &Row) -> Result<Self> {
        Ok(Self {
            id: r.try_get("id")?,
            delivery_id: r.try_get("delivery_id")?,
            endpoint_id: r.try_get("endpoint_id")?,
            event_id: r.try_get("event_id")?,
            attempted_at: r.try_get("attempted_at")?,
            status_code: r.try_get("status_code")?,
            latency_ms: r.try_get("latency_ms")?,
            error: r.try_get("error")?,
            response_excerpt: r.try_get("response_excerpt")?,
        })
    }
}

const ATTEMPT_COLUMNS: &str = "id, delivery_id, endpoint_id, event_id, attempted_at, status_code, \
                               latency_ms, error, response_excerpt";

impl Tx {
    /// Up to `limit` events waiting to be fanned out, oldest first; on PostgreSQL the rows
    /// are locked, and rows another process holds are skipped.
    pub async fn outbox_batch(&mut self, limit: i64) -> Result<Vec<OutboxEvent>> {
        let lock = self.lock_clause_or(" FOR UPDATE OF o SKIP LOCKED");
        let rows = query(format!(
            "SELECT o.seq, o.event_id, e.type FROM webhook_outbox o \
             JOIN events e ON e.id = o.event_id ORDER BY o.seq LIMIT $1{lock}"
        ))
        .bind(limit)
        .fetch_all(&mut *self)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxEvent {
                    seq: r.try_get("seq")?,
                    event_id: r.try_get("event_id")?,
                    event_type: r.try_get("type")?,
                })
            })
            .collect()
    }

    /// Removes fanned-out events from the outbox.
    pub async fn outbox_done(&mut self, seqs: &[i64]) -> Result<()> {
        for chunk in seqs.chunks(500) {
            let mut q = query(format!(
                "DELETE FROM webhook_outbox WHERE seq IN ({})",
                placeholders(chunk.len())
            ));
            for seq in chunk {
                q = q.bind(*seq);
            }
            q.execute(&mut *self, chunk.len() as u64).await?;
        }
        Ok(())
    }

    /// Queues a delivery of `event` to `endpoint`, due at `due_at`; once per pair.
    pub async fn insert_delivery(
        &mut self,
        id: &str,
        endpoint: &str,
        event: &str,
        due_at: i64,
    ) -> Result<()> {
        query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, created, status, attempts, next_attempt_at) \
             VALUES ($1, $2, $3, $4, 'pending', 0, $4) ON CONFLICT (endpoint_id, event_id) DO NOTHING",
        )
        .bind(id)
        .bind(endpoint)
        .bind(event)
        .bind(due_at)
        .execute(&mut *self, 1)
        .await?;
        Ok(())
    }

    /// Logs an attempt and moves its delivery on: `status` (pending, succeeded, failed), the
    /// attempts made, and when it is next tried (`None`: never).
    pub async fn finish_attempt(
        &mut self,
        a: &AttemptRow,
        status: &str,
        attempts: i64,
        next_attempt_at: Option<i64>,
    ) -> Result<()> {
        query(format!(
            "INSERT INTO webhook_attempts ({ATTEMPT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&a.id)
        .bind(&a.delivery_id)
        .bind(&a.endpoint_id)
        .bind(&a.event_id)
        .bind(a.attempted_at)
        .bind(a.status_code)
        .bind(a.latency_ms)
        .bind(a.error.clone())
        .bind(a.response_excerpt.clone())
        .execute(&mut *self, 1)
        .await?;
        query(
            "UPDATE webhook_deliveries SET status = $2, attempts = $3, next_attempt_at = $4 WHERE id = $1",
        )
        .bind(&a.delivery_id)
        .bind(status)
        .bind(attempts)
        .bind(next_attempt_at)
        .execute(&mut *self, 1)
        .await?;
        Ok(())
    }

    /// Ends the deliveries still queued for `endpoint` (it was deleted): they count as
    /// pending no more, and no worker takes them.
    pub async fn close_deliveries(&mut self, endpoint: &str) -> Result<()> {
        query(
            "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL \
             WHERE endpoint_id = $1 AND status = 'pending'",
        )
        .bind(endpoint)
        .run_ignoring_count(&mut *self)
        .await?;
        Ok(())
    }

    /// Deletes up to `limit` attempts made before `before`, and up to `limit` finished
    /// (succeeded or given up) deliveries queued before it; returns how many rows went.
    pub async fn prune_webhook_log(&mut self, before: i64, limit: i64) -> Result<u64> {
        let attempts = query(
            "DELETE FROM webhook_attempts WHERE id IN ( \
                SELECT id FROM webhook_attempts WHERE attempted_at < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(limit)
        .execute_counted(&mut *self)
        .await?;
        let deliveries = query(
            "DELETE FROM webhook_deliveries WHERE id IN ( \
                SELECT id FROM webhook_deliveries WHERE next_attempt_at IS NULL AND created < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(limit)
        .execute_counted(&mut *self)
        .await?;
        Ok(attempts + deliveries)
    }

    /// Queues `event` again for `endpoint` now, whatever became of its delivery (a manual
    /// re-send); returns the delivery's id.
    pub async fn redeliver(
        &mut self,
        new_id: &str,
        endpoint: &str,
        event: &str,
        now: i64,
    ) -> Result<String> {
        query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, created, status, attempts, next_attempt_at) \
             VALUES ($1, $2, $3, $4, 'pending', 0, $4) \
             ON CONFLICT (endpoint_id, event_id) DO UPDATE SET status = 'pending', next_attempt_at = $4",
        )
        .bind(new_id)
        .bind(endpoint)
        .bind(event)
        .bind(now)
        .execute(&mut *self, 1)
        .await?;
        let row =
            query("SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2")
                .bind(endpoint)
                .bind(event)
                .fetch_one(&mut *self)
                .await?;
        row.try_get("id")
    }

    /// Takes up to `limit` deliveries due by `now`, earliest first, leasing each until
    /// `lease_until` (another worker, in this process or another, skips them meanwhile).
    pub async fn take_deliveries(
        &mut self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<TakenDelivery>> {
        let lock = self.lock_clause_or(" FOR UPDATE SKIP LOCKED");
        let rows = query(format!(
            "UPDATE webhook_deliveries SET next_attempt_at = $2 WHERE id IN ( \
                SELECT id FROM webhook_deliveries WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $1 \
                ORDER BY next_attempt_at, id LIMIT $3{lock}) \
             RETURNING id, endpoint_id, event_id, attempts"
        ))
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(&mut *self)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TakenDelivery {
                    id: r.try_get("id")?,
                    endpoint_id: r.try_get("endpoint_id")?,
                    event_id: r.try_get("event_id")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// When the earliest queued delivery falls due, if any.
    pub async fn next_delivery_at(&self) -> Result<Option<i64>> {
        let row = query("SELECT MIN(next_attempt_at) AS at FROM webhook_deliveries WHERE next_attempt_at IS NOT NULL")
            .fetch_one(self)
            .await?;
        row.try_get("at")
    }

    /// Whether events wait in the outbox.
    pub async fn outbox_waiting(&self) -> Result<bool> {
        let row = query("SELECT EXISTS (SELECT 1 FROM webhook_outbox) AS waiting")
            .fetch_one(self)
            .await?;
        row.try_get("waiting")
    }

    /// Which of `events` still wait in the outbox (not yet fanned out to deliveries).
    pub async fn in_outbox(&self, events: &[String]) -> Result<HashSet<String>> {
        rows_in(self, events, |list| {
            format!("SELECT event_id FROM webhook_outbox WHERE event_id IN ({list})")
        })
        .await?
        .iter()
        .map(|r| r.try_get("event_id"))
        .collect()
    }

    /// How many of each event's deliveries have not yet succeeded or given up.
    pub async fn pending_webhooks(&self, events: &[String]) -> Result<HashMap<String, i64>> {
        rows_in(self, events, |list| {
            format!(
                "SELECT event_id, COUNT(*) AS n FROM webhook_deliveries \
                 WHERE status = 'pending' AND event_id IN ({list}) GROUP BY event_id"
            )
        })
        .await?
        .iter()
        .map(|r| Ok((r.try_get("event_id")?, r.try_get("n")?)))
        .collect()
    }

    /// The latest attempts, newest first: an endpoint's (`by_endpoint`) or an event's, up to
    /// `limit`, before the attempt `before` when given.
    pub async fn webhook_attempts(
        &self,
        endpoint: Option<&str>,
        event: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AttemptRow>> {
        let mut conditions = Vec::new();
        let mut args: Vec<String> = Vec::new();
        for (column, value) in [
            ("endpoint_id", endpoint),
            ("event_id", event),
            ("id", before),
        ] {
            if let Some(v) = value {
                args.push(v.to_string());
                let op = if column == "id" { "<" } else { "=" };
                conditions.push(format!("{column} {op} ${}", args.len()));
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let mut q = query(format!(
            "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts {filter} ORDER BY id DESC LIMIT ${}",
            args.len() + 1
        ));
        for a in args {
            q = q.bind(a);
        }
        let rows = q.bind(limit).fetch_all(self).await?;
        rows.iter().map(AttemptRow::from_row).collect()
    }
}
