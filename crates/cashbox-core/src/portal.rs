//! The customer portal (Stripe's billing portal): configurations of what customers may do,
//! and sessions that open the portal page for one customer.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::billing::subscription::ProrationBehavior;
use crate::metadata::{Metadata, MetadataParam, present};
use crate::param::{ParamError, check_len, check_url};
use crate::payments::apply_metadata;

pub const CONFIGURATION_PREFIX: &str = "bpc";
pub const SESSION_PREFIX: &str = "bps";
/// A portal link must be opened this soon after it is made (Stripe: 5 minutes)...
pub const OPEN_WITHIN_SECS: i64 = 5 * 60;
/// ...and then works this long.
pub const SESSION_SECS: i64 = 60 * 60;
/// Prices a configuration may offer to switch between.
pub const SWITCH_PRICES_MAX: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum CancelMode {
    #[default]
    AtPeriodEnd,
    Immediately,
}

/// What customers may do in the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Features {
    pub invoice_history: bool,
    pub payment_method_update: bool,
    pub subscription_cancel: bool,
    pub cancel_mode: CancelMode,
    pub cancel_proration: ProrationBehavior,
    pub subscription_update: bool,
    /// (product, its prices customers may switch to).
    pub update_products: Vec<(String, Vec<String>)>,
    pub update_proration: ProrationBehavior,
    pub customer_update: bool,
    pub customer_update_fields: Vec<String>,
}

impl Default for Features {
    /// Stripe's default portal: invoices, cards, cancelling at the period's end, updating the
    /// email and address; switching plans once prices are configured.
    fn default() -> Self {
        Self {
            invoice_history: true,
            payment_method_update: true,
            subscription_cancel: true,
            cancel_mode: CancelMode::AtPeriodEnd,
            cancel_proration: ProrationBehavior::None,
            subscription_update: false,
            update_products: Vec::new(),
            update_proration: ProrationBehavior::CreateProrations,
            customer_update: true,
            customer_update_fields: vec!["email".into(), "address".into()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    pub id: String,
    pub created: i64,
    pub updated: i64,
    pub active: bool,
    pub is_default: bool,
    pub features: Features,
    pub headline: Option<String>,
    pub privacy_policy_url: Option<String>,
    pub terms_of_service_url: Option<String>,
    pub default_return_url: Option<String>,
    pub metadata: Metadata,
}

// ---------------------------------------------------------------------------------------------
// Parameters

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigurationParams {
    pub features: Option<FeaturesParams>,
    pub business_profile: Option<BusinessProfileParams>,
    pub default_return_url: Option<String>,
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeaturesParams {
    pub invoice_history: Option<EnabledParams>,
    pub payment_method_update: Option<EnabledParams>,
    pub subscription_cancel: Option<SubscriptionCancelParams>,
    pub subscription_update: Option<SubscriptionUpdateFeatureParams>,
    pub customer_update: Option<CustomerUpdateFeatureParams>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnabledParams {
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionCancelParams {
    pub enabled: Option<bool>,
    pub mode: Option<CancelMode>,
    pub proration_behavior: Option<ProrationBehavior>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionUpdateFeatureParams {
    pub enabled: Option<bool>,
    pub products: Option<Vec<ProductPricesParams>>,
    pub proration_behavior: Option<ProrationBehavior>,
    /// Accepted as Stripe takes it; Cashbox's portal switches prices.
    pub default_allowed_updates: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPricesParams {
    pub product: Option<String>,
    pub prices: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerUpdateFeatureParams {
    pub enabled: Option<bool>,
    pub allowed_updates: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessProfileParams {
    pub headline: Option<String>,
    pub privacy_policy_url: Option<String>,
    pub terms_of_service_url: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConfigurationListParams {
    pub active: Option<bool>,
    pub is_default: Option<bool>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(ConfigurationListParams);

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalSessionCreateParams {
    pub customer: Option<String>,
    pub return_url: Option<String>,
    pub configuration: Option<String>,
    pub flow_data: Option<FlowDataParams>,
    pub locale: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowDataParams {
    #[serde(rename = "type")]
    pub kind: Option<FlowType>,
    pub subscription_cancel: Option<FlowSubscriptionParams>,
    pub subscription_update: Option<FlowSubscriptionParams>,
    pub subscription_update_confirm: Option<FlowUpdateConfirmParams>,
    pub after_completion: Option<AfterCompletionParams>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowType {
    PaymentMethodUpdate,
    SubscriptionCancel,
    SubscriptionUpdate,
    SubscriptionUpdateConfirm,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowSubscriptionParams {
    pub subscription: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowUpdateConfirmParams {
    pub subscription: Option<String>,
    pub items: Option<Vec<FlowItemParams>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowItemParams {
    pub id: Option<String>,
    pub price: Option<String>,
    pub quantity: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AfterCompletionParams {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub redirect: Option<RedirectParams>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectParams {
    pub return_url: Option<String>,
}

const CUSTOMER_FIELDS: [&str; 5] = ["email", "address", "shipping", "phone", "tax_id"];

impl Configuration {
    /// A configuration made from `p` (created) or `p` applied to `self` (updated), checked.
    pub fn apply(&self, p: &ConfigurationParams, now: i64) -> Result<Self, ParamError> {
        let mut next = self.clone();
        next.updated = now;
        if let Some(a) = p.active {
            next.active = a;
        }
        if let Some(u) = &p.default_return_url {
            if u.is_empty() {
                next.default_return_url = None;
            } else {
                check_url("default_return_url", u)?;
                next.default_return_url = Some(u.clone());
            }
        }
        if let Some(b) = &p.business_profile {
            if let Some(h) = &b.headline {
                check_len("business_profile[headline]", h, 60)?;
                next.headline = (!h.is_empty()).then(|| h.clone());
            }
            for (param, given, slot) in [
                (
                    "business_profile[privacy_policy_url]",
                    &b.privacy_policy_url,
                    &mut next.privacy_policy_url,
                ),
                (
                    "business_profile[terms_of_service_url]",
                    &b.terms_of_service_url,
                    &mut next.terms_of_service_url,
                ),
            ] {
                if let Some(u) = given {
                    if !u.is_empty() {
                        check_url(param, u)?;
                    }
                    *slot = (!u.is_empty()).then(|| u.clone());
                }
            }
        }
        if let Some(f) = &p.features {
            let on = |e: &Option<EnabledParams>, current: bool| {
                e.as_ref().and_then(|e| e.enabled).unwrap_or(current)
            };
            next.features.invoice_history = on(&f.invoice_history, next.features.invoice_history);
            next.features.payment_method_update = on(
                &f.payment_method_update,
                next.features.payment_method_update,
            );
            if let Some(c) = &f.subscription_cancel {
                next.features.subscription_cancel =
                    c.enabled.unwrap_or(next.features.subscription_cancel);
                next.features.cancel_mode = c.mode.unwrap_or(next.features.cancel_mode);
                next.features.cancel_proration = c
                    .proration_behavior
                    .unwrap_or(next.features.cancel_proration);
            }
            if let Some(u) = &f.subscription_update {
                next.features.subscription_update =
                    u.enabled.unwrap_or(next.features.subscription_update);
                next.features.update_proration = u
                    .proration_behavior
                    .unwrap_or(next.features.update_proration);
                if let Some(products) = &u.products {
                    let mut out = Vec::new();
                    let mut count = 0;
                    for (i, pp) in products.iter().enumerate() {
                        let product = pp.product.clone().ok_or_else(|| {
                            ParamError::missing(format!(
                                "features[subscription_update][products][{i}][product]"
                            ))
                        })?;
                        let prices = pp.prices.clone().unwrap_or_default();
                        if prices.is_empty() {
                            return Err(ParamError::missing(format!(
                                "features[subscription_update][products][{i}][prices]"
                            )));
                        }
                        count += prices.len();
                        out.push((product, prices));
                    }
                    if count > SWITCH_PRICES_MAX {
                        return Err(ParamError::invalid(
                            "features[subscription_update][products]",
                            format!("A portal offers at most {SWITCH_PRICES_MAX} prices."),
                        ));
                    }
                    next.features.update_products = out;
                }
                if next.features.subscription_update && next.features.update_products.is_empty() {
                    return Err(ParamError::missing(
                        "features[subscription_update][products]",
                    ));
                }
            }
            if let Some(c) = &f.customer_update {
                next.features.customer_update = c.enabled.unwrap_or(next.features.customer_update);
                if let Some(fields) = &c.allowed_updates {
                    for (i, field) in fields.iter().enumerate() {
                        if !CUSTOMER_FIELDS.contains(&field.as_str()) {
                            return Err(ParamError::invalid(
                                format!("features[customer_update][allowed_updates][{i}]"),
                                format!(
                                    "Invalid allowed update: {field}; one of {}",
                                    CUSTOMER_FIELDS.join(", ")
                                ),
                            ));
                        }
                    }
                    next.features.customer_update_fields = fields.clone();
                }
            }
        }
        next.metadata = apply_metadata(&next.metadata, &p.metadata)?;
        Ok(next)
    }

    /// A new configuration from `p`, on Stripe's defaults.
    pub fn create(
        id: String,
        now: i64,
        is_default: bool,
        p: &ConfigurationParams,
    ) -> Result<Self, ParamError> {
        Self::builtin(id, now, is_default).apply(p, now)
    }

    /// Stripe's defaults, as the portal uses them when none is configured.
    pub fn builtin(id: String, now: i64, is_default: bool) -> Self {
        Self {
            id,
            created: now,
            updated: now,
            active: true,
            is_default,
            features: Features::default(),
            headline: None,
            privacy_policy_url: None,
            terms_of_service_url: None,
            default_return_url: None,
            metadata: Metadata::new(),
        }
    }

    /// The prices customers may switch to.
    pub fn switch_prices(&self) -> impl Iterator<Item = &str> {
        self.features
            .update_products
            .iter()
            .flat_map(|(_, prices)| prices.iter().map(String::as_str))
    }

    pub fn to_json(&self) -> Value {
        let f = &self.features;
        json!({
            "id": self.id,
            "object": "billing_portal.configuration",
            "active": self.active,
            "application": null,
            "business_profile": {
                "headline": self.headline,
                "privacy_policy_url": self.privacy_policy_url,
                "terms_of_service_url": self.terms_of_service_url,
            },
            "created": self.created,
            "default_return_url": self.default_return_url,
            "features": {
                "customer_update": {"allowed_updates": f.customer_update_fields, "enabled": f.customer_update},
                "invoice_history": {"enabled": f.invoice_history},
                "payment_method_update": {"enabled": f.payment_method_update},
                "subscription_cancel": {
                    "cancellation_reason": {"enabled": false, "options": []},
                    "enabled": f.subscription_cancel,
                    "mode": f.cancel_mode,
                    "proration_behavior": f.cancel_proration,
                },
                "subscription_update": {
                    "default_allowed_updates": ["price"],
                    "enabled": f.subscription_update,
                    "products": f.update_products.iter().map(|(product, prices)| json!({"product": product, "prices": prices})).collect::<Vec<_>>(),
                    "proration_behavior": f.update_proration,
                },
            },
            "is_default": self.is_default,
            "livemode": false,
            "login_page": {"enabled": false, "url": null},
            "metadata": self.metadata,
            "name": null,
            "updated": self.updated,
        })
    }
}

/// Where a portal session starts: its home page, or one of Stripe's deep links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flow {
    PaymentMethodUpdate,
    SubscriptionCancel {
        subscription: String,
    },
    SubscriptionUpdate {
        subscription: String,
    },
    SubscriptionUpdateConfirm {
        subscription: String,
        item: Option<String>,
        price: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalSession {
    pub id: String,
    pub created: i64,
    pub customer: String,
    pub configuration: String,
    pub return_url: String,
    pub flow: Option<Flow>,
    /// Where the customer goes when the flow is done (`after_completion.redirect`).
    pub after_completion_url: Option<String>,
    /// The secret in the session's URL; every form on the page carries it.
    pub secret: String,
    /// When the link was first opened (it must be within [`OPEN_WITHIN_SECS`]).
    pub opened_at: Option<i64>,
}

/// A session's URL is no longer usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkExpired;

impl PortalSession {
    /// Checks `p` (the configuration and customer are checked by the caller): a return URL,
    /// and a flow with the subscription it needs.
    pub fn check(
        p: &PortalSessionCreateParams,
    ) -> Result<(Option<Flow>, Option<String>), ParamError> {
        if p.customer.is_none() {
            return Err(ParamError::missing("customer"));
        }
        if let Some(u) = &p.return_url {
            check_url("return_url", u)?;
        }
        let Some(f) = &p.flow_data else {
            return Ok((None, None));
        };
        let kind = f
            .kind
            .ok_or_else(|| ParamError::missing("flow_data[type]"))?;
        let sub = |given: &Option<FlowSubscriptionParams>, param: &str| {
            given
                .as_ref()
                .and_then(|s| s.subscription.clone())
                .ok_or_else(|| ParamError::missing(format!("flow_data[{param}][subscription]")))
        };
        let flow = match kind {
            FlowType::PaymentMethodUpdate => Flow::PaymentMethodUpdate,
            FlowType::SubscriptionCancel => Flow::SubscriptionCancel {
                subscription: sub(&f.subscription_cancel, "subscription_cancel")?,
            },
            FlowType::SubscriptionUpdate => Flow::SubscriptionUpdate {
                subscription: sub(&f.subscription_update, "subscription_update")?,
            },
            FlowType::SubscriptionUpdateConfirm => {
                let c = f
                    .subscription_update_confirm
                    .as_ref()
                    .ok_or_else(|| ParamError::missing("flow_data[subscription_update_confirm]"))?;
                let subscription = c.subscription.clone().ok_or_else(|| {
                    ParamError::missing("flow_data[subscription_update_confirm][subscription]")
                })?;
                let items = c.items.as_deref().unwrap_or_default();
                let [item] = items else {
                    return Err(ParamError::invalid(
                        "flow_data[subscription_update_confirm][items]",
                        "Give exactly one item: the subscription item and the price it moves to.",
                    ));
                };
                let price = item.price.clone().ok_or_else(|| {
                    ParamError::missing("flow_data[subscription_update_confirm][items][0][price]")
                })?;
                Flow::SubscriptionUpdateConfirm {
                    subscription,
                    item: item.id.clone(),
                    price,
                }
            }
        };
        let after = match &f.after_completion {
            Some(a) if a.kind.as_deref() == Some("redirect") => {
                let url = a
                    .redirect
                    .as_ref()
                    .and_then(|r| r.return_url.clone())
                    .ok_or_else(|| {
                        ParamError::missing("flow_data[after_completion][redirect][return_url]")
                    })?;
                check_url("flow_data[after_completion][redirect][return_url]", &url)?;
                Some(url)
            }
            _ => None,
        };
        Ok((Some(flow), after))
    }

    /// Whether the page may be used at `now`: opened within five minutes of being made, then
    /// for an hour from the first opening.
    pub fn usable_at(&self, now: i64) -> Result<(), LinkExpired> {
        match self.opened_at {
            None if now <= self.created + OPEN_WITHIN_SECS => Ok(()),
            Some(t) if now <= t + SESSION_SECS => Ok(()),
            _ => Err(LinkExpired),
        }
    }

    fn flow_json(&self) -> Value {
        let Some(flow) = &self.flow else {
            return Value::Null;
        };
        let (kind, details) = match flow {
            Flow::PaymentMethodUpdate => ("payment_method_update", Value::Null),
            Flow::SubscriptionCancel { subscription } => (
                "subscription_cancel",
                json!({"subscription": subscription, "retention": null}),
            ),
            Flow::SubscriptionUpdate { subscription } => {
                ("subscription_update", json!({"subscription": subscription}))
            }
            Flow::SubscriptionUpdateConfirm {
                subscription,
                item,
                price,
            } => (
                "subscription_update_confirm",
                json!({"subscription": subscription, "items": [{"id": item, "price": price, "quantity": null}], "discounts": null}),
            ),
        };
        let after = match &self.after_completion_url {
            Some(url) => {
                json!({"type": "redirect", "redirect": {"return_url": url}, "hosted_confirmation": null})
            }
            None => {
                json!({"type": "portal_homepage", "redirect": null, "hosted_confirmation": null})
            }
        };
        let mut v = json!({
            "type": kind,
            "after_completion": after,
            "subscription_cancel": null,
            "subscription_update": null,
            "subscription_update_confirm": null,
        });
        if !details.is_null() {
            v[kind] = details;
        }
        v
    }

    pub fn url(&self, public_url: &str) -> String {
        format!("{public_url}/portal/{}?token={}", self.id, self.secret)
    }

    pub fn to_json(&self, public_url: &str) -> Value {
        json!({
            "id": self.id,
            "object": "billing_portal.session",
            "configuration": self.configuration,
            "created": self.created,
            "customer": self.customer,
            "customer_account": null,
            "flow": self.flow_json(),
            "livemode": false,
            "locale": null,
            "on_behalf_of": null,
            "return_url": self.return_url,
            "url": self.url(public_url),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_opens_within_five_minutes_then_lasts_an_hour() {
        let mut s = PortalSession {
            id: "bps_1".into(),
            created: 1000,
            customer: "cus_1".into(),
            configuration: "bpc_1".into(),
            return_url: "https://app.example".into(),
            flow: None,
            after_completion_url: None,
            secret: "s".into(),
            opened_at: None,
        };
        assert!(s.usable_at(1000 + OPEN_WITHIN_SECS).is_ok());
        assert_eq!(s.usable_at(1001 + OPEN_WITHIN_SECS), Err(LinkExpired));
        s.opened_at = Some(1200);
        assert!(s.usable_at(1200 + SESSION_SECS).is_ok());
        assert_eq!(s.usable_at(1201 + SESSION_SECS), Err(LinkExpired));
    }

    #[test]
    fn configurations_are_checked_and_keep_what_is_not_given() {
        let base = Configuration::builtin("bpc_1".into(), 1, false);
        let on = ConfigurationParams {
            features: Some(FeaturesParams {
                subscription_update: Some(SubscriptionUpdateFeatureParams {
                    enabled: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = base.apply(&on, 2).unwrap_err();
        assert_eq!(e.param, "features[subscription_update][products]");
        let p = ConfigurationParams {
            features: Some(FeaturesParams {
                subscription_cancel: Some(SubscriptionCancelParams {
                    mode: Some(CancelMode::Immediately),
                    ..Default::default()
                }),
                subscription_update: Some(SubscriptionUpdateFeatureParams {
                    enabled: Some(true),
                    products: Some(vec![ProductPricesParams {
                        product: Some("prod_1".into()),
                        prices: Some(vec!["price_a".into(), "price_b".into()]),
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            default_return_url: Some("https://app.example/account".into()),
            ..Default::default()
        };
        let c = base.apply(&p, 2).unwrap();
        assert_eq!(c.features.cancel_mode, CancelMode::Immediately);
        assert!(c.features.subscription_cancel, "kept");
        assert_eq!(
            c.switch_prices().collect::<Vec<_>>(),
            ["price_a", "price_b"]
        );
        let bad = ConfigurationParams {
            default_return_url: Some("ftp://x".into()),
            ..Default::default()
        };
        assert_eq!(base.apply(&bad, 2).unwrap_err().param, "default_return_url");
    }
}
