//! Payment objects stored as sealed documents with a few plain columns for lookups and locks.

use crate::db::{IntoVal, Row, query};
use crate::query::{Listed, Select};
use crate::{Result, Store, Tx};
use cashbox_core::list::{Page, Range};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocTable {
    PaymentMethods,
    SetupIntents,
    PaymentIntents,
    Charges,
    Refunds,
    Products,
    Prices,
    Coupons,
    PromotionCodes,
    TaxRates,
    TestClocks,
    Subscriptions,
    Invoices,
    InvoiceItems,
    CreditNotes,
    Meters,
    Features,
    ProductFeatures,
    CreditGrants,
    SpendLimits,
    Alerts,
    WebhookEndpoints,
    CheckoutSessions,
    PortalConfigurations,
    PortalSessions,
    ProcessorEvents,
    Disputes,
}

impl DocTable {
    pub const ALL: [DocTable; 27] = [
        Self::PaymentMethods,
        Self::SetupIntents,
        Self::PaymentIntents,
        Self::Charges,
        Self::Refunds,
        Self::Products,
        Self::Prices,
        Self::Coupons,
        Self::PromotionCodes,
        Self::TaxRates,
        Self::TestClocks,
        Self::Subscriptions,
        Self::Invoices,
        Self::InvoiceItems,
        Self::CreditNotes,
        Self::Meters,
        Self::Features,
        Self::ProductFeatures,
        Self::CreditGrants,
        Self::SpendLimits,
        Self::Alerts,
        Self::WebhookEndpoints,
        Self::CheckoutSessions,
        Self::PortalConfigurations,
        Self::PortalSessions,
        Self::ProcessorEvents,
        Self::Disputes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::PaymentMethods => "payment_methods",
            Self::SetupIntents => "setup_intents",
            Self::PaymentIntents => "payment_intents",
            Self::Charges => "charges",
            Self::Refunds => "refunds",
            Self::Products => "products",
            Self::Prices => "prices",
            Self::Coupons => "coupons",
            Self::PromotionCodes => "promotion_codes",
            Self::TaxRates => "tax_rates",
            Self::TestClocks => "test_clocks",
            Self::Subscriptions => "subscriptions",
            Self::Invoices => "invoices",
            Self::InvoiceItems => "invoiceitems",
            Self::CreditNotes => "credit_notes",
            Self::Meters => "meters",
            Self::Features => "features",
            Self::ProductFeatures => "product_features",
            Self::CreditGrants => "credit_grants",
            Self::SpendLimits => "spend_limits",
            Self::Alerts => "alerts",
            Self::WebhookEndpoints => "webhook_endpoints",
            Self::CheckoutSessions => "checkout_sessions",
            Self::PortalConfigurations => "billing_portal_configurations",
            Self::PortalSessions => "billing_portal_sessions",
            Self::ProcessorEvents => "processor_events",
            Self::Disputes => "disputes",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRow {
    pub id: String,
    pub created: i64,
    pub customer: Option<String>,
    pub status: String,
    /// The owning object: a charge's PaymentIntent, a refund's charge.
    pub parent: Option<String>,
    pub sealed: Vec<u8>,
    /// A searchable document's keyed digest of what it indexes, written with it: a write that
    /// changes it marks the document for indexing (`0015_search.sql`); `None` for the others.
    pub search_fp: Option<Vec<u8>>,
}

/// Whether [`Tx::write_doc`] inserts or rewrites.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Write {
    Insert,
    Update,
}

#[derive(Debug, Clone, Default)]
pub struct DocFilter {
    pub customer: Option<String>,
    pub parent: Option<String>,
    pub status: Option<String>,
    pub ids: Option<Vec<String>>,
    /// Any of these statuses (with `status`, both must hold).
    pub statuses: Option<Vec<String>>,
    /// Subscriptions only: those with an item on this price.
    pub price: Option<String>,
    /// Promotion codes only: the upper-cased code.
    pub code_key: Option<String>,
    pub created: Range,
    /// Only documents with a parent (PaymentIntents: those that pay an invoice).
    pub has_parent: bool,
}

impl DocRow {
    pub(crate) fn from_row(r: &Row) -> Result<Self> {
        Ok(Self {
            id: r.try_get("id")?,
            created: r.try_get("created")?,
            customer: r.try_get("customer")?,
            status: r.try_get("status")?,
            parent: r.try_get("parent")?,
            sealed: r.try_get("sealed")?,
            search_fp: None,
        })
    }
}

fn one(row: Option<Row>) -> Result<Option<DocRow>> {
    row.as_ref().map(DocRow::from_row).transpose()
}

fn all(rows: Vec<Row>) -> Result<Vec<DocRow>> {
    rows.iter().map(DocRow::from_row).collect()
}

const COLUMNS: &str = "id, created, customer, status, parent, sealed";

/// The most children [`Store::children`] answers: a list expanded inside an object shows this
/// many, and says when there are more.
pub const CHILDREN_MAX: usize = 100;

/// An object's children (an invoice's PaymentIntents), newest first: one more than
/// [`CHILDREN_MAX`], so the caller knows whether there are more.
fn children_sql(table: DocTable) -> String {
    format!(
        "SELECT {COLUMNS} FROM {} WHERE parent = $1 ORDER BY created DESC, id DESC LIMIT {}",
        table.name(),
        CHILDREN_MAX + 1
    )
}

fn of_customer_sql(table: DocTable, statuses: usize) -> String {
    let marks: Vec<String> = (0..statuses).map(|i| format!("${}", i + 2)).collect();
    format!(
        "SELECT {COLUMNS} FROM {} WHERE customer = $1 AND status IN ({}) ORDER BY id",
        table.name(),
        marks.join(", ")
    )
}

impl Store {
    /// Every document of a customer with one of `statuses`, oldest first.
    pub async fn docs_of_customer(
        &self,
        table: DocTable,
        customer: &str,
        statuses: &[&str],
    ) -> Result<Vec<DocRow>> {
        let mut q = query(of_customer_sql(table, statuses.len())).bind(customer);
        for s in statuses {
            q = q.bind(*s);
        }
        all(q.fetch_all(self).await?)
    }

    /// The documents whose parent is `parent`, newest first: at most [`CHILDREN_MAX`] + 1.
    pub async fn children(&self, table: DocTable, parent: &str) -> Result<Vec<DocRow>> {
        all(query(children_sql(table))
            .bind(parent)
            .fetch_all(self)
            .await?)
    }

    pub async fn doc(&self, table: DocTable, id: &str) -> Result<Option<DocRow>> {
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE id = $1", table.name());
        one(query(sql).bind(id).fetch_optional(self).await?)
    }

    pub async fn list_docs(
        &self,
        table: DocTable,
        filter: &DocFilter,
        page: &Page,
    ) -> Result<Listed<DocRow>> {
        let mut s = Select::new(&format!("{COLUMNS} FROM {}", table.name()));
        for (column, value) in [
            ("customer", &filter.customer),
            ("parent", &filter.parent),
            ("status", &filter.status),
        ] {
            if let Some(v) = value {
                let p = s.arg(v.into_val());
                s.and(format!("{column} = {p}"));
            }
        }
        if filter.has_parent {
            s.and("parent IS NOT NULL".to_string());
        }
        if let Some(ids) = &filter.ids {
            let condition = s.in_list("id", ids.iter().map(IntoVal::into_val));
            s.and(condition);
        }
        if let Some(statuses) = &filter.statuses {
            let condition = s.in_list("status", statuses.iter().map(IntoVal::into_val));
            s.and(condition);
        }
        if let Some(price) = &filter.price {
            let p = s.arg(price.into_val());
            s.and(format!(
                "id IN (SELECT subscription_id FROM subscription_items WHERE price_id = {p})"
            ));
        }
        if let Some(key) = &filter.code_key {
            let p = s.arg(key.into_val());
            s.and(format!(
                "id IN (SELECT promotion_code_id FROM promotion_code_keys WHERE code_key = {p})"
            ));
        }
        s.range("created", &filter.created);
        s.page(page);
        let sql = s.sql();
        let rows = query(sql)
            .bind_all(std::mem::take(&mut s.args))
            .fetch_all(self)
            .await?;
        Ok(s.finish(all(rows)?))
    }

    /// Up to `limit` documents with ids after `after`, in id order: for checks that read all.
    pub async fn docs_batch(
        &self,
        table: DocTable,
        after: &str,
        limit: i64,
    ) -> Result<Vec<DocRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE id > $1 ORDER BY id LIMIT $2",
            table.name()
        );
        all(query(sql).bind(after).bind(limit).fetch_all(self).await?)
    }
}

impl Tx {
    /// [`Store::children`] as this transaction sees them.
    pub async fn children(&mut self, table: DocTable, parent: &str) -> Result<Vec<DocRow>> {
        all(query(children_sql(table))
            .bind(parent)
            .fetch_all(&mut *self)
            .await?)
    }

    /// The document as this transaction sees it, without locking it (for reading links).
    pub async fn doc(&mut self, table: DocTable, id: &str) -> Result<Option<DocRow>> {
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE id = $1", table.name());
        one(query(sql).bind(id).fetch_optional(&mut *self).await?)
    }

    /// The document, locked for the rest of the transaction.
    pub async fn doc_for_update(&mut self, table: DocTable, id: &str) -> Result<Option<DocRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE id = $1{}",
            table.name(),
            self.lock_clause()
        );
        one(query(sql).bind(id).fetch_optional(&mut *self).await?)
    }

    /// Locks the documents of `ids` (in id order, as every reader ahead does) and keeps them
    /// as [`Tx::doc_for_update`]'s answers: one round trip where work on many objects would
    /// make one each (see [`Tx::reads_ahead`]).
    pub async fn read_ahead_docs(&mut self, table: DocTable, ids: &[String]) -> Result<()> {
        let lock = self.lock_clause();
        let one = format!("SELECT {COLUMNS} FROM {} WHERE id = $1{lock}", table.name());
        let many = |list: &str| {
            format!(
                "SELECT {COLUMNS} FROM {} WHERE id IN ({list}) ORDER BY id{lock}",
                table.name()
            )
        };
        self.read_ahead(many, &one, "id", ids).await
    }

    /// Locks every document of the `customers` and keeps them as [`Tx::docs_by_customer`]'s
    /// answers.
    pub async fn read_ahead_docs_by_customer(
        &mut self,
        table: DocTable,
        customers: &[String],
    ) -> Result<()> {
        let lock = self.lock_clause();
        let one = format!(
            "SELECT {COLUMNS} FROM {} WHERE customer = $1 ORDER BY id{lock}",
            table.name()
        );
        let many = |list: &str| {
            format!(
                "SELECT {COLUMNS} FROM {} WHERE customer IN ({list}) ORDER BY id{lock}",
                table.name()
            )
        };
        self.read_ahead(many, &one, "customer", customers).await
    }

    /// Every document with this parent, locked, oldest first.
    pub async fn docs_by_parent(&mut self, table: DocTable, parent: &str) -> Result<Vec<DocRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE parent = $1 ORDER BY id{}",
            table.name(),
            self.lock_clause()
        );
        all(query(sql).bind(parent).fetch_all(&mut *self).await?)
    }

    /// Every document with this parent, oldest first, unlocked (catalog rows many
    /// transactions read at once).
    pub async fn docs_of_parent(&mut self, table: DocTable, parent: &str) -> Result<Vec<DocRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE parent = $1 ORDER BY id",
            table.name()
        );
        all(query(sql).bind(parent).fetch_all(&mut *self).await?)
    }

    /// Every document of a customer, locked, oldest first.
    pub async fn docs_by_customer(
        &mut self,
        table: DocTable,
        customer: &str,
    ) -> Result<Vec<DocRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE customer = $1 ORDER BY id{}",
            table.name(),
            self.lock_clause()
        );
        all(query(sql).bind(customer).fetch_all(&mut *self).await?)
    }

    /// Every document of a customer with one of `statuses`, oldest first, unlocked.
    pub async fn docs_of_customer(
        &mut self,
        table: DocTable,
        customer: &str,
        statuses: &[&str],
    ) -> Result<Vec<DocRow>> {
        let mut q = query(of_customer_sql(table, statuses.len())).bind(customer);
        for s in statuses {
            q = q.bind(*s);
        }
        all(q.fetch_all(&mut *self).await?)
    }

    pub async fn insert_doc(&mut self, table: DocTable, d: &DocRow) -> Result<()> {
        self.write_doc(table, d, Write::Insert, None).await
    }

    pub async fn update_doc(&mut self, table: DocTable, d: &DocRow) -> Result<()> {
        self.write_doc(table, d, Write::Update, None).await
    }

    /// Inserts or rewrites a document; `due` is (due_at, clock) for tables with due work,
    /// written in the same statement.
    pub(crate) async fn write_doc(
        &mut self,
        table: DocTable,
        d: &DocRow,
        write: Write,
        due: Option<(Option<i64>, Option<&str>)>,
    ) -> Result<()> {
        let t = table.name();
        // The columns after the id (and, inserting, the creation time, which never changes).
        let mut columns = vec!["customer", "status", "parent", "sealed"];
        if due.is_some() {
            columns.extend(["due_at", "clock"]);
        }
        if d.search_fp.is_some() {
            columns.push("search_fp");
        }
        let sql = match write {
            Write::Insert => {
                let marks: Vec<String> = (1..=columns.len() + 2).map(|i| format!("${i}")).collect();
                format!(
                    "INSERT INTO {t} (id, created, {}) VALUES ({})",
                    columns.join(", "),
                    marks.join(", ")
                )
            }
            Write::Update => {
                let sets: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c} = ${}", i + 2))
                    .collect();
                format!("UPDATE {t} SET {} WHERE id = $1", sets.join(", "))
            }
        };
        let mut q = query(sql).bind(&d.id);
        if let Write::Insert = write {
            q = q.bind(d.created);
        }
        q = q
            .bind(&d.customer)
            .bind(&d.status)
            .bind(&d.parent)
            .bind(&d.sealed);
        if let Some((due_at, clock)) = due {
            q = q.bind(due_at).bind(clock);
        }
        if let Some(fp) = &d.search_fp {
            q = q.bind(fp);
        }
        q.execute(&mut *self, 1).await?;
        Ok(())
    }

    pub async fn delete_doc(&mut self, table: DocTable, id: &str) -> Result<bool> {
        let sql = format!("DELETE FROM {} WHERE id = $1", table.name());
        Ok(query(sql).bind(id).execute(&mut *self, 1).await? == 1)
    }
}
