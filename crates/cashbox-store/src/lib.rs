//! Cashbox's storage: one [`Store`] over SQLite or PostgreSQL.
//!
//! Each backend is a variant; every query is written once with `$1`-style placeholders and run
//! on either backend by [`db::query`], so the SQL cannot drift apart. Where the dialects differ
//! (row locks, `BEGIN IMMEDIATE`, DDL types) the difference is spelled out next to the query or
//! in the two migration folders. A use case opens a [`Tx`], calls the statements it needs, and
//! commits: one use case, one transaction. SQL lives in this crate only.
//!
//! # Adding a query
//!
//! A query is a method on [`Store`] (a read outside any transaction) or on [`Tx`] (inside
//! one), in the module of its tables. Say invoices need a `memo` column, written by a use case
//! and read back by id:
//!
//! ```ignore
//! impl Tx {
//!     /// Sets an invoice's memo; false if there is no such invoice.
//!     pub async fn set_invoice_memo(&mut self, id: &str, memo: &str) -> Result<bool> {
//!         let n = query("UPDATE invoices SET memo = $2 WHERE id = $1")
//!             .bind(id)
//!             .bind(memo)
//!             .execute(&mut *self, 1) // the rows it is expected to change
//!             .await?;
//!         Ok(n == 1)
//!     }
//!
//!     pub async fn invoice_memo(&mut self, id: &str) -> Result<Option<String>> {
//!         query("SELECT memo FROM invoices WHERE id = $1")
//!             .bind(id)
//!             .fetch_optional(&mut *self)
//!             .await?
//!             .map(|r| r.try_get("memo"))
//!             .transpose()
//!     }
//! }
//! ```
//!
//! with the column added by a migration in both `migrations/sqlite` and `migrations/postgres`
//! (same number, same name). That is all: nothing else needs to know about the new statement.
//!
//! What a newcomer may meet, and why it is still right:
//!
//! - Every write says how many rows it expects to change. Work run through `App::transact`
//!   (a payment's outcome, the billing run) runs first in a *fast* transaction: deferred on
//!   SQLite, buffered on PostgreSQL (below). There, a write is not made at once: `execute`
//!   tells the code the count it expects, and the commit checks that it was so; any other
//!   count makes the commit a conflict, and the work runs again in an ordinary transaction,
//!   where `execute` returns the true count. So `n == 1` above is exact on both paths. A
//!   write whose count the code does not need uses `Query::run_ignoring_count`; one whose
//!   true count it needs at once (a purge that reports it), `Query::execute_counted`, and a
//!   write whose rows the code reads (`RETURNING`): both make a deferred transaction fall
//!   back.
//! - A fast transaction keeps what it read and answers the same read again from it until one
//!   of its own writes may change it. Which tables a write changes is read from the statement
//!   (`shape.rs`: the table after `INSERT INTO`, `UPDATE` or `DELETE FROM`) and from the
//!   database's catalog (`side_effects.rs`: the tables its triggers and cascading foreign keys
//!   write), learned at every migrate. A new trigger needs no code.
//! - Nothing here is silent: each fall-back is counted ([`fast_path_stats`], exported in
//!   `/metrics`; the benchmarks fail when more than 2% fell back), and the differential test
//!   (`crates/cashbox/tests/api/differential.rs`) runs the use cases that take fast
//!   transactions both ways on both backends and compares every row written. A new use case
//!   run through `App::transact` belongs in its scenario.
//!
//! # Why the fast transactions exist, and how they work
//!
//! - SQLite runs through rusqlite, synchronously, on the calling thread, with one write connection
//!   taken in turns and a pool of readers. sqlx's SQLite driver moved every statement to a worker
//!   thread and back; with ~20 statements per payment under SQLite's single write lock, those hops
//!   and the scheduler turns behind them were most of the time the lock was held (358 payments/s
//!   before, 1,300 after). A statement takes microseconds, so blocking the async worker is cheaper
//!   than hopping.
//! - SQLite group commit (`lite.rs`): each transaction is a savepoint in a batch transaction; a
//!   writer that finishes while others are queued hands the connection on and the batch commits
//!   for all (at most 32 transactions or 5 ms). `Tx::commit` returns only after the batch's
//!   `COMMIT`; a failed batch fails every member. A deferred transaction's replay takes no
//!   savepoint while its batch holds only replays (a savepoint copies every page it changes, in
//!   the turn): a replay that finds a change rolls back the whole batch and every replay in it
//!   runs again; an ordinary transaction, whose work cannot run again, always takes one.
//!   With nobody queued but deferred transactions still being worked out, a batch stays open
//!   up to 2 ms (under 16 members) for them: concurrent transactions change the same pages, so
//!   bigger batches write fewer.
//!   Checkpoints run on a thread of their own, every 20 ms, so each one's fsync is short.
//!   Savepoint undo pages stay in memory (`temp_store=MEMORY`). An in-memory SQLite database is
//!   refused: readers and the writer are separate connections.
//! - The write turn only writes where it can. A PaymentIntent create builds and seals its rows
//!   and events before its transaction. A renewal step and a payment's outcome run in a
//!   *deferred* transaction on SQLite (`cashbox-store/src/deferred.rs`, `App::transact`): the
//!   use-case code runs outside the turn, its reads on a read connection, recorded with their
//!   rows, its writes recorded; in the turn the log is replayed, and it commits only if every
//!   read returns the same rows and every write changes the count the code was told. Otherwise
//!   nothing is written and the work runs again in an ordinary transaction. A read of the
//!   transaction's own write therefore always conflicts (correct, only slower; such a replay
//!   takes a savepoint, so that it does not take its batch down); `bench-billing` prints how
//!   many conflicted. It keeps what it read (`Kept`, shared with buffered transactions) and
//!   answers the same read again from it until one of its writes may change it (an update of
//!   one row by id forgets that row's reads by id, any other write every read of its table);
//!   `read_ahead_*` reads many rows in one statement and keeps each key's rows, and the replay
//!   checks that one statement. The sandbox's journal entry is one too. On PostgreSQL the same work runs
//!   in a *buffered* transaction (`buffered.rs`): reads and `FOR UPDATE` locks at once, writes
//!   held until a statement names a table they write (or the commit) and then sent as one
//!   statement of data-modifying `WITH` parts, none reading or writing another's table; a held
//!   write that fails or changes another count than the code was told is a conflict, and the
//!   work runs again in an ordinary transaction. A held write of the same text as one held
//!   before joins it as another row of its part (multi-row `VALUES`, `UPDATE … FROM (VALUES …)`),
//!   unless a write held since names its table or it updates a row the part updates already.
//!   The transaction keeps the rows it read and answers the same read again from them until one
//!   of its writes may change them (an update of one row by id forgets that row; any other
//!   write, every read of its table). What a statement's text says (its words, the table it
//!   writes, whether it may be held or joined, the one row it updates) is found once per text
//!   and thread (`shape::Shape`), not for every statement; whether a write may change a kept
//!   read is first asked of 256 bits of the read's words.
//!   `read_ahead_*` locks many rows in id order in one read and
//!   keeps each as the answer to its one-row read. Work that takes a lock by writing must not
//!   run buffered: a held write locks nothing until it is sent. It begins with
//!   `SET LOCAL enable_seqscan = off` (same round trip): its prepared, key-joined statements
//!   otherwise kept plans made while a table was small.
//! - Billing runs renew in batches (`billing_run.rs`): on PostgreSQL `RENEWAL_BATCH` = 64, 8
//!   at once, on SQLite `SQLITE_RENEWAL_BATCH` = 32, 8 at once. One buffered (deferred)
//!   transaction takes the next step of the batch's subscriptions, their subscriptions,
//!   customers, cards and invoice items read ahead; their charges go to the processor together
//!   (`Processor::authorize_many`: the sandbox journals them in one insert on PostgreSQL, one
//!   deferred transaction on SQLite); one more transaction applies the outcomes, intents,
//!   cards, invoices and subscriptions read ahead. On PostgreSQL ~17 round trips for 64
//!   renewals, where one renewal alone makes 18; on SQLite three places in the write queue for
//!   32, where one renewal alone takes three. A batch that
//!   fails runs its subscriptions one by one; subscriptions with more due go on alone. Batches
//!   hold disjoint subscriptions and lock in id order, so two batches do not deadlock over them.
//!   The worker takes `BILLING_ROUND` (1,024) pieces of work a round, enough for 8 batches twice.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

mod api_keys;
mod billing;
mod buffered;
mod catalog;
mod customers;
mod db;
mod deferred;
mod docs;
mod entitlements;
mod events;
mod idempotency;
mod ledger;
mod lite;
mod migrate;
mod query;
mod sandbox;
mod sealed;
mod search;
mod shape;
mod side_effects;
pub mod testing;
mod usage;
mod webhooks;

pub use api_keys::ApiKeyRow;
pub use billing::{DueKind, DueWork};
use buffered::Buffered;
pub use buffered::buffered_stats;
pub use catalog::{PriceAttributes, PriceFilter};
pub use customers::{CustomerFilter, CustomerRow};
pub use deferred::{DeferredTx, deferred_stats};
pub use docs::{CHILDREN_MAX, DocFilter, DocRow, DocTable};
pub use entitlements::Grant;
pub use events::{EventFilter, EventRow};
pub use idempotency::{Claim, IDEMPOTENCY_LEASE_SECS, IDEMPOTENCY_TTL_SECS};
pub use ledger::{Imbalance, LedgerLine};
pub use lite::{Lite, LiteTx, SQLITE_BUSY_TIMEOUT, Synchronous};
pub use query::Listed;
pub use sandbox::SandboxOp;
pub use sealed::SealedColumn;
pub use search::{
    Compare, Pending, SEARCHABLE_TABLES, SearchClause, SearchCondition, SearchPage, SearchQuery,
    SearchRows, TakeMarks,
};
pub use webhooks::{AttemptRow, OutboxEvent, TakenDelivery};

/// How long start-up waits for PostgreSQL to answer its first connection.
pub const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Fast transactions whose work failed on what it saw there and ran again.
static FAILURES_RERUN: AtomicU64 = AtomicU64::new(0);
/// Statements a deferred transaction could not record (a write whose rows the code reads).
pub(crate) static NOT_DEFERRABLE: AtomicU64 = AtomicU64::new(0);

/// How this process's fast transactions (deferred on SQLite, buffered on PostgreSQL) ended.
/// Each fall-back runs its work again in an ordinary transaction: correct, only slower. The
/// benchmarks print these and fail when too many fell back; `/metrics` exports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FastPathStats {
    pub deferred_committed: u64,
    pub deferred_conflicts: u64,
    pub buffered_committed: u64,
    pub buffered_conflicts: u64,
    /// Work that failed on what it saw in a fast transaction ([`Tx::failure_stands`]).
    pub failures_rerun: u64,
    /// Work given a statement a deferred transaction cannot record.
    pub not_deferrable: u64,
}

impl FastPathStats {
    pub fn committed(&self) -> u64 {
        self.deferred_committed + self.buffered_committed
    }

    /// Fast transactions whose work ran again in an ordinary one.
    pub fn fallbacks(&self) -> u64 {
        self.deferred_conflicts
            + self.buffered_conflicts
            + self.failures_rerun
            + self.not_deferrable
    }

    /// What happened since `before`.
    pub fn since(&self, before: &FastPathStats) -> FastPathStats {
        FastPathStats {
            deferred_committed: self.deferred_committed - before.deferred_committed,
            deferred_conflicts: self.deferred_conflicts - before.deferred_conflicts,
            buffered_committed: self.buffered_committed - before.buffered_committed,
            buffered_conflicts: self.buffered_conflicts - before.buffered_conflicts,
            failures_rerun: self.failures_rerun - before.failures_rerun,
            not_deferrable: self.not_deferrable - before.not_deferrable,
        }
    }

    /// Whether at most `percent` of the fast transactions fell back, or at most `few`.
    pub fn fallbacks_within(&self, percent: u64, few: u64) -> bool {
        self.fallbacks() <= few
            || self.fallbacks() * 100 <= (self.committed() + self.fallbacks()) * percent
    }
}

pub fn fast_path_stats() -> FastPathStats {
    let (deferred_committed, deferred_conflicts) = deferred_stats();
    let (buffered_committed, buffered_conflicts) = buffered_stats();
    FastPathStats {
        deferred_committed,
        deferred_conflicts,
        buffered_committed,
        buffered_conflicts,
        failures_rerun: FAILURES_RERUN.load(Ordering::Relaxed),
        not_deferrable: NOT_DEFERRABLE.load(Ordering::Relaxed),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("unsupported DATABASE_URL: use sqlite:PATH or postgres://…")]
    UnsupportedUrl,
    /// The server did not answer a first connection in time.
    #[error("no answer within {0} seconds (is the server running, and the host and port right?)")]
    Unreachable(u64),
    /// The database takes no writes (a read-only file or server).
    #[error("the database takes no writes: {0}")]
    ReadOnly(String),
    #[error("an in-memory SQLite database is not supported: give a file path")]
    InMemory,
    #[error("unsupported SQLite synchronous={0}: use full (the default) or normal")]
    Synchronous(String),
    #[error(
        "the database schema is at version {found}, newer than this binary knows ({known}); upgrade cashbox"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("the transaction did not commit: {0}")]
    Commit(String),
    #[error("no row returned")]
    RowNotFound,
    #[error("no column {0} in the result")]
    Column(String),
    #[error("column {column}: {message}")]
    Decode { column: String, message: String },
    #[error("could not start a thread: {0}")]
    Thread(String),
    #[error("placeholder without an argument in: {0}")]
    Placeholder(String),
    /// A deferred transaction read rows that changed before it could write: run it again.
    #[error("the rows a deferred transaction read have changed")]
    Conflict,
    /// A statement a deferred transaction cannot record (a write that returns rows).
    #[error("this statement cannot run in a deferred transaction")]
    NotDeferrable,
}

impl StoreError {
    /// Whether PostgreSQL gave the transaction up over a lock (a deadlock, a serialization
    /// failure, a lock it could not take): nothing was written, and running it again may
    /// succeed.
    pub fn is_lock_conflict(&self) -> bool {
        match self {
            Self::Db(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("40P01" | "40001" | "55P03"))
            }
            _ => false,
        }
    }

    /// Whether a unique constraint refused the write (two requests raced for one key).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Self::Db(sqlx::Error::Database(e)) => e.is_unique_violation(),
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(Arc<Lite>),
    Postgres(PgPool),
}

/// An open transaction. Dropping it without [`Tx::commit`] rolls back. Every write goes
/// through one: on SQLite it holds the process's write connection until it ends.
pub struct Tx {
    kind: TxKind,
    /// The events recorded in it, written together at commit (nothing reads an event inside
    /// the transaction that records it): one statement where a renewal would run eight.
    events: Vec<EventRow>,
}

pub(crate) enum TxKind {
    Sqlite(LiteTx),
    Postgres(Transaction<'static, Postgres>),
    /// SQLite's work done outside the write turn, written at commit if still valid
    /// ([`Store::deferred`]).
    Deferred(Box<DeferredTx>),
    /// PostgreSQL's transaction whose writes are held and sent together
    /// ([`Store::buffered`]).
    Buffered(Box<Buffered>),
}

impl From<TxKind> for Tx {
    fn from(kind: TxKind) -> Self {
        Self {
            kind,
            events: Vec::new(),
        }
    }
}

/// The file path in a `sqlite:PATH` or `sqlite://PATH` URL and its `synchronous` option
/// (`full`, the default, or `normal`); other query options are ignored.
fn sqlite_path(url: &str) -> Result<(PathBuf, Synchronous)> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or(StoreError::UnsupportedUrl)?;
    let (path, options) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::InMemory);
    }
    let mut synchronous = Synchronous::default();
    for option in options.split('&') {
        match option.split_once('=') {
            Some(("synchronous", v)) if v.eq_ignore_ascii_case("full") => {
                synchronous = Synchronous::Full;
            }
            Some(("synchronous", v)) if v.eq_ignore_ascii_case("normal") => {
                synchronous = Synchronous::Normal;
            }
            Some(("synchronous", v)) => return Err(StoreError::Synchronous(v.to_string())),
            _ => {}
        }
    }
    Ok((PathBuf::from(path), synchronous))
}

impl Store {
    /// Opens `url` (`sqlite:PATH`, `sqlite://PATH` or `postgres://…`) with up to
    /// `max_connections` pooled connections.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        if url.starts_with("sqlite:") {
            let (path, synchronous) = sqlite_path(url)?;
            let lite = Lite::open(path, max_connections as usize, synchronous)?;
            Ok(Self::Sqlite(Arc::new(lite)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            // One connection first, so that a server that refuses or does not answer says why
            // at once (the pool would retry until its acquire timeout and say only that).
            {
                use sqlx::Connection;
                let first =
                    tokio::time::timeout(FIRST_CONNECT_TIMEOUT, PgConnection::connect_with(&opts))
                        .await
                        .map_err(|_| StoreError::Unreachable(FIRST_CONNECT_TIMEOUT.as_secs()))??;
                first.close().await?;
            }
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
                .connect_with(opts)
                .await?;
            Ok(Self::Postgres(pool))
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(..) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Refuses a database that takes no writes (a read-only SQLite file, a standby), with the
    /// database's own reason: a server on it would answer every write with a 500.
    pub async fn check_writable(&self) -> Result<()> {
        let probe = async {
            let mut tx = self.begin().await?;
            db::query("UPDATE schema_migrations SET name = name WHERE version = 1")
                .run_ignoring_count(&mut tx)
                .await?;
            tx.commit().await
        };
        probe.await.map_err(|e| StoreError::ReadOnly(e.to_string()))
    }

    /// Whether the database answers, for `/ready`.
    pub async fn ping(&self) -> Result<()> {
        db::query("SELECT 1").fetch_one(self).await.map(drop)
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`), so two writers queue instead of failing when one upgrades its read lock.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Self::Sqlite(lite) => TxKind::Sqlite(lite.begin().await?),
            Self::Postgres(p) => TxKind::Postgres(p.begin().await?),
        }
        .into())
    }

    /// A transaction whose work runs outside SQLite's write turn and is written at
    /// [`Tx::commit`] only if everything it read is unchanged, else `commit` fails with
    /// [`StoreError::Conflict`] and the caller runs the work again in [`Store::begin`]'s
    /// transaction. For work that spends long building what it writes (a renewal).
    /// PostgreSQL has no one write turn to spare: `None` there.
    pub fn deferred(&self) -> Option<Tx> {
        match self {
            Self::Sqlite(_) if !side_effects::learned() => None,
            Self::Sqlite(lite) => {
                Some(TxKind::Deferred(Box::new(DeferredTx::new(lite.clone()))).into())
            }
            Self::Postgres(_) => None,
        }
    }

    /// A PostgreSQL transaction whose writes are held and sent together, one round trip for
    /// each run of writes between two reads (see `buffered.rs`); a write that fails when sent
    /// fails the transaction with [`StoreError::Conflict`], and the caller runs the work
    /// again in [`Store::begin`]'s transaction. For work that may run twice and takes its
    /// locks by reading. SQLite's writes cost no round trip: `None` there.
    pub async fn buffered(&self) -> Result<Option<Tx>> {
        Ok(match self {
            Self::Sqlite(_) => None,
            Self::Postgres(_) if !side_effects::learned() => None,
            Self::Postgres(p) => {
                let tx = p.begin_with(buffered::BEGIN).await?;
                Some(TxKind::Buffered(Box::new(Buffered::new(tx))).into())
            }
        })
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(lite) => lite.close_readers(),
            Self::Postgres(p) => p.close().await,
        }
    }

    /// Counts the rows of one of the store's tables that match `condition` (plain SQL,
    /// written by the caller): for tests and checks that look at the raw tables.
    pub async fn count_where(&self, table: &str, condition: &str) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {condition}");
        db::query(sql).fetch_one(self).await?.try_get("n")
    }
}

impl Tx {
    pub async fn commit(mut self) -> Result<()> {
        self.write_events().await?;
        match self.kind {
            TxKind::Sqlite(t) => t.commit().await?,
            TxKind::Postgres(t) => t.commit().await?,
            TxKind::Deferred(t) => t.commit().await?,
            TxKind::Buffered(t) => t.commit().await?,
        }
        Ok(())
    }

    /// After the work given this transaction failed, whether the failure is the answer an
    /// ordinary transaction would give (its reads and counts held), or an artifact of a
    /// deferred or buffered transaction, which should run the work again in an ordinary one.
    /// Rolls the transaction back either way.
    pub async fn failure_stands(self) -> Result<bool> {
        let stands = match self.kind {
            TxKind::Sqlite(_) | TxKind::Postgres(_) => true,
            TxKind::Deferred(d) => d.saw_what_the_turn_sees().await?,
            TxKind::Buffered(b) => b.saw_what_is_so().await,
        };
        if !stands {
            FAILURES_RERUN.fetch_add(1, Ordering::Relaxed);
        }
        Ok(stands)
    }

    /// Makes a deferred or buffered transaction lose a write on purpose (a deferred one its
    /// last write at commit; a buffered one the last write of each statement it sends), as a
    /// broken fast path would: the differential test shows it notices.
    #[cfg(feature = "fault-injection")]
    pub fn lose_a_write(&mut self) {
        match &mut self.kind {
            TxKind::Deferred(d) => d.lose_a_write = true,
            TxKind::Buffered(b) => b.lose_a_write = true,
            TxKind::Sqlite(_) | TxKind::Postgres(_) => {}
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.kind, TxKind::Postgres(_) | TxKind::Buffered(_))
    }

    /// Whether reading ahead ([`Tx::read_ahead_docs`] and the like) saves statements here:
    /// a buffered PostgreSQL transaction and a deferred SQLite one keep what they read (a
    /// deferred one's replay then checks one read where it would check one per key).
    pub fn reads_ahead(&self) -> bool {
        matches!(self.kind, TxKind::Buffered(_) | TxKind::Deferred(_))
    }

    /// On a buffered or deferred transaction, runs `many` for `keys` (a chunk at a time,
    /// given the placeholders of its `IN (…)` list) and keeps each key's rows as the answer
    /// to `one`; elsewhere does nothing (the reads run one by one as they come).
    pub(crate) async fn read_ahead(
        &mut self,
        many: impl Fn(&str) -> String,
        one: &str,
        key_column: &str,
        keys: &[String],
    ) -> Result<()> {
        if !self.reads_ahead() {
            return Ok(());
        }
        let mut keys: Vec<String> = keys.to_vec();
        keys.sort();
        keys.dedup();
        for chunk in keys.chunks(500) {
            let args = chunk.iter().map(|k| db::Val::Text(k.clone())).collect();
            let many = many(&db::placeholders(chunk.len()));
            let ahead = deferred::ReadAhead {
                many: &many,
                args,
                one,
                key_column,
                keys: chunk,
            };
            match &mut self.kind {
                TxKind::Buffered(b) => b.read_ahead(ahead).await?,
                TxKind::Deferred(d) => d.read_ahead(ahead)?,
                _ => unreachable!("reads ahead"),
            }
        }
        Ok(())
    }

    /// `FOR UPDATE` where the backend has row locks; SQLite's write lock is already held.
    pub(crate) fn lock_clause(&self) -> &'static str {
        self.lock_clause_or(" FOR UPDATE")
    }

    /// `postgres` where the backend has row locks, else nothing: SQLite's write lock is
    /// already held.
    pub(crate) fn lock_clause_or(&self, postgres: &'static str) -> &'static str {
        if self.is_postgres() { postgres } else { "" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fast transaction (deferred here, buffered on PostgreSQL) takes the count a write
    /// expects, many rows included, and its commit checks it; a count the code needs at once
    /// is the true one, or a fall-back where it cannot be known.
    #[tokio::test]
    async fn a_write_says_how_many_rows_it_expects() {
        let store = testing::fresh_store().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        for id in ["cus_a", "cus_b"] {
            tx.insert_customer(&CustomerRow {
                id: id.into(),
                created: 1,
                deleted: false,
                email_bidx: None,
                sealed: None,
                balance: 0,
                currency: None,
                default_payment_method: None,
                delinquent: false,
                invoice_prefix: "ABCDEFGH".into(),
                next_invoice_sequence: 1,
                test_clock: None,
                search_fp: None,
            })
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let fast = || async {
            match store.deferred() {
                Some(tx) => tx,
                None => store.buffered().await.unwrap().unwrap(),
            }
        };
        let balance = |b: i64| {
            let store = &store;
            async move {
                store
                    .count_where("customers", &format!("balance = {b}"))
                    .await
                    .unwrap()
            }
        };
        let mut tx = fast().await;
        let set = |from: i64, to: i64| {
            db::query("UPDATE customers SET balance = $2 WHERE balance = $1")
                .bind(from)
                .bind(to)
        };
        assert_eq!(set(0, 1).execute(&mut tx, 2).await.unwrap(), 2);
        tx.commit().await.unwrap();
        assert_eq!(balance(1).await, 2);
        // Expected one, changes two: nothing is written.
        let mut tx = fast().await;
        assert_eq!(set(1, 2).execute(&mut tx, 1).await.unwrap(), 1);
        assert!(matches!(tx.commit().await, Err(StoreError::Conflict)));
        assert_eq!(balance(1).await, 2);
        // The true count, now.
        let mut tx = fast().await;
        let counted = set(1, 3).execute_counted(&mut tx).await;
        match &*store {
            Store::Sqlite(_) => assert!(matches!(counted, Err(StoreError::NotDeferrable))),
            Store::Postgres(_) => {
                assert_eq!(counted.unwrap(), 2);
                tx.commit().await.unwrap();
                assert_eq!(balance(3).await, 2);
            }
        }
    }

    #[test]
    fn fall_backs_are_judged_by_their_share() {
        let stats = |committed, conflicts| FastPathStats {
            deferred_committed: committed,
            deferred_conflicts: conflicts,
            ..FastPathStats::default()
        };
        assert!(stats(98, 2).fallbacks_within(2, 0));
        assert!(!stats(97, 3).fallbacks_within(2, 0));
        assert!(stats(10, 3).fallbacks_within(2, 3), "a few are allowed");
        assert!(!stats(10, 4).fallbacks_within(2, 3));
        let before = stats(10, 1);
        assert_eq!(stats(15, 1).since(&before), stats(5, 0));
        let mixed = FastPathStats {
            buffered_committed: 1,
            failures_rerun: 1,
            not_deferrable: 1,
            ..stats(1, 1)
        };
        assert_eq!((mixed.committed(), mixed.fallbacks()), (2, 3));
    }

    #[test]
    fn a_sqlite_url_says_its_path_and_durability() {
        let full = (PathBuf::from("cashbox.db"), Synchronous::Full);
        assert_eq!(sqlite_path("sqlite:cashbox.db").unwrap(), full);
        assert_eq!(sqlite_path("sqlite://cashbox.db?mode=rwc").unwrap(), full);
        assert_eq!(
            sqlite_path("sqlite:cashbox.db?synchronous=normal").unwrap(),
            (PathBuf::from("cashbox.db"), Synchronous::Normal)
        );
        assert_eq!(
            sqlite_path("sqlite:cashbox.db?synchronous=FULL").unwrap(),
            full
        );
        assert!(matches!(
            sqlite_path("sqlite:cashbox.db?synchronous=off"),
            Err(StoreError::Synchronous(_))
        ));
        assert!(matches!(
            sqlite_path("sqlite::memory:"),
            Err(StoreError::InMemory)
        ));
    }

    #[tokio::test]
    async fn sqlite_commits_are_fsynced_unless_told_otherwise() {
        let dir = std::env::temp_dir().join(format!("cashbox-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (option, level) in [("", 2), ("?synchronous=normal", 1)] {
            let url = format!("sqlite://{}/s{level}.db{option}", dir.display());
            let Store::Sqlite(lite) = Store::connect(&url, 2).await.unwrap() else {
                unreachable!("a SQLite URL");
            };
            let tx = lite.begin().await.unwrap();
            let got: i64 = tx
                .conn()
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap();
            assert_eq!(got, level, "{url}");
            let read: i64 = lite
                .read(|c| Ok(c.query_row("PRAGMA synchronous", [], |r| r.get(0))?))
                .unwrap();
            assert_eq!(read, level, "{url}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
