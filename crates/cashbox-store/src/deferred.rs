//! Deferred transactions on SQLite: the work runs outside the write turn and is written in it
//! only if nothing it read has changed.
//!
//! SQLite has one writer, so what bounds write throughput is how long a transaction holds the
//! write connection; a transaction that works out an invoice (rendering, sealing, its events)
//! holds it for that work too. A [`DeferredTx`] runs the same use-case code without the
//! connection: each read runs on a read connection and is recorded with the rows it returned,
//! each write is recorded with the row count the code was told (see [`Query::execute`]).
//! [`DeferredTx::commit`] then takes the write turn and replays the log in order: every read is
//! run again and must return exactly the recorded rows, every write must change the recorded
//! number of rows. If all do, the code saw what it would have seen running inside the turn, so
//! its writes are the ones it would have made; they commit as one transaction. If any differs,
//! nothing is written and `commit` says [`StoreError::Conflict`]: the caller runs the work
//! again in an ordinary transaction.
//!
//! A read that follows the transaction's own write of the same rows sees the old rows outside
//! and the new ones in the replay, so it conflicts: safe, only slower. Reads need no common
//! snapshot for the same reason: the replay checks them all against one state.
//!
//! [`Query::execute`]: crate::db::Query

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::types::Value;

use crate::db::{Output, Val, Want, lite_run};
use crate::{Lite, Result, StoreError};

/// Deferred transactions written, and those whose replay found a change.
static COMMITTED: AtomicU64 = AtomicU64::new(0);
static CONFLICTS: AtomicU64 = AtomicU64::new(0);

/// (committed, conflicted) deferred transactions in this process, for the benchmarks.
pub fn deferred_stats() -> (u64, u64) {
    (
        COMMITTED.load(Ordering::Relaxed),
        CONFLICTS.load(Ordering::Relaxed),
    )
}

enum Recorded {
    /// A read and the rows it returned.
    Rows(Vec<Vec<Value>>),
    /// A write and the row count the code was given, if the code looks at it.
    Count(Option<u64>),
}

struct Op {
    sql: String,
    args: Vec<Val>,
    recorded: Recorded,
}

pub struct DeferredTx {
    lite: Arc<Lite>,
    log: Vec<Op>,
}

impl DeferredTx {
    pub(crate) fn new(lite: Arc<Lite>) -> Self {
        Self {
            lite,
            log: Vec::new(),
        }
    }

    /// Runs a read on a read connection and records what it returned.
    pub(crate) fn read(&mut self, sql: &str, args: Vec<Val>) -> Result<Output> {
        let out = self
            .lite
            .read(|conn| lite_run(conn, sql, &args, Want::Rows))?;
        if let Output::Rows(rows) = &out {
            let recorded = rows.iter().map(|r| r.lite_values().to_vec()).collect();
            self.log.push(Op {
                sql: sql.to_owned(),
                args,
                recorded: Recorded::Rows(recorded),
            });
        }
        Ok(out)
    }

    /// Records a write; `count` is what the code is told it changed (checked at commit), or
    /// `None` if the code ignores it.
    pub(crate) fn write(&mut self, sql: &str, args: Vec<Val>, count: Option<u64>) {
        self.log.push(Op {
            sql: sql.to_owned(),
            args,
            recorded: Recorded::Count(count),
        });
    }

    /// Takes the write turn and replays the log; commits if every statement still gives what
    /// it gave, else writes nothing and returns [`StoreError::Conflict`].
    pub(crate) async fn commit(self) -> Result<()> {
        let tx = self.lite.begin().await?;
        for op in &self.log {
            let same = match &op.recorded {
                Recorded::Rows(rows) => match lite_run(tx.conn(), &op.sql, &op.args, Want::Rows) {
                    Ok(Output::Rows(now)) => {
                        now.len() == rows.len()
                            && now
                                .iter()
                                .zip(rows)
                                .all(|(n, r)| n.lite_values() == r.as_slice())
                    }
                    _ => false,
                },
                Recorded::Count(count) => {
                    match lite_run(tx.conn(), &op.sql, &op.args, Want::Count) {
                        Ok(Output::Count(n)) => count.is_none_or(|c| c == n),
                        _ => false,
                    }
                }
            };
            if !same {
                // Dropping the transaction rolls its savepoint back.
                drop(tx);
                CONFLICTS.fetch_add(1, Ordering::Relaxed);
                return Err(StoreError::Conflict);
            }
        }
        tx.commit().await?;
        COMMITTED.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
