//! Subscriptions and their items: the object, its parameters, Stripe's statuses, and when its
//! next piece of work falls due. The rules of creating and updating one are in [`change`],
//! those of its due work in [`step`]; the application loads what they need, calls them,
//! stores the result and carries out what they set off.

pub mod change;
pub mod step;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ParamError;
use crate::billing::catalog::{Price, Text};
use crate::billing::discounts::TaxRate;
use crate::billing::invoice::{CollectionMethod, Discount, DiscountParams, LineDraft};
use crate::billing::{self, price_amount, prorate, short_date};
use crate::currency::Currency;
use crate::metadata::{Metadata, MetadataParam, present};
use crate::payments::RequestThreeDSecure;

pub const SUBSCRIPTION_PREFIX: &str = "sub";
pub const ITEM_PREFIX: &str = "si";
pub const ITEMS_MAX: usize = 20;
/// An `incomplete` subscription whose first invoice is not paid within this becomes
/// `incomplete_expired`.
pub const INCOMPLETE_EXPIRY_SECS: i64 = 23 * 60 * 60;
/// `customer.subscription.trial_will_end` is sent this long before a trial ends.
pub const TRIAL_WILL_END_SECS: i64 = 3 * 86_400;
/// `invoice.upcoming` is sent this long before a renewal.
pub const UPCOMING_NOTICE_SECS: i64 = 7 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubStatus {
    Incomplete,
    IncompleteExpired,
    Trialing,
    Active,
    PastDue,
    Canceled,
    Unpaid,
    Paused,
}

impl SubStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incomplete => "incomplete",
            Self::IncompleteExpired => "incomplete_expired",
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
            Self::Unpaid => "unpaid",
            Self::Paused => "paused",
        }
    }

    /// Statuses after which nothing more happens.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Canceled | Self::IncompleteExpired)
    }

    /// Whether a subscription in this status may move to `to`, as Stripe's do: an incomplete
    /// one is paid, expires or is canceled; a trial ends (paid, unpaid, or paused without a
    /// payment method); a payment fails (past due, then unpaid) and is made good; collection
    /// pauses and resumes; any subscription not yet ended may be canceled. Staying is always
    /// allowed.
    pub fn may_become(self, to: SubStatus) -> bool {
        use SubStatus::*;
        self == to
            || matches!(
                (self, to),
                (Incomplete, Active | IncompleteExpired | Canceled)
                    | (Trialing, Active | PastDue | Unpaid | Paused | Canceled)
                    | (Active, PastDue | Unpaid | Paused | Canceled)
                    | (PastDue, Active | Unpaid | Canceled)
                    | (Unpaid, Active | Canceled)
                    | (Paused, Active | Canceled)
            )
    }
}

/// A status change Stripe does not make: an invariant of the billing code broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("subscription {id} cannot go from {from} to {to}", from = from.as_str(), to = to.as_str())]
pub struct InvalidTransition {
    pub id: String,
    pub from: SubStatus,
    pub to: SubStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingPaymentMethod {
    Cancel,
    Pause,
    CreateInvoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PauseBehavior {
    KeepAsDraft,
    MarkUncollectible,
    Void,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseCollection {
    pub behavior: PauseBehavior,
    pub resumes_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionItem {
    pub id: String,
    pub created: i64,
    pub price: Price,
    pub quantity: u64,
    pub metadata: Metadata,
    pub tax_rates: Vec<TaxRate>,
}

impl SubscriptionItem {
    /// What one full period of this item costs in advance. A metered price is billed in
    /// arrears from its usage, which its period's invoice does not know in advance: nothing.
    pub fn period_amount(&self, currency: Currency) -> Result<i64, billing::RatingError> {
        let metered = self
            .price
            .recurring
            .as_ref()
            .is_some_and(|r| r.usage_type == crate::billing::catalog::UsageType::Metered);
        if metered {
            return Ok(0);
        }
        price_amount(&self.price, currency, self.quantity)
    }

    pub fn is_metered(&self) -> bool {
        self.price.is_metered()
    }

    /// The meter a metered item bills from.
    pub fn meter(&self) -> Option<&str> {
        self.price
            .recurring
            .as_ref()
            .and_then(|r| r.meter.as_deref())
    }

    /// The invoice line for `quantity` units of metered usage over `period`.
    pub fn usage_line(
        &self,
        currency: Currency,
        quantity: u64,
        period: (i64, i64),
        product_name: &str,
    ) -> Result<LineDraft, billing::RatingError> {
        Ok(LineDraft {
            amount: billing::price_amount(&self.price, currency, quantity)?,
            description: format!("{quantity} × {product_name} (usage)"),
            period,
            proration: false,
            quantity: Some(quantity),
            price: Some(self.price.clone()),
            subscription_item: Some(self.id.clone()),
            invoice_item: None,
            discountable: true,
            tax_rates: self.tax_rates.clone(),
            metadata: Metadata::new(),
        })
    }

    fn label(&self, product_name: &str) -> String {
        if self.quantity == 1 {
            product_name.to_string()
        } else {
            format!("{} × {product_name}", self.quantity)
        }
    }

    pub fn to_json(&self, sub: &Subscription) -> Value {
        let price = self.price.to_json();
        let r = self.price.recurring.as_ref();
        let mut v = json!({
            "id": self.id,
            "object": "subscription_item",
            "billing_thresholds": null,
            "created": self.created,
            "current_period_end": sub.current_period_end,
            "current_period_start": sub.current_period_start,
            "discounts": [],
            "metadata": self.metadata,
            "plan": {
                "id": self.price.id,
                "object": "plan",
                "active": self.price.active,
                "amount": price["unit_amount"],
                "amount_decimal": price["unit_amount_decimal"],
                "billing_scheme": price["billing_scheme"],
                "created": self.price.created,
                "currency": self.price.currency,
                "interval": r.map(|r| r.interval.as_str()),
                "interval_count": r.map(|r| r.interval_count),
                "livemode": false,
                "metadata": self.price.metadata,
                "meter": r.and_then(|r| r.meter.clone()),
                "nickname": self.price.nickname,
                "product": self.price.product,
                "tiers_mode": self.price.tiers_mode,
                "transform_usage": price["transform_quantity"],
                "trial_period_days": r.and_then(|r| r.trial_period_days),
                "usage_type": r.map(|r| r.usage_type.as_str()),
            },
            "price": null,
            "quantity": self.quantity,
            "subscription": sub.id,
            "tax_rates": self.tax_rates.iter().map(TaxRate::to_json).collect::<Vec<_>>(),
        });
        // Moved in: `json!` would copy it (see the crate documentation).
        v["price"] = price;
        v
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub created: i64,
    pub customer: String,
    pub currency: Currency,
    pub status: SubStatus,
    pub items: Vec<SubscriptionItem>,
    pub billing_cycle_anchor: i64,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub start_date: i64,
    pub trial_start: Option<i64>,
    pub trial_end: Option<i64>,
    pub missing_payment_method: MissingPaymentMethod,
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<i64>,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub cancellation_reason: Option<String>,
    pub cancellation_comment: Option<String>,
    pub cancellation_feedback: Option<String>,
    pub collection_method: CollectionMethod,
    pub days_until_due: Option<i64>,
    pub default_payment_method: Option<String>,
    pub default_tax_rates: Vec<TaxRate>,
    pub discounts: Vec<Discount>,
    pub latest_invoice: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub test_clock: Option<String>,
    pub pause_collection: Option<PauseCollection>,
    /// Whether `customer.subscription.trial_will_end` went out for the current trial.
    pub trial_will_end_sent: bool,
    /// The period end whose `invoice.upcoming` went out.
    pub upcoming_sent_for: Option<i64>,
    #[serde(default)]
    pub payment_settings: PaymentSettings,
}

/// What falls due next for a subscription, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    IncompleteExpiry(i64),
    TrialWillEnd(i64),
    TrialEnd(i64),
    Upcoming(i64),
    CancelAt(i64),
    PeriodEnd(i64),
    Resume(i64),
}

impl Due {
    pub fn at(self) -> i64 {
        match self {
            Self::IncompleteExpiry(t)
            | Self::TrialWillEnd(t)
            | Self::TrialEnd(t)
            | Self::Upcoming(t)
            | Self::CancelAt(t)
            | Self::PeriodEnd(t)
            | Self::Resume(t) => t,
        }
    }
}

impl Subscription {
    pub fn interval(&self) -> Option<(crate::billing::catalog::Interval, u32)> {
        self.items
            .first()
            .and_then(|i| i.price.recurring.as_ref())
            .map(|r| (r.interval, r.interval_count))
    }

    /// The end of the period that starts at `start`, following the billing cycle anchor.
    pub fn period_end_after(&self, start: i64) -> Option<i64> {
        let (interval, count) = self.interval()?;
        billing::next_boundary(self.billing_cycle_anchor, interval, count, start)
    }

    /// The next piece of work, earliest first; `None` when nothing more will happen.
    pub fn next_due(&self) -> Option<Due> {
        if self.status.is_terminal() {
            return None;
        }
        let mut due: Vec<Due> = Vec::new();
        if self.status == SubStatus::Incomplete {
            due.push(Due::IncompleteExpiry(self.created + INCOMPLETE_EXPIRY_SECS));
        }
        if let Some(c) = self.cancel_at {
            due.push(Due::CancelAt(c));
        }
        if self.status == SubStatus::Trialing
            && let Some(end) = self.trial_end
        {
            let notice = end - TRIAL_WILL_END_SECS;
            if !self.trial_will_end_sent && notice > self.trial_start.unwrap_or(end) {
                due.push(Due::TrialWillEnd(notice));
            }
            due.push(Due::TrialEnd(end));
        } else if self.status == SubStatus::Paused {
            if let Some(t) = self.pause_collection.and_then(|p| p.resumes_at) {
                due.push(Due::Resume(t));
            }
        } else if self.status != SubStatus::Incomplete {
            let notice = self.current_period_end - UPCOMING_NOTICE_SECS;
            if !self.cancel_at_period_end
                && self.upcoming_sent_for != Some(self.current_period_end)
                && notice > self.current_period_start
            {
                due.push(Due::Upcoming(notice));
            }
            // Usage is billed in arrears: a period with metered items is invoiced once its
            // late events have had their grace window.
            let grace = if self.has_metered() {
                crate::usage::USAGE_GRACE_SECS
            } else {
                0
            };
            due.push(Due::PeriodEnd(self.current_period_end + grace));
        }
        if let Some(pc) = self.pause_collection
            && self.status != SubStatus::Paused
            && let Some(t) = pc.resumes_at
        {
            due.push(Due::Resume(t));
        }
        due.into_iter().min_by_key(|d| d.at())
    }

    /// Where the next due work is indexed (`None`: nothing pending).
    pub fn due_at(&self) -> Option<i64> {
        self.next_due().map(Due::at)
    }

    /// Whether any item is billed from metered usage.
    pub fn has_metered(&self) -> bool {
        self.items.iter().any(SubscriptionItem::is_metered)
    }

    /// Moves the subscription to `to`, if a subscription in its status may
    /// ([`SubStatus::may_become`]): the one way the billing code changes a status.
    pub fn transition(&mut self, to: SubStatus) -> Result<(), InvalidTransition> {
        if !self.status.may_become(to) {
            return Err(InvalidTransition {
                id: self.id.clone(),
                from: self.status,
                to,
            });
        }
        self.status = to;
        Ok(())
    }

    /// Ends the subscription at `t`.
    pub fn cancel(&mut self, t: i64, reason: &str) -> Result<(), InvalidTransition> {
        self.transition(SubStatus::Canceled)?;
        self.ended_at = Some(t);
        if self.canceled_at.is_none() {
            self.canceled_at = Some(t);
        }
        if self.cancellation_reason.is_none() {
            self.cancellation_reason = Some(reason.to_string());
        }
        self.cancel_at_period_end = false;
        Ok(())
    }

    /// Lines for one full period `[start, end)` of every item.
    pub fn period_lines(
        &self,
        start: i64,
        end: i64,
        product_name: &dyn Fn(&str) -> String,
        trial: bool,
    ) -> Result<Vec<LineDraft>, billing::RatingError> {
        self.items
            .iter()
            .map(|item| {
                let name = product_name(&item.price.product);
                let amount = if trial {
                    0
                } else {
                    item.period_amount(self.currency)?
                };
                let description = if trial {
                    format!("Trial period for {name}")
                } else {
                    item.label(&name)
                };
                Ok(LineDraft {
                    amount,
                    description,
                    period: (start, end),
                    proration: false,
                    quantity: Some(item.quantity),
                    price: Some(item.price.clone()),
                    subscription_item: Some(item.id.clone()),
                    invoice_item: None,
                    discountable: true,
                    tax_rates: item.tax_rates.clone(),
                    metadata: Metadata::new(),
                })
            })
            .collect()
    }

    pub fn to_json(&self, now: i64) -> Value {
        let items: Vec<Value> = self.items.iter().map(|i| i.to_json(self)).collect();
        // The first item's price, as its rendering has it (not rendered a second time).
        let first_price = items.first().map(|i| i["price"].clone());
        let mut v = json!({
            "id": self.id,
            "object": "subscription",
            "application": null,
            "application_fee_percent": null,
            "automatic_tax": {"enabled": false, "liability": null, "disabled_reason": null},
            "billing_cycle_anchor": self.billing_cycle_anchor,
            "billing_cycle_anchor_config": null,
            "billing_mode": {"type": "classic"},
            "billing_thresholds": null,
            // Stripe shows a cancellation at the period's end as a `cancel_at` then too.
            "cancel_at": self.cancel_at.or(self.cancel_at_period_end.then_some(self.current_period_end)),
            "cancel_at_period_end": self.cancel_at_period_end,
            "canceled_at": self.canceled_at,
            "cancellation_details": {
                "comment": self.cancellation_comment,
                "feedback": self.cancellation_feedback,
                "reason": self.cancellation_reason,
            },
            "collection_method": self.collection_method,
            "created": self.created,
            "currency": self.currency,
            "current_period_end": self.current_period_end,
            "current_period_start": self.current_period_start,
            "customer": self.customer,
            "days_until_due": self.days_until_due,
            "default_payment_method": self.default_payment_method,
            "default_source": null,
            "default_tax_rates": self.default_tax_rates.iter().map(TaxRate::to_json).collect::<Vec<_>>(),
            "description": self.description,
            "discount": self.discounts.first().map(|d| d.to_json(now)),
            "discounts": self.discounts.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
            "ended_at": self.ended_at,
            "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
            "items": {
                "object": "list",
                "data": null,
                "has_more": false,
                "total_count": self.items.len(),
                "url": format!("/v1/subscription_items?subscription={}", self.id),
            },
            "latest_invoice": self.latest_invoice,
            "livemode": false,
            "metadata": self.metadata,
            "next_pending_invoice_item_invoice": null,
            "on_behalf_of": null,
            "pause_collection": self.pause_collection.map(|p| json!({"behavior": p.behavior, "resumes_at": p.resumes_at})),
            "payment_settings": self.payment_settings.to_json(),
            "pending_invoice_item_interval": null,
            "pending_setup_intent": null,
            "pending_update": null,
            "plan": null,
            "quantity": (self.items.len() == 1).then(|| self.items[0].quantity),
            "schedule": null,
            "start_date": self.start_date,
            "status": self.status.as_str(),
            "test_clock": self.test_clock,
            "transfer_data": null,
            "trial_end": self.trial_end,
            "trial_settings": {"end_behavior": {"missing_payment_method": self.missing_payment_method}},
            "trial_start": self.trial_start,
        });
        // Moved in: `json!` would copy them (see the crate documentation).
        v["items"]["data"] = Value::Array(items);
        v["plan"] = first_price.unwrap_or(Value::Null);
        v
    }
}

/// The proration lines for changing `old` to `new` at `t` within `period`: a credit for the
/// unused time on what was, a debit for the remaining time on what will be. Either side may be
/// absent (an item added or removed). Lines of zero are left out.
pub fn proration_lines(
    currency: Currency,
    old: Option<&SubscriptionItem>,
    new: Option<&SubscriptionItem>,
    period: (i64, i64),
    t: i64,
    product_name: &dyn Fn(&str) -> String,
) -> Result<Vec<LineDraft>, billing::RatingError> {
    let mut out = Vec::new();
    let date = short_date(t);
    for (item, credit) in [(old, true), (new, false)] {
        let Some(item) = item else { continue };
        let full = item.period_amount(currency)?;
        let part = prorate(full, period, t, period.1)
            .ok_or_else(|| billing::RatingError::Overflow(item.price.id.clone()))?;
        if part == 0 {
            continue;
        }
        let name = item.label(&product_name(&item.price.product));
        out.push(LineDraft {
            amount: if credit { -part } else { part },
            description: if credit {
                format!("Unused time on {name} after {date}")
            } else {
                format!("Remaining time on {name} after {date}")
            },
            period: (t, period.1),
            proration: true,
            quantity: Some(item.quantity),
            price: Some(item.price.clone()),
            subscription_item: Some(item.id.clone()),
            invoice_item: None,
            discountable: true,
            tax_rates: item.tax_rates.clone(),
            metadata: Metadata::new(),
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parameters

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemParams {
    pub id: Option<String>,
    pub price: Option<String>,
    pub plan: Option<String>,
    pub quantity: Option<i64>,
    pub deleted: Option<bool>,
    pub clear_usage: Option<bool>,
    pub tax_rates: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

impl ItemParams {
    pub fn price_id(&self) -> Option<&str> {
        self.price.as_deref().or(self.plan.as_deref())
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndBehaviorParams {
    pub missing_payment_method: Option<MissingPaymentMethod>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrialSettingsParams {
    pub end_behavior: Option<EndBehaviorParams>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseCollectionParams {
    pub behavior: Option<PauseBehavior>,
    pub resumes_at: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancellationDetailsParams {
    pub comment: Option<String>,
    pub feedback: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentBehavior {
    AllowIncomplete,
    DefaultIncomplete,
    ErrorIfIncomplete,
    PendingIfIncomplete,
}

/// `payment_settings.save_default_payment_method`: whether the card that pays one of the
/// subscription's invoices becomes its default (`on_subscription`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SaveDefaultPaymentMethod {
    #[default]
    Off,
    OnSubscription,
}

/// A subscription's `payment_settings`, as stored and rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSettings {
    pub save_default_payment_method: SaveDefaultPaymentMethod,
    /// `None`: the types the invoice's customer can pay with (card, here).
    pub payment_method_types: Option<Vec<String>>,
    /// `None` unless set: Stripe renders no options when none were given.
    pub request_three_d_secure: Option<RequestThreeDSecure>,
}

impl PaymentSettings {
    /// These settings with `p`'s changes.
    pub fn apply(&self, p: &PaymentSettingsParams) -> Result<PaymentSettings, ParamError> {
        p.check()?;
        let mut next = self.clone();
        if let Some(s) = p.save_default_payment_method {
            next.save_default_payment_method = s;
        }
        if let Some(types) = &p.payment_method_types {
            next.payment_method_types = Some(types.clone());
        }
        if let Some(r) = p
            .payment_method_options
            .as_ref()
            .and_then(|o| o.card.as_ref())
            .and_then(|c| c.request_three_d_secure)
        {
            next.request_three_d_secure = Some(r);
        }
        Ok(next)
    }

    /// What the PaymentIntent of one of the subscription's invoices asks for.
    pub fn three_d_secure(&self) -> RequestThreeDSecure {
        self.request_three_d_secure.unwrap_or_default()
    }

    fn to_json(&self) -> Value {
        json!({
            "payment_method_options": self.request_three_d_secure.map(|r| json!({
                "acss_debit": null, "bancontact": null,
                "card": {"mandate_options": null, "network": null, "request_three_d_secure": r},
                "customer_balance": null, "konbini": null, "sepa_debit": null, "us_bank_account": null,
            })),
            "payment_method_types": self.payment_method_types,
            "save_default_payment_method": self.save_default_payment_method,
        })
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettingsParams {
    pub save_default_payment_method: Option<SaveDefaultPaymentMethod>,
    pub payment_method_types: Option<Vec<String>>,
    pub payment_method_options: Option<PaymentMethodOptionsParams>,
}

impl PaymentSettingsParams {
    /// Only cards are taken: a type this processor cannot charge is refused by name.
    pub fn check(&self) -> Result<(), ParamError> {
        if let Some(types) = &self.payment_method_types {
            if types.is_empty() {
                return Err(ParamError::invalid(
                    "payment_settings[payment_method_types]",
                    "payment_method_types must name at least one type.",
                ));
            }
            if let Some(bad) = types.iter().find(|t| t.as_str() != "card") {
                return Err(ParamError::invalid(
                    "payment_settings[payment_method_types]",
                    format!(
                        "The payment method type provided: {bad} is invalid. This processor supports: card."
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodOptionsParams {
    pub card: Option<CardOptionsParams>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardOptionsParams {
    pub request_three_d_secure: Option<RequestThreeDSecure>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProrationBehavior {
    CreateProrations,
    None,
    AlwaysInvoice,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionCreateParams {
    pub customer: Option<String>,
    pub items: Option<Vec<ItemParams>>,
    pub currency: Option<String>,
    pub trial_period_days: Option<i64>,
    /// A Unix time or `now`.
    pub trial_end: Option<Text>,
    pub trial_from_plan: Option<bool>,
    pub trial_settings: Option<TrialSettingsParams>,
    pub billing_cycle_anchor: Option<i64>,
    pub backdate_start_date: Option<i64>,
    pub cancel_at_period_end: Option<bool>,
    pub cancel_at: Option<i64>,
    pub collection_method: Option<CollectionMethod>,
    pub days_until_due: Option<i64>,
    pub default_payment_method: Option<String>,
    pub default_tax_rates: Option<Vec<String>>,
    pub coupon: Option<String>,
    pub promotion_code: Option<String>,
    pub discounts: Option<Vec<DiscountParams>>,
    pub payment_behavior: Option<PaymentBehavior>,
    pub payment_settings: Option<PaymentSettingsParams>,
    pub proration_behavior: Option<ProrationBehavior>,
    pub off_session: Option<bool>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionUpdateParams {
    pub items: Option<Vec<ItemParams>>,
    pub proration_behavior: Option<ProrationBehavior>,
    pub proration_date: Option<i64>,
    pub cancel_at_period_end: Option<bool>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<i64>)]
    pub cancel_at: Option<Option<i64>>,
    pub cancellation_details: Option<CancellationDetailsParams>,
    /// A Unix time or `now`.
    pub trial_end: Option<Text>,
    pub trial_settings: Option<TrialSettingsParams>,
    /// `now` or `unchanged`.
    pub billing_cycle_anchor: Option<String>,
    pub collection_method: Option<CollectionMethod>,
    pub days_until_due: Option<i64>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub default_payment_method: Option<Option<String>>,
    pub default_tax_rates: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub coupon: Option<Option<String>>,
    pub promotion_code: Option<String>,
    pub discounts: Option<Vec<DiscountParams>>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<Object>)]
    pub pause_collection: Option<Option<PauseCollectionParams>>,
    pub payment_behavior: Option<PaymentBehavior>,
    pub payment_settings: Option<PaymentSettingsParams>,
    pub off_session: Option<bool>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionCancelParams {
    pub invoice_now: Option<bool>,
    pub prorate: Option<bool>,
    pub cancellation_details: Option<CancellationDetailsParams>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionResumeParams {
    pub billing_cycle_anchor: Option<String>,
    pub proration_behavior: Option<ProrationBehavior>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionListParams {
    pub customer: Option<String>,
    pub price: Option<String>,
    pub status: Option<String>,
    pub test_clock: Option<String>,
    pub collection_method: Option<CollectionMethod>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(SubscriptionListParams);

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionItemCreateParams {
    pub subscription: Option<String>,
    pub price: Option<String>,
    pub quantity: Option<i64>,
    pub tax_rates: Option<Vec<String>>,
    pub proration_behavior: Option<ProrationBehavior>,
    pub proration_date: Option<i64>,
    pub payment_behavior: Option<PaymentBehavior>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

/// An item's update, or (with only the proration fields) its deletion.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionItemUpdateParams {
    pub price: Option<String>,
    pub quantity: Option<i64>,
    pub tax_rates: Option<Vec<String>>,
    pub proration_behavior: Option<ProrationBehavior>,
    pub proration_date: Option<i64>,
    pub payment_behavior: Option<PaymentBehavior>,
    pub off_session: Option<bool>,
    pub clear_usage: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionItemListParams {
    pub subscription: Option<String>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(SubscriptionItemListParams);

/// `GET /v1/invoices/upcoming` and `POST /v1/invoices/create_preview`: the next invoice of a
/// subscription, optionally with a proposed change of items.
#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PreviewParams {
    pub customer: Option<String>,
    pub subscription: Option<String>,
    pub subscription_items: Option<Vec<ItemParams>>,
    pub subscription_proration_date: Option<i64>,
    pub subscription_proration_behavior: Option<ProrationBehavior>,
    pub subscription_details: Option<PreviewDetails>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewDetails {
    pub items: Option<Vec<ItemParams>>,
    pub proration_date: Option<i64>,
    pub proration_behavior: Option<ProrationBehavior>,
}

/// A `trial_end` parameter: `now` or a Unix time after `now`.
pub fn parse_trial_end(param: &str, raw: &Text, now: i64) -> Result<i64, ParamError> {
    if raw.0 == "now" {
        return Ok(now);
    }
    let t: i64 = raw.0.parse().map_err(|_| {
        ParamError::invalid(
            param,
            format!("Invalid {param}: must be a Unix timestamp or now"),
        )
    })?;
    if t <= now {
        return Err(ParamError::invalid(
            param,
            format!(
                "Invalid timestamp: must be an integer Unix timestamp in the future. ({param})"
            ),
        ));
    }
    if t > now + 730 * 86_400 {
        return Err(ParamError::invalid(
            param,
            format!("Invalid {param}: a trial can last at most 730 days"),
        ));
    }
    Ok(t)
}

pub fn check_quantity(param: &str, q: Option<i64>) -> Result<u64, ParamError> {
    match q {
        None => Ok(1),
        Some(q) if q >= 0 => Ok(q as u64),
        Some(_) => Err(ParamError::new(
            param,
            "parameter_invalid_integer",
            format!("Invalid {param}: must be greater than or equal to 0"),
        )),
    }
}

pub fn valid_status_filter(s: &str) -> bool {
    [
        "incomplete",
        "incomplete_expired",
        "trialing",
        "active",
        "past_due",
        "canceled",
        "unpaid",
        "paused",
        "all",
        "ended",
    ]
    .contains(&s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::catalog::PriceCreateParams;
    use crate::currency::USD;

    fn price(id: &str, amount: i64) -> Price {
        let p: PriceCreateParams = serde_json::from_value(json!({
            "currency": "usd", "unit_amount": amount, "recurring": {"interval": "month"}
        }))
        .unwrap();
        Price::new(id.into(), 0, "prod_x".into(), &p).unwrap()
    }

    fn item(id: &str, price_id: &str, amount: i64) -> SubscriptionItem {
        SubscriptionItem {
            id: id.into(),
            created: 0,
            price: price(price_id, amount),
            quantity: 1,
            metadata: Metadata::new(),
            tax_rates: vec![],
        }
    }

    #[test]
    fn upgrade_at_half_period_credits_500_and_charges_1000() {
        let old = item("si_1", "price_10", 1_000);
        let new = item("si_1", "price_20", 2_000);
        let lines = proration_lines(USD, Some(&old), Some(&new), (0, 2_000), 1_000, &|_| {
            "Pro".to_string()
        })
        .unwrap();
        let amounts: Vec<i64> = lines.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, vec![-500, 1_000]);
        assert!(
            lines
                .iter()
                .all(|l| l.proration && l.period == (1_000, 2_000))
        );
        assert_eq!(lines[0].price.as_ref().unwrap().id, "price_10");
        assert_eq!(lines[1].price.as_ref().unwrap().id, "price_20");
        assert!(lines[0].description.starts_with("Unused time on Pro after"));
    }

    #[test]
    fn metered_items_charge_nothing_in_advance() {
        let p: PriceCreateParams = serde_json::from_value(json!({
            "currency": "usd", "unit_amount": 5,
            "recurring": {"interval": "month", "usage_type": "metered"}
        }))
        .unwrap();
        let mut it = item("si_m", "price_m", 5);
        it.price = Price::new("price_m".into(), 0, "prod_x".into(), &p).unwrap();
        it.quantity = 1_000;
        assert_eq!(it.period_amount(USD), Ok(0));
        assert_eq!(item("si_l", "price_l", 5).period_amount(USD), Ok(5));
    }

    #[test]
    fn trial_end_parameter() {
        assert_eq!(
            parse_trial_end("trial_end", &Text("now".into()), 50),
            Ok(50)
        );
        assert_eq!(parse_trial_end("trial_end", &Text("60".into()), 50), Ok(60));
        assert!(parse_trial_end("trial_end", &Text("40".into()), 50).is_err());
        assert!(parse_trial_end("trial_end", &Text("soon".into()), 50).is_err());
    }
}

#[cfg(test)]
mod transitions {
    use super::SubStatus::{self, *};

    const ALL: [SubStatus; 8] = [
        Incomplete,
        IncompleteExpired,
        Trialing,
        Active,
        PastDue,
        Canceled,
        Unpaid,
        Paused,
    ];

    #[test]
    fn ended_subscriptions_stay_ended_and_nothing_goes_back_to_a_start() {
        for from in ALL {
            assert!(from.may_become(from), "{from:?} stays");
            for to in ALL {
                if from.is_terminal() && from != to {
                    assert!(!from.may_become(to), "{from:?} -> {to:?}");
                }
                if matches!(to, Incomplete | Trialing) && from != to {
                    assert!(!from.may_become(to), "{from:?} -> {to:?}");
                }
            }
            assert_eq!(
                from.may_become(Canceled),
                from != IncompleteExpired,
                "{from:?} may be canceled unless it expired"
            );
        }
        assert!(PastDue.may_become(Active) && !Active.may_become(Incomplete));
        assert!(!PastDue.may_become(Paused) && Trialing.may_become(Paused));
    }
}
