//! Search (`GET /v1/{resource}/search`): Stripe's query language over the search index.
//!
//! Every searchable object writes its index rows with itself (see [`App::search_rows`]): exact
//! matches are on blind indexes under the key ring's primary key, and a query matches under
//! every key of the ring, so objects written before a rotation are found until the rotation
//! rebuilds the index. The store answers with ids from its indexes; only the page's objects
//! are opened.

use std::collections::HashMap;

use cashbox_core::customer::CustomerPrivate;
use cashbox_core::search::{
    CUSTOMERS, Cmp, Condition, Entry, PageToken, Plan, SearchParams, Searchable,
};
use cashbox_store::{
    Compare, DocFilter, SealedColumn, SearchClause, SearchCondition, SearchQuery, SearchRows,
};
use serde_json::Value;

use crate::docs::Doc;
use crate::expand::Reader;
use crate::{App, AppError, AppResult};

/// `expand[]=total_count` asks for the number of all results.
const TOTAL_COUNT: &str = "total_count";
/// Objects (re)indexed per transaction when the index is rebuilt.
const REBUILD_BATCH: i64 = 500;

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

    /// Builds the search index of objects saved before it existed, once (the store says
    /// whether it was built). Safe to run from several processes at once.
    pub async fn ensure_search_index(&self) -> AppResult<()> {
        if self.store().search_index_built().await? {
            return Ok(());
        }
        self.rebuild_search_index().await?;
        self.store().set_search_index_built(self.now()).await?;
        Ok(())
    }

    /// Rewrites every searchable object's index rows under the primary key: after a key
    /// rotation, and once for objects older than the index. Returns how many were indexed.
    pub async fn rebuild_search_index(&self) -> AppResult<u64> {
        let mut n = self.reindex_customers().await?;
        n += self.reindex::<Price>().await?;
        n += self.reindex::<Product>().await?;
        n += self.reindex::<Subscription>().await?;
        n += self.reindex::<Invoice>().await?;
        n += self.reindex::<PaymentIntent>().await?;
        n += self.reindex::<Charge>().await?;
        Ok(n)
    }

    async fn reindex<T: Doc + Searchable>(&self) -> AppResult<u64> {
        let mut after = String::new();
        let mut n = 0;
        loop {
            let batch = self
                .store()
                .docs_batch(T::TABLE, &after, REBUILD_BATCH)
                .await?;
            let Some(last) = batch.last() else { break };
            after = last.id.clone();
            let mut tx = self.store().begin().await?;
            for row in &batch {
                let doc: T = self.open_doc(row)?;
                let entry = Searchable::search_entry(&doc);
                tx.index_for_search(&row.id, &self.search_rows(entry))
                    .await?;
                n += 1;
            }
            tx.commit().await?;
        }
        Ok(n)
    }

    async fn reindex_customers(&self) -> AppResult<u64> {
        let col = SealedColumn::Customers;
        let mut after = String::new();
        let mut n = 0;
        loop {
            let batch = self
                .store()
                .sealed_batch(col, &after, REBUILD_BATCH)
                .await?;
            let Some((last, _)) = batch.last() else { break };
            after = last.clone();
            let mut tx = self.store().begin().await?;
            for (id, sealed) in &batch {
                let plain = self.keys().open(&col.aad(id), sealed)?;
                let private: CustomerPrivate = cashbox_core::json::from_bytes(&plain)
                    .map_err(|e| AppError::Corrupt(format!("customer {id}: {e}")))?;
                tx.index_for_search(id, &self.search_rows(private.search_entry()))
                    .await?;
                n += 1;
            }
            tx.commit().await?;
        }
        Ok(n)
    }
}

// The search endpoints of each resource's service.

use cashbox_core::billing::catalog::{Price, Product};
use cashbox_core::billing::invoice::Invoice;
use cashbox_core::billing::subscription::Subscription;
use cashbox_core::payments::{Charge, PaymentIntent};

use crate::billing::catalog::{Prices, Products};
use crate::billing::invoices::Invoices;
use crate::billing::subscriptions::Subscriptions;
use crate::customers::Customers;
use crate::payments::payment_intents::{Charges, PaymentIntents};

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
