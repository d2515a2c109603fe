//! Customers. Personal data arrives sealed; the store never sees it in clear.

use crate::db::{Row, Val, query};
use crate::query::{Listed, Select};
use crate::{Result, Store, Tx};
use cashbox_core::list::{Page, Range};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRow {
    pub id: String,
    pub created: i64,
    pub deleted: bool,
    /// Keyed blind index of the email, for the `email` list filter.
    pub email_bidx: Option<Vec<u8>>,
    /// Sealed personal data; `None` once the customer is deleted.
    pub sealed: Option<Vec<u8>>,
    pub balance: i64,
    pub currency: Option<String>,
    pub default_payment_method: Option<String>,
    pub delinquent: bool,
    pub invoice_prefix: String,
    pub next_invoice_sequence: i64,
    pub test_clock: Option<String>,
    /// The keyed digest of what the customer indexes for search: a write that changes it
    /// marks the customer for indexing (`0015_search.sql`). Not read back: `None` when read.
    pub search_fp: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    /// Match any of these blind indexes (one per key in the ring).
    pub email_bidx: Option<Vec<Vec<u8>>>,
    pub created: Range,
    pub test_clock: Option<String>,
}

const COLUMNS: &str = "id, created, deleted, email_bidx, sealed, balance, currency, \
    default_payment_method, delinquent, invoice_prefix, next_invoice_sequence, test_clock";

impl CustomerRow {
    fn from_row(r: &Row) -> Result<Self> {
        Ok(Self {
            id: r.try_get("id")?,
            created: r.try_get("created")?,
            deleted: r.try_get("deleted")?,
            email_bidx: r.try_get("email_bidx")?,
            sealed: r.try_get("sealed")?,
            balance: r.try_get("balance")?,
            currency: r.try_get("currency")?,
            default_payment_method: r.try_get("default_payment_method")?,
            delinquent: r.try_get("delinquent")?,
            invoice_prefix: r.try_get("invoice_prefix")?,
            next_invoice_sequence: r.try_get("next_invoice_sequence")?,
            test_clock: r.try_get("test_clock")?,
            search_fp: None,
        })
    }
}

fn one(row: Option<Row>) -> Result<Option<CustomerRow>> {
    row.as_ref().map(CustomerRow::from_row).transpose()
}

impl Store {
    pub async fn customer(&self, id: &str) -> Result<Option<CustomerRow>> {
        let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1");
        one(query(sql).bind(id).fetch_optional(self).await?)
    }

    /// Live (not deleted) customers, newest first.
    pub async fn list_customers(
        &self,
        filter: &CustomerFilter,
        page: &Page,
    ) -> Result<Listed<CustomerRow>> {
        let mut s = Select::new(&format!("{COLUMNS} FROM customers"));
        s.and("deleted = FALSE".into());
        if let Some(indexes) = &filter.email_bidx {
            let condition = s.in_list("email_bidx", indexes.iter().map(|b| Val::Bytes(b.clone())));
            s.and(condition);
        }
        if let Some(clock) = &filter.test_clock {
            let p = s.arg(Val::Text(clock.clone()));
            s.and(format!("test_clock = {p}"));
        }
        s.range("created", &filter.created);
        s.page(page);
        let sql = s.sql();
        let rows = query(sql)
            .bind_all(std::mem::take(&mut s.args))
            .fetch_all(self)
            .await?;
        let rows: Result<Vec<CustomerRow>> = rows.iter().map(CustomerRow::from_row).collect();
        Ok(s.finish(rows?))
    }
}

impl Tx {
    /// The customer as this transaction sees it, without locking it (for reading links).
    pub async fn customer(&mut self, id: &str) -> Result<Option<CustomerRow>> {
        let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1");
        one(query(sql).bind(id).fetch_optional(&mut *self).await?)
    }

    /// The customer, locked for the rest of the transaction.
    pub async fn customer_for_update(&mut self, id: &str) -> Result<Option<CustomerRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM customers WHERE id = $1{}",
            self.lock_clause()
        );
        one(query(sql).bind(id).fetch_optional(&mut *self).await?)
    }

    /// Locks the customers of `ids` (in id order) and keeps them as
    /// [`Tx::customer_for_update`]'s answers (see [`Tx::reads_ahead`]).
    pub async fn read_ahead_customers(&mut self, ids: &[String]) -> Result<()> {
        let lock = self.lock_clause();
        let one = format!("SELECT {COLUMNS} FROM customers WHERE id = $1{lock}");
        let many = |list: &str| {
            format!("SELECT {COLUMNS} FROM customers WHERE id IN ({list}) ORDER BY id{lock}")
        };
        self.read_ahead(many, &one, "id", ids).await
    }

    /// Live customers on a test clock, locked, oldest first.
    pub async fn customers_on_clock(&mut self, clock: &str) -> Result<Vec<CustomerRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM customers WHERE test_clock = $1 AND deleted = FALSE ORDER BY id{}",
            self.lock_clause()
        );
        let rows = query(sql).bind(clock).fetch_all(&mut *self).await?;
        rows.iter().map(CustomerRow::from_row).collect()
    }

    pub async fn insert_customer(&mut self, r: &CustomerRow) -> Result<()> {
        query(
            "INSERT INTO customers (id, created, deleted, email_bidx, sealed, balance, currency,
                default_payment_method, delinquent, invoice_prefix, next_invoice_sequence, test_clock,
                search_fp)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
            .bind(&r.id).bind(r.created).bind(r.deleted).bind(&r.email_bidx).bind(&r.sealed)
            .bind(r.balance).bind(&r.currency).bind(&r.default_payment_method).bind(r.delinquent)
            .bind(&r.invoice_prefix).bind(r.next_invoice_sequence).bind(&r.test_clock)
            .bind(&r.search_fp)
            .execute(&mut *self, 1).await?;
        Ok(())
    }

    /// Writes every mutable column of `r`.
    /// Sets the plain billing columns: the balance and the next invoice number.
    pub async fn set_customer_billing(
        &mut self,
        id: &str,
        balance: i64,
        next_invoice_sequence: i64,
    ) -> Result<()> {
        query("UPDATE customers SET balance = $2, next_invoice_sequence = $3 WHERE id = $1")
            .bind(id)
            .bind(balance)
            .bind(next_invoice_sequence)
            .execute(&mut *self, 1)
            .await?;
        Ok(())
    }

    pub async fn update_customer(&mut self, r: &CustomerRow) -> Result<()> {
        query(
            "UPDATE customers SET deleted = $2, email_bidx = $3, sealed = $4, balance = $5,
                currency = $6, default_payment_method = $7, delinquent = $8, invoice_prefix = $9,
                next_invoice_sequence = $10, test_clock = $11, search_fp = $12
             WHERE id = $1",
        )
        .bind(&r.id)
        .bind(r.deleted)
        .bind(&r.email_bidx)
        .bind(&r.sealed)
        .bind(r.balance)
        .bind(&r.currency)
        .bind(&r.default_payment_method)
        .bind(r.delinquent)
        .bind(&r.invoice_prefix)
        .bind(r.next_invoice_sequence)
        .bind(&r.test_clock)
        .bind(&r.search_fp)
        .execute(&mut *self, 1)
        .await?;
        Ok(())
    }
}
