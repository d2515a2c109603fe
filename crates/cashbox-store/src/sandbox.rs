//! The sandbox processor's journal: its own record of every operation, keyed by the
//! processor-side idempotency key, written in its own transactions as a remote processor's
//! would be; and the processor's customers (`processor_customers`).

use crate::db::{On, Query, Row, query};
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOp {
    pub id: String,
    pub idempotency_key: String,
    /// A digest of the request, so a reused key with other parameters is caught.
    pub request_hash: String,
    /// `authorize`, `charge`, `verify`, `capture`, `void`, `refund`.
    pub kind: String,
    pub amount_minor: i64,
    pub currency: String,
    pub card_token: String,
    /// The authorization or charge this operation refers to.
    pub reference: Option<String>,
    /// `succeeded`, `declined`, `requires_action`.
    pub outcome: String,
    pub error_code: Option<String>,
    pub decline_code: Option<String>,
    pub message: Option<String>,
    pub created: i64,
}

const COLUMNS: &str = "id, idempotency_key, request_hash, kind, amount_minor, currency, card_token, \
    reference, outcome, error_code, decline_code, message, created";

impl SandboxOp {
    fn from_row(r: &Row) -> Result<Self> {
        Ok(Self {
            id: r.try_get("id")?,
            idempotency_key: r.try_get("idempotency_key")?,
            request_hash: r.try_get("request_hash")?,
            kind: r.try_get("kind")?,
            amount_minor: r.try_get("amount_minor")?,
            currency: r.try_get("currency")?,
            card_token: r.try_get("card_token")?,
            reference: r.try_get("reference")?,
            outcome: r.try_get("outcome")?,
            error_code: r.try_get("error_code")?,
            decline_code: r.try_get("decline_code")?,
            message: r.try_get("message")?,
            created: r.try_get("created")?,
        })
    }
}

impl Store {
    /// Records `op` unless its idempotency key was used before; returns what is recorded
    /// under the key (the earlier operation on a retry).
    pub async fn sandbox_record(&self, op: &SandboxOp) -> Result<SandboxOp> {
        // On PostgreSQL, one statement on its own (a round trip, where a transaction takes
        // four): the operation inserted unless its key is taken; only then is the key read.
        if let Self::Postgres(_) = self {
            if insert_op(self, op, ON_KEY_TAKEN).await? == 1 {
                return Ok(op.clone());
            }
            return sandbox_op_by_key(self, &op.idempotency_key)
                .await?
                .ok_or(StoreError::RowNotFound);
        }
        // On SQLite, a deferred transaction: the key looked up, then the operation inserted
        // if the key is new, both checked in the write turn (no savepoint needed there).
        if let Some(mut tx) = self.deferred() {
            if let Some(earlier) = sandbox_op_by_key(&mut tx, &op.idempotency_key).await? {
                return Ok(earlier);
            }
            insert_op(&mut tx, op, "").await?;
            match tx.commit().await {
                Ok(()) => return Ok(op.clone()),
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        let mut tx = self.begin().await?;
        insert_op(&mut tx, op, ON_KEY_TAKEN).await?;
        let stored = sandbox_op_by_key(&mut tx, &op.idempotency_key)
            .await?
            .ok_or(StoreError::RowNotFound)?;
        tx.commit().await?;
        Ok(stored)
    }

    /// [`Store::sandbox_record`] for each of `ops`, in order: on PostgreSQL in one insert
    /// (and one read of the keys already taken, if any was), on SQLite in one deferred
    /// transaction (one read of the keys, the new operations inserted, both checked in the
    /// write turn).
    pub async fn sandbox_record_many(&self, ops: &[SandboxOp]) -> Result<Vec<SandboxOp>> {
        let mut stored = Vec::with_capacity(ops.len());
        if ops.len() < 2 {
            for op in ops {
                stored.push(self.sandbox_record(op).await?);
            }
            return Ok(stored);
        }
        if !matches!(self, Self::Postgres(_)) {
            for chunk in ops.chunks(1_000) {
                match self.sandbox_record_deferred(chunk).await? {
                    Some(recorded) => stored.extend(recorded),
                    None => {
                        for op in chunk {
                            stored.push(self.sandbox_record(op).await?);
                        }
                    }
                }
            }
            return Ok(stored);
        }
        for chunk in ops.chunks(1_000) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", crate::db::placeholders_from(i * 13, 13)))
                .collect();
            let sql = format!(
                "INSERT INTO sandbox_operations ({COLUMNS}) VALUES {}{ON_KEY_TAKEN} \
                 RETURNING idempotency_key",
                rows.join(", ")
            );
            let mut q = query(sql);
            for op in chunk {
                q = bind_op(q, op);
            }
            let inserted: std::collections::HashSet<String> = q
                .fetch_all(self)
                .await?
                .iter()
                .map(|r| r.try_get::<String>("idempotency_key"))
                .collect::<Result<_>>()?;
            let taken: Vec<String> = chunk
                .iter()
                .filter(|op| !inserted.contains(&op.idempotency_key))
                .map(|op| op.idempotency_key.clone())
                .collect();
            let mut earlier = std::collections::HashMap::new();
            if !taken.is_empty() {
                let rows = crate::db::rows_in(self, &taken, |list| {
                    format!(
                        "SELECT {COLUMNS} FROM sandbox_operations WHERE idempotency_key IN ({list})"
                    )
                })
                .await?;
                for r in &rows {
                    let op = SandboxOp::from_row(r)?;
                    earlier.insert(op.idempotency_key.clone(), op);
                }
            }
            // A key asked twice in one chunk is inserted by its first operation.
            for op in chunk {
                let key = &op.idempotency_key;
                if inserted.contains(key) && !earlier.contains_key(key) {
                    earlier.insert(key.clone(), op.clone());
                    stored.push(op.clone());
                } else {
                    stored.push(earlier.get(key).cloned().ok_or(StoreError::RowNotFound)?);
                }
            }
        }
        Ok(stored)
    }

    /// `ops` recorded in one deferred transaction; `None` if it is not one (PostgreSQL) or
    /// its replay found a change (a key taken meanwhile): record them one by one then.
    async fn sandbox_record_deferred(&self, ops: &[SandboxOp]) -> Result<Option<Vec<SandboxOp>>> {
        let Some(mut tx) = self.deferred() else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM sandbox_operations WHERE idempotency_key IN ({})",
            crate::db::placeholders(ops.len())
        );
        let rows = ops
            .iter()
            .fold(query(sql), |q, op| q.bind(&op.idempotency_key))
            .fetch_all(&mut tx)
            .await?;
        let mut recorded = std::collections::HashMap::with_capacity(ops.len());
        for r in &rows {
            let op = SandboxOp::from_row(r)?;
            recorded.insert(op.idempotency_key.clone(), op);
        }
        let mut stored = Vec::with_capacity(ops.len());
        for op in ops {
            // A key asked twice is inserted by its first operation.
            if let Some(earlier) = recorded.get(&op.idempotency_key) {
                stored.push(earlier.clone());
                continue;
            }
            insert_op(&mut tx, op, "").await?;
            recorded.insert(op.idempotency_key.clone(), op.clone());
            stored.push(op.clone());
        }
        match tx.commit().await {
            Ok(()) => Ok(Some(stored)),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn sandbox_op(&self, id: &str) -> Result<Option<SandboxOp>> {
        let sql = format!("SELECT {COLUMNS} FROM sandbox_operations WHERE id = $1");
        query(sql)
            .bind(id)
            .fetch_optional(self)
            .await?
            .as_ref()
            .map(SandboxOp::from_row)
            .transpose()
    }

    /// Succeeded operations of `kind` that refer to `reference` (captures of an authorization,
    /// refunds of a charge).
    pub async fn sandbox_total(&self, reference: &str, kind: &str) -> Result<i64> {
        let r = query(
            "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS s FROM sandbox_operations
             WHERE reference = $1 AND kind = $2 AND outcome = 'succeeded'",
        )
        .bind(reference)
        .bind(kind)
        .fetch_one(self)
        .await?;
        r.try_get::<i64>("s")
    }
}

async fn sandbox_op_by_key(on: impl Into<On<'_>>, key: &str) -> Result<Option<SandboxOp>> {
    let sql = format!("SELECT {COLUMNS} FROM sandbox_operations WHERE idempotency_key = $1");
    query(sql)
        .bind(key)
        .fetch_optional(on)
        .await?
        .as_ref()
        .map(SandboxOp::from_row)
        .transpose()
}

/// What an insert does when the operation's key is already recorded.
const ON_KEY_TAKEN: &str = " ON CONFLICT (idempotency_key) DO NOTHING";

/// Inserts `op`, with `on_conflict` after the values; returns the rows inserted.
async fn insert_op(on: impl Into<On<'_>>, op: &SandboxOp, on_conflict: &str) -> Result<u64> {
    let sql = format!(
        "INSERT INTO sandbox_operations ({COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13){on_conflict}"
    );
    bind_op(query(sql), op).execute(on, 1).await
}

/// `op`'s thirteen columns bound, in [`COLUMNS`]' order.
fn bind_op(q: Query, op: &SandboxOp) -> Query {
    #[rustfmt::skip]
    let q = q
        .bind(&op.id).bind(&op.idempotency_key).bind(&op.request_hash).bind(&op.kind)
        .bind(op.amount_minor).bind(&op.currency).bind(&op.card_token).bind(&op.reference)
        .bind(&op.outcome).bind(&op.error_code).bind(&op.decline_code).bind(&op.message)
        .bind(op.created);
    q
}

impl Store {
    /// The processor's customer for `customer`, if one was recorded.
    pub async fn processor_customer(&self, customer: &str) -> Result<Option<String>> {
        let row = query("SELECT reference FROM processor_customers WHERE customer = $1")
            .bind(customer)
            .fetch_optional(self)
            .await?;
        row.map(|r| r.try_get("reference")).transpose()
    }

    /// Records `reference` as the processor's customer for `customer` unless one is recorded
    /// already; returns the one recorded (the earlier one if two raced).
    pub async fn record_processor_customer(
        &self,
        customer: &str,
        processor: &str,
        reference: &str,
        now: i64,
    ) -> Result<String> {
        let mut tx = self.begin().await?;
        query(
            "INSERT INTO processor_customers (customer, processor, reference, created) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (customer) DO NOTHING",
        )
        .bind(customer)
        .bind(processor)
        .bind(reference)
        .bind(now)
        .execute_counted(&mut tx)
        .await?;
        let kept = query("SELECT reference FROM processor_customers WHERE customer = $1")
            .bind(customer)
            .fetch_optional(&mut tx)
            .await?
            .ok_or(StoreError::RowNotFound)?
            .try_get("reference")?;
        tx.commit().await?;
        Ok(kept)
    }
}
