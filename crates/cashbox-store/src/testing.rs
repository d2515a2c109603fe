//! Fresh, migrated databases for tests: a temporary SQLite file by default, or a new schema in
//! the PostgreSQL database named by `CASHBOX_TEST_DATABASE_URL`.

use cashbox_core::id::random_token;

use crate::{Result, Store};

pub const TEST_DATABASE_URL_VAR: &str = "CASHBOX_TEST_DATABASE_URL";

/// A database URL no other test uses. PostgreSQL gets a fresh schema, selected through the
/// connection's `search_path`; SQLite a fresh file in the temporary directory.
pub async fn fresh_database_url() -> Result<String> {
    let suffix = random_token(12).to_lowercase();
    match std::env::var(TEST_DATABASE_URL_VAR) {
        Ok(base) if !base.is_empty() => {
            let admin = Store::connect(&base, 1).await?;
            let schema = format!("t_{suffix}");
            if let Store::Postgres(p) = &admin {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(p)
                    .await?;
            }
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            Ok(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
        }
        _ => {
            let path = std::env::temp_dir().join(format!("cashbox-test-{suffix}.db"));
            Ok(format!("sqlite://{}", path.display()))
        }
    }
}

/// Removes a test's SQLite file (and its WAL files); PostgreSQL schemas go with the CI database.
pub fn remove_test_database(url: &str) {
    if let Some(path) = url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    }
}

/// A connected, migrated store on a fresh database, removed when dropped.
pub struct FreshStore {
    pub store: Store,
    url: String,
}

impl std::ops::Deref for FreshStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl Drop for FreshStore {
    fn drop(&mut self) {
        remove_test_database(&self.url);
    }
}

pub async fn fresh_store() -> Result<FreshStore> {
    let url = fresh_database_url().await?;
    let store = Store::connect(&url, 8).await?;
    store.migrate().await?;
    Ok(FreshStore { store, url })
}

/// Every row of every table (but the migrations' log), each as a JSON array of its plain
/// columns (text and numbers; sealed and hashed bytes left out), by table: what the
/// differential test compares between a run with fast transactions and one without.
pub async fn plain_rows(store: &Store) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
    use crate::db::query;
    let (tables_sql, columns_sql, blob) = match store {
        Store::Sqlite(_) => (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            "SELECT name, type FROM pragma_table_info($1)",
            "BLOB",
        ),
        Store::Postgres(_) => (
            "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = current_schema()",
            "SELECT column_name::text AS name, data_type::text AS type
             FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1",
            "bytea",
        ),
    };
    let mut out = std::collections::BTreeMap::new();
    for table in query(tables_sql).fetch_all(store).await? {
        let table: String = table.try_get("name")?;
        if table == "schema_migrations" {
            continue;
        }
        let mut columns = Vec::new();
        for c in query(columns_sql)
            .bind(table.as_str())
            .fetch_all(store)
            .await?
        {
            let (name, kind): (String, String) = (c.try_get("name")?, c.try_get("type")?);
            if !kind.eq_ignore_ascii_case(blob) {
                columns.push(format!("\"{name}\""));
            }
        }
        let array = match store {
            Store::Sqlite(_) => format!("json_array({})", columns.join(", ")),
            Store::Postgres(_) => format!("json_build_array({})::text", columns.join(", ")),
        };
        let rows = query(format!("SELECT {array} AS r FROM {table}"))
            .fetch_all(store)
            .await?
            .iter()
            .map(|r| r.try_get::<String>("r"))
            .collect::<Result<Vec<_>>>()?;
        out.insert(table, rows);
    }
    Ok(out)
}
