//! Buffered transactions on PostgreSQL: writes held back and sent together.
//!
//! Every statement is a round trip to the server, and on two cores shared with PostgreSQL the
//! round trips (a wait, a switch on both sides, a message each way) are what bound a billing
//! run: a renewal sent ~35 statements, half of them writes nothing reads back. A [`Buffered`]
//! transaction takes its row locks and reads as an ordinary one does, at once, but holds each
//! write (an `INSERT`, `UPDATE` or `DELETE` whose rows the code does not read) until a
//! statement that names a table it writes, or the commit. Then it sends the writes held as
//! one statement, each a data-modifying `WITH` part: one round trip for what was several.
//!
//! The parts of one statement run on one snapshot and cannot see each other's rows, so two
//! are never held together if one names a table the other writes (itself, or by a trigger):
//! each part changes rows nothing else in its statement reads or writes, and the result is
//! the same as that of the writes one by one. Foreign keys and triggers run at the end of the
//! statement, when every part is done. A write that cannot be held (one that returns rows)
//! is sent after every held write, as it would have run after them.
//!
//! The code is told a held write changed one row (as in a SQLite deferred transaction); the
//! flush checks that it did. A write that fails or changes another count when sent fails the
//! transaction with [`StoreError::Conflict`]: the caller runs the work again in an ordinary
//! transaction, where each write's error comes back from the call that made it. So only work
//! that may run twice uses one (`App::transact`), and only work that takes its locks by
//! reading (`FOR UPDATE`), never by writing: a held write locks its rows only when it is sent.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::PgRow;
use sqlx::{Postgres, Transaction};

use crate::db::{Output, Row, Val, Want, is_read, pg_query};
use crate::deferred::may_change;
use crate::{Result, StoreError};

/// Buffered transactions committed, and those whose writes failed when sent.
static COMMITTED: AtomicU64 = AtomicU64::new(0);
static CONFLICTS: AtomicU64 = AtomicU64::new(0);

/// (committed, conflicted) buffered transactions in this process, for the benchmarks.
pub fn buffered_stats() -> (u64, u64) {
    (
        COMMITTED.load(Ordering::Relaxed),
        CONFLICTS.load(Ordering::Relaxed),
    )
}

/// Parameters in one flushed statement, well under PostgreSQL's 65,535.
const PARAMS_MAX: usize = 30_000;

struct Held {
    sql: String,
    args: Vec<Val>,
    /// The row count the code was told, checked when sent; `None` if it does not look.
    count: Option<u64>,
}

pub(crate) struct Buffered {
    tx: Transaction<'static, Postgres>,
    held: Vec<Held>,
}

impl Buffered {
    pub(crate) fn new(tx: Transaction<'static, Postgres>) -> Self {
        Self {
            tx,
            held: Vec::new(),
        }
    }

    /// Runs `sql`: held if it is a write whose rows the code does not read (the code is told
    /// it changed one row), else at once, after sending any held write it may see.
    pub(crate) async fn run(&mut self, sql: &str, args: Vec<Val>, want: Want) -> Result<Output> {
        self.send(sql, args, want, Some(1)).await
    }

    /// Runs a write whose row count the code ignores: held, as [`Buffered::run`] would.
    pub(crate) async fn run_ignoring_count(&mut self, sql: &str, args: Vec<Val>) -> Result<()> {
        self.send(sql, args, Want::Count, None).await.map(drop)
    }

    /// `count`: what a held write is said to change, if the code looks.
    async fn send(
        &mut self,
        sql: &str,
        args: Vec<Val>,
        want: Want,
        count: Option<u64>,
    ) -> Result<Output> {
        let hold = matches!(want, Want::Count) && holdable(sql);
        // A write sent at once goes after every held one (a foreign key it names by value
        // may be among them); a read or a held write, after those it may see.
        if (!hold && !is_read(sql)) || self.held.iter().any(|h| may_change(&h.sql, sql)) {
            self.flush().await?;
        }
        if hold {
            if self.held_params() + args.len() > PARAMS_MAX {
                self.flush().await?;
            }
            self.held.push(Held {
                sql: sql.to_owned(),
                args,
                count,
            });
            return Ok(Output::Count(1));
        }
        let q = pg_query(sql.to_owned(), args);
        Ok(match want {
            Want::Rows => Output::Rows(
                q.fetch_all(&mut *self.tx)
                    .await?
                    .into_iter()
                    .map(Row::Pg)
                    .collect(),
            ),
            Want::Count => Output::Count(q.execute(&mut *self.tx).await?.rows_affected()),
        })
    }

    fn held_params(&self) -> usize {
        self.held.iter().map(|h| h.args.len()).sum()
    }

    /// Sends the held writes as one statement and checks their counts; any failure is a
    /// [`StoreError::Conflict`] (the transaction is then unusable: the caller drops it).
    async fn flush(&mut self) -> Result<()> {
        let mut held = std::mem::take(&mut self.held);
        let sent = match held.len() {
            0 => return Ok(()),
            1 => {
                let Held { sql, args, count } = held.remove(0);
                pg_query(sql, args)
                    .execute(&mut *self.tx)
                    .await
                    .map(|done| count.is_none_or(|c| c == done.rows_affected()))
            }
            _ => {
                let (sql, args) = combined(&held);
                pg_query(sql, args)
                    .fetch_one(&mut *self.tx)
                    .await
                    .map(|row| counts_hold(&held, &row))
            }
        };
        match sent {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(error = %e, "a buffered transaction's writes failed: running it again");
            }
        }
        CONFLICTS.fetch_add(1, Ordering::Relaxed);
        Err(StoreError::Conflict)
    }

    /// Sends what is held and commits.
    pub(crate) async fn commit(mut self) -> Result<()> {
        self.flush().await?;
        self.tx.commit().await?;
        COMMITTED.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Whether `sql` is a write that can be a `WITH` part: `INSERT`, `UPDATE` or `DELETE`,
/// returning no rows.
fn holdable(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or_default();
    ["INSERT", "UPDATE", "DELETE"]
        .iter()
        .any(|w| first.eq_ignore_ascii_case(w))
        && !sql.to_ascii_uppercase().contains("RETURNING")
}

/// One statement for several writes: `WITH w0 AS (…), w1 AS (…) SELECT …`, the parts whose
/// counts matter returning a row per row changed, counted in the final `SELECT` (`n0`, …).
/// Each part's placeholders are renumbered after the parts before it.
fn combined(held: &[Held]) -> (String, Vec<Val>) {
    let mut sql = String::from("WITH ");
    let mut args = Vec::with_capacity(held.iter().map(|h| h.args.len()).sum());
    let mut counts = Vec::new();
    for (i, h) in held.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("w{i} AS ("));
        sql.push_str(&renumbered(
            h.sql.trim_end().trim_end_matches(';'),
            args.len(),
        ));
        if h.count.is_some() {
            sql.push_str("\nRETURNING 1");
            counts.push(format!("(SELECT COUNT(*) FROM w{i}) AS n{i}"));
        }
        sql.push(')');
        args.extend(h.args.iter().cloned());
    }
    sql.push_str(" SELECT ");
    if counts.is_empty() {
        sql.push('1');
    } else {
        sql.push_str(&counts.join(", "));
    }
    (sql, args)
}

/// Whether each part whose count matters changed the rows it was said to.
fn counts_hold(held: &[Held], row: &PgRow) -> bool {
    held.iter().enumerate().all(|(i, h)| {
        h.count.is_none_or(|c| {
            sqlx::Row::try_get::<i64, _>(row, format!("n{i}").as_str())
                .is_ok_and(|n| u64::try_from(n).is_ok_and(|n| n == c))
        })
    })
}

/// `sql` with each placeholder `$N` made `$(N + offset)`; quoted text is left alone.
fn renumbered(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        out.push(c);
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                out.push_str(&(n + offset).to_string());
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Held, combined, holdable, renumbered};
    use crate::db::Val;

    #[test]
    fn placeholders_are_renumbered_outside_quotes() {
        assert_eq!(
            renumbered(
                "UPDATE t SET a = $1, b = '$2' WHERE id = $12 AND c = \"$3\"",
                10
            ),
            "UPDATE t SET a = $11, b = '$2' WHERE id = $22 AND c = \"$3\""
        );
        assert_eq!(
            renumbered("DELETE FROM t WHERE id = $1", 0),
            "DELETE FROM t WHERE id = $1"
        );
        // An escaped quote inside a literal ends and reopens it: still left alone.
        assert_eq!(
            renumbered("INSERT INTO t VALUES ('it''s $1', $1)", 1),
            "INSERT INTO t VALUES ('it''s $1', $2)"
        );
    }

    #[test]
    fn only_writes_that_return_nothing_are_held() {
        assert!(holdable("INSERT INTO t (a) VALUES ($1)"));
        assert!(holdable("  update t SET a = $1"));
        assert!(holdable("DELETE FROM t WHERE a = $1"));
        assert!(!holdable("INSERT INTO t (a) VALUES ($1) RETURNING id"));
        assert!(!holdable("SELECT * FROM t"));
        assert!(!holdable(
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"
        ));
    }

    #[test]
    fn writes_combine_into_one_statement_counting_what_matters() {
        let held = [
            Held {
                sql: "INSERT INTO a (x) VALUES ($1);".into(),
                args: vec![Val::Int(1)],
                count: Some(1),
            },
            Held {
                sql: "INSERT INTO b (x, y) VALUES ($1, $2)".into(),
                args: vec![Val::Int(2), Val::Int(3)],
                count: None,
            },
            Held {
                sql: "UPDATE c SET x = $2 WHERE id = $1".into(),
                args: vec![Val::Int(4), Val::Int(5)],
                count: Some(1),
            },
        ];
        let (sql, args) = combined(&held);
        assert_eq!(
            sql,
            "WITH w0 AS (INSERT INTO a (x) VALUES ($1)\nRETURNING 1), \
             w1 AS (INSERT INTO b (x, y) VALUES ($2, $3)), \
             w2 AS (UPDATE c SET x = $5 WHERE id = $4\nRETURNING 1) \
             SELECT (SELECT COUNT(*) FROM w0) AS n0, (SELECT COUNT(*) FROM w2) AS n2"
        );
        assert_eq!(args, (1..=5).map(Val::Int).collect::<Vec<_>>());
    }
}
