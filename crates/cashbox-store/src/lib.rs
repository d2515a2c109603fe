//! Cashbox's storage: one [`Store`] over SQLite or PostgreSQL.
//!
//! Each backend is a variant; every query is written once with `$1`-style placeholders (SQLite
//! reads them as positional too) and compiled for both backends by [`on_pool!`] and [`on_tx!`],
//! so the SQL cannot drift apart. Where the dialects differ (row locks, `BEGIN IMMEDIATE`, DDL
//! types) the difference is spelled out next to the query or in the two migration folders.
//! A use case opens a [`Tx`], calls the statements it needs, and commits: one use case, one
//! transaction. SQL lives in this crate only.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

mod api_keys;
mod customers;
mod docs;
mod events;
mod idempotency;
mod ledger;
mod migrate;
mod query;
mod sandbox;
mod sealed;
pub mod testing;

pub use api_keys::ApiKeyRow;
pub use customers::{CustomerFilter, CustomerRow};
pub use docs::{DocFilter, DocRow, DocTable};
pub use events::{EventFilter, EventRow};
pub use idempotency::{Claim, IDEMPOTENCY_LEASE_SECS, IDEMPOTENCY_TTL_SECS};
pub use ledger::{Imbalance, LedgerLine};
pub use query::Listed;
pub use sandbox::SandboxOp;
pub use sealed::SealedColumn;

/// How long a query waits for SQLite's write lock before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for a pooled connection.
pub const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("unsupported DATABASE_URL: use sqlite:PATH or postgres://…")]
    UnsupportedUrl,
    #[error(
        "the database schema is at version {found}, newer than this binary knows ({known}); upgrade cashbox"
    )]
    SchemaTooNew { found: i64, known: i64 },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// SQLite allows one writer at a time. Writers of this process take turns on this lock
/// before `BEGIN IMMEDIATE`, instead of colliding and sleeping in SQLite's busy handler;
/// `busy_timeout` still arbitrates between processes.
pub type WriteLock = Arc<tokio::sync::Mutex<()>>;

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool, WriteLock),
    Postgres(PgPool),
}

/// An open transaction. Dropping it without [`Tx::commit`] rolls back. Every write goes
/// through one: on SQLite it holds the process's write turn until it ends.
pub enum Tx {
    Sqlite(
        Transaction<'static, Sqlite>,
        tokio::sync::OwnedMutexGuard<()>,
    ),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$pool` bound to the backend's pool; the body compiles once per backend.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::Store::Sqlite($pool, _) => $body,
            $crate::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs `$body` with `$conn` bound to the transaction's connection (use it as `&mut *$conn`).
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite(t, _) => {
                let $conn = &mut **t;
                $body
            }
            $crate::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

impl Store {
    /// Opens `url` (`sqlite:PATH`, `sqlite://PATH` or `postgres://…`) with up to
    /// `max_connections` pooled connections.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            // An in-memory database exists once per connection: keep a single one.
            let max = if url.contains(":memory:") {
                1
            } else {
                max_connections
            };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
                .connect_with(opts)
                .await?;
            Ok(Self::Sqlite(pool, WriteLock::default()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
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

    /// Whether the database answers, for `/ready`.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(drop))?;
        Ok(())
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`), so two writers queue instead of failing when one upgrades its read lock.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Self::Sqlite(p, lock) => {
                let turn = lock.clone().lock_owned().await;
                Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, turn)
            }
            Self::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Self::Sqlite(t, _turn) => t.commit().await?,
            Self::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// `FOR UPDATE` where the backend has row locks; SQLite's write lock is already held.
    pub(crate) fn lock_clause(&self) -> &'static str {
        match self {
            Self::Sqlite(..) => "",
            Self::Postgres(_) => " FOR UPDATE",
        }
    }
}
