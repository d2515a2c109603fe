//! Schema migrations, embedded in the binary and applied in order, once, by whichever process
//! gets there first (PostgreSQL: an advisory lock; SQLite: the write lock).

use sqlx::Row;

use crate::{Result, Store, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "payments",
        sqlite: include_str!("../migrations/sqlite/0002_payments.sql"),
        postgres: include_str!("../migrations/postgres/0002_payments.sql"),
    },
    Migration {
        version: 3,
        name: "catalog",
        sqlite: include_str!("../migrations/sqlite/0003_catalog.sql"),
        postgres: include_str!("../migrations/postgres/0003_catalog.sql"),
    },
    Migration {
        version: 4,
        name: "discounts",
        sqlite: include_str!("../migrations/sqlite/0004_discounts.sql"),
        postgres: include_str!("../migrations/postgres/0004_discounts.sql"),
    },
    Migration {
        version: 5,
        name: "test_clocks",
        sqlite: include_str!("../migrations/sqlite/0005_test_clocks.sql"),
        postgres: include_str!("../migrations/postgres/0005_test_clocks.sql"),
    },
    Migration {
        version: 6,
        name: "billing",
        sqlite: include_str!("../migrations/sqlite/0006_billing.sql"),
        postgres: include_str!("../migrations/postgres/0006_billing.sql"),
    },
    Migration {
        version: 7,
        name: "usage",
        sqlite: include_str!("../migrations/sqlite/0007_usage.sql"),
        postgres: include_str!("../migrations/postgres/0007_usage.sql"),
    },
    Migration {
        version: 8,
        name: "entitlement_ends",
        sqlite: include_str!("../migrations/sqlite/0008_entitlement_ends.sql"),
        postgres: include_str!("../migrations/postgres/0008_entitlement_ends.sql"),
    },
    Migration {
        version: 9,
        name: "webhooks",
        sqlite: include_str!("../migrations/sqlite/0009_webhooks.sql"),
        postgres: include_str!("../migrations/postgres/0009_webhooks.sql"),
    },
    Migration {
        version: 10,
        name: "webhook_retention",
        sqlite: include_str!("../migrations/sqlite/0010_webhook_retention.sql"),
        postgres: include_str!("../migrations/postgres/0010_webhook_retention.sql"),
    },
    Migration {
        version: 11,
        name: "events_object_index",
        sqlite: include_str!("../migrations/sqlite/0011_events_object_index.sql"),
        postgres: include_str!("../migrations/postgres/0011_events_object_index.sql"),
    },
    Migration {
        version: 12,
        name: "outbox_statement_trigger",
        sqlite: include_str!("../migrations/sqlite/0012_outbox_statement_trigger.sql"),
        postgres: include_str!("../migrations/postgres/0012_outbox_statement_trigger.sql"),
    },
    Migration {
        version: 13,
        name: "outbox_only_for_endpoints",
        sqlite: include_str!("../migrations/sqlite/0013_outbox_only_for_endpoints.sql"),
        postgres: include_str!("../migrations/postgres/0013_outbox_only_for_endpoints.sql"),
    },
    Migration {
        version: 14,
        name: "no_ledger_account_index",
        sqlite: include_str!("../migrations/sqlite/0014_no_ledger_account_index.sql"),
        postgres: include_str!("../migrations/postgres/0014_no_ledger_account_index.sql"),
    },
    Migration {
        version: 15,
        name: "search",
        sqlite: include_str!("../migrations/sqlite/0015_search.sql"),
        postgres: include_str!("../migrations/postgres/0015_search.sql"),
    },
    Migration {
        version: 16,
        name: "checkout",
        sqlite: include_str!("../migrations/sqlite/0016_checkout.sql"),
        postgres: include_str!("../migrations/postgres/0016_checkout.sql"),
    },
    Migration {
        version: 17,
        name: "portal",
        sqlite: include_str!("../migrations/sqlite/0017_portal.sql"),
        postgres: include_str!("../migrations/postgres/0017_portal.sql"),
    },
    Migration {
        version: 18,
        name: "processor_customers",
        sqlite: include_str!("../migrations/sqlite/0018_processor_customers.sql"),
        postgres: include_str!("../migrations/postgres/0018_processor_customers.sql"),
    },
    Migration {
        version: 19,
        name: "processor_events",
        sqlite: include_str!("../migrations/sqlite/0019_processor_events.sql"),
        postgres: include_str!("../migrations/postgres/0019_processor_events.sql"),
    },
    Migration {
        version: 20,
        name: "disputes",
        sqlite: include_str!("../migrations/sqlite/0020_disputes.sql"),
        postgres: include_str!("../migrations/postgres/0020_disputes.sql"),
    },
];

/// An arbitrary constant naming Cashbox's migration lock among PostgreSQL advisory locks.
const PG_MIGRATION_LOCK: i64 = 0x0063_6173_6862_6f78;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Store {
    /// Applies pending migrations; returns the versions it applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let mut applied = Vec::new();
        match self {
            Store::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(PG_MIGRATION_LOCK)
                    .execute(&mut *conn)
                    .await?;
                let result: Result<()> = async {
                    sqlx::query(CREATE_TABLE).execute(&mut *conn).await?;
                    let done = current_version_pg(&mut conn).await?;
                    check_not_newer(done)?;
                    for m in MIGRATIONS.iter().filter(|m| m.version > done) {
                        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                        sqlx::raw_sql(m.postgres).execute(&mut *tx).await?;
                        record(&mut tx, m).await?;
                        tx.commit().await?;
                        applied.push(m.version);
                    }
                    Ok(())
                }
                .await;
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(PG_MIGRATION_LOCK)
                    .execute(&mut *conn)
                    .await?;
                result?;
            }
            Store::Sqlite(lite) => {
                let writer = lite.exclusive().await;
                let conn = &writer.conn;
                conn.execute_batch(CREATE_TABLE)?;
                for m in MIGRATIONS {
                    conn.execute_batch("BEGIN IMMEDIATE")?;
                    let step = (|| -> Result<bool> {
                        let done: i64 = conn.query_row(
                            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                            [],
                            |r| r.get(0),
                        )?;
                        check_not_newer(done)?;
                        if m.version <= done {
                            return Ok(false);
                        }
                        conn.execute_batch(m.sqlite)?;
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                            rusqlite::params![m.version, m.name, unix_now()],
                        )?;
                        Ok(true)
                    })();
                    match step {
                        Ok(ran) => {
                            conn.execute_batch("COMMIT")?;
                            if ran {
                                applied.push(m.version);
                            }
                        }
                        Err(e) => {
                            conn.execute_batch("ROLLBACK")?;
                            return Err(e);
                        }
                    }
                }
            }
        }
        // What a write also writes, from the schema as it now is.
        self.learn_side_effects().await?;
        Ok(applied)
    }
}

async fn current_version_pg(conn: &mut sqlx::PgConnection) -> Result<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("v")?)
}

fn check_not_newer(found: i64) -> Result<()> {
    if found > latest() {
        return Err(StoreError::SchemaTooNew {
            found,
            known: latest(),
        });
    }
    Ok(())
}

async fn record(conn: &mut sqlx::PgConnection, m: &Migration) -> Result<()> {
    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
        .bind(m.version)
        .bind(m.name)
        .bind(unix_now())
        .execute(conn)
        .await?;
    Ok(())
}
