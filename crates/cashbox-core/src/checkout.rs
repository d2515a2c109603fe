//! Checkout Sessions: a hosted page that sells what the session lists (a one-time payment, a
//! subscription, or saving a card), as Stripe Checkout does.
//!
//! This module holds the session, its parameters and their checks, what it costs (the
//! billing module's discount and tax rules over its lines) and its Stripe rendering. Completing
//! one is the application's: it creates the customer, the PaymentIntent, the subscription or
//! the SetupIntent through their own use cases.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::billing::catalog::{Interval, Price, UsageType};
use crate::billing::discounts::{Coupon, TaxRate};
use crate::billing::{DiscountInput, LineInput, RatingError, price_amount, totals};
use crate::currency::Currency;
use crate::metadata::{Metadata, MetadataParam, present};
use crate::param::{ParamError, check_len, check_url};
use crate::payments::apply_metadata;
use crate::payments::{CaptureMethod, FutureUsage};

pub const CHECKOUT_SESSION_PREFIX: &str = "cs_test";
pub const LINE_ITEM_PREFIX: &str = "li";
/// A session lasts 30 minutes to 24 hours; 24 hours unless `expires_at` says otherwise.
pub const EXPIRY_MIN_SECS: i64 = 30 * 60;
pub const EXPIRY_MAX_SECS: i64 = 24 * 3600;
/// Stripe's limits: line items per session, the quantity of one.
pub const LINE_ITEMS_MAX: usize = 100;
pub const QUANTITY_MAX: i64 = 999_999;
/// A trial given through Checkout ends at least 48 hours after the session is created.
pub const TRIAL_END_MIN_SECS: i64 = 48 * 3600;
pub const TRIAL_DAYS_MAX: i64 = 730;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Payment,
    Subscription,
    Setup,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payment => "payment",
            Self::Subscription => "subscription",
            Self::Setup => "setup",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Open,
    Complete,
    Expired,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Complete => "complete",
            Self::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Paid,
    Unpaid,
    NoPaymentRequired,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Unpaid => "unpaid",
            Self::NoPaymentRequired => "no_payment_required",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerCreation {
    IfRequired,
    Always,
}

// ---------------------------------------------------------------------------------------------
// Parameters

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutSessionCreateParams {
    pub mode: Option<Mode>,
    pub line_items: Option<Vec<LineItemParams>>,
    /// Where the browser goes once paid; `{CHECKOUT_SESSION_ID}` becomes the session's id.
    pub success_url: Option<String>,
    /// Where "back" goes.
    pub cancel_url: Option<String>,
    pub customer: Option<String>,
    pub customer_email: Option<String>,
    pub customer_creation: Option<CustomerCreation>,
    pub client_reference_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    /// 30 minutes to 24 hours from now; 24 hours by default.
    pub expires_at: Option<i64>,
    pub allow_promotion_codes: Option<bool>,
    pub discounts: Option<Vec<SessionDiscountParams>>,
    pub subscription_data: Option<SubscriptionDataParams>,
    pub payment_intent_data: Option<PaymentIntentDataParams>,
    pub setup_intent_data: Option<SetupIntentDataParams>,
    /// Setup mode: the currency of the payments the card is saved for.
    pub currency: Option<String>,
    pub payment_method_types: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineItemParams {
    pub price: Option<String>,
    pub price_data: Option<PriceDataParams>,
    pub quantity: Option<i64>,
    pub adjustable_quantity: Option<AdjustableQuantityParams>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceDataParams {
    pub currency: Option<String>,
    pub product: Option<String>,
    pub product_data: Option<SessionProductDataParams>,
    pub unit_amount: Option<i64>,
    pub recurring: Option<PriceDataRecurringParams>,
    pub tax_behavior: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionProductDataParams {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceDataRecurringParams {
    pub interval: Option<Interval>,
    pub interval_count: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustableQuantityParams {
    pub enabled: Option<bool>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionDiscountParams {
    pub coupon: Option<String>,
    pub promotion_code: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionDataParams {
    pub trial_period_days: Option<i64>,
    pub trial_end: Option<i64>,
    pub description: Option<String>,
    pub default_tax_rates: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentIntentDataParams {
    pub capture_method: Option<CaptureMethod>,
    pub setup_future_usage: Option<FutureUsage>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupIntentDataParams {
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutSessionUpdateParams {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CheckoutSessionListParams {
    pub customer: Option<String>,
    pub payment_intent: Option<String>,
    pub subscription: Option<String>,
    /// `open`, `complete` or `expired`.
    pub status: Option<SessionStatus>,
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(CheckoutSessionListParams);

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SessionLineItemsParams {
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}

fn only_one(a: (&str, bool), b: (&str, bool)) -> Result<(), ParamError> {
    if a.1 && b.1 {
        return Err(ParamError::invalid(
            a.0,
            format!(
                "You may only specify one of these parameters: {}, {}.",
                a.0, b.0
            ),
        ));
    }
    Ok(())
}

fn only_in(mode: Mode, wanted: Mode, param: &str, given: bool) -> Result<(), ParamError> {
    if given && mode != wanted {
        return Err(ParamError::invalid(
            param,
            format!(
                "`{param}` can only be used in `{}` mode; this session is in `{}` mode.",
                wanted.as_str(),
                mode.as_str()
            ),
        ));
    }
    Ok(())
}

/// A line as the parameters give it, checked: a price by id, or an inline price to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinePrice {
    Existing(String),
    Inline {
        currency: Currency,
        unit_amount: i64,
        product: Result<String, (String, Option<String>, Metadata)>,
        recurring: Option<(Interval, u32)>,
        tax_behavior: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedLine {
    pub price: LinePrice,
    pub quantity: u64,
    pub adjustable: Option<(u64, u64)>,
}

/// What the parameters ask for, checked on their own (before anything is loaded).
#[derive(Debug, Clone)]
pub struct CheckedCreate {
    pub mode: Mode,
    pub lines: Vec<CheckedLine>,
    pub expires_at: i64,
    pub currency: Option<Currency>,
    pub metadata: Metadata,
    pub subscription_metadata: Metadata,
    pub payment_metadata: Metadata,
    pub setup_metadata: Metadata,
    pub trial_end: Option<i64>,
}

impl CheckoutSessionCreateParams {
    /// Checks everything the parameters say on their own, at `now`.
    pub fn check(&self, now: i64) -> Result<CheckedCreate, ParamError> {
        let mode = self.mode.ok_or_else(|| ParamError::missing("mode"))?;
        let success = self
            .success_url
            .as_deref()
            .ok_or_else(|| ParamError::missing("success_url"))?;
        check_url("success_url", success)?;
        if let Some(c) = &self.cancel_url {
            check_url("cancel_url", c)?;
        }
        only_one(
            ("customer", self.customer.is_some()),
            ("customer_email", self.customer_email.is_some()),
        )?;
        only_one(
            (
                "allow_promotion_codes",
                self.allow_promotion_codes == Some(true),
            ),
            (
                "discounts",
                self.discounts.as_ref().is_some_and(|d| !d.is_empty()),
            ),
        )?;
        only_in(
            mode,
            Mode::Payment,
            "customer_creation",
            self.customer_creation.is_some(),
        )?;
        only_in(
            mode,
            Mode::Subscription,
            "subscription_data",
            self.subscription_data.is_some(),
        )?;
        only_in(
            mode,
            Mode::Payment,
            "payment_intent_data",
            self.payment_intent_data.is_some(),
        )?;
        only_in(
            mode,
            Mode::Setup,
            "setup_intent_data",
            self.setup_intent_data.is_some(),
        )?;
        if let Some(email) = &self.customer_email {
            crate::customer::check_email("customer_email", email)?;
        }
        if let Some(r) = &self.client_reference_id {
            check_len("client_reference_id", r, 200)?;
        }
        for (i, t) in self.payment_method_types.iter().flatten().enumerate() {
            if t != "card" {
                return Err(ParamError::invalid(
                    format!("payment_method_types[{i}]"),
                    format!("Cashbox takes cards only; `{t}` is not available."),
                ));
            }
        }
        let expires_at = self.expires_at.unwrap_or(now + EXPIRY_MAX_SECS);
        if expires_at < now + EXPIRY_MIN_SECS {
            return Err(ParamError::invalid(
                "expires_at",
                "The `expires_at` timestamp must be at least 30 minutes after the Checkout Session is created.",
            ));
        }
        if expires_at > now + EXPIRY_MAX_SECS {
            return Err(ParamError::invalid(
                "expires_at",
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            ));
        }
        let currency = match &self.currency {
            Some(c) => Some(Currency::parse("currency", c)?),
            None => None,
        };
        let lines = self.check_lines(mode)?;
        let trial_end = match &self.subscription_data {
            Some(s) => s.check(now)?,
            None => None,
        };
        if let Some(p) = &self.payment_intent_data
            && let Some(d) = &p.description
        {
            check_len("payment_intent_data[description]", d, 1000)?;
        }
        if let Some(p) = &self.setup_intent_data
            && let Some(d) = &p.description
        {
            check_len("setup_intent_data[description]", d, 1000)?;
        }
        let meta = |m: Option<&MetadataParam>| apply_metadata(&Metadata::new(), &m.cloned());
        Ok(CheckedCreate {
            mode,
            lines,
            expires_at,
            currency,
            metadata: meta(self.metadata.as_ref())?,
            subscription_metadata: meta(
                self.subscription_data
                    .as_ref()
                    .and_then(|s| s.metadata.as_ref()),
            )?,
            payment_metadata: meta(
                self.payment_intent_data
                    .as_ref()
                    .and_then(|s| s.metadata.as_ref()),
            )?,
            setup_metadata: meta(
                self.setup_intent_data
                    .as_ref()
                    .and_then(|s| s.metadata.as_ref()),
            )?,
            trial_end,
        })
    }

    fn check_lines(&self, mode: Mode) -> Result<Vec<CheckedLine>, ParamError> {
        let given = self.line_items.as_deref().unwrap_or_default();
        if mode == Mode::Setup {
            if !given.is_empty() {
                return Err(ParamError::invalid(
                    "line_items",
                    "`line_items` cannot be used in `setup` mode: nothing is sold.",
                ));
            }
            return Ok(Vec::new());
        }
        if given.is_empty() {
            return Err(ParamError::missing("line_items"));
        }
        if given.len() > LINE_ITEMS_MAX {
            return Err(ParamError::invalid(
                "line_items",
                format!("A Checkout Session takes at most {LINE_ITEMS_MAX} line items."),
            ));
        }
        given
            .iter()
            .enumerate()
            .map(|(i, l)| l.check(&format!("line_items[{i}]"), mode))
            .collect()
    }
}

impl SubscriptionDataParams {
    /// Checks the subscription's data at `now`; returns when its trial ends, if it has one:
    /// `trial_period_days` (1 to 730) or `trial_end` (at least 48 hours ahead), not both.
    fn check(&self, now: i64) -> Result<Option<i64>, ParamError> {
        only_one(
            (
                "subscription_data[trial_period_days]",
                self.trial_period_days.is_some(),
            ),
            ("subscription_data[trial_end]", self.trial_end.is_some()),
        )?;
        if let Some(d) = &self.description {
            check_len("subscription_data[description]", d, 500)?;
        }
        if let Some(d) = self.trial_period_days {
            if !(1..=TRIAL_DAYS_MAX).contains(&d) {
                return Err(ParamError::invalid(
                    "subscription_data[trial_period_days]",
                    format!("A trial lasts 1 to {TRIAL_DAYS_MAX} days."),
                ));
            }
            return Ok(Some(now + d * 86_400));
        }
        if let Some(t) = self.trial_end {
            if t < now + TRIAL_END_MIN_SECS || t > crate::clock::TIME_MAX {
                return Err(ParamError::invalid(
                    "subscription_data[trial_end]",
                    "`subscription_data[trial_end]` must be at least 48 hours in the future.",
                ));
            }
            return Ok(Some(t));
        }
        Ok(None)
    }
}

impl LineItemParams {
    fn check(&self, param: &str, mode: Mode) -> Result<CheckedLine, ParamError> {
        let price = match (&self.price, &self.price_data) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(ParamError::invalid(
                    param,
                    format!(
                        "Each line item takes exactly one of {param}[price] or {param}[price_data]."
                    ),
                ));
            }
            (Some(p), None) => LinePrice::Existing(p.clone()),
            (None, Some(d)) => d.check(&format!("{param}[price_data]"), mode)?,
        };
        let quantity = self.quantity.unwrap_or(1);
        if !(1..=QUANTITY_MAX).contains(&quantity) {
            return Err(ParamError::invalid(
                format!("{param}[quantity]"),
                format!("A quantity is 1 to {QUANTITY_MAX}."),
            ));
        }
        let adjustable = match &self.adjustable_quantity {
            Some(a) if a.enabled == Some(true) => {
                let min = a.minimum.unwrap_or(0);
                let max = a.maximum.unwrap_or(99);
                if min < 0 || max > QUANTITY_MAX || min > max || max < 1 {
                    return Err(ParamError::invalid(
                        format!("{param}[adjustable_quantity]"),
                        format!(
                            "The adjustable quantity's minimum and maximum must satisfy 0 <= minimum <= maximum <= {QUANTITY_MAX}."
                        ),
                    ));
                }
                if !(min..=max).contains(&quantity) {
                    return Err(ParamError::invalid(
                        format!("{param}[quantity]"),
                        "The quantity must be within the adjustable quantity's minimum and maximum.",
                    ));
                }
                Some((min as u64, max as u64))
            }
            Some(a) if a.enabled.is_none() => {
                return Err(ParamError::missing(format!(
                    "{param}[adjustable_quantity][enabled]"
                )));
            }
            _ => None,
        };
        Ok(CheckedLine {
            price,
            quantity: quantity as u64,
            adjustable,
        })
    }
}

impl PriceDataParams {
    fn check(&self, param: &str, mode: Mode) -> Result<LinePrice, ParamError> {
        let currency = Currency::parse(
            &format!("{param}[currency]"),
            self.currency
                .as_deref()
                .ok_or_else(|| ParamError::missing(format!("{param}[currency]")))?,
        )?;
        let unit_amount = self
            .unit_amount
            .ok_or_else(|| ParamError::missing(format!("{param}[unit_amount]")))?;
        if !(0..=crate::billing::catalog::UNIT_AMOUNT_MAX).contains(&unit_amount) {
            return Err(ParamError::invalid(
                format!("{param}[unit_amount]"),
                "The unit amount must be a non-negative integer in minor units, at most 99999999999.",
            ));
        }
        let product = match (&self.product, &self.product_data) {
            (Some(p), None) => Ok(p.clone()),
            (None, Some(d)) => {
                let name = d
                    .name
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .ok_or_else(|| ParamError::missing(format!("{param}[product_data][name]")))?;
                check_len(&format!("{param}[product_data][name]"), &name, 250)?;
                if let Some(desc) = &d.description {
                    check_len(&format!("{param}[product_data][description]"), desc, 40_000)?;
                }
                Err((
                    name,
                    d.description.clone(),
                    apply_metadata(&Metadata::new(), &d.metadata)?,
                ))
            }
            _ => {
                return Err(ParamError::invalid(
                    param,
                    format!("{param} takes exactly one of product or product_data."),
                ));
            }
        };
        let recurring = match &self.recurring {
            Some(r) => {
                let interval = r
                    .interval
                    .ok_or_else(|| ParamError::missing(format!("{param}[recurring][interval]")))?;
                let count = r.interval_count.unwrap_or(1);
                if !(1..=365).contains(&count) {
                    return Err(ParamError::invalid(
                        format!("{param}[recurring][interval_count]"),
                        "An interval count is 1 to 365.",
                    ));
                }
                Some((interval, count as u32))
            }
            None => None,
        };
        if recurring.is_some() && mode != Mode::Subscription {
            return Err(ParamError::invalid(
                format!("{param}[recurring]"),
                "A recurring price can only be sold in `subscription` mode.",
            ));
        }
        if let Some(t) = &self.tax_behavior
            && !["inclusive", "exclusive", "unspecified"].contains(&t.as_str())
        {
            return Err(ParamError::invalid(
                format!("{param}[tax_behavior]"),
                "tax_behavior is inclusive, exclusive or unspecified.",
            ));
        }
        Ok(LinePrice::Inline {
            currency,
            unit_amount,
            product,
            recurring,
            tax_behavior: self.tax_behavior.clone(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The session

/// One line of a session, priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLine {
    pub id: String,
    pub price: String,
    pub product: String,
    /// The product's name, as the page and the line show it.
    pub description: String,
    pub quantity: u64,
    /// (minimum, maximum) when the customer may change the quantity.
    pub adjustable: Option<(u64, u64)>,
    /// A recurring price's interval; `None` for a one-time price.
    pub recurring: Option<(Interval, u32)>,
    /// A metered price: billed by usage, so nothing up front.
    pub metered: bool,
    pub amount_subtotal: i64,
    pub amount_discount: i64,
    pub amount_tax: i64,
    pub amount_total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDiscount {
    pub coupon: Option<String>,
    pub promotion_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CustomerDetails {
    pub email: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub created: i64,
    pub expires_at: i64,
    pub mode: Mode,
    pub status: SessionStatus,
    pub payment_status: PaymentStatus,
    pub currency: Option<Currency>,
    pub lines: Vec<SessionLine>,
    pub success_url: String,
    pub cancel_url: Option<String>,
    pub customer: Option<String>,
    pub customer_email: Option<String>,
    pub customer_creation: Option<CustomerCreation>,
    pub client_reference_id: Option<String>,
    pub metadata: Metadata,
    pub allow_promotion_codes: bool,
    pub discounts: Vec<SessionDiscount>,
    /// Subscription mode: when its trial ends, if it has one.
    pub trial_end: Option<i64>,
    pub subscription_description: Option<String>,
    pub subscription_metadata: Metadata,
    pub default_tax_rates: Vec<String>,
    pub capture_method: Option<CaptureMethod>,
    pub setup_future_usage: Option<FutureUsage>,
    pub payment_description: Option<String>,
    pub payment_metadata: Metadata,
    pub setup_description: Option<String>,
    pub setup_metadata: Metadata,
    pub amount_subtotal: i64,
    pub amount_discount: i64,
    pub amount_tax: i64,
    pub amount_total: i64,
    pub customer_details: Option<CustomerDetails>,
    pub payment_intent: Option<String>,
    pub subscription: Option<String>,
    pub setup_intent: Option<String>,
    pub invoice: Option<String>,
}

/// Why a session cannot be priced or sold as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    #[error("{0}")]
    Param(#[from] ParamError),
    #[error("the session's amounts are too large")]
    TooLarge,
}

impl From<RatingError> for CheckoutError {
    fn from(_: RatingError) -> Self {
        Self::TooLarge
    }
}

/// Everything a new session's lines were checked against: each line's price (loaded or just
/// created), and the product names to show.
pub struct Pricing<'a> {
    pub prices: &'a [Price],
    pub names: &'a [String],
    pub coupons: &'a [(String, Coupon)],
    pub tax_rates: &'a [TaxRate],
}

impl CheckoutSession {
    /// A new open session; `pricing.prices[i]` is line `i`'s price. Checks what needs the
    /// prices: one currency, recurring prices only in subscription mode and at least one
    /// there, active prices.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        now: i64,
        p: &CheckoutSessionCreateParams,
        checked: CheckedCreate,
        line_ids: Vec<String>,
        pricing: &Pricing<'_>,
    ) -> Result<Self, CheckoutError> {
        let mode = checked.mode;
        let mut currency = checked.currency;
        let mut lines = Vec::with_capacity(checked.lines.len());
        for (i, ((line, price), name)) in checked
            .lines
            .iter()
            .zip(pricing.prices)
            .zip(pricing.names)
            .enumerate()
        {
            let param = format!("line_items[{i}]");
            if !price.active {
                return Err(ParamError::invalid(
                    format!("{param}[price]"),
                    format!("The price `{}` is not active.", price.id),
                )
                .into());
            }
            match currency {
                None => currency = Some(price.currency),
                Some(c) if c != price.currency => {
                    return Err(ParamError::invalid(
                        format!("{param}[price]"),
                        "All line items must be in one currency.",
                    )
                    .into());
                }
                Some(_) => {}
            }
            let recurring = price
                .recurring
                .as_ref()
                .map(|r| (r.interval, r.interval_count));
            if recurring.is_some() && mode != Mode::Subscription {
                return Err(ParamError::invalid(
                    format!("{param}[price]"),
                    "A recurring price can only be sold in `subscription` mode; use `mode=subscription`.",
                )
                .into());
            }
            let metered = price
                .recurring
                .as_ref()
                .is_some_and(|r| r.usage_type == UsageType::Metered);
            if metered && p.line_items.as_ref().and_then(|l| l[i].quantity).is_some() {
                return Err(ParamError::invalid(
                    format!("{param}[quantity]"),
                    "A metered price takes no quantity: it is billed by usage.",
                )
                .into());
            }
            lines.push(SessionLine {
                id: line_ids[i].clone(),
                price: price.id.clone(),
                product: price.product.clone(),
                description: name.clone(),
                quantity: line.quantity,
                adjustable: line.adjustable,
                recurring,
                metered,
                amount_subtotal: 0,
                amount_discount: 0,
                amount_tax: 0,
                amount_total: 0,
            });
        }
        if mode == Mode::Subscription && !lines.iter().any(|l| l.recurring.is_some()) {
            return Err(ParamError::invalid(
                "line_items",
                "A subscription-mode session needs at least one recurring price.",
            )
            .into());
        }
        if mode == Mode::Setup && currency.is_none() {
            return Err(ParamError::missing("currency").into());
        }
        let sub = p.subscription_data.as_ref();
        let pay = p.payment_intent_data.as_ref();
        let setup = p.setup_intent_data.as_ref();
        let mut session = Self {
            id,
            created: now,
            expires_at: checked.expires_at,
            mode,
            status: SessionStatus::Open,
            payment_status: if mode == Mode::Setup {
                PaymentStatus::NoPaymentRequired
            } else {
                PaymentStatus::Unpaid
            },
            currency,
            lines,
            success_url: p.success_url.clone().unwrap_or_default(),
            cancel_url: p.cancel_url.clone(),
            customer: p.customer.clone(),
            customer_email: p.customer_email.clone(),
            customer_creation: match mode {
                Mode::Payment => Some(p.customer_creation.unwrap_or(CustomerCreation::IfRequired)),
                _ => None,
            },
            client_reference_id: p.client_reference_id.clone(),
            metadata: checked.metadata,
            allow_promotion_codes: p.allow_promotion_codes == Some(true),
            discounts: p
                .discounts
                .iter()
                .flatten()
                .map(|d| SessionDiscount {
                    coupon: d.coupon.clone(),
                    promotion_code: d.promotion_code.clone(),
                })
                .collect(),
            trial_end: checked.trial_end,
            subscription_description: sub.and_then(|s| s.description.clone()),
            subscription_metadata: checked.subscription_metadata,
            default_tax_rates: sub
                .and_then(|s| s.default_tax_rates.clone())
                .unwrap_or_default(),
            capture_method: pay.and_then(|p| p.capture_method),
            setup_future_usage: pay.and_then(|p| p.setup_future_usage),
            payment_description: pay.and_then(|p| p.description.clone()),
            payment_metadata: checked.payment_metadata,
            setup_description: setup.and_then(|s| s.description.clone()),
            setup_metadata: checked.setup_metadata,
            amount_subtotal: 0,
            amount_discount: 0,
            amount_tax: 0,
            amount_total: 0,
            customer_details: None,
            payment_intent: None,
            subscription: None,
            setup_intent: None,
            invoice: None,
        };
        session.price(pricing)?;
        Ok(session)
    }

    /// Works out each line's and the session's amounts: the price times the quantity (a
    /// metered price: nothing up front), the discounts, then the taxes (the subscription's
    /// default rates), by the billing module's rules. A trial makes the first payment zero.
    pub fn price(&mut self, pricing: &Pricing<'_>) -> Result<(), CheckoutError> {
        let Some(currency) = self.currency else {
            return Ok(());
        };
        let mut inputs = Vec::with_capacity(self.lines.len());
        for (line, price) in self.lines.iter().zip(pricing.prices) {
            let amount = if line.metered {
                0
            } else {
                price_amount(price, currency, line.quantity)?
            };
            inputs.push(LineInput {
                amount,
                discountable: true,
                product: Some(line.product.clone()),
                tax_rates: Vec::new(),
                credits: 0,
            });
        }
        let discounts: Vec<DiscountInput<'_>> = pricing
            .coupons
            .iter()
            .map(|(id, coupon)| DiscountInput { id, coupon })
            .collect();
        let t = totals(&inputs, &discounts, pricing.tax_rates, currency)
            .map_err(|_| CheckoutError::TooLarge)?;
        for ((line, input), lt) in self.lines.iter_mut().zip(&inputs).zip(&t.lines) {
            let discount: i64 = lt.discounts.iter().map(|(_, a)| a).sum();
            let exclusive: i64 = lt
                .taxes
                .iter()
                .filter(|x| !x.inclusive)
                .map(|x| x.amount)
                .sum();
            let tax: i64 = lt.taxes.iter().map(|x| x.amount).sum();
            line.amount_subtotal = input.amount;
            line.amount_discount = discount;
            line.amount_tax = tax;
            line.amount_total = input.amount - discount + exclusive;
        }
        self.amount_subtotal = t.subtotal;
        self.amount_discount = t.total_discounts.iter().map(|(_, a)| a).sum();
        self.amount_tax = t.total_taxes.iter().map(|x| x.amount).sum();
        self.amount_total = t.total;
        if self.trial_end.is_some() {
            self.amount_subtotal = 0;
            self.amount_discount = 0;
            self.amount_tax = 0;
            self.amount_total = 0;
        }
        Ok(())
    }

    /// Whether it may still be paid at `now`.
    pub fn is_open_at(&self, now: i64) -> bool {
        self.status == SessionStatus::Open && now < self.expires_at
    }

    /// The success URL with Stripe's `{CHECKOUT_SESSION_ID}` placeholder filled in.
    pub fn success_url_filled(&self) -> String {
        self.success_url.replace("{CHECKOUT_SESSION_ID}", &self.id)
    }

    pub fn apply_update(&mut self, p: &CheckoutSessionUpdateParams) -> Result<(), ParamError> {
        if let Some(m) = &p.metadata {
            self.metadata = m.apply(&self.metadata)?;
        }
        Ok(())
    }

    fn line_json(&self, l: &SessionLine) -> Value {
        let currency = self.currency.map(Currency::code);
        json!({
            "id": l.id,
            "object": "item",
            "adjustable_quantity": l.adjustable.map(|(min, max)| json!({"enabled": true, "minimum": min, "maximum": max})),
            "amount_discount": l.amount_discount,
            "amount_subtotal": l.amount_subtotal,
            "amount_tax": l.amount_tax,
            "amount_total": l.amount_total,
            "currency": currency,
            "description": l.description,
            "price": l.price,
            "quantity": l.quantity,
        })
    }

    /// The session's line items, as `GET …/line_items` lists them.
    pub fn line_items_json(&self) -> Vec<Value> {
        self.lines.iter().map(|l| self.line_json(l)).collect()
    }

    /// Stripe's object. `url` is the hosted page while the session is open.
    pub fn to_json(&self, public_url: &str) -> Value {
        let details = self.customer_details.as_ref().map(|d| {
            json!({
                "address": null,
                "email": d.email,
                "name": d.name,
                "phone": null,
                "tax_exempt": "none",
                "tax_ids": [],
            })
        });
        let mut v = json!({
            "id": self.id,
            "object": "checkout.session",
            "allow_promotion_codes": self.allow_promotion_codes,
            "amount_subtotal": self.amount_subtotal,
            "amount_total": self.amount_total,
            "cancel_url": self.cancel_url,
            "client_reference_id": self.client_reference_id,
            "created": self.created,
            "currency": self.currency.map(Currency::code),
            "customer": self.customer,
            "customer_creation": self.customer_creation,
            "customer_details": details,
            "customer_email": self.customer_email,
            "discounts": self.discounts.iter().map(|d| json!({"coupon": d.coupon, "promotion_code": d.promotion_code})).collect::<Vec<_>>(),
            "expires_at": self.expires_at,
            "invoice": self.invoice,
            "livemode": false,
            "metadata": self.metadata,
            "mode": self.mode,
            "payment_intent": self.payment_intent,
            "payment_method_types": ["card"],
            "payment_status": self.payment_status.as_str(),
            "setup_intent": self.setup_intent,
            "status": self.status.as_str(),
            "subscription": self.subscription,
            "success_url": self.success_url,
            "total_details": {
                "amount_discount": self.amount_discount,
                "amount_shipping": 0,
                "amount_tax": self.amount_tax,
            },
            "ui_mode": "hosted",
            "url": (self.status == SessionStatus::Open).then(|| format!("{public_url}/checkout/{}", self.id)),
        });
        // Stripe's fields for what Cashbox's checkout does not collect or offer.
        for (key, value) in [
            ("adaptive_pricing", json!({"enabled": false})),
            ("after_expiration", Value::Null),
            (
                "automatic_tax",
                json!({"enabled": false, "liability": null, "provider": null, "status": null}),
            ),
            ("billing_address_collection", Value::Null),
            ("client_secret", Value::Null),
            ("collected_information", Value::Null),
            ("consent", Value::Null),
            ("consent_collection", Value::Null),
            ("currency_conversion", Value::Null),
            ("custom_fields", json!([])),
            (
                "custom_text",
                json!({"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null}),
            ),
            ("customer_account", Value::Null),
            ("integration_identifier", Value::Null),
            ("invoice_creation", Value::Null),
            ("locale", Value::Null),
            ("managed_payments", Value::Null),
            ("origin_context", Value::Null),
            ("payment_link", Value::Null),
            ("payment_method_collection", json!("always")),
            ("payment_method_configuration_details", Value::Null),
            ("payment_method_options", json!({})),
            ("permissions", Value::Null),
            ("phone_number_collection", json!({"enabled": false})),
            ("recovered_from", Value::Null),
            ("saved_payment_method_options", Value::Null),
            ("shipping_address_collection", Value::Null),
            ("shipping_cost", Value::Null),
            ("shipping_options", json!([])),
            ("submit_type", Value::Null),
            ("wallet_options", Value::Null),
        ] {
            v[key] = value;
        }
        v
    }
}

/// The card form's fields, checked: what the page posts. Its `Debug` shows no card data.
#[derive(Clone, PartialEq, Eq)]
pub struct CardForm {
    pub number: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub cvc: String,
    pub name: Option<String>,
}

impl CardForm {
    /// The PaymentMethod create parameters the API takes for this card (the processor
    /// tokenizes it; nothing keeps the number).
    pub fn payment_method_params(&self) -> crate::payments::PaymentMethodCreateParams {
        crate::payments::PaymentMethodCreateParams {
            kind: Some("card".into()),
            card: Some(crate::payments::CardParams {
                number: Some(self.number.clone()),
                exp_month: Some(self.exp_month),
                exp_year: Some(self.exp_year),
                cvc: Some(self.cvc.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// `exp` is `MM / YY` (or `MM/YYYY`), as people type it. The error is for the page.
    pub fn parse(number: &str, exp: &str, cvc: &str, name: &str) -> Result<Self, &'static str> {
        let number: String = number.chars().filter(|c| !c.is_whitespace()).collect();
        if number.len() < 12 || number.len() > 19 || !number.chars().all(|c| c.is_ascii_digit()) {
            return Err("Your card number is incomplete.");
        }
        let (m, y) = exp
            .split_once('/')
            .ok_or("Your card's expiry date is incomplete.")?;
        let m: i64 = m
            .trim()
            .parse()
            .map_err(|_| "Your card's expiry month is invalid.")?;
        let y: i64 = y
            .trim()
            .parse()
            .map_err(|_| "Your card's expiry year is invalid.")?;
        let y = if y < 100 { 2000 + y } else { y };
        if !(1..=12).contains(&m) || !(2000..=2100).contains(&y) {
            return Err("Your card's expiry date is invalid.");
        }
        let cvc = cvc.trim();
        if !(3..=4).contains(&cvc.len()) || !cvc.chars().all(|c| c.is_ascii_digit()) {
            return Err("Your card's security code is incomplete.");
        }
        let name = name.trim();
        Ok(Self {
            number,
            exp_month: m,
            exp_year: y,
            cvc: cvc.to_string(),
            name: (!name.is_empty()).then(|| name.chars().take(200).collect()),
        })
    }
}

impl std::fmt::Debug for CardForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardForm([redacted])")
    }
}

/// A card as a hosted page's form gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardInput {
    /// Typed into Cashbox's own fields (the sandbox processor).
    Typed(CardForm),
    /// Made in the browser by the processor's client library (Stripe.js): its PaymentMethod
    /// id. The number went to the processor, never to Cashbox.
    Processor {
        payment_method: String,
        name: Option<String>,
    },
}

impl CardInput {
    /// The form's card: the `payment_method` Stripe.js made if there is one (an id of
    /// letters, digits and underscores after `pm_`), else the typed fields.
    pub fn parse(
        payment_method: &str,
        number: &str,
        exp: &str,
        cvc: &str,
        name: &str,
    ) -> Result<Self, &'static str> {
        let payment_method = payment_method.trim();
        if payment_method.is_empty() {
            return CardForm::parse(number, exp, cvc, name).map(Self::Typed);
        }
        let valid = payment_method.len() <= 255
            && payment_method.strip_prefix("pm_").is_some_and(|body| {
                !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
        if !valid {
            return Err("Your card could not be read; enter it again.");
        }
        let name = name.trim();
        Ok(Self::Processor {
            payment_method: payment_method.to_string(),
            name: (!name.is_empty()).then(|| name.chars().take(200).collect()),
        })
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Typed(card) => card.name.as_deref(),
            Self::Processor { name, .. } => name.as_deref(),
        }
    }
}

#[cfg(test)]
mod card_input_tests {
    use super::*;

    #[test]
    fn a_processor_payment_method_wins_and_is_checked() {
        let made = CardInput::parse("pm_1Abc", "", "", "", " Jenny ").unwrap();
        assert_eq!(
            made,
            CardInput::Processor {
                payment_method: "pm_1Abc".into(),
                name: Some("Jenny".into())
            }
        );
        for bad in ["pm_", "pm_1/../x", "seti_1", "pm_1 2"] {
            assert!(CardInput::parse(bad, "", "", "", "").is_err(), "{bad}");
        }
        let typed = CardInput::parse("", "4242 4242 4242 4242", "12 / 34", "123", "").unwrap();
        assert!(matches!(typed, CardInput::Typed(_)));
        assert!(!format!("{typed:?}").contains("4242"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::catalog::{PriceCreateParams, Text};
    use crate::billing::discounts::{CouponCreateParams, Duration, TaxRateCreateParams};

    const NOW: i64 = 1_800_000_000;

    fn params(mode: Mode) -> CheckoutSessionCreateParams {
        CheckoutSessionCreateParams {
            mode: Some(mode),
            success_url: Some("https://shop.example/done".into()),
            line_items: Some(vec![LineItemParams {
                price: Some("price_1".into()),
                quantity: Some(3),
                ..LineItemParams::default()
            }]),
            ..CheckoutSessionCreateParams::default()
        }
    }

    fn price(amount: i64, recurring: bool) -> Price {
        let p = PriceCreateParams {
            currency: Some("usd".into()),
            unit_amount: Some(amount),
            recurring: recurring.then(|| crate::billing::catalog::RecurringParams {
                interval: Some(Interval::Month),
                ..Default::default()
            }),
            ..PriceCreateParams::default()
        };
        Price::new("price_1".into(), NOW, "prod_1".into(), &p).unwrap()
    }

    fn param_of(r: Result<CheckedCreate, ParamError>) -> String {
        r.unwrap_err().param
    }

    #[test]
    fn checks_what_the_parameters_say_on_their_own() {
        let ok = params(Mode::Payment).check(NOW).unwrap();
        assert_eq!(ok.expires_at, NOW + EXPIRY_MAX_SECS);
        assert_eq!(ok.lines[0].quantity, 3);

        let mut p = params(Mode::Payment);
        p.mode = None;
        assert_eq!(param_of(p.check(NOW)), "mode");
        let mut p = params(Mode::Payment);
        p.success_url = Some("javascript:alert(1)".into());
        assert_eq!(param_of(p.check(NOW)), "success_url");
        let mut p = params(Mode::Payment);
        p.expires_at = Some(NOW + EXPIRY_MIN_SECS - 1);
        assert_eq!(param_of(p.check(NOW)), "expires_at");
        p.expires_at = Some(NOW + EXPIRY_MAX_SECS + 1);
        assert_eq!(param_of(p.check(NOW)), "expires_at");
        p.expires_at = Some(NOW + EXPIRY_MIN_SECS);
        assert!(p.check(NOW).is_ok());
        let mut p = params(Mode::Payment);
        p.customer = Some("cus_1".into());
        p.customer_email = Some("a@example.com".into());
        assert_eq!(param_of(p.check(NOW)), "customer");
        let mut p = params(Mode::Subscription);
        p.customer_creation = Some(CustomerCreation::Always);
        assert_eq!(param_of(p.check(NOW)), "customer_creation");
        let mut p = params(Mode::Payment);
        p.line_items.as_mut().unwrap()[0].quantity = Some(QUANTITY_MAX + 1);
        assert_eq!(param_of(p.check(NOW)), "line_items[0][quantity]");
        let mut p = params(Mode::Setup);
        assert_eq!(param_of(p.check(NOW)), "line_items");
        p.line_items = None;
        assert!(p.check(NOW).unwrap().lines.is_empty());
        let mut p = params(Mode::Subscription);
        p.subscription_data = Some(SubscriptionDataParams {
            trial_period_days: Some(14),
            ..Default::default()
        });
        assert_eq!(p.check(NOW).unwrap().trial_end, Some(NOW + 14 * 86_400));
        p.subscription_data = Some(SubscriptionDataParams {
            trial_end: Some(NOW + 3600),
            ..Default::default()
        });
        assert_eq!(param_of(p.check(NOW)), "subscription_data[trial_end]");
        let mut p = params(Mode::Payment);
        p.line_items.as_mut().unwrap()[0].adjustable_quantity = Some(AdjustableQuantityParams {
            enabled: Some(true),
            minimum: Some(5),
            maximum: Some(10),
        });
        assert_eq!(param_of(p.check(NOW)), "line_items[0][quantity]");
    }

    #[test]
    fn prices_lines_with_discounts_taxes_and_trials() {
        let mut p = params(Mode::Subscription);
        let checked = p.check(NOW).unwrap();
        let prices = [price(1000, true)];
        let names = ["Pro".to_string()];
        let coupon = Coupon::new(
            "co_1".into(),
            NOW,
            &CouponCreateParams {
                percent_off: Some(Text("10".into())),
                duration: Some(Duration::Forever),
                ..Default::default()
            },
        )
        .unwrap();
        let rate = TaxRate::new(
            "txr_1".into(),
            NOW,
            &TaxRateCreateParams {
                display_name: Some("VAT".into()),
                percentage: Some(Text("20".into())),
                inclusive: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
        let coupons = [("di_1".to_string(), coupon)];
        let rates = [rate];
        let pricing = Pricing {
            prices: &prices,
            names: &names,
            coupons: &coupons,
            tax_rates: &rates,
        };
        let s = CheckoutSession::new(
            "cs_test_1".into(),
            NOW,
            &p,
            checked,
            vec!["li_1".into()],
            &pricing,
        )
        .unwrap();
        // 3 × 10.00, less 10%, plus 20% on what remains.
        assert_eq!(s.amount_subtotal, 3000);
        assert_eq!(s.amount_discount, 300);
        assert_eq!(s.amount_tax, 540);
        assert_eq!(s.amount_total, 3240);
        assert_eq!(s.lines[0].amount_total, 3240);
        let json = s.to_json("https://pay.example");
        assert_eq!(json["url"], "https://pay.example/checkout/cs_test_1");
        assert_eq!(json["total_details"]["amount_tax"], 540);

        // A trial pays nothing now; the lines keep what the plan costs.
        p.subscription_data = Some(SubscriptionDataParams {
            trial_period_days: Some(7),
            ..Default::default()
        });
        let checked = p.check(NOW).unwrap();
        let s = CheckoutSession::new(
            "cs_test_2".into(),
            NOW,
            &p,
            checked,
            vec!["li_2".into()],
            &pricing,
        )
        .unwrap();
        assert_eq!(s.amount_total, 0);
        assert_eq!(s.lines[0].amount_total, 3240);

        // A recurring price cannot be sold in payment mode; a one-time one needs payment mode.
        let p = params(Mode::Payment);
        let e = CheckoutSession::new(
            "cs_test_3".into(),
            NOW,
            &p,
            p.check(NOW).unwrap(),
            vec!["li_3".into()],
            &pricing,
        )
        .unwrap_err();
        assert!(matches!(e, CheckoutError::Param(ref p) if p.param == "line_items[0][price]"));
        let one_time = [price(1000, false)];
        let p = params(Mode::Subscription);
        let e = CheckoutSession::new(
            "cs_test_4".into(),
            NOW,
            &p,
            p.check(NOW).unwrap(),
            vec!["li_4".into()],
            &Pricing {
                prices: &one_time,
                ..pricing
            },
        )
        .unwrap_err();
        assert!(matches!(e, CheckoutError::Param(ref p) if p.param == "line_items"));
    }

    /// Every field of Stripe's example session (its API reference, 2026-11) is rendered.
    #[test]
    fn renders_every_field_stripe_has() {
        const STRIPE: &[&str] = &[
            "adaptive_pricing",
            "after_expiration",
            "allow_promotion_codes",
            "amount_subtotal",
            "amount_total",
            "automatic_tax",
            "billing_address_collection",
            "cancel_url",
            "client_reference_id",
            "client_secret",
            "collected_information",
            "consent",
            "consent_collection",
            "created",
            "currency",
            "currency_conversion",
            "custom_fields",
            "custom_text",
            "customer",
            "customer_account",
            "customer_creation",
            "customer_details",
            "customer_email",
            "discounts",
            "expires_at",
            "id",
            "integration_identifier",
            "invoice",
            "invoice_creation",
            "livemode",
            "locale",
            "managed_payments",
            "metadata",
            "mode",
            "object",
            "origin_context",
            "payment_intent",
            "payment_link",
            "payment_method_collection",
            "payment_method_configuration_details",
            "payment_method_options",
            "payment_method_types",
            "payment_status",
            "permissions",
            "phone_number_collection",
            "recovered_from",
            "saved_payment_method_options",
            "setup_intent",
            "shipping_address_collection",
            "shipping_cost",
            "shipping_options",
            "status",
            "submit_type",
            "subscription",
            "success_url",
            "total_details",
            "ui_mode",
            "url",
            "wallet_options",
        ];
        let p = params(Mode::Payment);
        let prices = [price(1000, false)];
        let s = CheckoutSession::new(
            "cs_test_1".into(),
            NOW,
            &p,
            p.check(NOW).unwrap(),
            vec!["li_1".into()],
            &Pricing {
                prices: &prices,
                names: &["Book".to_string()],
                coupons: &[],
                tax_rates: &[],
            },
        )
        .unwrap();
        let json = s.to_json("https://pay.example");
        for key in STRIPE {
            assert!(json.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn reads_the_card_form_and_never_shows_it() {
        let c = CardForm::parse("4242 4242 4242 4242", "12 / 34", "123", " Jenny ").unwrap();
        assert_eq!(c.number, "4242424242424242");
        assert_eq!((c.exp_month, c.exp_year), (12, 2034));
        assert_eq!(c.name.as_deref(), Some("Jenny"));
        assert_eq!(format!("{c:?}"), "CardForm([redacted])");
        assert!(CardForm::parse("4242", "12/34", "123", "").is_err());
        assert!(CardForm::parse("4242424242424242", "13/34", "123", "").is_err());
        assert!(CardForm::parse("4242424242424242", "12/2034", "12", "").is_err());
        assert_eq!(
            CardForm::parse("4242424242424242", "1/2034", "1234", "")
                .unwrap()
                .exp_year,
            2034
        );
    }
}
