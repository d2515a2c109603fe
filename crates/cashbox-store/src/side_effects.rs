//! Which tables a write to a table also writes, read from the database's own catalog: the
//! tables its triggers write, and the tables whose foreign keys cascade from it (`ON DELETE
//! CASCADE`, `SET NULL`, `SET DEFAULT`, and the same `ON UPDATE`).
//!
//! Buffered and deferred transactions keep what they read and answer the same read again from
//! it until one of their writes may change it (`shape.rs`): a write to `events` changes
//! `webhook_outbox` too, through a trigger. That knowledge is never kept by hand: every
//! [`Store::migrate`] reads it from the catalog ([`Store::learn_side_effects`]), so a migration
//! that adds a trigger or a cascade is taken into account the moment it is applied. Until a
//! store has learned them, it runs no buffered or deferred transaction.
//!
//! What is learned is added to what the process knew (one process may open several stores of
//! the same schema; tests do): knowing a side effect too many only makes a kept read be read
//! again. A trigger body is read for the tables it inserts into, updates or deletes from; one
//! that runs dynamic SQL (`EXECUTE`) or `MERGE` is taken to write every table it names.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::db::query;
use crate::{Result, Store};

/// `(written, also written)` pairs, sorted.
type Pairs = Arc<[(Box<str>, Box<str>)]>;

static KNOWN: RwLock<BTreeSet<(Box<str>, Box<str>)>> = RwLock::new(BTreeSet::new());
/// Changes each time something new is learned: threads then read [`KNOWN`] again.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static LEARNED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static SEEN: RefCell<(u64, Pairs)> = RefCell::new((u64::MAX, Arc::from([])));
}

/// The generation of what is known: a thread's kept shapes are stale once it moves.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Whether some store has learned its side effects: until then, none runs buffered or
/// deferred transactions.
pub(crate) fn learned() -> bool {
    LEARNED.load(Ordering::Acquire)
}

/// The pairs known now, as this thread last read them (one atomic load when unchanged).
pub(crate) fn known() -> Pairs {
    let now = generation();
    SEEN.with(|seen| {
        let mut seen = seen.borrow_mut();
        if seen.0 != now {
            let known = KNOWN.read().unwrap_or_else(PoisonError::into_inner);
            *seen = (now, known.iter().cloned().collect());
        }
        seen.1.clone()
    })
}

/// The tables a write to `table` also writes (itself, if a trigger writes other rows of it).
pub(crate) fn also_written(table: &str) -> Vec<Box<str>> {
    known()
        .iter()
        .filter(|(from, _)| &**from == table)
        .map(|(_, also)| also.clone())
        .collect()
}

/// Adds `pairs` to what is known.
pub(crate) fn add(pairs: impl IntoIterator<Item = (String, String)>) {
    let mut known = KNOWN.write().unwrap_or_else(PoisonError::into_inner);
    let mut grew = false;
    for (from, also) in pairs {
        grew |= known.insert((from.into(), also.into()));
    }
    if grew {
        GENERATION.fetch_add(1, Ordering::AcqRel);
    }
    LEARNED.store(true, Ordering::Release);
}

/// For unit tests that never migrate a store: what the migrations' one trigger makes known.
#[cfg(test)]
pub(crate) fn know_the_outbox_trigger() {
    add([("events".into(), "webhook_outbox".into())]);
}

/// The tables a trigger body writes, among `tables`.
fn written_by_body(body: &str, tables: &BTreeSet<String>) -> BTreeSet<String> {
    let words: Vec<String> = body
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let named = || {
        words
            .iter()
            .filter(|w| tables.contains(*w))
            .cloned()
            .collect()
    };
    if words.iter().any(|w| w == "execute" || w == "merge") {
        return named();
    }
    let mut written = BTreeSet::new();
    for (i, word) in words.iter().enumerate() {
        let target = match word.as_str() {
            "into" if i > 0 && words[i - 1] == "insert" => words.get(i + 1),
            "update" => words.get(i + 1),
            "from" if i > 0 && words[i - 1] == "delete" => words.get(i + 1),
            _ => None,
        };
        if let Some(t) = target.filter(|t| tables.contains(*t)) {
            written.insert(t.clone());
        }
    }
    written
}

/// Whether a foreign key action (SQLite's words, or PostgreSQL's one-letter codes) writes the
/// referencing rows.
fn cascades(action: &str) -> bool {
    matches!(
        action.to_ascii_uppercase().as_str(),
        "CASCADE" | "SET NULL" | "SET DEFAULT" | "C" | "N" | "D"
    )
}

impl Store {
    /// Reads from the catalog which tables a write to each table also writes (its triggers,
    /// its cascading foreign keys) and adds them to what the process knows. Run by
    /// [`Store::migrate`]; returns the pairs found.
    pub async fn learn_side_effects(&self) -> Result<Vec<(String, String)>> {
        let (tables_sql, triggers_sql, keys_sql) = match self {
            Store::Sqlite(_) => (
                "SELECT name FROM sqlite_master WHERE type = 'table'",
                "SELECT tbl_name AS on_table, sql AS body FROM sqlite_master WHERE type = 'trigger'",
                "SELECT m.name AS child, f.\"table\" AS parent, f.on_delete AS on_delete,
                    f.on_update AS on_update
                 FROM sqlite_master m, pragma_foreign_key_list(m.name) f
                 WHERE m.type = 'table'",
            ),
            Store::Postgres(_) => (
                "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = current_schema()",
                "SELECT c.relname::text AS on_table, p.prosrc AS body
                 FROM pg_trigger t
                 JOIN pg_class c ON c.oid = t.tgrelid
                 JOIN pg_proc p ON p.oid = t.tgfoid
                 WHERE NOT t.tgisinternal AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
                "SELECT child.relname::text AS child, parent.relname::text AS parent,
                    k.confdeltype::text AS on_delete, k.confupdtype::text AS on_update
                 FROM pg_constraint k
                 JOIN pg_class child ON child.oid = k.conrelid
                 JOIN pg_class parent ON parent.oid = k.confrelid
                 WHERE k.contype = 'f' AND child.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
            ),
        };
        let tables: BTreeSet<String> = query(tables_sql)
            .fetch_all(self)
            .await?
            .iter()
            .map(|r| r.try_get::<String>("name").map(|n| n.to_ascii_lowercase()))
            .collect::<Result<_>>()?;
        let mut pairs = BTreeSet::new();
        for row in query(triggers_sql).fetch_all(self).await? {
            let on = row.try_get::<String>("on_table")?.to_ascii_lowercase();
            let body = row.try_get::<String>("body")?;
            for also in written_by_body(&body, &tables) {
                pairs.insert((on.clone(), also));
            }
        }
        for row in query(keys_sql).fetch_all(self).await? {
            let on_delete = row.try_get::<String>("on_delete")?;
            let on_update = row.try_get::<String>("on_update")?;
            if cascades(&on_delete) || cascades(&on_update) {
                pairs.insert((
                    row.try_get::<String>("parent")?.to_ascii_lowercase(),
                    row.try_get::<String>("child")?.to_ascii_lowercase(),
                ));
            }
        }
        let pairs: Vec<(String, String)> = pairs.into_iter().collect();
        add(pairs.iter().cloned());
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_trigger_body_is_read_for_what_it_writes() {
        let t = tables(&["events", "webhook_outbox", "webhook_endpoints", "audit"]);
        let sqlite = "CREATE TRIGGER x AFTER INSERT ON events
            WHEN EXISTS (SELECT 1 FROM webhook_endpoints)
            BEGIN INSERT INTO webhook_outbox (event_id) VALUES (NEW.id); END";
        assert_eq!(written_by_body(sqlite, &t), tables(&["webhook_outbox"]));
        let plpgsql = "BEGIN IF EXISTS (SELECT 1 FROM webhook_endpoints) THEN
            INSERT INTO webhook_outbox (event_id) SELECT id FROM recorded_events; END IF;
            UPDATE audit SET n = n + 1; DELETE FROM Events WHERE false; RETURN NULL; END";
        assert_eq!(
            written_by_body(plpgsql, &t),
            tables(&["audit", "events", "webhook_outbox"])
        );
        let dynamic = "BEGIN EXECUTE 'INSERT INTO ' || 'audit'; PERFORM 1 FROM events; END";
        assert_eq!(written_by_body(dynamic, &t), tables(&["audit", "events"]));
    }

    #[test]
    fn cascading_actions_write_the_referencing_rows() {
        for yes in ["CASCADE", "SET NULL", "set default", "c", "n", "d"] {
            assert!(cascades(yes), "{yes}");
        }
        for no in ["NO ACTION", "RESTRICT", "a", "r"] {
            assert!(!cascades(no), "{no}");
        }
    }
}

#[cfg(test)]
mod catalog_tests {
    use crate::db::query;
    use crate::shape::Shape;
    use crate::testing::fresh_store;

    /// The migrations' trigger is found, and a migration that adds a trigger or a cascading
    /// foreign key is noticed as soon as it is applied: no list to keep by hand.
    #[tokio::test]
    async fn triggers_and_cascades_are_read_from_the_catalog() {
        let store = fresh_store().await.unwrap();
        let found = store.learn_side_effects().await.unwrap();
        assert!(
            found.contains(&("events".into(), "webhook_outbox".into())),
            "{found:?}"
        );
        let write = "INSERT INTO probe_parent (id) VALUES ($1)";
        let read = "SELECT n FROM probe_audit WHERE id = $1";
        let update = "UPDATE probe_parent SET id = $2 WHERE id = $1";
        let postgres = matches!(&*store, crate::Store::Postgres(_));
        let migration = if postgres {
            "CREATE TABLE probe_parent (id TEXT PRIMARY KEY);
             CREATE TABLE probe_child (id TEXT PRIMARY KEY,
                 parent TEXT REFERENCES probe_parent (id) ON DELETE CASCADE);
             CREATE TABLE probe_audit (id TEXT PRIMARY KEY, n BIGINT);
             CREATE FUNCTION probe_count() RETURNS trigger AS $$
             BEGIN INSERT INTO probe_audit (id, n) VALUES (NEW.id, 1); RETURN NULL; END
             $$ LANGUAGE plpgsql;
             CREATE TRIGGER probe_counted AFTER INSERT ON probe_parent
                 FOR EACH ROW EXECUTE FUNCTION probe_count();"
        } else {
            "CREATE TABLE probe_parent (id TEXT PRIMARY KEY);
             CREATE TABLE probe_child (id TEXT PRIMARY KEY,
                 parent TEXT REFERENCES probe_parent (id) ON DELETE CASCADE);
             CREATE TABLE probe_audit (id TEXT PRIMARY KEY, n INTEGER);
             CREATE TRIGGER probe_counted AFTER INSERT ON probe_parent
             BEGIN INSERT INTO probe_audit (id, n) VALUES (NEW.id, 1); END;"
        };
        match &*store {
            crate::Store::Postgres(p) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(migration))
                    .execute(p)
                    .await
                    .unwrap();
            }
            crate::Store::Sqlite(lite) => {
                let w = lite.exclusive().await;
                w.conn.execute_batch(migration).unwrap();
            }
        }
        let found = store.learn_side_effects().await.unwrap();
        for pair in [
            ("probe_parent", "probe_audit"),
            ("probe_parent", "probe_child"),
        ] {
            assert!(
                found.contains(&(pair.0.into(), pair.1.into())),
                "{pair:?} in {found:?}"
            );
        }
        // What a kept read asks of a write now knows the trigger.
        let (r, w) = (Shape::of(read), Shape::of(write));
        assert!(r.changed_by_write(&w));
        assert!(Shape::of("SELECT id FROM probe_child").changed_by_write(&Shape::of(update)));
        // A write whose trigger writes elsewhere is not taken to change its one row only.
        let args = [
            crate::db::Val::Text("a".into()),
            crate::db::Val::Text("b".into()),
        ];
        assert_eq!(Shape::of(update).one_row(&args), None);
        // A deferred transaction reads the audit again after writing the parent.
        if let crate::Store::Sqlite(lite) = &*store {
            let mut d = crate::DeferredTx::new(lite.clone());
            let a = || vec![crate::db::Val::Text("a".into())];
            d.read(read, a()).unwrap();
            d.read(read, a()).unwrap();
            assert_eq!(
                d.log_len(),
                1,
                "the same read is answered from what it kept"
            );
            d.write(write, a(), Some(1));
            d.read(read, a()).unwrap();
            assert_eq!(d.log_len(), 3, "after the write, the read is made again");
        }
        let _ = query("SELECT 1").fetch_one(&*store).await.unwrap();
    }
}
