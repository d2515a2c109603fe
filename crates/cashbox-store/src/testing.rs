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
