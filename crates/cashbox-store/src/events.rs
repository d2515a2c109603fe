//! The event log. An event is written in the transaction of the change it records.

use std::sync::LazyLock;

use cashbox_core::list::{Page, Range};

use crate::db::{Row, Val, placeholders_from, query, rows_in};
use crate::query::{Listed, Select};
use crate::{Result, Store, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    pub object_id: String,
    /// Sealed `data` (the object and previous attributes): objects carry personal data.
    pub sealed: Vec<u8>,
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Exact types; empty with no prefixes means every type.
    pub types: Vec<String>,
    /// Type prefixes from wildcards: `customer.*` is the prefix `customer.`.
    pub type_prefixes: Vec<String>,
    pub created: Range,
}

const COLUMNS: &str = "id, type, created, object_id, sealed, request_id, idempotency_key";

impl EventRow {
    fn from_row(r: &Row) -> Result<Self> {
        Ok(Self {
            id: r.try_get("id")?,
            event_type: r.try_get("type")?,
            created: r.try_get("created")?,
            object_id: r.try_get("object_id")?,
            sealed: r.try_get("sealed")?,
            request_id: r.try_get("request_id")?,
            idempotency_key: r.try_get("idempotency_key")?,
        })
    }
}

impl Store {
    pub async fn event(&self, id: &str) -> Result<Option<EventRow>> {
        query(format!("SELECT {COLUMNS} FROM events WHERE id = $1"))
            .bind(id)
            .fetch_optional(self)
            .await?
            .as_ref()
            .map(EventRow::from_row)
            .transpose()
    }

    /// The events of `ids` that exist, in no particular order.
    pub async fn events_by_id(&self, ids: &[String]) -> Result<Vec<EventRow>> {
        rows_in(self, ids, |list| {
            format!("SELECT {COLUMNS} FROM events WHERE id IN ({list})")
        })
        .await?
        .iter()
        .map(EventRow::from_row)
        .collect()
    }

    pub async fn list_events(&self, filter: &EventFilter, page: &Page) -> Result<Listed<EventRow>> {
        let mut s = Select::new(&format!("{COLUMNS} FROM events"));
        let mut alternatives = Vec::new();
        for t in &filter.types {
            let p = s.arg(Val::Text(t.clone()));
            alternatives.push(format!("type = {p}"));
        }
        for prefix in &filter.type_prefixes {
            let p = s.arg(Val::Text(prefix.clone()));
            // substr, not LIKE: event types contain `_`, which LIKE treats as a wildcard.
            alternatives.push(format!("substr(type, 1, {}) = {p}", prefix.len()));
        }
        if !alternatives.is_empty() {
            s.and(format!("({})", alternatives.join(" OR ")));
        }
        s.range("created", &filter.created);
        s.page(page);
        let sql = s.sql();
        {
            let rows = query(sql)
                .bind_all(std::mem::take(&mut s.args))
                .fetch_all(self)
                .await?;
            let rows: Result<Vec<EventRow>> = rows.iter().map(EventRow::from_row).collect();
            Ok(s.finish(rows?))
        }
    }
}

/// Events written by one statement at most: 7 placeholders each, well within both
/// backends' limits.
const EVENTS_PER_INSERT: usize = 64;

/// The statement that writes `n` events (1 to [`EVENTS_PER_INSERT`]), made once for each
/// backend and `n`: a renewal writes eight events, and making the text each time took as
/// many instructions as sending it.
fn insert_sql(postgres: bool, n: usize) -> &'static str {
    static TEXTS: LazyLock<[Vec<String>; 2]> = LazyLock::new(|| {
        [false, true].map(|postgres| {
            // On SQLite, `OR ROLLBACK`: a statement that writes several rows (and the outbox
            // through the trigger) and could fail halfway otherwise copies every page it
            // touches into a statement journal first, to undo only itself: ~8% of a
            // renewal's write turn. Nothing here can fail halfway but for a broken invariant
            // (an id twice, a NULL): then the whole transaction rolls back instead, and on
            // SQLite that is the group-commit batch it is in, whose members are all told so.
            let verb = if postgres {
                "INSERT INTO"
            } else {
                "INSERT OR ROLLBACK INTO"
            };
            (1..=EVENTS_PER_INSERT)
                .map(|n| {
                    let rows: Vec<String> = (0..n)
                        .map(|i| format!("({})", placeholders_from(i * 7, 7)))
                        .collect();
                    format!("{verb} events ({COLUMNS}) VALUES {}", rows.join(", "))
                })
                .collect()
        })
    });
    &TEXTS[usize::from(postgres)][n - 1]
}

impl Tx {
    /// Records `e`, to be written when the transaction commits (with the others it records,
    /// in one statement): nothing reads an event in the transaction that records it.
    pub fn insert_event(&mut self, e: EventRow) {
        self.events.push(e);
    }

    /// Writes the events recorded so far, in the order they were recorded.
    pub(crate) async fn write_events(&mut self) -> Result<()> {
        let mut events = std::mem::take(&mut self.events).into_iter().peekable();
        while events.peek().is_some() {
            let chunk: Vec<EventRow> = events.by_ref().take(EVENTS_PER_INSERT).collect();
            let mut q = query(insert_sql(self.is_postgres(), chunk.len()));
            for e in chunk {
                q = q
                    .bind(e.id)
                    .bind(e.event_type)
                    .bind(e.created)
                    .bind(e.object_id)
                    .bind(e.sealed)
                    .bind(e.request_id)
                    .bind(e.idempotency_key);
            }
            q.run_ignoring_count(&mut *self).await?;
        }
        Ok(())
    }
}
