//! Entitlements' own tables: unique feature lookup keys, purchase grants, quota use and the
//! consumes behind it, and the last summary announced per customer.

use crate::db::query;
use crate::{Result, Store, Tx};

/// A purchase's grant of a product: from when, until when (`None`: for life).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub product: String,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
}

impl Store {
    /// The feature with `lookup_key`.
    pub async fn feature_by_lookup_key(&self, lookup_key: &str) -> Result<Option<String>> {
        let row = query("SELECT feature_id FROM feature_lookup_keys WHERE lookup_key = $1")
            .bind(lookup_key)
            .fetch_optional(self)
            .await?;
        row.map(|r| r.try_get("feature_id")).transpose()
    }
}

impl Tx {
    /// Gives `lookup_key` to `feature`; `false` if another feature has it.
    pub async fn claim_feature_lookup_key(
        &mut self,
        lookup_key: &str,
        feature: &str,
    ) -> Result<bool> {
        let n = query(
            "INSERT INTO feature_lookup_keys (lookup_key, feature_id) VALUES ($1, $2) \
             ON CONFLICT (lookup_key) DO NOTHING",
        )
        .bind(lookup_key)
        .bind(feature)
        .execute(&mut *self, 1)
        .await?;
        Ok(n == 1)
    }

    /// Whether any product has a feature at all (when none does, nobody's entitlements can
    /// change).
    pub async fn any_product_features(&mut self) -> Result<bool> {
        let row = query("SELECT id FROM product_features LIMIT 1")
            .fetch_optional(&mut *self)
            .await?;
        Ok(row.is_some())
    }

    /// Records that paid invoice `invoice` grants `product` to `customer`; `false` if it
    /// already did.
    pub async fn insert_grant(
        &mut self,
        id: &str,
        customer: &str,
        invoice: &str,
        g: &Grant,
    ) -> Result<bool> {
        let n = query(
            "INSERT INTO entitlement_grants (id, customer_id, product_id, invoice_id, starts_at, ends_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (invoice_id, product_id) DO NOTHING",
        )
        .bind(id)
        .bind(customer)
        .bind(&g.product)
        .bind(invoice)
        .bind(g.starts_at)
        .bind(g.ends_at)
        .execute(&mut *self, 1)
        .await?;
        Ok(n == 1)
    }

    /// Revokes what `invoice` granted, at `at`; returns how many grants it ended.
    pub async fn revoke_grants(&mut self, invoice: &str, at: i64) -> Result<u64> {
        query(
            "UPDATE entitlement_grants SET revoked_at = $2 WHERE invoice_id = $1 AND revoked_at IS NULL",
        )
        .bind(invoice)
        .bind(at)
        .execute_counted(&mut *self)
        .await
    }

    /// `customer`'s purchase grants in force at `now`.
    pub async fn active_grants(&mut self, customer: &str, now: i64) -> Result<Vec<Grant>> {
        let rows = query(
            "SELECT product_id, starts_at, ends_at FROM entitlement_grants \
             WHERE customer_id = $1 AND revoked_at IS NULL AND starts_at <= $2 \
             AND (ends_at IS NULL OR ends_at > $2) ORDER BY id",
        )
        .bind(customer)
        .bind(now)
        .fetch_all(&mut *self)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Grant {
                    product: r.try_get("product_id")?,
                    starts_at: r.try_get("starts_at")?,
                    ends_at: r.try_get("ends_at")?,
                })
            })
            .collect()
    }

    /// Uses so far of `feature` by `customer` in the period starting at `period_start`.
    pub async fn quota_used(
        &mut self,
        customer: &str,
        feature: &str,
        period_start: i64,
    ) -> Result<i64> {
        let row = query(
            "SELECT used FROM quota_usage WHERE customer_id = $1 AND feature_id = $2 AND period_start = $3",
        )
        .bind(customer)
        .bind(feature)
        .bind(period_start)
        .fetch_optional(&mut *self)
        .await?;
        Ok(row.map(|r| r.try_get("used")).transpose()?.unwrap_or(0))
    }

    /// Records consume `key`; `false` if that key was consumed before (nothing is written).
    pub async fn claim_consumption(
        &mut self,
        key: &str,
        customer: &str,
        feature: &str,
        period_start: i64,
        quantity: i64,
        created: i64,
    ) -> Result<bool> {
        let n = query(
            "INSERT INTO quota_consumptions (key, customer_id, feature_id, period_start, quantity, created) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(customer)
        .bind(feature)
        .bind(period_start)
        .bind(quantity)
        .bind(created)
        .execute(&mut *self, 1)
        .await?;
        Ok(n == 1)
    }

    /// Adds `quantity` uses if they fit within `quota`, in one statement (atomic under
    /// concurrent consumes on either backend); `false` if they do not fit.
    pub async fn consume_quota(
        &mut self,
        customer: &str,
        feature: &str,
        period_start: i64,
        quantity: i64,
        quota: i64,
    ) -> Result<bool> {
        if quantity > quota {
            return Ok(false);
        }
        let n = query(
            "INSERT INTO quota_usage (customer_id, feature_id, period_start, used) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (customer_id, feature_id, period_start) DO UPDATE SET used = quota_usage.used + excluded.used \
             WHERE quota_usage.used + excluded.used <= $5",
        )
        .bind(customer)
        .bind(feature)
        .bind(period_start)
        .bind(quantity)
        .bind(quota)
        .execute(&mut *self, 1)
        .await?;
        Ok(n == 1)
    }

    /// Stores `features` as `customer`'s announced summary; returns the one it replaces
    /// (`None` if there was none).
    pub async fn swap_entitlement_summary(
        &mut self,
        customer: &str,
        features: &str,
    ) -> Result<Option<String>> {
        let row = query(format!(
            "SELECT features FROM entitlement_summaries WHERE customer_id = $1{}",
            self.lock_clause()
        ))
        .bind(customer)
        .fetch_optional(&mut *self)
        .await?;
        let old: Option<String> = row.map(|r| r.try_get("features")).transpose()?;
        query(
            "INSERT INTO entitlement_summaries (customer_id, features) VALUES ($1, $2) \
             ON CONFLICT (customer_id) DO UPDATE SET features = excluded.features",
        )
        .bind(customer)
        .bind(features)
        .execute(&mut *self, 1)
        .await?;
        Ok(old)
    }

    /// Indexes when `customer`'s entitlements next change by themselves (`None`: they do not),
    /// in `clock`'s time. The customer's summary row must exist (it is written first).
    pub async fn set_entitlements_due(
        &mut self,
        customer: &str,
        due_at: Option<i64>,
        clock: Option<&str>,
    ) -> Result<()> {
        query("UPDATE entitlement_summaries SET due_at = $2, clock = $3 WHERE customer_id = $1")
            .bind(customer)
            .bind(due_at)
            .bind(clock)
            .execute(&mut *self, 1)
            .await?;
        Ok(())
    }
}
