//! Customers. Personal data arrives sealed; the store never sees it in clear.

use cashbox_core::list::{Page, Range};
use sqlx::Row;

use crate::query::{Arg, Listed, Select, bind_args};
use crate::{Result, Store, Tx, on_pool, on_tx};

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

macro_rules! customer_row {
    ($r:expr) => {
        CustomerRow {
            id: $r.try_get("id")?,
            created: $r.try_get("created")?,
            deleted: $r.try_get("deleted")?,
            email_bidx: $r.try_get("email_bidx")?,
            sealed: $r.try_get("sealed")?,
            balance: $r.try_get("balance")?,
            currency: $r.try_get("currency")?,
            default_payment_method: $r.try_get("default_payment_method")?,
            delinquent: $r.try_get("delinquent")?,
            invoice_prefix: $r.try_get("invoice_prefix")?,
            next_invoice_sequence: $r.try_get("next_invoice_sequence")?,
            test_clock: $r.try_get("test_clock")?,
        }
    };
}

impl Store {
    pub async fn customer(&self, id: &str) -> Result<Option<CustomerRow>> {
        on_pool!(self, p => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM customers WHERE id = $1")))
                .bind(id).fetch_optional(p).await?;
            Ok(match row { Some(r) => Some(customer_row!(r)), None => None })
        })
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
            let ps: Vec<String> = indexes
                .iter()
                .map(|b| s.arg(Arg::Bytes(b.clone())))
                .collect();
            s.and(format!("email_bidx IN ({})", ps.join(", ")));
        }
        if let Some(clock) = &filter.test_clock {
            let p = s.arg(Arg::Text(clock.clone()));
            s.and(format!("test_clock = {p}"));
        }
        s.range("created", &filter.created);
        s.page(page);
        let sql = s.sql();
        on_pool!(self, p => {
            let rows = bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql)), &s.args).fetch_all(p).await?;
            let rows: Result<Vec<CustomerRow>> = rows.iter().map(|r| Ok(customer_row!(r))).collect();
            Ok(s.finish(rows?))
        })
    }
}

impl Tx {
    /// The customer as this transaction sees it, without locking it (for reading links).
    pub async fn customer(&mut self, id: &str) -> Result<Option<CustomerRow>> {
        let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1");
        on_tx!(self, c => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *c).await?;
            Ok(match row { Some(r) => Some(customer_row!(r)), None => None })
        })
    }

    /// The customer, locked for the rest of the transaction.
    pub async fn customer_for_update(&mut self, id: &str) -> Result<Option<CustomerRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM customers WHERE id = $1{}",
            self.lock_clause()
        );
        on_tx!(self, c => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *c).await?;
            Ok(match row { Some(r) => Some(customer_row!(r)), None => None })
        })
    }

    pub async fn insert_customer(&mut self, r: &CustomerRow) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "INSERT INTO customers (id, created, deleted, email_bidx, sealed, balance, currency,
                default_payment_method, delinquent, invoice_prefix, next_invoice_sequence, test_clock)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
            .bind(&r.id).bind(r.created).bind(r.deleted).bind(&r.email_bidx).bind(&r.sealed)
            .bind(r.balance).bind(&r.currency).bind(&r.default_payment_method).bind(r.delinquent)
            .bind(&r.invoice_prefix).bind(r.next_invoice_sequence).bind(&r.test_clock)
            .execute(&mut *c).await.map(drop))?;
        Ok(())
    }

    /// Writes every mutable column of `r`.
    pub async fn update_customer(&mut self, r: &CustomerRow) -> Result<()> {
        on_tx!(self, c => sqlx::query(
            "UPDATE customers SET deleted = $2, email_bidx = $3, sealed = $4, balance = $5,
                currency = $6, default_payment_method = $7, delinquent = $8, invoice_prefix = $9,
                next_invoice_sequence = $10, test_clock = $11
             WHERE id = $1")
            .bind(&r.id).bind(r.deleted).bind(&r.email_bidx).bind(&r.sealed).bind(r.balance)
            .bind(&r.currency).bind(&r.default_payment_method).bind(r.delinquent)
            .bind(&r.invoice_prefix).bind(r.next_invoice_sequence).bind(&r.test_clock)
            .execute(&mut *c).await.map(drop))?;
        Ok(())
    }
}
