//! Prices' plain attributes: what price lists filter on, and lookup keys (unique).

use cashbox_core::list::{Page, Range};

use crate::db::{IntoVal, Val, query};
use crate::query::{Listed, Select};
use crate::{DocRow, Result, Store, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceAttributes {
    pub price_id: String,
    /// `one_time` or `recurring`.
    pub kind: String,
    pub currency: String,
    pub interval: Option<String>,
    pub usage_type: Option<String>,
    pub meter: Option<String>,
    pub lookup_key: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PriceFilter {
    pub active: Option<bool>,
    pub product: Option<String>,
    pub kind: Option<String>,
    pub currency: Option<String>,
    pub lookup_keys: Option<Vec<String>>,
    pub interval: Option<String>,
    pub usage_type: Option<String>,
    pub meter: Option<String>,
    pub created: Range,
}

impl Tx {
    pub async fn save_price_attributes(&mut self, a: &PriceAttributes) -> Result<()> {
        query(
            "INSERT INTO price_attributes (price_id, type, currency, recurring_interval, usage_type,
                meter, lookup_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (price_id) DO UPDATE SET type = $2, currency = $3,
                recurring_interval = $4, usage_type = $5, meter = $6, lookup_key = $7",
        )
        .bind(&a.price_id)
        .bind(&a.kind)
        .bind(&a.currency)
        .bind(&a.interval)
        .bind(&a.usage_type)
        .bind(&a.meter)
        .bind(&a.lookup_key)
        .execute(&mut *self, 1)
        .await?;
        Ok(())
    }

    /// The price holding `lookup_key`, locked.
    pub async fn price_with_lookup_key(&mut self, lookup_key: &str) -> Result<Option<String>> {
        let sql = format!(
            "SELECT price_id FROM price_attributes WHERE lookup_key = $1{}",
            self.lock_clause()
        );
        let row = query(sql)
            .bind(lookup_key)
            .fetch_optional(&mut *self)
            .await?;
        row.map(|r| r.try_get("price_id")).transpose()
    }

    /// Takes `lookup_key` off whichever price holds it.
    pub async fn release_lookup_key(&mut self, lookup_key: &str) -> Result<()> {
        query("UPDATE price_attributes SET lookup_key = NULL WHERE lookup_key = $1")
            .bind(lookup_key)
            .run_ignoring_count(&mut *self)
            .await?;
        Ok(())
    }

    /// How many prices a product has (a product with prices cannot be deleted).
    pub async fn price_count(&mut self, product: &str) -> Result<i64> {
        query("SELECT COUNT(*) AS n FROM prices WHERE parent = $1")
            .bind(product)
            .fetch_one(&mut *self)
            .await?
            .try_get("n")
    }
}

impl Tx {
    /// Records a promotion code's key; false if an active code already has it.
    pub async fn save_promotion_code_key(
        &mut self,
        promotion_code_id: &str,
        code_key: &str,
        active: bool,
    ) -> Result<bool> {
        if active {
            let taken = query(
                "SELECT promotion_code_id FROM promotion_code_keys
                 WHERE code_key = $1 AND active AND promotion_code_id <> $2",
            )
            .bind(code_key)
            .bind(promotion_code_id)
            .fetch_optional(&mut *self)
            .await?;
            if taken.is_some() {
                return Ok(false);
            }
        }
        query(
            "INSERT INTO promotion_code_keys (promotion_code_id, code_key, active) VALUES ($1, $2, $3)
             ON CONFLICT (promotion_code_id) DO UPDATE SET code_key = $2, active = $3",
        )
        .bind(promotion_code_id)
        .bind(code_key)
        .bind(active)
        .execute(&mut *self, 1)
        .await?;
        Ok(true)
    }
}

impl Store {
    pub async fn list_prices(&self, f: &PriceFilter, page: &Page) -> Result<Listed<DocRow>> {
        let mut s = Select::new("id, created, customer, status, parent, sealed FROM prices");
        if let Some(active) = f.active {
            let p = s.arg(Val::Text(if active { "active" } else { "inactive" }.into()));
            s.and(format!("status = {p}"));
        }
        if let Some(product) = &f.product {
            let p = s.arg(product.into_val());
            s.and(format!("parent = {p}"));
        }
        let mut attrs = Vec::new();
        for (column, value) in [
            ("type", &f.kind),
            ("currency", &f.currency),
            ("recurring_interval", &f.interval),
            ("usage_type", &f.usage_type),
            ("meter", &f.meter),
        ] {
            if let Some(v) = value {
                let p = s.arg(v.into_val());
                attrs.push(format!("{column} = {p}"));
            }
        }
        if let Some(keys) = &f.lookup_keys {
            attrs.push(s.in_list("lookup_key", keys.iter().map(IntoVal::into_val)));
        }
        if !attrs.is_empty() {
            s.and(format!(
                "id IN (SELECT price_id FROM price_attributes WHERE {})",
                attrs.join(" AND ")
            ));
        }
        s.range("created", &f.created);
        s.page(page);
        let sql = s.sql();
        let rows = query(sql)
            .bind_all(std::mem::take(&mut s.args))
            .fetch_all(self)
            .await?;
        let rows: Result<Vec<DocRow>> = rows.iter().map(DocRow::from_row).collect();
        Ok(s.finish(rows?))
    }
}
