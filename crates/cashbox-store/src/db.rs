//! One statement API over both backends: [`query`] builds SQL with `$1`-style placeholders and
//! its arguments; `execute` / `fetch_*` run it on a [`Tx`] or on the [`Store`]'s pool.
//!
//! PostgreSQL runs through sqlx. SQLite runs through rusqlite, synchronously, on the calling
//! thread: a statement takes microseconds, and running it inline means a write transaction
//! never waits for a thread hop or a scheduler turn while it holds SQLite's single write lock.
//! That lock is what bounds write throughput, so the time it is held is kept to the SQL itself.

use std::borrow::Cow;
use std::sync::Arc;

use rusqlite::types::{FromSql, ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ToSql};
use sqlx::Postgres;
use sqlx::postgres::PgRow;

use crate::{Result, Store, StoreError, Tx, TxKind};

/// A bound argument. Nulls carry their type, which PostgreSQL needs to plan the statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Val {
    Int(i64),
    I32(i32),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
    Null(Kind),
}

impl Val {
    /// The bytes PostgreSQL's binary protocol takes for the value: a 4-byte length, then the
    /// value (nothing for NULL).
    fn pg_encoded_len(&self) -> usize {
        4 + match self {
            Val::Int(_) => 8,
            Val::I32(_) => 4,
            Val::Bool(_) => 1,
            Val::Text(s) => s.len(),
            Val::Bytes(b) => b.len(),
            Val::Null(_) => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Int,
    I32,
    Bool,
    Text,
    Bytes,
}

/// A Rust value that can be bound as an argument.
pub(crate) trait IntoVal {
    fn into_val(self) -> Val;
}

/// The SQL type of a Rust value, for binding its `None`.
pub(crate) trait Typed {
    const KIND: Kind;
}

macro_rules! val {
    ($kind:ident: $($t:ty => |$v:ident| $e:expr),+) => {$(
        impl IntoVal for $t {
            fn into_val(self) -> Val {
                let $v = self;
                $e
            }
        }
        impl Typed for $t {
            const KIND: Kind = Kind::$kind;
        }
    )+};
}

val!(Int: i64 => |v| Val::Int(v), &i64 => |v| Val::Int(*v));
val!(I32: i32 => |v| Val::I32(v), &i32 => |v| Val::I32(*v));
val!(Bool: bool => |v| Val::Bool(v), &bool => |v| Val::Bool(*v));
val!(Text: String => |v| Val::Text(v), &String => |v| Val::Text(v.clone()),
    &str => |v| Val::Text(v.to_owned()));
val!(Bytes: Vec<u8> => |v| Val::Bytes(v), &Vec<u8> => |v| Val::Bytes(v.clone()),
    &[u8] => |v| Val::Bytes(v.to_vec()));

impl<T: IntoVal + Typed> IntoVal for Option<T> {
    fn into_val(self) -> Val {
        match self {
            Some(v) => v.into_val(),
            None => Val::Null(T::KIND),
        }
    }
}

impl<'a, T> IntoVal for &'a Option<T>
where
    &'a T: IntoVal + Typed,
{
    fn into_val(self) -> Val {
        match self {
            Some(v) => v.into_val(),
            None => Val::Null(<&T>::KIND),
        }
    }
}

impl ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Int(n) => ValueRef::Integer(*n),
            Val::I32(n) => ValueRef::Integer(i64::from(*n)),
            Val::Bool(b) => ValueRef::Integer(i64::from(*b)),
            Val::Text(s) => ValueRef::Text(s.as_bytes()),
            Val::Bytes(b) => ValueRef::Blob(b),
            Val::Null(_) => ValueRef::Null,
        }))
    }
}

/// Where a statement runs: inside a transaction, or on the pool (reads and autocommit writes).
pub(crate) enum On<'a> {
    Tx(&'a mut Tx),
    Store(&'a Store),
}

impl<'a> From<&'a mut Tx> for On<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        On::Tx(tx)
    }
}

impl<'a> From<&'a Store> for On<'a> {
    fn from(s: &'a Store) -> Self {
        On::Store(s)
    }
}

pub(crate) struct Query {
    sql: Cow<'static, str>,
    args: Vec<Val>,
}

/// `$1, $2, …, $n`: the placeholders of an `IN (…)` list of `n` values bound first.
pub(crate) fn placeholders(n: usize) -> String {
    placeholders_from(0, n)
}

/// `$(offset + 1), …, $(offset + n)`.
pub(crate) fn placeholders_from(offset: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 7);
    for i in offset + 1..=offset + n {
        if i > offset + 1 {
            out.push_str(", ");
        }
        out.push('$');
        push_number(&mut out, i);
    }
    out
}

/// Writes `n` in decimal at the end of `out`: placeholders are numbered by the thousand
/// for each batch of writes, and the formatting machinery costs several times this (as did
/// pushing digits one `char` at a time).
pub(crate) fn push_number(out: &mut String, n: usize) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// The rows of `sql` for every value of `values`, asked a hundred at a time: `sql` is given
/// the placeholders of one chunk's `IN (…)` list.
pub(crate) async fn rows_in(
    store: &Store,
    values: &[String],
    sql: impl Fn(&str) -> String,
) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    for chunk in values.chunks(100) {
        let mut q = query(sql(&placeholders(chunk.len())));
        for v in chunk {
            q = q.bind(v.as_str());
        }
        out.extend(q.fetch_all(store).await?);
    }
    Ok(out)
}

pub(crate) fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

pub(crate) enum Want {
    Rows,
    Count,
}

pub(crate) enum Output {
    Rows(Vec<Row>),
    Count(u64),
}

impl Query {
    pub(crate) fn bind(mut self, v: impl IntoVal) -> Self {
        self.args.push(v.into_val());
        self
    }

    pub(crate) fn bind_all(mut self, args: impl IntoIterator<Item = Val>) -> Self {
        self.args.extend(args);
        self
    }

    /// Runs a write expected to change `rows` rows; returns how many it changed. In a fast
    /// transaction (deferred or buffered) the write is made later: the code is told `rows`
    /// now, and the commit checks it; another count is a conflict, and the work runs again in
    /// an ordinary transaction, where this returns the true count. So `n == rows` is exact
    /// on both paths. A write whose count the code ignores uses
    /// [`Query::run_ignoring_count`]; one whose true count it needs at once,
    /// [`Query::execute_counted`].
    pub(crate) async fn execute<'a>(self, on: impl Into<On<'a>>, rows: u64) -> Result<u64> {
        self.write(on.into(), Some(rows)).await
    }

    /// Runs a write and returns how many rows it changed, for code that needs the true count
    /// at once (a purge that reports it): a deferred transaction cannot know it before its
    /// commit, so its work falls back to an ordinary transaction (counted in
    /// [`crate::fast_path_stats`]); a buffered one sends the write at once.
    pub(crate) async fn execute_counted<'a>(self, on: impl Into<On<'a>>) -> Result<u64> {
        self.write(on.into(), None).await
    }

    async fn write(self, on: On<'_>, rows: Option<u64>) -> Result<u64> {
        match on {
            On::Tx(Tx {
                kind: TxKind::Deferred(d),
                ..
            }) => match rows {
                Some(n) => {
                    d.write(&self.sql, self.args, Some(n));
                    Ok(n)
                }
                None => {
                    crate::NOT_DEFERRABLE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Err(StoreError::NotDeferrable)
                }
            },
            On::Tx(Tx {
                kind: TxKind::Buffered(b),
                ..
            }) => b.write(&self.sql, self.args, rows).await,
            on => match self.run(on, Want::Count).await? {
                Output::Count(n) => Ok(n),
                Output::Rows(_) => unreachable!("asked for a count"),
            },
        }
    }

    /// Runs a statement whose row count the code does not look at.
    pub(crate) async fn run_ignoring_count<'a>(self, on: impl Into<On<'a>>) -> Result<()> {
        match on.into() {
            On::Tx(Tx {
                kind: TxKind::Deferred(d),
                ..
            }) => {
                d.write(&self.sql, self.args, None);
                Ok(())
            }
            On::Tx(Tx {
                kind: TxKind::Buffered(b),
                ..
            }) => b.run_ignoring_count(&self.sql, self.args).await,
            on => self.run(on, Want::Count).await.map(drop),
        }
    }

    pub(crate) async fn fetch_all<'a>(self, on: impl Into<On<'a>>) -> Result<Vec<Row>> {
        match self.run(on.into(), Want::Rows).await? {
            Output::Rows(rows) => Ok(rows),
            Output::Count(_) => unreachable!("asked for rows"),
        }
    }

    pub(crate) async fn fetch_optional<'a>(self, on: impl Into<On<'a>>) -> Result<Option<Row>> {
        Ok(self.fetch_all(on).await?.into_iter().next())
    }

    pub(crate) async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> Result<Row> {
        self.fetch_optional(on)
            .await?
            .ok_or(StoreError::RowNotFound)
    }

    async fn run(self, on: On<'_>, want: Want) -> Result<Output> {
        match on {
            On::Tx(Tx {
                kind: TxKind::Sqlite(t),
                ..
            }) => lite_run(t.conn(), &self.sql, &self.args, want),
            On::Tx(Tx {
                kind: TxKind::Deferred(d),
                ..
            }) => match want {
                Want::Rows if is_read(&self.sql) => d.read(&self.sql, self.args),
                // A write whose rows the code reads (`RETURNING`) cannot be deferred.
                Want::Rows => {
                    crate::NOT_DEFERRABLE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Err(StoreError::NotDeferrable)
                }
                Want::Count => unreachable!("writes go through Query::write"),
            },
            On::Tx(Tx {
                kind: TxKind::Buffered(b),
                ..
            }) => b.run(&self.sql, self.args, want).await,
            On::Store(Store::Sqlite(lite)) => {
                lite.read(|conn| lite_run(conn, &self.sql, &self.args, want))
            }
            On::Tx(Tx {
                kind: TxKind::Postgres(t),
                ..
            }) => {
                let q = self.pg();
                Ok(match want {
                    Want::Rows => Output::Rows(
                        q.fetch_all(&mut **t)
                            .await?
                            .into_iter()
                            .map(Row::pg)
                            .collect(),
                    ),
                    Want::Count => Output::Count(q.execute(&mut **t).await?.rows_affected()),
                })
            }
            On::Store(Store::Postgres(pool)) => {
                let q = self.pg();
                Ok(match want {
                    Want::Rows => {
                        Output::Rows(q.fetch_all(pool).await?.into_iter().map(Row::pg).collect())
                    }
                    Want::Count => Output::Count(q.execute(pool).await?.rows_affected()),
                })
            }
        }
    }

    fn pg(self) -> sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments> {
        pg_query(self.sql.into_owned(), self.args)
    }
}

/// `sql` with `args` bound, for sqlx on PostgreSQL.
pub(crate) fn pg_query(
    sql: String,
    args: Vec<Val>,
) -> sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments> {
    // The arguments' buffer is sized once: a joined statement binds hundreds of kilobytes,
    // which grown by doubling were copied about twice over.
    let mut reserved = sqlx::postgres::PgArguments::default();
    let bytes = args.iter().map(Val::pg_encoded_len).sum();
    sqlx::Arguments::reserve(&mut reserved, args.len(), bytes);
    let mut q = sqlx::query_with(sqlx::AssertSqlSafe(sql), reserved);
    for a in args {
        q = match a {
            Val::Int(n) => q.bind(n),
            Val::I32(n) => q.bind(n),
            Val::Bool(b) => q.bind(b),
            Val::Text(s) => q.bind(s),
            Val::Bytes(b) => q.bind(b),
            Val::Null(Kind::Int) => q.bind(None::<i64>),
            Val::Null(Kind::I32) => q.bind(None::<i32>),
            Val::Null(Kind::Bool) => q.bind(None::<bool>),
            Val::Null(Kind::Text) => q.bind(None::<String>),
            Val::Null(Kind::Bytes) => q.bind(None::<Vec<u8>>),
        };
    }
    q
}

thread_local! {
    /// Per SQL text: which argument each of its parameters takes (`$N` is argument N).
    /// SQLite finds a parameter's name by a linear walk, so a statement with thousands of
    /// parameters (a multi-row insert) would spend its time there on every run.
    static PARAMETER_MAPS: std::cell::RefCell<crate::shape::FastMap<String, Arc<[usize]>>> =
        Default::default();
}

/// The argument (1-based) each parameter of `stmt` takes, worked out once per SQL text.
fn parameter_map(stmt: &rusqlite::Statement<'_>, sql: &str, args: usize) -> Result<Arc<[usize]>> {
    if let Some(m) = PARAMETER_MAPS.with(|c| c.borrow().get(sql).cloned()) {
        return Ok(m);
    }
    let map: Arc<[usize]> = (1..=stmt.parameter_count())
        .map(|i| {
            stmt.parameter_name(i)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=args).contains(n))
                .ok_or_else(|| StoreError::Placeholder(sql.chars().take(80).collect()))
        })
        .collect::<Result<Vec<_>>>()?
        .into();
    PARAMETER_MAPS.with(|c| {
        let mut c = c.borrow_mut();
        // Statements are a bounded set of texts; a guard against one built per call.
        if c.len() > 4_096 {
            c.clear();
        }
        c.insert(sql.to_string(), map.clone());
    });
    Ok(map)
}

/// Whether a statement only reads (so a deferred transaction may run it outside the turn).
pub(crate) fn is_read(sql: &str) -> bool {
    sql.trim_start()
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("SELECT"))
}

/// Prepares (from the connection's cache), binds and runs one statement on SQLite.
/// `$N` placeholders are SQLite named parameters; each is bound to argument N by its name,
/// so they may appear in any order and more than once.
pub(crate) fn lite_run(conn: &Connection, sql: &str, args: &[Val], want: Want) -> Result<Output> {
    let mut stmt = conn.prepare_cached(sql)?;
    let map = parameter_map(&stmt, sql, args.len())?;
    for (i, n) in map.iter().enumerate() {
        let arg = args
            .get(n - 1)
            .ok_or_else(|| StoreError::Placeholder(sql.chars().take(80).collect()))?;
        stmt.raw_bind_parameter(i + 1, arg)?;
    }
    match want {
        Want::Count => Ok(Output::Count(stmt.raw_execute()? as u64)),
        Want::Rows => {
            let cols: Arc<[String]> = stmt.column_names().into_iter().map(String::from).collect();
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let vals = (0..cols.len())
                    .map(|i| r.get_ref(i).map(Value::from))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                out.push(Row::Lite {
                    cols: cols.clone(),
                    vals,
                });
            }
            Ok(Output::Rows(out))
        }
    }
}

/// A result row of either backend.
pub(crate) enum Row {
    /// Shared: a buffered transaction keeps the rows it read to answer the same read again.
    Pg(Arc<PgRow>),
    Lite {
        cols: Arc<[String]>,
        vals: Vec<Value>,
    },
}

impl Row {
    pub(crate) fn pg(r: PgRow) -> Self {
        Row::Pg(Arc::new(r))
    }

    /// A SQLite row's column names (none for PostgreSQL's).
    pub(crate) fn lite_columns(&self) -> Option<Arc<[String]>> {
        match self {
            Row::Lite { cols, .. } => Some(cols.clone()),
            Row::Pg(_) => None,
        }
    }

    /// A SQLite row's values, in column order (empty for PostgreSQL's).
    pub(crate) fn lite_values(&self) -> &[Value] {
        match self {
            Row::Lite { vals, .. } => vals,
            Row::Pg(_) => &[],
        }
    }

    pub(crate) fn try_get<T>(&self, column: &str) -> Result<T>
    where
        T: FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
    {
        match self {
            Row::Pg(r) => Ok(sqlx::Row::try_get(&**r, column)?),
            Row::Lite { cols, vals } => {
                let i = cols
                    .iter()
                    .position(|c| c == column)
                    .ok_or_else(|| StoreError::Column(column.to_owned()))?;
                T::column_result(ValueRef::from(&vals[i])).map_err(|e| StoreError::Decode {
                    column: column.to_owned(),
                    message: e.to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{placeholders_from, push_number};

    #[test]
    fn placeholders_are_numbered_from_the_offset() {
        assert_eq!(placeholders_from(0, 3), "$1, $2, $3");
        assert_eq!(placeholders_from(9, 2), "$10, $11");
        let mut out = String::from("$");
        for n in [0, 7, 10, 1_234_567, usize::MAX] {
            out.truncate(1);
            push_number(&mut out, n);
            assert_eq!(out, format!("${n}"));
        }
    }
}
