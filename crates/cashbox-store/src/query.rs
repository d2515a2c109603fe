//! A small builder for list queries: filters with numbered placeholders, id cursors, a limit.

use cashbox_core::list::{Cursor, Page, Range};

use crate::db::Val;

/// One page of rows, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

pub(crate) struct Select {
    sql: String,
    pub(crate) args: Vec<Val>,
    conditions: Vec<String>,
    ascending: bool,
    limit: u32,
}

impl Select {
    pub(crate) fn new(columns_and_table: &str) -> Self {
        Self {
            sql: format!("SELECT {columns_and_table}"),
            args: Vec::new(),
            conditions: Vec::new(),
            ascending: false,
            limit: 0,
        }
    }

    /// Adds a bind argument and returns its placeholder.
    pub(crate) fn arg(&mut self, a: Val) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    /// `column IN (…)` over `values` as bind arguments; an empty list matches nothing.
    pub(crate) fn in_list(
        &mut self,
        column: &str,
        values: impl IntoIterator<Item = Val>,
    ) -> String {
        let ps: Vec<String> = values.into_iter().map(|v| self.arg(v)).collect();
        if ps.is_empty() {
            "1 = 0".into()
        } else {
            format!("{column} IN ({})", ps.join(", "))
        }
    }

    pub(crate) fn and(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    pub(crate) fn range(&mut self, column: &str, range: &Range) {
        if let Some(min) = range.min {
            let p = self.arg(Val::Int(min));
            self.and(format!("{column} >= {p}"));
        }
        if let Some(max) = range.max {
            let p = self.arg(Val::Int(max));
            self.and(format!("{column} <= {p}"));
        }
    }

    /// Newest first; `ending_before` reads the other way and [`Select::finish`] turns it back.
    pub(crate) fn page(&mut self, page: &Page) {
        match &page.cursor {
            Cursor::Start => {}
            Cursor::After(id) => {
                let p = self.arg(Val::Text(id.clone()));
                self.and(format!("id < {p}"));
            }
            Cursor::Before(id) => {
                let p = self.arg(Val::Text(id.clone()));
                self.and(format!("id > {p}"));
                self.ascending = true;
            }
        }
        self.limit = page.limit;
    }

    pub(crate) fn sql(&self) -> String {
        let mut sql = self.sql.clone();
        if !self.conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&self.conditions.join(" AND "));
        }
        let order = if self.ascending { "ASC" } else { "DESC" };
        // One extra row tells whether there is a next page.
        sql.push_str(&format!(" ORDER BY id {order} LIMIT {}", self.limit + 1));
        sql
    }

    pub(crate) fn finish<T>(&self, mut rows: Vec<T>) -> Listed<T> {
        let has_more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        if self.ascending {
            rows.reverse();
        }
        Listed {
            data: rows,
            has_more,
        }
    }
}
