//! The search index's rows, the marks of objects waiting to be indexed, and search queries
//! (see `0015_search.sql`).
//!
//! A search runs as one statement on the resource's own table: each clause is a condition on
//! its `id` (in the ids an index lookup finds) or its `created` column, joined by AND or OR,
//! newest first. Term lookups use the `search_terms` primary key; numbers use
//! `search_values_number`. Nothing is decrypted to answer.

use crate::db::{Val, query};
use crate::{Result, Store, Tx};

/// What one object puts in the index, its blind indexes already computed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRows {
    pub terms: Vec<Vec<u8>>,
    pub numbers: Vec<(&'static str, i64)>,
    pub texts: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Compare {
    fn sql(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchCondition {
    /// Has any of these terms (one blind index per key of the ring).
    AnyTerm(Vec<Vec<u8>>),
    Number {
        field: &'static str,
        compare: Compare,
        value: i64,
    },
    Created {
        compare: Compare,
        value: i64,
    },
    /// The text field contains `needle` (lower-cased).
    Contains {
        field: &'static str,
        needle: String,
    },
    /// One of the table's own columns (`status`, `customer`, `parent`) is `value`.
    Column {
        column: &'static str,
        value: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchClause {
    pub negated: bool,
    pub condition: SearchCondition,
}

/// A search on one table: `table` is a searchable resource's (`customers`, `prices`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub table: &'static str,
    pub any: bool,
    pub clauses: Vec<SearchClause>,
    /// Results after this (created, id), newest first.
    pub after: Option<(i64, String)>,
    pub limit: u32,
    pub total_count: bool,
}

/// Ids, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    pub ids: Vec<(i64, String)>,
    pub has_more: bool,
    pub total_count: Option<i64>,
}

/// `LIKE` pattern for a substring, with the pattern characters escaped.
fn contains_pattern(needle: &str) -> String {
    let mut p = String::from("%");
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

struct Sql {
    args: Vec<Val>,
}

impl Sql {
    fn arg(&mut self, v: Val) -> String {
        self.args.push(v);
        format!("${}", self.args.len())
    }

    /// A clause's SQL. An index lookup is `id IN (…)` (the planner starts from the few ids it
    /// finds); negated, `NOT EXISTS (…)` probed per row through the index's primary key (a
    /// `NOT IN` would have to read every id the lookup finds).
    fn condition(&mut self, table: &str, c: &SearchCondition, negated: bool) -> String {
        let (from, filter) = match c {
            SearchCondition::Created { compare, value } => {
                let v = self.arg(Val::Int(*value));
                let sql = format!("created {} {v}", compare.sql());
                return if negated { format!("NOT ({sql})") } else { sql };
            }
            SearchCondition::Column { column, value } => {
                let sql = match value {
                    Some(v) => {
                        let p = self.arg(Val::Text(v.clone()));
                        format!("{column} = {p}")
                    }
                    None => format!("{column} IS NULL"),
                };
                // A null column is neither equal nor unequal: NOT keeps it out, as it should
                // not for `-status:'x'`; COALESCE keeps the comparison two-valued.
                return if negated {
                    format!("NOT COALESCE({sql}, FALSE)")
                } else {
                    sql
                };
            }
            SearchCondition::AnyTerm(terms) => {
                let ps: Vec<String> = terms
                    .iter()
                    .map(|t| self.arg(Val::Bytes(t.clone())))
                    .collect();
                ("search_terms", format!("term IN ({})", ps.join(", ")))
            }
            SearchCondition::Number {
                field,
                compare,
                value,
            } => {
                let f = self.arg(Val::Text(field.to_string()));
                let v = self.arg(Val::Int(*value));
                (
                    "search_values",
                    format!("field = {f} AND number {} {v}", compare.sql()),
                )
            }
            SearchCondition::Contains { field, needle } => {
                let f = self.arg(Val::Text(field.to_string()));
                let p = self.arg(Val::Text(contains_pattern(needle)));
                (
                    "search_values",
                    format!("field = {f} AND text LIKE {p} ESCAPE '\\'"),
                )
            }
        };
        if negated {
            format!(
                "NOT EXISTS (SELECT 1 FROM {from} s WHERE s.object_id = {table}.id AND {filter})"
            )
        } else {
            format!("id IN (SELECT object_id FROM {from} WHERE {filter})")
        }
    }

    /// The query's WHERE clause (without the page).
    fn filter(&mut self, q: &SearchQuery) -> String {
        let parts: Vec<String> = q
            .clauses
            .iter()
            .map(|c| format!("({})", self.condition(q.table, &c.condition, c.negated)))
            .collect();
        let joined = parts.join(if q.any { " OR " } else { " AND " });
        let live = if q.table == "customers" {
            " AND deleted = FALSE"
        } else {
            ""
        };
        format!("({joined}){live}")
    }
}

impl Store {
    /// One page of a search, and the number of all its results when asked.
    pub async fn search(&self, q: &SearchQuery) -> Result<SearchPage> {
        let mut sql = Sql { args: Vec::new() };
        let filter = sql.filter(q);
        let total_count = if q.total_count {
            let count = format!("SELECT COUNT(*) AS n FROM {} WHERE {filter}", q.table);
            let row = query(count)
                .bind_all(sql.args.clone())
                .fetch_one(self)
                .await?;
            Some(row.try_get::<i64>("n")?)
        } else {
            None
        };
        let mut page = filter;
        if let Some((created, id)) = &q.after {
            let c = sql.arg(Val::Int(*created));
            let i = sql.arg(Val::Text(id.clone()));
            page.push_str(&format!(
                " AND (created < {c} OR (created = {c} AND id < {i}))"
            ));
        }
        let select = format!(
            "SELECT created, id FROM {} WHERE {page} ORDER BY created DESC, id DESC LIMIT {}",
            q.table,
            q.limit + 1
        );
        let rows = query(select).bind_all(sql.args).fetch_all(self).await?;
        let mut ids = rows
            .iter()
            .map(|r| Ok((r.try_get::<i64>("created")?, r.try_get::<String>("id")?)))
            .collect::<Result<Vec<_>>>()?;
        let has_more = ids.len() > q.limit as usize;
        ids.truncate(q.limit as usize);
        Ok(SearchPage {
            ids,
            has_more,
            total_count,
        })
    }

    /// Refreshes the planner's statistics (after a bulk load: autovacuum does it in time on
    /// PostgreSQL, SQLite only when asked).
    pub async fn analyze(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        query("ANALYZE").run_ignoring_count(&mut tx).await?;
        tx.commit().await
    }

    /// Marks every searchable object for indexing again (after a key rotation: their blind
    /// indexes are to be rewritten under the new primary key).
    pub async fn mark_all_for_search(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        for table in SEARCHABLE_TABLES {
            // A WHERE clause in every case: SQLite reads `ON CONFLICT` after a bare
            // `SELECT … FROM t` as a join constraint.
            let live = if table == "customers" {
                " WHERE deleted = FALSE"
            } else {
                " WHERE TRUE"
            };
            query(format!(
                "INSERT INTO search_pending (object_id, kind, version)
                 SELECT id, '{table}', 1 FROM {table}{live}
                 ON CONFLICT (object_id) DO UPDATE SET version = search_pending.version + 1"
            ))
            .run_ignoring_count(&mut tx)
            .await?;
        }
        tx.commit().await
    }

    /// Whether any object waits to be indexed: a plain read, so that an indexer with nothing
    /// to do takes no write transaction (on SQLite, the one writer's turn).
    pub async fn search_pending_any(&self) -> Result<bool> {
        let row = query("SELECT object_id FROM search_pending LIMIT 1")
            .fetch_optional(self)
            .await?;
        Ok(row.is_some())
    }

    /// How many objects wait to be indexed.
    pub async fn search_pending_count(&self) -> Result<i64> {
        let row = query("SELECT COUNT(*) AS n FROM search_pending")
            .fetch_one(self)
            .await?;
        row.try_get::<i64>("n")
    }
}

/// The tables whose writes mark objects for indexing (the triggers of `0015_search.sql`).
pub const SEARCHABLE_TABLES: [&str; 7] = [
    "customers",
    "prices",
    "products",
    "subscriptions",
    "invoices",
    "payment_intents",
    "charges",
];

/// How an indexer takes marks another indexer holds: see [`Tx::search_pending`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeMarks {
    SkipLocked,
    Wait,
}

/// An object marked for indexing: its id, its table, the mark's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub object_id: String,
    pub kind: String,
    pub version: i64,
}

impl Tx {
    /// Up to `limit` objects marked for indexing, locked. With [`TakeMarks::SkipLocked`]
    /// marks another indexer holds are left to it (background indexers share the work); with
    /// [`TakeMarks::Wait`] their indexing is waited for, so that what was written before is
    /// indexed when this returns (a search's catch-up). SQLite has one writer either way.
    pub async fn search_pending(&mut self, limit: i64, take: TakeMarks) -> Result<Vec<Pending>> {
        let lock = match take {
            TakeMarks::SkipLocked => self.lock_clause_or(" FOR UPDATE SKIP LOCKED"),
            TakeMarks::Wait => self.lock_clause(),
        };
        let sql = format!(
            "SELECT object_id, kind, version FROM search_pending ORDER BY object_id LIMIT $1{lock}"
        );
        let rows = query(sql).bind(limit).fetch_all(&mut *self).await?;
        rows.iter()
            .map(|r| {
                Ok(Pending {
                    object_id: r.try_get("object_id")?,
                    kind: r.try_get("kind")?,
                    version: r.try_get("version")?,
                })
            })
            .collect()
    }

    /// Removes the mark of an object indexed as of `version`; a write since leaves it marked.
    pub async fn search_indexed(&mut self, p: &Pending) -> Result<()> {
        query("DELETE FROM search_pending WHERE object_id = $1 AND version = $2")
            .bind(&p.object_id)
            .bind(p.version)
            .run_ignoring_count(&mut *self)
            .await
    }

    /// Replaces what `object_id` has in the search index.
    pub async fn index_for_search(&mut self, object_id: &str, rows: &SearchRows) -> Result<()> {
        query("DELETE FROM search_terms WHERE object_id = $1")
            .bind(object_id)
            .run_ignoring_count(&mut *self)
            .await?;
        query("DELETE FROM search_values WHERE object_id = $1")
            .bind(object_id)
            .run_ignoring_count(&mut *self)
            .await?;
        if !rows.terms.is_empty() {
            let mut sql = Sql {
                args: vec![Val::Text(object_id.to_string())],
            };
            let values: Vec<String> = rows
                .terms
                .iter()
                .map(|t| format!("({}, $1)", sql.arg(Val::Bytes(t.clone()))))
                .collect();
            let insert = format!(
                "INSERT INTO search_terms (term, object_id) VALUES {} ON CONFLICT DO NOTHING",
                values.join(", ")
            );
            query(insert)
                .bind_all(sql.args)
                .run_ignoring_count(&mut *self)
                .await?;
        }
        if !rows.numbers.is_empty() || !rows.texts.is_empty() {
            let mut sql = Sql {
                args: vec![Val::Text(object_id.to_string())],
            };
            let mut values: Vec<String> = Vec::new();
            for (field, n) in &rows.numbers {
                let f = sql.arg(Val::Text(field.to_string()));
                let v = sql.arg(Val::Int(*n));
                values.push(format!("({f}, $1, {v}, NULL)"));
            }
            for (field, text) in &rows.texts {
                let f = sql.arg(Val::Text(field.to_string()));
                let v = sql.arg(Val::Text(text.clone()));
                values.push(format!("({f}, $1, NULL, {v})"));
            }
            let insert = format!(
                "INSERT INTO search_values (field, object_id, number, text) VALUES {}",
                values.join(", ")
            );
            query(insert)
                .bind_all(sql.args)
                .run_ignoring_count(&mut *self)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_the_substring_literally() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
