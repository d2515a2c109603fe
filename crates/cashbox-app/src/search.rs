//! Search (`GET /v1/{resource}/search`): Stripe's query language over the search index.
//!
//! Every write of a searchable object marks it (a trigger); the indexer opens marked objects
//! and writes their index rows ([`App::index_pending`]: in `serve`'s background, and before a
//! search answers, so a search after a write finds it). Exact matches are on blind indexes
//! under the key ring's primary key, and a query matches under every key of the ring, so
//! objects written before a rotation are found until the rotation rewrites them. The store
//! answers with ids from its indexes; only the page's objects are opened.

use std::collections::HashMap;

use cashbox_core::billing::catalog::{Price, Product};
use cashbox_core::billing::invoice::Invoice;
use cashbox_core::billing::subscription::Subscription;
use cashbox_core::payments::{Charge, PaymentIntent};

use cashbox_core::search::{
    CUSTOMERS, Cmp, Condition, Entry, PageToken, Plan, SearchParams, Searchable,
};
use cashbox_store::{
    Compare, DocFilter, Pending, SearchClause, SearchCondition, SearchQuery, SearchRows, TakeMarks,
    Tx,
};
use serde_json::Value;

use crate::billing::catalog::{Prices, Products};
use crate::billing::invoices::Invoices;
use crate::billing::subscriptions::Subscriptions;
use crate::customers::Customers;
use crate::docs::Doc;
use crate::expand::Reader;
use crate::payments::payment_intents::{Charges, PaymentIntents};
use crate::{App, AppError, AppResult};

/// `expand[]=total_count` asks for the number of all results.
const TOTAL_COUNT: &str = "total_count";
/// Objects indexed per transaction.
pub const INDEX_BATCH: i64 = 500;
/// The most objects a search indexes before it answers: marked objects are usually few (the
/// indexer in `serve` keeps up); after a burst, a search answers from the index as it is, as
/// Stripe's may lag its writes.
pub const SEARCH_CATCH_UP_MAX: usize = 2_000;

/// One page of search results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    pub data: Vec<Value>,
    pub has_more: bool,
    pub next_page: Option<String>,
    pub total_count: Option<i64>,
}

fn compare(cmp: Cmp) -> Compare {
    match cmp {
        Cmp::Eq => Compare::Eq,
        Cmp::Gt => Compare::Gt,
        Cmp::Ge => Compare::Ge,
        Cmp::Lt => Compare::Lt,
        Cmp::Le => Compare::Le,
    }
}

/// `expand[]` without `total_count`, and whether it was there.
fn split_expand(expand: &[Vec<String>]) -> (Vec<Vec<String>>, bool) {
    let total = expand.iter().any(|p| p.len() == 1 && p[0] == TOTAL_COUNT);
    let rest = expand
        .iter()
        .filter(|p| !(p.len() == 1 && p[0] == TOTAL_COUNT))
        .cloned()
        .collect();
    (rest, total)
}

impl App {
    /// An index entry with its terms as blind indexes under the primary key.
    pub(crate) fn search_rows(&self, entry: Entry) -> SearchRows {
        SearchRows {
            terms: entry
                .terms
                .iter()
                .map(|t| self.keys().blind_index(&t.domain, &t.value))
                .collect(),
            numbers: entry.numbers,
            texts: entry.texts,
        }
    }

    /// The keyed digest of what `entry` indexes, written with its object.
    pub(crate) fn search_fp(&self, entry: &Entry) -> Vec<u8> {
        self.keys()
            .blind_index("search:fingerprint", &entry.indexed_text())
    }

    /// A plan as the store runs it: each term under every key of the ring.
    fn search_query(
        &self,
        table: &'static str,
        plan: &Plan,
        limit: u32,
        page: Option<PageToken>,
        total_count: bool,
    ) -> SearchQuery {
        let clauses = plan
            .clauses
            .iter()
            .map(|c| SearchClause {
                negated: c.negated,
                condition: match &c.condition {
                    Condition::HasTerm(t) => {
                        SearchCondition::AnyTerm(self.keys().blind_indexes(&t.domain, &t.value))
                    }
                    Condition::Number { field, cmp, value } => SearchCondition::Number {
                        field,
                        compare: compare(*cmp),
                        value: *value,
                    },
                    Condition::Created { cmp, value } => SearchCondition::Created {
                        compare: compare(*cmp),
                        value: *value,
                    },
                    Condition::Contains { field, needle } => SearchCondition::Contains {
                        field,
                        needle: needle.clone(),
                    },
                    Condition::Column { column, value } => SearchCondition::Column {
                        column,
                        value: value.clone(),
                    },
                },
            })
            .collect();
        SearchQuery {
            table,
            any: plan.join == cashbox_core::search::Join::Or,
            clauses,
            after: page.map(|p| (p.created, p.id)),
            limit,
            total_count,
        }
    }

    /// Searches a table of documents, rendering each result with `render`.
    pub(crate) async fn search_docs<T: Doc + Searchable>(
        &self,
        p: &SearchParams,
        expand: &[Vec<String>],
        render: impl Fn(&T) -> Value,
    ) -> AppResult<SearchResult> {
        let (expand, total) = split_expand(expand);
        let (plan, limit, page) = p.check(&T::SCHEMA)?;
        self.catch_up_search().await?;
        let q = self.search_query(T::TABLE.name(), &plan, limit, page, total);
        let found = self.store().search(&q).await?;
        let ids: Vec<String> = found.ids.iter().map(|(_, id)| id.clone()).collect();
        let filter = DocFilter {
            ids: Some(ids.clone()),
            ..DocFilter::default()
        };
        let all = cashbox_core::list::Page {
            limit: ids.len().max(1) as u32,
            cursor: cashbox_core::list::Cursor::Start,
        };
        let rows = self.store().list_docs(T::TABLE, &filter, &all).await?.data;
        let mut by_id: HashMap<String, _> = rows.into_iter().map(|r| (r.id.clone(), r)).collect();
        let mut data = Vec::with_capacity(ids.len());
        for id in &ids {
            // Deleted between the search and the read: left out of the page.
            if let Some(row) = by_id.remove(id) {
                data.push(render(&self.open_doc::<T>(&row)?));
            }
        }
        self.finish_search(data, found, &expand).await
    }

    /// Searches live customers.
    pub(crate) async fn search_customers(
        &self,
        p: &SearchParams,
        expand: &[Vec<String>],
    ) -> AppResult<SearchResult> {
        let (expand, total) = split_expand(expand);
        let (plan, limit, page) = p.check(&CUSTOMERS)?;
        self.catch_up_search().await?;
        let q = self.search_query("customers", &plan, limit, page, total);
        let found = self.store().search(&q).await?;
        let mut data = Vec::with_capacity(found.ids.len());
        for (_, id) in &found.ids {
            if let Some(row) = self.store().customer(id).await?
                && !row.deleted
            {
                data.push(self.render_customer_row(row)?);
            }
        }
        self.finish_search(data, found, &expand).await
    }

    /// Indexes what was written before this search, up to [`SEARCH_CATCH_UP_MAX`] objects:
    /// a search made after a write finds it.
    async fn catch_up_search(&self) -> AppResult<()> {
        let mut done = 0;
        while done < SEARCH_CATCH_UP_MAX {
            let n = self.index_marked(INDEX_BATCH, TakeMarks::Wait).await?;
            done += n;
            if (n as i64) < INDEX_BATCH {
                break;
            }
        }
        Ok(())
    }

    async fn finish_search(
        &self,
        mut data: Vec<Value>,
        found: cashbox_store::SearchPage,
        expand: &[Vec<String>],
    ) -> AppResult<SearchResult> {
        self.expand_items(&mut Reader::Store(self.store()), &mut data, expand)
            .await?;
        let next_page = match (found.has_more, found.ids.last()) {
            (true, Some((created, id))) => Some(
                PageToken {
                    created: *created,
                    id: id.clone(),
                }
                .encode(),
            ),
            _ => None,
        };
        Ok(SearchResult {
            data,
            has_more: found.has_more,
            next_page,
            total_count: found.total_count,
        })
    }

    /// Indexes up to `limit` of the objects marked for indexing (a write that changes what
    /// an object indexes marks it), in one transaction, leaving those another indexer holds
    /// to it: `serve`'s background indexer. How many it took.
    pub async fn index_pending(&self, limit: i64) -> AppResult<usize> {
        self.index_marked(limit, TakeMarks::SkipLocked).await
    }

    /// Indexes up to `limit` marked objects, taking the marks another indexer holds as `take`
    /// says: with [`TakeMarks::Wait`], what was written before it began is indexed when it
    /// returns (a search's catch-up, a rebuild).
    async fn index_marked(&self, limit: i64, take: TakeMarks) -> AppResult<usize> {
        if !self.store().search_pending_any().await? {
            return Ok(0);
        }
        let mut tx = self.store().begin().await?;
        let batch = tx.search_pending(limit, take).await?;
        for p in &batch {
            let rows = match self.search_entry_of(&mut tx, p).await? {
                Some(entry) => self.search_rows(entry),
                // Gone, or a deleted customer: nothing of it stays searchable.
                None => SearchRows::default(),
            };
            tx.index_for_search(&p.object_id, &rows).await?;
            tx.search_indexed(p).await?;
        }
        tx.commit().await?;
        Ok(batch.len())
    }

    /// Indexes every marked object; how many.
    pub async fn index_all_pending(&self) -> AppResult<u64> {
        let mut n = 0;
        loop {
            let done = self.index_marked(INDEX_BATCH, TakeMarks::Wait).await?;
            n += done as u64;
            if (done as i64) < INDEX_BATCH {
                return Ok(n);
            }
        }
    }

    /// Rewrites every searchable object's index rows under the primary key (after a key
    /// rotation); how many.
    pub async fn rebuild_search_index(&self) -> AppResult<u64> {
        self.store().mark_all_for_search().await?;
        self.index_all_pending().await
    }

    /// What a marked object indexes now, or `None` if it is gone.
    async fn search_entry_of(&self, tx: &mut Tx, p: &Pending) -> AppResult<Option<Entry>> {
        let id = p.object_id.as_str();
        Ok(match p.kind.as_str() {
            "customers" => match tx.customer(id).await? {
                Some(row) if !row.deleted => {
                    Some(Searchable::search_entry(&self.open_customer(row)?))
                }
                _ => None,
            },
            "prices" => self.doc_entry::<Price>(tx, id).await?,
            "products" => self.doc_entry::<Product>(tx, id).await?,
            "subscriptions" => self.doc_entry::<Subscription>(tx, id).await?,
            "invoices" => self.doc_entry::<Invoice>(tx, id).await?,
            "payment_intents" => self.doc_entry::<PaymentIntent>(tx, id).await?,
            "charges" => self.doc_entry::<Charge>(tx, id).await?,
            other => {
                return Err(AppError::Corrupt(format!(
                    "{id} is marked for search in an unknown table {other}"
                )));
            }
        })
    }

    async fn doc_entry<T: Doc + Searchable>(
        &self,
        tx: &mut Tx,
        id: &str,
    ) -> AppResult<Option<Entry>> {
        match tx.doc(T::TABLE, id).await? {
            Some(row) => Ok(Some(Searchable::search_entry(&self.open_doc::<T>(&row)?))),
            None => Ok(None),
        }
    }
}

// The search endpoints of each resource's service.

impl Customers<'_> {
    /// `GET /v1/customers/search`: `email`, `name`, `phone` (exact), `metadata`, `created`.
    pub async fn search(
        &self,
        p: &SearchParams,
        expand: &[Vec<String>],
    ) -> AppResult<SearchResult> {
        self.search_customers(p, expand).await
    }
}

impl Prices<'_> {
    pub async fn search(
        &self,
        p: &SearchParams,
        expand: &[Vec<String>],
    ) -> AppResult<SearchResult> {
        self.search_docs::<Price>(p, expand, Price::to_json).await
    }
}

impl Products<'_> {
    pub async fn search(
        &self,
        p: &SearchParams,
        expand: &[Vec<String>],
    ) -> AppResult<SearchResult> {
        self.search_docs::<Product>(p, expand, Product::to_json)
            .await
    }
}

impl Subscriptions<'_> {
    pub async fn search(
        &self,
        p: &SearchParams,
        expand: &[Vec<String>],
    ) -> AppResult<SearchResult> {
        self.search_docs::<Subscription>(p, expand, |s| self.render_subscription(s))
            .await
    }
}

impl Invoices<'_> {
    pub async fn search(
        &self,
        p: &SearchParams,
        expand: &[Vec<String>],
    ) -> AppResult<SearchResult> {
        self.search_docs::<Invoice>(p, expand, |i| self.render_invoice(i))
            .await
    }
}

impl PaymentIntents<'_> {
    pub async fn search(
        &self,
        p: &SearchParams,
        expand: &[Vec<String>],
    ) -> AppResult<SearchResult> {
        self.search_docs::<PaymentIntent>(p, expand, PaymentIntent::to_json)
            .await
    }
}

impl Charges<'_> {
    pub async fn search(
        &self,
        p: &SearchParams,
        expand: &[Vec<String>],
    ) -> AppResult<SearchResult> {
        self.search_docs::<Charge>(p, expand, Charge::to_json).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_count_is_taken_out_of_expand() {
        let (rest, total) = split_expand(&[
            vec!["total_count".into()],
            vec!["data".into(), "customer".into()],
        ]);
        assert!(total);
        assert_eq!(rest, vec![vec!["data".to_string(), "customer".to_string()]]);
        assert!(!split_expand(&[]).1);
    }
}
