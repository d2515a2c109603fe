//! Entitlements: Stripe's features and product features, and ours beyond Stripe: a product
//! feature may carry a quota per period (8 sessions a month) and, for one-time purchases, how
//! many days the access lasts (none: for life).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ParamError;
use crate::metadata::{Metadata, MetadataParam, present};
use crate::payments::check_text;

pub const FEATURE_PREFIX: &str = "feat";
pub const PRODUCT_FEATURE_PREFIX: &str = "prodft";
pub const ACTIVE_ENTITLEMENT_PREFIX: &str = "ent";
pub const LOOKUP_KEY_CHARS_MAX: usize = 80;
pub const QUOTA_MAX: i64 = 1_000_000_000;
pub const GRANT_DAYS_MAX: i64 = 36_500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    pub id: String,
    pub created: i64,
    pub name: String,
    pub lookup_key: String,
    pub active: bool,
    pub metadata: Metadata,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureCreateParams {
    pub name: Option<String>,
    pub lookup_key: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeatureUpdateParams {
    pub name: Option<String>,
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeatureListParams {
    pub lookup_key: Option<String>,
    pub archived: Option<bool>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(FeatureListParams);

fn required_text(param: &str, v: &Option<String>, max: usize) -> Result<String, ParamError> {
    let s = v.clone().ok_or_else(|| ParamError::missing(param))?;
    if s.trim().is_empty() {
        return Err(ParamError::empty(param));
    }
    check_text(param, v, max)?;
    Ok(s)
}

impl Feature {
    pub fn new(id: String, now: i64, p: &FeatureCreateParams) -> Result<Self, ParamError> {
        let name = required_text("name", &p.name, 80)?;
        let lookup_key = required_text("lookup_key", &p.lookup_key, LOOKUP_KEY_CHARS_MAX)?;
        let metadata = match &p.metadata {
            Some(m) => m.apply(&Metadata::new())?,
            None => Metadata::new(),
        };
        Ok(Self {
            id,
            created: now,
            name,
            lookup_key,
            active: true,
            metadata,
        })
    }

    pub fn update(&mut self, p: &FeatureUpdateParams) -> Result<(), ParamError> {
        if p.name.is_some() {
            self.name = required_text("name", &p.name, 80)?;
        }
        if let Some(m) = &p.metadata {
            self.metadata = m.apply(&self.metadata)?;
        }
        if let Some(a) = p.active {
            self.active = a;
        }
        Ok(())
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "entitlements.feature",
            "active": self.active,
            "livemode": false,
            "lookup_key": self.lookup_key,
            "metadata": self.metadata,
            "name": self.name,
        })
    }
}

/// A feature attached to a product: whoever has the product has the feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductFeature {
    pub id: String,
    pub created: i64,
    pub product: String,
    pub feature: String,
    /// Uses allowed per period (a subscription's billing period; a purchase's whole grant).
    pub quota: Option<i64>,
    /// How long a one-time purchase of the product grants the feature (`None`: for life).
    pub grant_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductFeatureCreateParams {
    pub entitlement_feature: Option<String>,
    /// Ours: uses allowed per period.
    pub quota: Option<i64>,
    /// Ours: days a one-time purchase grants the feature for (absent: for life).
    pub grant_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProductFeatureListParams {
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(ProductFeatureListParams);

impl ProductFeature {
    pub fn new(
        id: String,
        now: i64,
        product: &str,
        p: &ProductFeatureCreateParams,
    ) -> Result<Self, ParamError> {
        let feature = p
            .entitlement_feature
            .clone()
            .ok_or_else(|| ParamError::missing("entitlement_feature"))?;
        if let Some(q) = p.quota
            && !(0..=QUOTA_MAX).contains(&q)
        {
            return Err(ParamError::invalid(
                "quota",
                format!("Invalid quota: must be between 0 and {QUOTA_MAX}"),
            ));
        }
        if let Some(d) = p.grant_days
            && !(1..=GRANT_DAYS_MAX).contains(&d)
        {
            return Err(ParamError::invalid(
                "grant_days",
                format!("Invalid grant_days: must be between 1 and {GRANT_DAYS_MAX}"),
            ));
        }
        Ok(Self {
            id,
            created: now,
            product: product.to_string(),
            feature,
            quota: p.quota,
            grant_days: p.grant_days,
        })
    }

    pub fn to_json(&self, feature: &Feature) -> Value {
        json!({
            "id": self.id,
            "object": "product_feature",
            "entitlement_feature": feature.to_json(),
            "livemode": false,
            "quota": self.quota,
            "grant_days": self.grant_days,
        })
    }
}

/// One feature a customer has now, and the quota window it is counted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    pub feature: Feature,
    /// The largest quota among the sources granting it (`None`: unlimited).
    pub quota: Option<i64>,
    pub period: (i64, Option<i64>),
}

impl Entitlement {
    pub fn to_json(&self, customer: &str) -> Value {
        let body = |id: &str, prefix: &str| id.strip_prefix(prefix).unwrap_or(id).to_string();
        json!({
            "id": format!(
                "{ACTIVE_ENTITLEMENT_PREFIX}_{}{}",
                body(customer, "cus_"),
                body(&self.feature.id, "feat_")
            ),
            "object": "entitlements.active_entitlement",
            "feature": self.feature.id,
            "livemode": false,
            "lookup_key": self.feature.lookup_key,
        })
    }

    /// Merges another source's grant of the same feature: the larger quota wins (no quota
    /// at all is unlimited), with its period.
    pub fn merge(&mut self, other: Entitlement) {
        let better = match (self.quota, other.quota) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(a), Some(b)) => b > a,
        };
        if better {
            self.quota = other.quota;
            self.period = other.period;
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntitlementCheckParams {
    pub customer: Option<String>,
    /// The feature's lookup key or id.
    pub feature: Option<String>,
    pub quantity: Option<i64>,
    /// Consume only: makes a repeated consume count once.
    pub key: Option<String>,
}

impl EntitlementCheckParams {
    pub fn checked(&self) -> Result<(String, String, i64), ParamError> {
        let customer = self
            .customer
            .clone()
            .ok_or_else(|| ParamError::missing("customer"))?;
        let feature = self
            .feature
            .clone()
            .ok_or_else(|| ParamError::missing("feature"))?;
        let quantity = self.quantity.unwrap_or(1);
        if !(1..=QUOTA_MAX).contains(&quantity) {
            return Err(ParamError::invalid(
                "quantity",
                format!("Invalid quantity: must be between 1 and {QUOTA_MAX}"),
            ));
        }
        Ok((customer, feature, quantity))
    }
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ActiveEntitlementListParams {
    pub customer: Option<String>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}

/// The answer to a check or consume: whether the customer has the feature and what of its
/// quota is left in the current period.
pub fn check_json(
    customer: &str,
    lookup_key: &str,
    ent: Option<&Entitlement>,
    used: i64,
    quantity: i64,
) -> Value {
    let (allowed, reason) = match ent {
        None => (false, "not_entitled"),
        Some(e) => match e.quota {
            Some(q) if used.saturating_add(quantity) > q => (false, "quota_exceeded"),
            _ => (true, "entitled"),
        },
    };
    let quota = ent.and_then(|e| e.quota);
    json!({
        "object": "entitlement_check",
        "customer": customer,
        "feature": lookup_key,
        "allowed": allowed,
        "reason": reason,
        "quota": quota,
        "used": used,
        "remaining": quota.map(|q| (q - used).max(0)),
        "period_start": ent.map(|e| e.period.0),
        "period_end": ent.and_then(|e| e.period.1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ent(quota: Option<i64>, start: i64) -> Entitlement {
        Entitlement {
            feature: Feature {
                id: "feat_1".into(),
                created: 0,
                name: "Sessions".into(),
                lookup_key: "sessions".into(),
                active: true,
                metadata: Metadata::new(),
            },
            quota,
            period: (start, Some(start + 10)),
        }
    }

    #[test]
    fn the_largest_quota_wins_and_none_is_unlimited() {
        let mut e = ent(Some(4), 0);
        e.merge(ent(Some(8), 5));
        assert_eq!((e.quota, e.period.0), (Some(8), 5));
        e.merge(ent(Some(2), 9));
        assert_eq!(e.quota, Some(8));
        e.merge(ent(None, 1));
        assert_eq!(e.quota, None);
        e.merge(ent(Some(100), 1));
        assert_eq!(e.quota, None);
    }

    #[test]
    fn a_check_refuses_what_would_pass_the_quota() {
        let e = ent(Some(8), 0);
        let ok = check_json("cus_1", "sessions", Some(&e), 7, 1);
        assert_eq!(
            (ok["allowed"].as_bool(), ok["remaining"].as_i64()),
            (Some(true), Some(1))
        );
        let no = check_json("cus_1", "sessions", Some(&e), 8, 1);
        assert_eq!(no["reason"], "quota_exceeded");
        assert_eq!(no["remaining"], 0);
        let none = check_json("cus_1", "sessions", None, 0, 1);
        assert_eq!(none["reason"], "not_entitled");
    }
}
