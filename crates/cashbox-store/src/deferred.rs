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
//! again in an ordinary transaction. The replay takes no savepoint while its group-commit
//! batch holds only replays (`lite.rs`); one that conflicts then rolls back the batch, and
//! every replay in it answers `Conflict` too.
//!
//! A read that follows the transaction's own write of the same rows sees the old rows outside
//! and the new ones in the replay, so it conflicts: safe, only slower. Reads need no common
//! snapshot for the same reason: the replay checks them all against one state. A read the
//! transaction already made is answered from what it returned ([`Kept`]) until a write of the
//! transaction may change it (an update of one row by id, that row's reads by id; any other
//! write, every read of its table): the replay would find the same rows twice, so it checks
//! them once. A read ahead ([`DeferredTx::read_ahead`]) is one read of many keys, kept as the
//! answer to each key's read, and checked in the replay as the one read it was.
//!
//! [`Query::execute`]: crate::db::Query

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::types::Value;

use crate::db::{Output, Row, Val, Want, lite_run};
use crate::lite::{Counted, LiteTx};
use crate::shape::{FastMap, Shape};
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

/// What a read returned: its rows, and their column names if there were any.
#[derive(Clone)]
struct Answer {
    cols: Option<Arc<[String]>>,
    rows: Arc<[Vec<Value>]>,
}

impl Answer {
    fn of(rows: &[Row]) -> Self {
        Self {
            cols: rows.first().and_then(Row::lite_columns),
            rows: rows.iter().map(|r| r.lite_values().to_vec()).collect(),
        }
    }

    fn output(&self) -> Output {
        let rows = self
            .rows
            .iter()
            .filter_map(|vals| {
                Some(Row::Lite {
                    cols: self.cols.clone()?,
                    vals: vals.clone(),
                })
            })
            .collect();
        Output::Rows(rows)
    }
}

enum Recorded {
    /// A read and what it returned.
    Rows(Answer),
    /// A write and the row count the code was given, if the code looks at it.
    Count(Option<u64>),
}

struct Op {
    sql: String,
    args: Vec<Val>,
    recorded: Recorded,
}

/// A table the transaction wrote (`None`: one not plain to see), and the ids of the rows it
/// updated one by one, if that is all it did to it.
struct Written {
    table: Option<Box<str>>,
    ids: Option<Vec<Val>>,
}

impl Written {
    /// Whether the read `kept` (its text) with `args` may see this write: it names the
    /// table, and does not read by id a row other than those updated.
    fn seen_by<R>(&self, kept: &Kept<R>, args: &[Val]) -> bool {
        let table = self.table.as_deref();
        let other_row = kept.by_id_of() == table
            && matches!((&self.ids, args.first()), (Some(ids), Some(id)) if !ids.contains(id));
        kept.changed_by(table) && !other_row
    }
}

pub struct DeferredTx {
    lite: Arc<Lite>,
    log: Vec<Op>,
    /// What the transaction read, by read text and arguments, kept as the answer to the same
    /// read until one of its writes may change it ([`Kept::forget`]); the log holds it once,
    /// so the replay checks it once. Reads ahead are kept here too, one answer per key.
    kept: FastMap<String, Kept<Answer>>,
    written: Vec<Written>,
    /// Whether a read in the log follows a write that may change it.
    reads_after_writing: bool,
    /// Counts it as being worked out until it takes its place in the write queue, so that a
    /// batch may wait a moment for it (`lite.rs`).
    working: Counted,
    #[cfg(feature = "fault-injection")]
    pub(crate) lose_a_write: bool,
}

impl DeferredTx {
    pub(crate) fn new(lite: Arc<Lite>) -> Self {
        Self {
            working: lite.working(),
            lite,
            log: Vec::new(),
            kept: FastMap::default(),
            written: Vec::new(),
            reads_after_writing: false,
            #[cfg(feature = "fault-injection")]
            lose_a_write: false,
        }
    }

    #[cfg(test)]
    pub(crate) fn log_len(&self) -> usize {
        self.log.len()
    }

    /// Runs a read on a read connection and records what it returned, unless it has its
    /// answer already.
    pub(crate) fn read(&mut self, sql: &str, args: Vec<Val>) -> Result<Output> {
        if let Some(answer) = self.kept.get(sql).and_then(|k| k.get(&args)) {
            return Ok(answer.output());
        }
        let out = self
            .lite
            .read(|conn| lite_run(conn, sql, &args, Want::Rows))?;
        if let Output::Rows(rows) = &out {
            let answer = Answer::of(rows);
            let kept = self
                .kept
                .entry(sql.to_owned())
                .or_insert_with(|| Kept::of(sql));
            if !self.reads_after_writing {
                self.reads_after_writing = self.written.iter().any(|w| w.seen_by(kept, &args));
            }
            kept.keep(args.clone(), answer.clone());
            self.log.push(Op {
                sql: sql.to_owned(),
                args,
                recorded: Recorded::Rows(answer),
            });
        }
        Ok(out)
    }

    /// Reads ahead ([`ReadAhead`]): the replay checks `many` as the one read it is.
    pub(crate) fn read_ahead(&mut self, mut ahead: ReadAhead<'_>) -> Result<()> {
        let args = std::mem::take(&mut ahead.args);
        let Output::Rows(rows) = self.read(ahead.many, args)? else {
            unreachable!("a read answers rows")
        };
        let by_key = ahead.by_key(rows, |row, column| row.try_get(column))?;
        let kept = self
            .kept
            .entry(ahead.one.to_owned())
            .or_insert_with(|| Kept::of(ahead.one));
        kept.keep_all(
            by_key
                .into_iter()
                .map(|(key, rows)| (key, Answer::of(&rows))),
        );
        Ok(())
    }

    /// Records a write; `count` is what the code is told it changed (checked at commit), or
    /// `None` if the code ignores it.
    pub(crate) fn write(&mut self, sql: &str, args: Vec<Val>, count: Option<u64>) {
        let shape = Shape::of(sql);
        let table = shape.table.as_deref();
        let one_row = shape.one_row(&args);
        self.kept.retain(|_, kept| kept.forget(&shape, one_row));
        match self
            .written
            .iter_mut()
            .find(|w| w.table.as_deref() == table)
        {
            Some(w) => match (&mut w.ids, one_row) {
                (Some(ids), Some(id)) => ids.push(id.clone()),
                (ids, _) => *ids = None,
            },
            None => self.written.push(Written {
                table: table.map(Box::from),
                ids: one_row.map(|id| vec![id.clone()]),
            }),
        }
        self.log.push(Op {
            sql: sql.to_owned(),
            args,
            recorded: Recorded::Count(count),
        });
    }

    /// Takes the write turn and replays the log; commits if every statement still gives what
    /// it gave, else writes nothing and returns [`StoreError::Conflict`].
    pub(crate) async fn commit(self) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        let this = self.with_a_write_lost();
        #[cfg(not(feature = "fault-injection"))]
        let this = self;
        // A replay that reads a table it wrote is likely to conflict (see above): it takes a
        // savepoint, so that it does not take its batch down with it.
        let saved = this.reads_after_writing;
        let Some(tx) = this.replay(saved).await? else {
            CONFLICTS.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Conflict);
        };
        // Without a savepoint, another replay's conflict in the same batch rolls this one
        // back too: a conflict of its own for the caller.
        let committed = tx.commit().await;
        let counter = match &committed {
            Ok(()) => &COMMITTED,
            Err(StoreError::Conflict) => &CONFLICTS,
            Err(_) => return committed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        committed
    }

    /// Without its last write, if told to lose one ([`crate::Tx::lose_a_write`]).
    #[cfg(feature = "fault-injection")]
    fn with_a_write_lost(mut self) -> Self {
        if self.lose_a_write
            && let Some(i) = self
                .log
                .iter()
                .rposition(|op| matches!(op.recorded, Recorded::Count(_)))
        {
            self.log.remove(i);
        }
        self
    }

    /// After the work failed: whether it saw what it would have seen in the write turn, so
    /// that its failure is the answer an ordinary transaction would give. It read nothing
    /// after a write of its own (such a read saw the rows before the write), and the log
    /// replays with every read and count as recorded (in a savepoint, rolled back).
    pub(crate) async fn saw_what_the_turn_sees(self) -> Result<bool> {
        if self.reads_after_writing {
            return Ok(false);
        }
        // Rolled back whatever it finds: in a savepoint of its own, never its batch.
        Ok(self.replay(true).await?.is_some())
    }

    /// Takes the write turn and replays the log (in a savepoint if `saved`): the open
    /// transaction if every statement gave what it gave, else `None` (nothing written: its
    /// savepoint, or its batch, is rolled back).
    async fn replay(self, saved: bool) -> Result<Option<LiteTx>> {
        let Self {
            lite, log, working, ..
        } = self;
        // Queued from here on, no longer being worked out.
        drop(working);
        let tx = if saved {
            lite.begin().await?
        } else {
            lite.begin_replay().await?
        };
        for op in &log {
            let same = match &op.recorded {
                Recorded::Rows(Answer { rows, .. }) => {
                    match lite_run(tx.conn(), &op.sql, &op.args, Want::Rows) {
                        Ok(Output::Rows(now)) => {
                            now.len() == rows.len()
                                && now
                                    .iter()
                                    .zip(rows.iter())
                                    .all(|(n, r)| n.lite_values() == r.as_slice())
                        }
                        _ => false,
                    }
                }
                Recorded::Count(count) => {
                    match lite_run(tx.conn(), &op.sql, &op.args, Want::Count) {
                        Ok(Output::Count(n)) => count.is_none_or(|c| c == n),
                        _ => false,
                    }
                }
            };
            if !same {
                // Dropping the transaction rolls back its savepoint, or its whole batch.
                return Ok(None);
            }
        }
        Ok(Some(tx))
    }
}

/// The rows a transaction read with one read text, by arguments, kept as the answer to the
/// same read until a write of the transaction may change them (buffered and deferred
/// transactions).
pub(crate) struct Kept<R> {
    /// What the read's text says ([`Shape`]): which writes may change its rows.
    shape: Arc<Shape>,
    rows: FastMap<Vec<Val>, R>,
    /// Whether some read was made with more than one argument: then a row's reads by id
    /// are not found by their key alone ([`Kept::forget`]).
    more_args: bool,
}

impl<R> Kept<R> {
    pub(crate) fn of(read: &str) -> Self {
        Self {
            shape: Shape::of(read),
            rows: FastMap::default(),
            more_args: false,
        }
    }

    /// The table whose rows it reads by their id alone, if it does.
    pub(crate) fn by_id_of(&self) -> Option<&str> {
        self.shape.by_id_of.as_deref()
    }

    pub(crate) fn get(&self, args: &[Val]) -> Option<&R> {
        self.rows.get(args)
    }

    /// Keeps `rows` as the answer to the read with `args`.
    pub(crate) fn keep(&mut self, args: Vec<Val>, rows: R) {
        self.more_args |= args.len() != 1;
        self.rows.insert(args, rows);
    }

    pub(crate) fn keep_all(&mut self, answers: impl IntoIterator<Item = (Vec<Val>, R)>) {
        for (args, rows) in answers {
            self.keep(args, rows);
        }
    }

    pub(crate) fn changed_by(&self, table: Option<&str>) -> bool {
        self.shape.changed_by(table)
    }

    /// Forgets the rows that `write` may change: if it updates one row by its id
    /// (`one_row`), only that row's, else every read naming its table. Returns whether any
    /// are left to keep.
    pub(crate) fn forget(&mut self, write: &Shape, one_row: Option<&Val>) -> bool {
        if !self.shape.changed_by_write(write) {
            return true;
        }
        let table = write.table.as_deref();
        match one_row {
            Some(id) if table.is_some() && self.by_id_of() == table => {
                if self.more_args {
                    self.rows.retain(|args, _| args.first() != Some(id));
                } else {
                    self.rows.remove(std::slice::from_ref(id));
                }
                true
            }
            _ => false,
        }
    }
}

/// A read ahead, for work that will read rows one key at a time: `many` (with `args`) reads
/// the rows of every key in `keys`, each row's key in its column `key_column`, and each
/// key's rows are kept as the answer to `one` (the read of one key, its only argument). A
/// key without rows is kept too (none).
pub(crate) struct ReadAhead<'a> {
    pub(crate) many: &'a str,
    pub(crate) args: Vec<Val>,
    pub(crate) one: &'a str,
    pub(crate) key_column: &'a str,
    pub(crate) keys: &'a [String],
}

impl ReadAhead<'_> {
    /// `rows` (as `many` returned them) by their key (`key_of` a row, given the key column),
    /// as `one`'s arguments: every key of `keys`, each with its rows in the order read.
    pub(crate) fn by_key<R>(
        &self,
        rows: impl IntoIterator<Item = R>,
        key_of: impl Fn(&R, &str) -> Result<String>,
    ) -> Result<FastMap<Vec<Val>, Vec<R>>> {
        let mut by_key: FastMap<Vec<Val>, Vec<R>> = self
            .keys
            .iter()
            .map(|k| (vec![Val::Text(k.clone())], Vec::new()))
            .collect();
        for row in rows {
            let key = key_of(&row, self.key_column)?;
            by_key.entry(vec![Val::Text(key)]).or_default().push(row);
        }
        Ok(by_key)
    }
}

/// Whether `read` reads rows of `table` by their id alone.
pub(crate) fn by_id_of(read: &str, table: &str) -> bool {
    read.contains(&format!(" FROM {table} WHERE id = $1"))
        && !read.contains(" JOIN ")
        && !read[read.find(" WHERE id = $1").unwrap_or(0)..].contains(" OR ")
}

/// Whether the write `write` may change what the read `read` returns: it writes (itself or
/// by a trigger) a table the read names, or its table is not plain to see.
/// (The code asks [`Shape::changed_by`], which finds the same without searching the read's
/// text once per write.)
#[cfg(test)]
pub(crate) fn may_change(write: &str, read: &str) -> bool {
    changes_named(written_table(write), |t| names_table(read, t))
}

/// Whether a write to `table` (`None`: not plain to see) may change a read, given whether
/// the read names a table.
pub(crate) fn changes_named(table: Option<&str>, names: impl Fn(&str) -> bool) -> bool {
    let Some(table) = table else {
        return true;
    };
    names(table)
        || crate::side_effects::known()
            .iter()
            .any(|(t, also)| &**t == table && names(also))
}

/// The table an `INSERT INTO`, `UPDATE` or `DELETE FROM` statement writes.
pub(crate) fn written_table(sql: &str) -> Option<&str> {
    let mut words = sql.split_whitespace();
    let first = words.next()?;
    let table = if first.eq_ignore_ascii_case("UPDATE") {
        words.next()
    } else if first.eq_ignore_ascii_case("INSERT") || first.eq_ignore_ascii_case("DELETE") {
        words.find(|w| w.eq_ignore_ascii_case("INTO") || w.eq_ignore_ascii_case("FROM"))?;
        words.next()
    } else {
        None
    }?;
    let end = table
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(table.len());
    Some(&table[..end]).filter(|t| !t.is_empty())
}

/// Whether `table` appears in `sql` as a whole word.
#[cfg(test)]
pub(crate) fn names_table(sql: &str, table: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    sql.match_indices(table).any(|(i, _)| {
        let before = sql[..i].chars().next_back();
        let after = sql[i + table.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

#[cfg(test)]
mod tests {
    use super::{DeferredTx, may_change, names_table, written_table};
    use crate::StoreError;
    use crate::db::{Output, Val};
    use crate::lite::tests::{insert, open};

    fn rows(out: Output) -> usize {
        match out {
            Output::Rows(rows) => rows.len(),
            Output::Count(_) => panic!("a read answers rows"),
        }
    }

    #[tokio::test]
    async fn a_read_made_again_before_a_write_to_its_table_is_answered_from_the_log() {
        let (lite, _dir) = open("read-again").await;
        let tx = lite.begin().await.unwrap();
        insert(&tx, "a");
        tx.commit().await.unwrap();
        let sql = "SELECT id FROM t WHERE id = $1";
        let a = || vec![Val::Text("a".into())];
        let mut d = DeferredTx::new(lite.clone());
        assert_eq!(rows(d.read(sql, a()).unwrap()), 1);
        // The row goes behind the transaction's back: the same read still answers what the
        // transaction saw, and is not logged (or replayed) twice.
        let tx = lite.begin().await.unwrap();
        tx.conn()
            .execute("DELETE FROM t WHERE id = 'a'", [])
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(rows(d.read(sql, a()).unwrap()), 1);
        assert_eq!(d.log.len(), 1);
        // Another read is not the same read.
        assert_eq!(rows(d.read(sql, vec![Val::Text("b".into())]).unwrap()), 0);
        assert_eq!(d.log.len(), 2);
        // After a write to its table, the read runs again.
        d.write(
            "INSERT INTO t (id) VALUES ($1)",
            vec![Val::Text("c".into())],
            Some(1),
        );
        assert_eq!(rows(d.read(sql, a()).unwrap()), 0);
        assert_eq!(d.log.len(), 4);
        // The replay checks the first answer against the table as it is now.
        assert!(matches!(d.commit().await, Err(StoreError::Conflict)));
    }

    #[tokio::test]
    async fn a_replay_takes_a_savepoint_only_after_a_write_its_reads_may_see() {
        let (lite, _dir) = open("reads-after-writing").await;
        let read = "SELECT id FROM t WHERE id = $1";
        let id = |s: &str| vec![Val::Text(s.into())];
        let mut d = DeferredTx::new(lite.clone());
        d.read(read, id("a")).unwrap();
        assert!(!d.reads_after_writing, "nothing written yet");
        d.write("INSERT INTO u (id) VALUES ($1)", id("a"), Some(1));
        d.read(read, id("b")).unwrap();
        assert!(!d.reads_after_writing, "a write to another table");
        let update = "UPDATE t SET x = $2 WHERE id = $1";
        d.write(update, vec![Val::Text("b".into()), Val::Int(1)], Some(1));
        // The same read again is answered from what it read, not made after the write.
        d.read(read, id("a")).unwrap();
        assert_eq!(d.log.len(), 4);
        d.read(read, id("c")).unwrap();
        assert!(!d.reads_after_writing, "another row of the table updated");
        assert_eq!(d.log.len(), 5);
        d.read(read, id("b")).unwrap();
        assert!(d.reads_after_writing, "a read of the row updated");
        assert_eq!(d.log.len(), 6);
        let mut d = DeferredTx::new(lite.clone());
        d.write("INSERT INTO t (id) VALUES ($1)", id("x"), Some(1));
        d.read(read, id("a")).unwrap();
        assert!(d.reads_after_writing, "a read of a table inserted into");
    }

    #[tokio::test]
    async fn a_failure_stands_only_if_the_turn_would_have_seen_what_the_work_saw() {
        let (lite, _dir) = open("failure-stands").await;
        let read = "SELECT id FROM t WHERE id = $1";
        let id = |s: &str| vec![Val::Text(s.into())];
        // Nothing changed since: the work saw what the turn sees.
        let mut d = DeferredTx::new(lite.clone());
        d.read(read, id("a")).unwrap();
        d.write("INSERT INTO t (id) VALUES ($1)", id("c"), Some(1));
        assert!(d.saw_what_the_turn_sees().await.unwrap());
        // A row it read changed behind its back.
        let mut d = DeferredTx::new(lite.clone());
        d.read(read, id("a")).unwrap();
        let tx = lite.begin().await.unwrap();
        insert(&tx, "a");
        tx.commit().await.unwrap();
        assert!(!d.saw_what_the_turn_sees().await.unwrap());
        // It read a table after writing it: it saw the rows before its own write.
        let mut d = DeferredTx::new(lite.clone());
        d.write("INSERT INTO t (id) VALUES ($1)", id("b"), Some(1));
        d.read(read, id("b")).unwrap();
        assert!(!d.saw_what_the_turn_sees().await.unwrap());
        // A write it was told changed a row would change none.
        let mut d = DeferredTx::new(lite.clone());
        d.write("UPDATE t SET id = id WHERE id = $1", id("zz"), Some(1));
        assert!(!d.saw_what_the_turn_sees().await.unwrap());
        // Nothing was written by the checks.
        let tx = lite.begin().await.unwrap();
        let n: i64 = tx
            .conn()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_write_names_its_table() {
        assert_eq!(
            written_table("INSERT INTO events (id) VALUES ($1)"),
            Some("events")
        );
        assert_eq!(
            written_table("UPDATE invoices SET sealed = $2 WHERE id = $1"),
            Some("invoices")
        );
        assert_eq!(
            written_table("DELETE FROM webhook_outbox WHERE seq = $1"),
            Some("webhook_outbox")
        );
        assert_eq!(
            written_table("insert into ledger_entries(txn_id) values ($1)"),
            Some("ledger_entries")
        );
        assert_eq!(
            written_table("WITH x AS (SELECT 1) UPDATE t SET a = 1"),
            None
        );
    }

    #[test]
    fn a_write_changes_what_its_triggers_write_too() {
        crate::side_effects::know_the_outbox_trigger();
        let insert = "INSERT INTO events (id) VALUES ($1)";
        assert!(may_change(insert, "SELECT id FROM events WHERE id = $1"));
        assert!(may_change(insert, "SELECT seq FROM webhook_outbox"));
        assert!(!may_change(
            insert,
            "SELECT id FROM customers WHERE id = $1"
        ));
        assert!(may_change(
            "WITH x AS (SELECT 1) UPDATE t SET a = 1",
            "SELECT 1 FROM u"
        ));
    }

    #[test]
    fn a_table_is_named_as_a_whole_word() {
        let sql = "SELECT id FROM invoiceitems WHERE customer = $1";
        assert!(names_table(sql, "invoiceitems"));
        assert!(!names_table(sql, "invoices"));
        assert!(!names_table(sql, "items"));
        assert!(names_table(
            "SELECT 1 FROM a JOIN invoices ON x",
            "invoices"
        ));
    }
}
