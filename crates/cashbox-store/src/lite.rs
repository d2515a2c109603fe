//! SQLite: one write connection with group commit, a pool of read connections, and WAL
//! checkpoints on a thread of their own.
//!
//! SQLite has one writer at a time, so write throughput is bounded by how long each
//! transaction holds the write connection. Statements run inline (see `db.rs`); what remains
//! is the `COMMIT`, which writes every page the transaction touched to the WAL. Group commit
//! shares it: a transaction runs inside a savepoint of a longer *batch* transaction, and when
//! it finishes while other writers are queued it hands the connection on with the batch still
//! open. The last one in (or the one that fills the batch) commits for all. Nobody is told
//! "committed" before the batch's `COMMIT` has succeeded, and if it fails every member gets
//! the error: a batch commits or fails as a whole, like one transaction would. A transaction
//! that rolls back only rolls back its savepoint.
//!
//! A replayed deferred transaction (`deferred.rs`) needs no savepoint while every member
//! before it in the batch is one too: if its replay finds a change, the whole batch is rolled
//! back and every member is told [`StoreError::Conflict`], which sends each to run its work
//! again (a replayed transaction's work can always be run again; an ordinary one's cannot,
//! so it takes a savepoint and the batch keeps them from then on). Savepoints cost a copy of
//! every page a member changes, in the write turn; conflicts are rare.
//!
//! A batch also stays open for a moment ([`LINGER`]) when nobody is queued but deferred
//! transactions are being worked out (`deferred.rs`): they will want the connection soon.
//! A `COMMIT` writes every page its batch changed, and concurrent transactions change the same
//! pages (the ends of the tables and indexes they append to), so one batch of sixteen writes
//! far fewer pages than four batches of four. A lone writer, with nothing being worked out,
//! commits at once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedMutexGuard, watch};
// Tokio's clock, so that tests can pause it: the batch's age and its members' waits agree.
use tokio::time::Instant;

use crate::{Result, StoreError};

/// How long a statement waits for SQLite's write lock held by another process.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;
/// How often the background thread checkpoints the WAL. Often, so each checkpoint is small:
/// a checkpoint's fsync stalls the WAL writes behind it on ext4, and at 100 ms those stalls
/// were the benchmark's p99 (~32 ms against ~25 ms at 20 ms, for ~5% of throughput).
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(20);
/// The WAL size (in pages) at which a commit checkpoints by itself: a bound on the WAL if
/// the background checkpoints fall behind.
const WRITER_CHECKPOINT_PAGES: i64 = 16_384;
/// A batch closes after this many transactions or this long, even with writers queued, so
/// the first member's wait stays short.
const MAX_BATCH_MEMBERS: usize = 32;
const MAX_BATCH_AGE: Duration = Duration::from_millis(5);
/// A member waiting longer than this for its batch to close closes it itself (its last
/// writer may have been cancelled while queued).
const BATCH_WAIT: Duration = Duration::from_millis(20);
/// How long a batch stays open for transactions still being worked out, while it has fewer
/// than [`LINGER_MEMBERS`]; the member that left it open closes it after this long if nobody
/// has. Measured on the billing benchmark: a third fewer WAL writes, ~8% faster at 100,000
/// renewals (2 ms and 16 members against none; 1 ms and 8 gave less, 3 ms and 24 no more).
const LINGER: Duration = Duration::from_millis(2);
const LINGER_MEMBERS: usize = 16;

/// How a batch ended, once it has: committed, or failed with every member.
type Outcome = Option<std::result::Result<(), Failure>>;

const ROLLED_BACK_BY_SQLITE: &str = "the batch transaction was rolled back by SQLite";

#[derive(Debug, Clone)]
enum Failure {
    /// A replayed member found a change and the batch was rolled back: run the work again.
    Conflict,
    Error(String),
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Conflict => StoreError::Conflict,
            Failure::Error(e) => StoreError::Commit(e),
        }
    }
}

pub struct Lite {
    path: PathBuf,
    synchronous: Synchronous,
    writer: Arc<tokio::sync::Mutex<Writer>>,
    /// Who will want the write connection soon: a finished member leaves its batch open only
    /// if someone does.
    coming: Arc<Coming>,
    readers: Mutex<Vec<Connection>>,
    max_idle_readers: usize,
    stop_checkpoints: Arc<AtomicBool>,
}

impl std::fmt::Debug for Lite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lite").field("path", &self.path).finish()
    }
}

impl Drop for Lite {
    fn drop(&mut self) {
        self.stop_checkpoints.store(true, Ordering::Relaxed);
    }
}

pub(crate) struct Writer {
    pub(crate) conn: Connection,
    batch: Option<Batch>,
}

struct Batch {
    id: u64,
    members: usize,
    opened: Instant,
    done: watch::Sender<Outcome>,
    /// Whether every member so far is a replay without a savepoint, so that the batch may be
    /// rolled back whole and its members' work run again.
    replayable: bool,
}

static BATCH_IDS: AtomicU64 = AtomicU64::new(1);

impl Writer {
    /// Joins the open batch (opening one if there is none) and starts a savepoint in it,
    /// unless `replay` and the batch holds only replays; returns whether it took a savepoint.
    fn start(&mut self, replay: bool) -> Result<(u64, watch::Receiver<Outcome>, bool)> {
        if self.batch.is_some() && self.conn.is_autocommit() {
            // SQLite rolled the batch back by itself (an I/O error, say): its members fail.
            self.fail_batch(Failure::Error(ROLLED_BACK_BY_SQLITE.into()));
        }
        if self.batch.is_none() {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.batch = Some(Batch {
                id: BATCH_IDS.fetch_add(1, Ordering::Relaxed),
                members: 0,
                opened: Instant::now(),
                done: watch::channel(None).0,
                replayable: true,
            });
        }
        let saved = !(replay && self.batch.as_ref().is_some_and(|b| b.replayable));
        if saved && let Err(e) = self.conn.execute_batch("SAVEPOINT tx") {
            self.close_if_unused();
            return Err(e.into());
        }
        let b = self.batch.as_mut().expect("a batch was opened above");
        b.replayable &= !saved;
        b.members += 1;
        Ok((b.id, b.done.subscribe(), saved))
    }

    /// Commits the batch and tells its members the outcome.
    pub(crate) fn close_batch(&mut self) {
        let Some(b) = self.batch.take() else { return };
        let outcome = if self.conn.is_autocommit() {
            Err(Failure::Error(ROLLED_BACK_BY_SQLITE.into()))
        } else {
            match self.conn.execute_batch("COMMIT") {
                Ok(()) => Ok(()),
                Err(e) => {
                    if !self.conn.is_autocommit() {
                        let _ = self.conn.execute_batch("ROLLBACK");
                    }
                    Err(Failure::Error(e.to_string()))
                }
            }
        };
        if let Err(e) = &outcome {
            tracing::error!(error = ?e, members = b.members, "a SQLite batch did not commit");
        }
        let _ = b.done.send(Some(outcome));
    }

    fn fail_batch(&mut self, why: Failure) {
        if let Some(b) = self.batch.take() {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            let _ = b.done.send(Some(Err(why)));
        }
    }

    fn close_if_unused(&mut self) {
        if self.batch.as_ref().is_some_and(|b| b.members == 0) {
            self.close_batch();
        }
    }

    /// After a member's turn: keep the batch open for the next queued writer (or, a moment,
    /// for transactions being worked out), or commit it. Returns whether it lingers: left
    /// open with nobody queued, for the member to close after [`LINGER`] if nobody came.
    fn end_turn(&mut self, coming: &Coming) -> bool {
        let Some(b) = self.batch.as_ref() else {
            return false;
        };
        let age = b.opened.elapsed();
        if coming.queued.load(Ordering::Acquire) > 0
            && b.members < MAX_BATCH_MEMBERS
            && age < MAX_BATCH_AGE
        {
            return false;
        }
        if coming.working.load(Ordering::Acquire) > 0 && b.members < LINGER_MEMBERS && age < LINGER
        {
            return true;
        }
        self.close_batch();
        false
    }
}

/// Who will want the write connection soon.
#[derive(Debug, Default)]
pub(crate) struct Coming {
    /// Writers queued for it.
    queued: AtomicUsize,
    /// Deferred transactions being worked out, not yet queued (`deferred.rs`).
    working: AtomicUsize,
}

/// Counts one in a counter of [`Coming`] while it lives.
pub(crate) struct Counted(Arc<Coming>, fn(&Coming) -> &AtomicUsize);

impl Counted {
    fn new(coming: &Arc<Coming>, which: fn(&Coming) -> &AtomicUsize) -> Self {
        which(coming).fetch_add(1, Ordering::AcqRel);
        Self(coming.clone(), which)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        (self.1)(&self.0).fetch_sub(1, Ordering::AcqRel);
    }
}

/// One transaction: a savepoint in a batch (or a replay without one), holding the write
/// connection until it ends.
pub struct LiteTx {
    pub(crate) guard: Option<OwnedMutexGuard<Writer>>,
    batch: u64,
    /// Whether it runs in a savepoint; if not, ending it without a commit rolls back the
    /// whole batch, whose members are all replays.
    saved: bool,
    done: watch::Receiver<Outcome>,
    writer: Arc<tokio::sync::Mutex<Writer>>,
    coming: Arc<Coming>,
}

impl LiteTx {
    pub(crate) fn conn(&self) -> &Connection {
        &self.guard.as_ref().expect("the transaction is open").conn
    }

    /// Releases the savepoint into the batch and returns once the batch has committed.
    pub(crate) async fn commit(mut self) -> Result<()> {
        let mut guard = self.guard.take().expect("the transaction is open");
        if self.saved
            && let Err(e) = guard.conn.execute_batch("RELEASE tx")
        {
            rollback_savepoint(&guard.conn);
            guard.end_turn(&self.coming);
            return Err(e.into());
        }
        let lingers = guard.end_turn(&self.coming);
        drop(guard);
        let wait = if lingers { LINGER } else { BATCH_WAIT };
        loop {
            let waited = tokio::time::timeout(wait, self.done.wait_for(Option::is_some))
                .await
                .map(|r| r.map(|outcome| outcome.clone()));
            match waited {
                Ok(Ok(Some(Ok(())))) => return Ok(()),
                Ok(Ok(Some(Err(e)))) => return Err(e.into()),
                Ok(Ok(None)) | Ok(Err(_)) => {
                    return Err(StoreError::Commit("the writer went away".into()));
                }
                Err(_) => {
                    let mut w = self.writer.lock().await;
                    if w.batch.as_ref().is_some_and(|b| b.id == self.batch) {
                        w.close_batch();
                    }
                }
            }
        }
    }
}

fn rollback_savepoint(conn: &Connection) {
    if let Err(e) = conn.execute_batch("ROLLBACK TO tx; RELEASE tx") {
        tracing::error!(error = %e, "rolling back a SQLite savepoint failed");
    }
}

impl Drop for LiteTx {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            if !self.saved {
                // A replay that found a change, without a savepoint to undo only its own
                // writes: the batch goes, and its members (all replays) run again.
                guard.fail_batch(Failure::Conflict);
            } else if !guard.conn.is_autocommit() {
                rollback_savepoint(&guard.conn);
            }
            guard.end_turn(&self.coming);
        }
    }
}

impl Lite {
    pub(crate) fn open(
        path: PathBuf,
        max_idle_readers: usize,
        synchronous: Synchronous,
    ) -> Result<Self> {
        let conn = connection(&path, synchronous)?;
        // Checkpoints (copying the WAL back into the database, with an fsync) run on a
        // thread of their own, so a commit never pays for one while it holds the write lock.
        // The writer checkpoints only if the WAL outgrows what that thread keeps up with.
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        let stop = Arc::new(AtomicBool::new(false));
        let checkpointer = connection(&path, synchronous)?;
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("cashbox-sqlite-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_INTERVAL);
                    if let Err(e) = checkpointer.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::warn!(error = %e, "SQLite checkpoint failed");
                    }
                }
            })
            .map_err(|e| StoreError::Thread(e.to_string()))?;
        Ok(Self {
            path,
            synchronous,
            writer: Arc::new(tokio::sync::Mutex::new(Writer { conn, batch: None })),
            coming: Arc::default(),
            readers: Mutex::new(Vec::new()),
            max_idle_readers,
            stop_checkpoints: stop,
        })
    }

    /// Waits for the write connection and starts a transaction on it.
    pub(crate) async fn begin(&self) -> Result<LiteTx> {
        self.start(false).await
    }

    /// [`Lite::begin`] for a deferred transaction's replay, which may go without a savepoint
    /// (see the module's documentation): dropping it uncommitted fails its batch with
    /// [`StoreError::Conflict`].
    pub(crate) async fn begin_replay(&self) -> Result<LiteTx> {
        self.start(true).await
    }

    async fn start(&self, replay: bool) -> Result<LiteTx> {
        let mut guard = {
            let _queued = Counted::new(&self.coming, |c| &c.queued);
            self.writer.clone().lock_owned().await
        };
        let (batch, done, saved) = match guard.start(replay) {
            Ok(started) => started,
            Err(e) => {
                guard.end_turn(&self.coming);
                return Err(e);
            }
        };
        Ok(LiteTx {
            guard: Some(guard),
            batch,
            saved,
            done,
            writer: self.writer.clone(),
            coming: self.coming.clone(),
        })
    }

    /// Counts a deferred transaction as being worked out while the result lives.
    pub(crate) fn working(&self) -> Counted {
        Counted::new(&self.coming, |c| &c.working)
    }

    /// The write connection with no batch open, for migrations.
    pub(crate) async fn exclusive(&self) -> OwnedMutexGuard<Writer> {
        let mut guard = self.writer.clone().lock_owned().await;
        guard.close_batch();
        guard
    }

    /// Runs `f` on an idle read connection (opening one if none is idle).
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let idle = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let conn = connection(&self.path, self.synchronous)?;
                // Writes belong on the write connection, in a batch; a write sent to a
                // reader would wait on SQLite's lock behind that batch. Readers refuse them.
                conn.pragma_update(None, "query_only", true)?;
                conn
            }
        };
        let out = f(&conn);
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if readers.len() < self.max_idle_readers {
            readers.push(conn);
        }
        out
    }

    pub(crate) fn close_readers(&self) {
        self.readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// How SQLite makes a commit durable (`PRAGMA synchronous`), from the URL's `synchronous`
/// option: `sqlite:cashbox.db?synchronous=normal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every commit (every group-commit batch) is fsynced before it is acknowledged: a power
    /// loss loses nothing acknowledged. The default.
    #[default]
    Full,
    /// The WAL is fsynced only at checkpoints: a crash of the process loses nothing, but a
    /// power loss or an OS crash may lose the last commits acknowledged before it.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

fn connection(path: &Path, synchronous: Synchronous) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous.pragma())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoints keep their undo pages in a sub-journal; in memory, not in a temporary file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A directory of a test's own, removed when the test ends.
    pub(crate) struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A database with one table `t (id)`, in a directory of its own.
    pub(crate) async fn open(name: &str) -> (Arc<Lite>, TempDir) {
        let dir = std::env::temp_dir().join(format!("cashbox-lite-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lite = Arc::new(Lite::open(dir.join("t.db"), 2, Synchronous::Full).unwrap());
        let w = lite.exclusive().await;
        w.conn
            .execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY)")
            .unwrap();
        drop(w);
        (lite, TempDir(dir))
    }

    pub(crate) fn insert(tx: &LiteTx, id: &str) {
        tx.conn()
            .execute("INSERT INTO t (id) VALUES (?1)", [id])
            .unwrap();
    }

    fn ids(lite: &Lite) -> Vec<String> {
        lite.read(|c| {
            let mut stmt = c.prepare("SELECT id FROM t ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
        .unwrap()
    }

    /// Waits until a writer is queued for the write connection.
    async fn someone_queued(lite: &Lite) {
        while lite.coming.queued.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
    }

    /// Commits `first` with a replay queued behind it, so that the replay joins its batch
    /// and runs `second`; returns `first`'s outcome.
    async fn with_replay_after(
        lite: &Arc<Lite>,
        first: LiteTx,
        second: impl FnOnce(LiteTx) + Send + 'static,
    ) -> Result<()> {
        let l = lite.clone();
        let task = tokio::spawn(async move { second(l.begin_replay().await.unwrap()) });
        someone_queued(lite).await;
        let committed = first.commit().await;
        task.await.unwrap();
        committed
    }

    #[tokio::test]
    async fn a_replay_that_conflicts_rolls_back_its_batch_of_replays() {
        let (lite, _dir) = open("replays").await;
        let first = lite.begin_replay().await.unwrap();
        assert!(!first.saved, "a replay opening a batch takes no savepoint");
        insert(&first, "a");
        let second = |tx: LiteTx| {
            assert!(!tx.saved, "a replay joining replays takes no savepoint");
            insert(&tx, "b");
            // Its replay found a change: dropped uncommitted.
            drop(tx);
        };
        let committed = with_replay_after(&lite, first, second).await;
        assert!(
            matches!(committed, Err(StoreError::Conflict)),
            "{committed:?}"
        );
        assert!(ids(&lite).is_empty());

        // The batch after it is a new one, and commits.
        let tx = lite.begin_replay().await.unwrap();
        insert(&tx, "c");
        tx.commit().await.unwrap();
        assert_eq!(ids(&lite), ["c"]);
    }

    #[tokio::test]
    async fn a_replay_after_an_ordinary_transaction_rolls_back_only_itself() {
        let (lite, _dir) = open("mixed").await;
        let first = lite.begin().await.unwrap();
        assert!(first.saved);
        insert(&first, "a");
        let second = |tx: LiteTx| {
            assert!(tx.saved, "a batch with ordinary work keeps savepoints");
            insert(&tx, "b");
            drop(tx);
        };
        with_replay_after(&lite, first, second).await.unwrap();
        assert_eq!(ids(&lite), ["a"]);
    }

    #[tokio::test]
    async fn replays_and_ordinary_work_that_succeed_commit_together() {
        let (lite, _dir) = open("together").await;
        let first = lite.begin_replay().await.unwrap();
        insert(&first, "a");
        let l = lite.clone();
        let second = tokio::spawn(async move {
            let tx = l.begin().await.unwrap();
            assert!(tx.saved, "ordinary work always takes a savepoint");
            insert(&tx, "b");
            tx.commit().await
        });
        someone_queued(&lite).await;
        first.commit().await.unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(ids(&lite), ["a", "b"]);
    }

    /// Waits until no member holds the write connection, and says whether a batch is open.
    async fn batch_open_after_turns(lite: &Lite) -> bool {
        loop {
            if let Ok(w) = lite.writer.try_lock() {
                return w.batch.is_some();
            }
            tokio::task::yield_now().await;
        }
    }

    // On a paused clock, so that the moments are exact however slowly the test runs: time
    // moves only when every task waits on it.
    #[tokio::test(start_paused = true)]
    async fn a_batch_waits_a_moment_for_transactions_being_worked_out() {
        let (lite, _dir) = open("linger").await;
        // A lone writer commits at once.
        let tx = lite.begin_replay().await.unwrap();
        insert(&tx, "a");
        tx.commit().await.unwrap();
        assert!(!batch_open_after_turns(&lite).await);

        // With a deferred transaction being worked out, the batch stays open for it.
        let working = lite.working();
        let first = lite.begin_replay().await.unwrap();
        let batch = first.batch;
        insert(&first, "b");
        let committed = tokio::spawn(async move { first.commit().await });
        assert!(batch_open_after_turns(&lite).await, "the batch lingers");
        drop(working);
        let second = lite.begin_replay().await.unwrap();
        assert_eq!(second.batch, batch, "the next transaction joins it");
        insert(&second, "c");
        second.commit().await.unwrap();
        committed.await.unwrap().unwrap();
        assert_eq!(ids(&lite), ["a", "b", "c"]);

        // If nothing comes, the member that left it open closes it after the moment.
        let _working = lite.working();
        let tx = lite.begin_replay().await.unwrap();
        insert(&tx, "d");
        let started = Instant::now();
        tx.commit().await.unwrap();
        let waited = started.elapsed();
        assert!(
            (LINGER..BATCH_WAIT).contains(&waited),
            "closed after {waited:?}"
        );
        assert_eq!(ids(&lite), ["a", "b", "c", "d"]);
    }
}
