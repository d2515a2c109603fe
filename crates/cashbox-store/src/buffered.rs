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

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::PgRow;
use sqlx::{Postgres, Transaction};

use crate::db::{Output, Row, Val, Want, pg_query, placeholders_from, push_number};
use crate::deferred::{Kept, ReadAhead};
use crate::shape::{FastMap, Join, Shape};
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

/// How a buffered transaction begins: without sequential scans where an index will do.
/// Its statements find rows by key, many at a time once joined (`UPDATE … FROM (VALUES …)`,
/// `IN (…)` lists), and are prepared: planned while a table was small (a table a billing
/// run starts empty, before any analysis), such a statement chose a hash join over a
/// sequential scan and kept that plan as the table grew (8 to 22 million rows read in a
/// run of 100,000 renewals, one run in three, 2 to 6 s). One round trip, as `BEGIN` alone.
pub(crate) const BEGIN: &str = "BEGIN; SET LOCAL enable_seqscan = off";

/// Parameters in one flushed statement, well under PostgreSQL's 65,535.
const PARAMS_MAX: usize = 30_000;
/// Reads whose rows are kept for the transaction's later identical reads: at most this many
/// rows each, and this many reads in all.
const CACHED_ROWS_MAX: usize = 64;
const CACHED_READS_MAX: usize = 4_096;

struct Held {
    sql: String,
    shape: Arc<Shape>,
    /// One argument list per write made with this text: a write made again with the same
    /// text joins the first as another row of one part (see [`Buffered::join`]).
    rows: Vec<Vec<Val>>,
    /// The row count the code was told, checked when sent; `None` if it does not look.
    count: Option<u64>,
}

impl Held {
    fn new(sql: &str, shape: Arc<Shape>, rows: Vec<Vec<Val>>, count: Option<u64>) -> Self {
        Self {
            sql: sql.to_owned(),
            shape,
            rows,
            count,
        }
    }

    fn params(&self) -> usize {
        self.rows.iter().map(Vec::len).sum()
    }

    /// The statement that makes every write held here, its placeholders numbered from
    /// `offset` + 1, and its arguments.
    fn statement(self, offset: usize) -> (String, Vec<Val>) {
        let n = self.rows.len();
        let per_row = self.rows[0].len();
        let args: Vec<Val> = self.rows.into_iter().flatten().collect();
        let sql = self.sql.trim_end().trim_end_matches(';');
        let sql = if n == 1 {
            renumbered(sql, offset)
        } else {
            match (insert_form(sql), update_form(sql)) {
                (Some(ins), _) => ins.joined(n, per_row, offset),
                (None, Some(upd)) => upd.joined(n, per_row, offset),
                (None, None) => unreachable!("only writes of a joinable form are joined"),
            }
        };
        (sql, args)
    }
}

pub(crate) struct Buffered {
    tx: Transaction<'static, Postgres>,
    held: Vec<Held>,
    /// Rows read in this transaction (or read ahead for it, [`Buffered::read_ahead`]), by
    /// SQL text and then arguments: an identical read is answered from here until a write
    /// of this transaction may change its rows.
    cache: FastMap<String, Kept<Vec<Arc<PgRow>>>>,
    cached: usize,
    #[cfg(feature = "fault-injection")]
    pub(crate) lose_a_write: bool,
}

impl Buffered {
    pub(crate) fn new(tx: Transaction<'static, Postgres>) -> Self {
        Self {
            tx,
            held: Vec::new(),
            cache: FastMap::default(),
            cached: 0,
            #[cfg(feature = "fault-injection")]
            lose_a_write: false,
        }
    }

    /// Runs a read at once, after sending any held write it may see.
    pub(crate) async fn run(&mut self, sql: &str, args: Vec<Val>, want: Want) -> Result<Output> {
        self.send(sql, args, want, None).await
    }

    /// Runs a write expected to change `rows` rows: held (the code is told `rows`, checked
    /// when it is sent), or at once if it cannot be held. `None`: the code needs the true
    /// count now, so it is sent at once, after every held write.
    pub(crate) async fn write(
        &mut self,
        sql: &str,
        args: Vec<Val>,
        rows: Option<u64>,
    ) -> Result<u64> {
        let Some(rows) = rows else {
            let shape = Shape::of(sql);
            self.forget(&shape, &args);
            self.flush().await?;
            return Ok(pg_query(sql.to_owned(), args)
                .execute(&mut *self.tx)
                .await?
                .rows_affected());
        };
        match self.send(sql, args, Want::Count, Some(rows)).await? {
            Output::Count(n) => Ok(n),
            Output::Rows(_) => unreachable!("asked for a count"),
        }
    }

    /// Runs a write whose row count the code ignores: held, as [`Buffered::run`] would.
    pub(crate) async fn run_ignoring_count(&mut self, sql: &str, args: Vec<Val>) -> Result<()> {
        self.send(sql, args, Want::Count, None).await.map(drop)
    }

    /// Reads ahead ([`ReadAhead`]): keeps each key's rows until a write of this
    /// transaction may change them.
    pub(crate) async fn read_ahead(&mut self, mut ahead: ReadAhead<'_>) -> Result<()> {
        let args = std::mem::take(&mut ahead.args);
        let Output::Rows(rows) = self.send(ahead.many, args, Want::Rows, None).await? else {
            unreachable!("asked for rows")
        };
        let rows = rows.into_iter().map(|row| match row {
            Row::Pg(row) => row,
            Row::Lite { .. } => unreachable!("PostgreSQL answers PostgreSQL rows"),
        });
        let by_key = ahead.by_key(rows, |row, column| Ok(sqlx::Row::try_get(&**row, column)?))?;
        self.cached += by_key.len();
        self.cache
            .entry(ahead.one.to_owned())
            .or_insert_with(|| Kept::of(ahead.one))
            .keep_all(by_key);
        Ok(())
    }

    /// `count`: what a held write is said to change, if the code looks.
    async fn send(
        &mut self,
        sql: &str,
        args: Vec<Val>,
        want: Want,
        count: Option<u64>,
    ) -> Result<Output> {
        let shape = Shape::of(sql);
        let read = shape.read;
        if read && let Some(rows) = self.cache.get(sql).and_then(|kept| kept.get(&args)) {
            return Ok(Output::Rows(rows.iter().cloned().map(Row::Pg).collect()));
        }
        if !read {
            self.forget(&shape, &args);
        }
        let hold = matches!(want, Want::Count) && shape.holdable;
        let args = if hold {
            match self.join(sql, &shape, args, count) {
                None => return Ok(Output::Count(count.unwrap_or_default())),
                Some(args) => args,
            }
        } else {
            args
        };
        // A write sent at once goes after every held one (a foreign key it names by value
        // may be among them); a read or a held write, after those it may see.
        if (!hold && !read) || self.held.iter().any(|h| shape.changed_by_write(&h.shape)) {
            self.flush().await?;
        }
        if hold {
            if self.held_params() + args.len() > PARAMS_MAX {
                self.flush().await?;
            }
            self.held.push(Held::new(sql, shape, vec![args], count));
            return Ok(Output::Count(count.unwrap_or_default()));
        }
        let key = (read && shape.cacheable).then(|| args.clone());
        let q = pg_query(sql.to_owned(), args);
        Ok(match want {
            Want::Rows => {
                let rows: Vec<Arc<PgRow>> = q
                    .fetch_all(&mut *self.tx)
                    .await?
                    .into_iter()
                    .map(Arc::new)
                    .collect();
                if let Some(key) = key
                    && rows.len() <= CACHED_ROWS_MAX
                    && self.cached < CACHED_READS_MAX
                {
                    self.cached += 1;
                    self.cache
                        .entry(sql.to_owned())
                        .or_insert_with(|| Kept::of(sql))
                        .keep(key, rows.clone());
                }
                Output::Rows(rows.into_iter().map(Row::Pg).collect())
            }
            Want::Count => Output::Count(q.execute(&mut *self.tx).await?.rows_affected()),
        })
    }

    /// Joins a write to a held one of the same text, as another row of its part, if that
    /// gives what the two would one after the other: nothing held since may change what
    /// the write names, and an update's row is not one the held part updates already.
    /// (Two inserts of one key in one part fail or count short: a conflict, run again.)
    /// Gives the arguments back if the write does not join.
    fn join(
        &mut self,
        sql: &str,
        shape: &Shape,
        args: Vec<Val>,
        count: Option<u64>,
    ) -> Option<Vec<Val>> {
        let Some(i) = self
            .held
            .iter()
            .position(|h| h.sql == sql && h.count.is_some() == count.is_some())
        else {
            return Some(args);
        };
        if self.held_params() + args.len() > PARAMS_MAX
            || self.held[i].rows[0].len() != args.len()
            || self.held[i + 1..]
                .iter()
                .any(|h| shape.changed_by_write(&h.shape))
        {
            return Some(args);
        }
        let joinable = match shape.join {
            Some(Join::Insert) => true,
            Some(Join::Update { key }) => !self.held[i].rows.iter().any(|r| r[key] == args[key]),
            None => false,
        };
        if !joinable {
            return Some(args);
        }
        let h = &mut self.held[i];
        h.rows.push(args);
        h.count = h.count.zip(count).map(|(a, b)| a + b);
        None
    }

    /// Drops the kept reads that `write` (with `args`) may change (see [`Kept::forget`]).
    fn forget(&mut self, write: &Shape, args: &[Val]) {
        if self.cache.is_empty() {
            return;
        }
        let one_row = write.one_row(args);
        self.cache.retain(|_, kept| kept.forget(write, one_row));
    }

    fn held_params(&self) -> usize {
        self.held.iter().map(Held::params).sum()
    }

    /// Sends the held writes as one statement and checks their counts; any failure is a
    /// [`StoreError::Conflict`] (the transaction is then unusable: the caller drops it).
    async fn flush(&mut self) -> Result<()> {
        let mut held = std::mem::take(&mut self.held);
        #[cfg(feature = "fault-injection")]
        if self.lose_a_write {
            held.pop();
        }
        let sent = match held.len() {
            0 => return Ok(()),
            1 => {
                let one = held.remove(0);
                let count = one.count;
                let (sql, args) = one.statement(0);
                pg_query(sql, args)
                    .execute(&mut *self.tx)
                    .await
                    .map(|done| count.is_none_or(|c| c == done.rows_affected()))
            }
            _ => {
                let counts: Vec<Option<u64>> = held.iter().map(|h| h.count).collect();
                let (sql, args) = combined(held);
                pg_query(sql, args)
                    .fetch_one(&mut *self.tx)
                    .await
                    .map(|row| counts_hold(&counts, &row))
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

    /// After the work failed: whether it saw what an ordinary transaction would have (its
    /// reads ran at once), and every write it was told changed a row did (sent now, rolled
    /// back with the transaction), so that its failure is the answer.
    pub(crate) async fn saw_what_is_so(mut self) -> bool {
        self.flush().await.is_ok()
    }

    /// Sends what is held and commits.
    pub(crate) async fn commit(mut self) -> Result<()> {
        self.flush().await?;
        self.tx.commit().await?;
        COMMITTED.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Whether a read's rows may be kept for the transaction's identical reads: a plain
/// `SELECT … FROM`, not one that claims rows others skip or calls a server function.
pub(crate) fn cacheable(sql: &str) -> bool {
    sql.contains(" FROM ") && !sql.contains("SKIP LOCKED") && !sql.contains("pg_")
}

/// `INSERT INTO t (…) VALUES (…)[, (…)…] tail`, the placeholders all in the rows.
pub(crate) struct InsertForm<'a> {
    head: &'a str,
    rows: &'a str,
    tail: &'a str,
}

pub(crate) fn insert_form(sql: &str) -> Option<InsertForm<'_>> {
    let sql = sql.trim_end().trim_end_matches(';');
    if !sql.trim_start().starts_with("INSERT INTO ") {
        return None;
    }
    let at = sql.find(" VALUES ")? + " VALUES ".len();
    let (head, rest) = sql.split_at(at);
    // The rows end at the first closing parenthesis at depth 0 not followed by a comma.
    let mut depth = 0usize;
    let mut quote = false;
    let mut end = None;
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quote = !quote,
            _ if quote => {}
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let next = rest[i + 1..].trim_start();
                    if !next.starts_with(',') {
                        end = Some(i + 1);
                        break;
                    }
                }
            }
            _ if depth == 0 && !bytes[i].is_ascii_whitespace() && bytes[i] != b',' => {
                return None;
            }
            _ => {}
        }
        i += 1;
    }
    let (rows, tail) = rest.split_at(end?);
    (!head.contains('$') && !tail.contains('$') && !tail.contains("RETURNING"))
        .then_some(InsertForm { head, rows, tail })
}

impl InsertForm<'_> {
    /// The statement inserting `n` argument lists of `per_row` each, its placeholders
    /// numbered from `offset` + 1.
    fn joined(&self, n: usize, per_row: usize, offset: usize) -> String {
        let mut sql = String::with_capacity(self.head.len() + n * (self.rows.len() + 8));
        sql.push_str(self.head);
        for i in 0..n {
            if i > 0 {
                sql.push_str(", ");
            }
            renumber_into(&mut sql, self.rows, offset + i * per_row);
        }
        sql.push_str(self.tail);
        sql
    }
}

/// `UPDATE t SET c = $i, … WHERE key_column = $key`: every assignment a placeholder.
pub(crate) struct UpdateForm<'a> {
    table: &'a str,
    sets: Vec<(&'a str, usize)>,
    pub(crate) key_column: &'a str,
    pub(crate) key: usize,
}

pub(crate) fn update_form(sql: &str) -> Option<UpdateForm<'_>> {
    let sql = sql.trim().trim_end_matches(';');
    let rest = sql.strip_prefix("UPDATE ")?;
    let (table, rest) = rest.split_once(" SET ")?;
    let (sets, cond) = rest.split_once(" WHERE ")?;
    let sets = sets
        .split(',')
        .map(assignment)
        .collect::<Option<Vec<_>>>()?;
    let (key_column, key) = assignment(cond)?;
    let table = table.trim();
    plain_name(table).then_some(())?;
    Some(UpdateForm {
        table,
        sets,
        key_column,
        key,
    })
}

/// `column = $N`.
fn assignment(s: &str) -> Option<(&str, usize)> {
    let (col, val) = s.split_once('=')?;
    let col = col.trim();
    let n = val.trim().strip_prefix('$')?.parse::<usize>().ok()?;
    plain_name(col).then_some((col, n))
}

fn plain_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl UpdateForm<'_> {
    /// `UPDATE t SET c = v.pI … FROM (VALUES (…), …) AS v (p1, …) WHERE key = v.pK`: the
    /// statement updating `n` rows, each from its argument list of `per_row`.
    fn joined(&self, n: usize, per_row: usize, offset: usize) -> String {
        let sets: Vec<String> = self
            .sets
            .iter()
            .map(|(c, i)| format!("{c} = v.p{i}"))
            .collect();
        let rows: Vec<String> = (0..n)
            .map(|r| format!("({})", placeholders_from(offset + r * per_row, per_row)))
            .collect();
        let names: Vec<String> = (1..=per_row).map(|i| format!("p{i}")).collect();
        format!(
            "UPDATE {} SET {} FROM (VALUES {}) AS v ({}) WHERE {}.{} = v.p{}",
            self.table,
            sets.join(", "),
            rows.join(", "),
            names.join(", "),
            self.table,
            self.key_column,
            self.key
        )
    }
}

/// Whether `sql` is a write that can be a `WITH` part: `INSERT`, `UPDATE` or `DELETE`,
/// returning no rows.
pub(crate) fn holdable(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or_default();
    ["INSERT", "UPDATE", "DELETE"]
        .iter()
        .any(|w| first.eq_ignore_ascii_case(w))
        && !sql.to_ascii_uppercase().contains("RETURNING")
}

/// One statement for several writes: `WITH w0 AS (…), w1 AS (…) SELECT …`, the parts whose
/// counts matter returning a row per row changed, counted in the final `SELECT` (`n0`, …).
/// Each part's placeholders are renumbered after the parts before it.
fn combined(held: Vec<Held>) -> (String, Vec<Val>) {
    let mut sql = String::from("WITH ");
    let mut args = Vec::with_capacity(held.iter().map(Held::params).sum());
    let mut counts = Vec::new();
    for (i, h) in held.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let counted = h.count.is_some();
        let (part, part_args) = h.statement(args.len());
        let _ = write!(sql, "w{i} AS ({part}");
        if counted {
            sql.push_str("\nRETURNING 1");
            counts.push(format!("(SELECT COUNT(*) FROM w{i}) AS n{i}"));
        }
        sql.push(')');
        args.extend(part_args);
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
fn counts_hold(counts: &[Option<u64>], row: &PgRow) -> bool {
    counts.iter().enumerate().all(|(i, count)| {
        count.is_none_or(|c| {
            sqlx::Row::try_get::<i64, _>(row, format!("n{i}").as_str())
                .is_ok_and(|n| u64::try_from(n).is_ok_and(|n| n == c))
        })
    })
}

/// `sql` with each placeholder `$N` made `$(N + offset)`; quoted text is left alone.
fn renumbered(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    renumber_into(&mut out, sql, offset);
    out
}

/// [`renumbered`], written at the end of `out`: the runs between placeholders copied
/// whole (a batch's joined statement renumbers thousands of placeholders).
fn renumber_into(out: &mut String, sql: &str, offset: usize) {
    if offset == 0 {
        out.push_str(sql);
        return;
    }
    let bytes = sql.as_bytes();
    let mut quote: Option<u8> = None;
    // `sql[copied..]` is not written yet; `$` and digits are ASCII, so every cut is at a
    // character's boundary.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        i += 1;
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if c == b'$' && bytes.get(i).is_some_and(u8::is_ascii_digit) => {
                out.push_str(&sql[copied..i]);
                let mut n = 0usize;
                while let Some(d) = bytes.get(i).filter(|d| d.is_ascii_digit()) {
                    n = n * 10 + usize::from(d - b'0');
                    i += 1;
                }
                push_number(out, n + offset);
                copied = i;
            }
            None => {}
        }
    }
    out.push_str(&sql[copied..]);
}

#[cfg(test)]
mod tests {
    use super::{Held, combined, holdable, insert_form, renumbered, update_form};
    use crate::db::Val;
    use crate::deferred::{Kept, by_id_of};
    use crate::shape::Shape;

    fn held(sql: &str, rows: Vec<Vec<Val>>, count: Option<u64>) -> Held {
        Held::new(sql, Shape::of(sql), rows, count)
    }

    #[test]
    fn an_update_by_id_names_its_one_row() {
        crate::side_effects::know_the_outbox_trigger();
        let args = vec![Val::Text("a".into()), Val::Int(1)];
        let one = |sql| Shape::of(sql).one_row(&args).cloned();
        assert_eq!(
            one("UPDATE t SET x = $2 WHERE id = $1"),
            Some(args[0].clone())
        );
        assert_eq!(one("UPDATE t SET x = $1 WHERE customer = $2"), None);
        assert_eq!(one("INSERT INTO t (id, x) VALUES ($1, $2)"), None);
        // A trigger writes another table for it.
        assert_eq!(one("UPDATE events SET x = $2 WHERE id = $1"), None);
    }

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
        // Text around the placeholders is copied as it is, other characters and a `$`
        // without digits too.
        assert_eq!(
            renumbered("SELECT 'é$1' || $1, $ x, é$2$", 3),
            "SELECT 'é$1' || $4, $ x, é$5$"
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
            held(
                "INSERT INTO a (x) VALUES ($1);",
                vec![vec![Val::Int(1)]],
                Some(1),
            ),
            held(
                "INSERT INTO b (x, y) VALUES ($1, $2)",
                vec![vec![Val::Int(2), Val::Int(3)]],
                None,
            ),
            held(
                "UPDATE c SET x = $2 WHERE id = $1",
                vec![vec![Val::Int(4), Val::Int(5)]],
                Some(1),
            ),
        ];
        let (sql, args) = combined(held.into());
        assert_eq!(
            sql,
            "WITH w0 AS (INSERT INTO a (x) VALUES ($1)\nRETURNING 1), \
             w1 AS (INSERT INTO b (x, y) VALUES ($2, $3)), \
             w2 AS (UPDATE c SET x = $5 WHERE id = $4\nRETURNING 1) \
             SELECT (SELECT COUNT(*) FROM w0) AS n0, (SELECT COUNT(*) FROM w2) AS n2"
        );
        assert_eq!(args, (1..=5).map(Val::Int).collect::<Vec<_>>());
    }

    #[test]
    fn writes_of_one_text_join_into_one_part() {
        let insert = held(
            "INSERT INTO t (a, b) VALUES ($1, 'x''s'), ($2, 1) ON CONFLICT DO NOTHING",
            vec![
                vec![Val::Int(1), Val::Int(2)],
                vec![Val::Int(3), Val::Int(4)],
            ],
            Some(2),
        );
        let (sql, args) = insert.statement(0);
        assert_eq!(
            sql,
            "INSERT INTO t (a, b) VALUES ($1, 'x''s'), ($2, 1), ($3, 'x''s'), ($4, 1) \
             ON CONFLICT DO NOTHING"
        );
        assert_eq!(args, (1..=4).map(Val::Int).collect::<Vec<_>>());

        let update = held(
            "UPDATE c SET x = $2,\n  y = $3 WHERE id = $1",
            vec![
                vec![
                    Val::Text("a".into()),
                    Val::Int(1),
                    Val::Null(crate::db::Kind::Int),
                ],
                vec![Val::Text("b".into()), Val::Int(2), Val::Int(3)],
            ],
            Some(2),
        );
        assert_eq!(
            update.statement(0).0,
            "UPDATE c SET x = v.p2, y = v.p3 FROM (VALUES ($1, $2, $3), ($4, $5, $6)) \
             AS v (p1, p2, p3) WHERE c.id = v.p1"
        );
    }

    #[test]
    fn a_kept_read_knows_the_writes_that_may_change_it() {
        crate::side_effects::know_the_outbox_trigger();
        let by_id = Kept::<()>::of("SELECT a FROM t WHERE id = $1 FOR UPDATE");
        assert_eq!(by_id.by_id_of(), Some("t"));
        assert!(by_id.changed_by(Some("t")));
        assert!(!by_id.changed_by(Some("tt")));
        // A write whose table is not plain to see may change anything.
        assert!(by_id.changed_by(None));
        let outbox = Kept::<()>::of("SELECT seq FROM webhook_outbox WHERE event_id = $1");
        assert_eq!(outbox.by_id_of(), None);
        // Events are written to the outbox by a trigger.
        assert!(outbox.changed_by(Some("events")));
    }

    #[test]
    fn a_kept_read_forgets_only_the_row_an_update_by_id_changes() {
        let text = |s: &str| vec![Val::Text(s.into())];
        let update = Shape::of("UPDATE t SET a = $2 WHERE id = $1");
        let (a, b) = (text("a"), text("b"));
        let args = [a[0].clone(), Val::Int(1)];
        // Read by id alone: the row is found by its key.
        let mut by_id = Kept::of("SELECT a FROM t WHERE id = $1");
        by_id.keep_all([(a.clone(), 1), (b.clone(), 2)]);
        assert!(by_id.forget(&update, update.one_row(&args)));
        assert_eq!((by_id.get(&a), by_id.get(&b)), (None, Some(&2)));
        // Read by id and more: every read of the row goes.
        let mut more = Kept::of("SELECT a FROM t WHERE id = $1 AND b = $2");
        let (a1, a2) = ([a.clone(), text("x")].concat(), [a, text("y")].concat());
        let b1 = [b, text("x")].concat();
        more.keep_all([(a1.clone(), 1), (a2.clone(), 2), (b1.clone(), 3)]);
        assert!(more.forget(&update, update.one_row(&args)));
        assert_eq!(
            (more.get(&a1), more.get(&a2), more.get(&b1)),
            (None, None, Some(&3))
        );
        // Any other write to the table forgets the read entirely.
        let insert = Shape::of("INSERT INTO t (id) VALUES ($1)");
        assert!(!by_id.forget(&insert, None));
        // A write to another table leaves it as it is.
        let other = Shape::of("UPDATE u SET a = $2 WHERE id = $1");
        assert!(by_id.forget(&other, other.one_row(&args)));
        assert_eq!(by_id.get(&text("b")), Some(&2));
    }

    #[test]
    fn joined_parts_are_numbered_after_the_parts_before_them() {
        let held = vec![
            held(
                "INSERT INTO a (x) VALUES ($1)",
                vec![vec![Val::Int(1)]],
                None,
            ),
            held(
                "INSERT INTO b (x, y) VALUES ($1, $2)",
                vec![
                    vec![Val::Int(2), Val::Int(3)],
                    vec![Val::Int(4), Val::Int(5)],
                ],
                None,
            ),
            held(
                "UPDATE c SET x = $2 WHERE id = $1",
                vec![
                    vec![Val::Int(6), Val::Int(7)],
                    vec![Val::Int(8), Val::Int(9)],
                ],
                Some(2),
            ),
        ];
        let (sql, args) = combined(held);
        assert_eq!(
            sql,
            "WITH w0 AS (INSERT INTO a (x) VALUES ($1)), \
             w1 AS (INSERT INTO b (x, y) VALUES ($2, $3), ($4, $5)), \
             w2 AS (UPDATE c SET x = v.p2 FROM (VALUES ($6, $7), ($8, $9)) AS v (p1, p2) \
             WHERE c.id = v.p1\nRETURNING 1) SELECT (SELECT COUNT(*) FROM w2) AS n2"
        );
        assert_eq!(args, (1..=9).map(Val::Int).collect::<Vec<_>>());
    }

    #[test]
    fn only_plain_inserts_and_updates_by_placeholder_join() {
        assert!(insert_form("INSERT INTO t (a) VALUES ($1)").is_some());
        // Placeholders outside the rows, rows from a query, or rows returned: not joined.
        assert!(
            insert_form("INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET b = $2")
                .is_none()
        );
        assert!(insert_form("INSERT INTO t (a) SELECT a FROM u").is_none());
        assert!(insert_form("INSERT INTO t (a) VALUES ($1) RETURNING id").is_none());
        let u = update_form("UPDATE t SET a = $2 WHERE id = $1").unwrap();
        assert_eq!((u.table, u.key_column, u.key), ("t", "id", 1));
        assert!(update_form("UPDATE t SET a = a + $2 WHERE id = $1").is_none());
        assert!(update_form("UPDATE t SET a = $2 WHERE id = $1 AND b = $3").is_none());
        assert!(update_form("UPDATE t SET a = $2").is_none());
    }

    #[test]
    fn a_read_by_id_is_told_apart_from_reads_by_other_columns() {
        assert!(by_id_of("SELECT a FROM t WHERE id = $1 FOR UPDATE", "t"));
        assert!(!by_id_of("SELECT a FROM t WHERE customer = $1", "t"));
        assert!(!by_id_of("SELECT a FROM u WHERE id = $1", "t"));
        assert!(!by_id_of("SELECT a FROM t WHERE id = $1 OR b = $2", "t"));
    }
}
