//! Coupons, promotion codes and tax rates, in Stripe's shapes and with Stripe's validation.
//! Percentages are exact decimals (`rust_decimal`), never floats; they are rendered as JSON
//! numbers, as Stripe sends them.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ParamError;
use crate::billing::catalog::Text;
use crate::currency::Currency;
use crate::metadata::{Metadata, MetadataParam, present};
use crate::param::check_len;
use crate::payments::{apply_metadata, check_text};

pub const PROMOTION_CODE_PREFIX: &str = "promo";
pub const TAX_RATE_PREFIX: &str = "txr";
pub const COUPON_NAME_CHARS_MAX: usize = 40;
pub const PROMOTION_CODE_CHARS_MAX: usize = 200;

/// A percentage with at most `places` decimal places, in `(0, 100]` (or `[0, 100]`).
pub fn parse_percent(
    param: &str,
    raw: &str,
    places: u32,
    allow_zero: bool,
) -> Result<Decimal, ParamError> {
    let bad = || {
        ParamError::invalid(
            param,
            format!(
                "Invalid {param}: must be a number {} 0 and at most 100, with at most {places} decimal places",
                if allow_zero { "from" } else { "greater than" }
            ),
        )
    };
    let d = Decimal::from_str(raw.trim()).map_err(|_| bad())?;
    let low_ok = if allow_zero {
        !d.is_sign_negative() || d.is_zero()
    } else {
        d > Decimal::ZERO
    };
    if !low_ok || d > Decimal::ONE_HUNDRED || d.normalize().scale() > places {
        return Err(bad());
    }
    Ok(d.normalize())
}

/// A decimal as a JSON number, for display (`25.5`).
fn number(d: &Decimal) -> Value {
    serde_json::from_str(&d.to_string()).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------------------------
// Coupons

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Duration {
    Once,
    Repeating,
    Forever,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    pub id: String,
    pub created: i64,
    pub name: Option<String>,
    /// Exact percent, e.g. `25.5`.
    pub percent_off: Option<Decimal>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    /// Other currencies' `amount_off`.
    pub currency_options: BTreeMap<String, i64>,
    pub duration: Duration,
    pub duration_in_months: Option<u32>,
    pub max_redemptions: Option<i64>,
    pub redeem_by: Option<i64>,
    pub times_redeemed: i64,
    pub applies_to_products: Option<Vec<String>>,
    pub metadata: Metadata,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponAppliesTo {
    pub products: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponCurrencyOption {
    pub amount_off: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponCreateParams {
    pub id: Option<String>,
    pub name: Option<String>,
    pub percent_off: Option<Text>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    pub currency_options: Option<BTreeMap<String, CouponCurrencyOption>>,
    pub duration: Option<Duration>,
    pub duration_in_months: Option<i64>,
    pub max_redemptions: Option<i64>,
    pub redeem_by: Option<i64>,
    pub applies_to: Option<CouponAppliesTo>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponUpdateParams {
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    pub currency_options: Option<BTreeMap<String, CouponCurrencyOption>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CouponListParams {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(CouponListParams);

fn amount_off_options(
    own: Option<&str>,
    params: &BTreeMap<String, CouponCurrencyOption>,
) -> Result<BTreeMap<String, i64>, ParamError> {
    let Some(own) = own else {
        return Err(ParamError::invalid(
            "currency_options",
            "currency_options are only for coupons with amount_off.",
        ));
    };
    let mut out = BTreeMap::new();
    for (code, o) in params {
        let param = format!("currency_options[{code}][amount_off]");
        let cur = Currency::parse(&format!("currency_options[{code}]"), code)?.code();
        if cur == own {
            return Err(ParamError::invalid(
                &param,
                "currency_options must not repeat the coupon's own currency.",
            ));
        }
        let amount = o
            .amount_off
            .ok_or_else(|| ParamError::missing(param.clone()))?;
        if amount <= 0 {
            return Err(ParamError::invalid(
                &param,
                format!("Invalid {param}: must be greater than 0"),
            ));
        }
        out.insert(cur, amount);
    }
    Ok(out)
}

impl Coupon {
    pub fn new(id: String, now: i64, p: &CouponCreateParams) -> Result<Self, ParamError> {
        check_text("name", &p.name, COUPON_NAME_CHARS_MAX)?;
        let (percent_off, amount_off, currency) = match (&p.percent_off, p.amount_off) {
            (Some(_), Some(_)) => {
                return Err(ParamError::invalid(
                    "percent_off",
                    "You may only specify one of these parameters: amount_off, percent_off.",
                ));
            }
            (None, None) => {
                return Err(ParamError::new(
                    "percent_off",
                    "parameter_missing",
                    "You must pass either amount_off or percent_off.",
                ));
            }
            (Some(pct), None) => {
                if p.currency.is_some() {
                    return Err(ParamError::invalid(
                        "currency",
                        "currency is only for coupons with amount_off.",
                    ));
                }
                (
                    Some(parse_percent("percent_off", &pct.0, 2, false)?),
                    None,
                    None,
                )
            }
            (None, Some(amount)) => {
                if amount <= 0 {
                    return Err(ParamError::invalid(
                        "amount_off",
                        "Invalid amount_off: must be greater than 0",
                    ));
                }
                let cur = Currency::parse(
                    "currency",
                    p.currency
                        .as_deref()
                        .ok_or_else(|| ParamError::missing("currency"))?,
                )?;
                (None, Some(amount), Some(cur.code()))
            }
        };
        let duration = p.duration.unwrap_or(Duration::Once);
        let months = match (duration, p.duration_in_months) {
            (Duration::Repeating, Some(m)) if (1..=1200).contains(&m) => Some(m as u32),
            (Duration::Repeating, Some(_)) => {
                return Err(ParamError::invalid(
                    "duration_in_months",
                    "Invalid duration_in_months: must be between 1 and 1200",
                ));
            }
            (Duration::Repeating, None) => return Err(ParamError::missing("duration_in_months")),
            (_, Some(_)) => {
                return Err(ParamError::invalid(
                    "duration_in_months",
                    "duration_in_months is only for coupons with duration=repeating.",
                ));
            }
            (_, None) => None,
        };
        if let Some(m) = p.max_redemptions
            && m < 1
        {
            return Err(ParamError::invalid(
                "max_redemptions",
                "Invalid max_redemptions: must be at least 1",
            ));
        }
        if let Some(t) = p.redeem_by
            && t <= now
        {
            return Err(ParamError::invalid(
                "redeem_by",
                "Invalid redeem_by: must be in the future",
            ));
        }
        let currency_options = match &p.currency_options {
            Some(o) => amount_off_options(currency.as_deref(), o)?,
            None => BTreeMap::new(),
        };
        let applies_to_products = p.applies_to.as_ref().and_then(|a| a.products.clone());
        Ok(Self {
            id,
            created: now,
            name: p.name.clone(),
            percent_off,
            amount_off,
            currency,
            currency_options,
            duration,
            duration_in_months: months,
            max_redemptions: p.max_redemptions,
            redeem_by: p.redeem_by,
            times_redeemed: 0,
            applies_to_products,
            metadata: apply_metadata(&Metadata::new(), &p.metadata)?,
        })
    }

    pub fn apply(&mut self, p: &CouponUpdateParams) -> Result<(), ParamError> {
        if let Some(name) = &p.name {
            check_text("name", name, COUPON_NAME_CHARS_MAX)?;
            self.name = name.clone();
        }
        if let Some(o) = &p.currency_options {
            let mut merged = self.currency_options.clone();
            merged.extend(amount_off_options(self.currency.as_deref(), o)?);
            self.currency_options = merged;
        }
        self.metadata = apply_metadata(&self.metadata, &p.metadata)?;
        Ok(())
    }

    /// Whether it can still be redeemed at `now`.
    pub fn valid(&self, now: i64) -> bool {
        self.redeem_by.is_none_or(|t| t > now)
            && self.max_redemptions.is_none_or(|m| self.times_redeemed < m)
    }

    /// The Stripe rendering; `applies_to` and `currency_options` only when expanded.
    pub fn to_json_with(&self, now: i64, applies_to: bool, currency_options: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": "coupon",
            "amount_off": self.amount_off,
            "created": self.created,
            "currency": self.currency,
            "duration": self.duration,
            "duration_in_months": self.duration_in_months,
            "livemode": false,
            "max_redemptions": self.max_redemptions,
            "metadata": self.metadata,
            "name": self.name,
            "percent_off": self.percent_off.as_ref().map(number),
            "redeem_by": self.redeem_by,
            "times_redeemed": self.times_redeemed,
            "valid": self.valid(now),
        });
        if applies_to {
            v["applies_to"] =
                json!({"products": self.applies_to_products.clone().unwrap_or_default()});
        }
        if currency_options && let Some(own) = &self.currency {
            let mut opts = serde_json::Map::new();
            opts.insert(own.clone(), json!({"amount_off": self.amount_off}));
            for (code, amount) in &self.currency_options {
                opts.insert(code.clone(), json!({"amount_off": amount}));
            }
            v["currency_options"] = Value::Object(opts);
        }
        v
    }
}

// ---------------------------------------------------------------------------------------------
// Promotion codes

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restrictions {
    pub first_time_transaction: bool,
    pub minimum_amount: Option<i64>,
    pub minimum_amount_currency: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionCode {
    pub id: String,
    pub created: i64,
    pub code: String,
    pub coupon: String,
    pub active: bool,
    pub customer: Option<String>,
    pub expires_at: Option<i64>,
    pub max_redemptions: Option<i64>,
    pub times_redeemed: i64,
    pub restrictions: Restrictions,
    pub metadata: Metadata,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionParams {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub coupon: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictionsParams {
    pub first_time_transaction: Option<bool>,
    pub minimum_amount: Option<i64>,
    pub minimum_amount_currency: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionCodeCreateParams {
    /// Stripe's current shape: `promotion[type]=coupon`, `promotion[coupon]=…`.
    pub promotion: Option<PromotionParams>,
    /// The older shape, still accepted.
    pub coupon: Option<String>,
    pub code: Option<String>,
    pub active: Option<bool>,
    pub customer: Option<String>,
    pub expires_at: Option<i64>,
    pub max_redemptions: Option<i64>,
    pub restrictions: Option<RestrictionsParams>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionCodeUpdateParams {
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PromotionCodeListParams {
    pub active: Option<bool>,
    pub code: Option<String>,
    pub coupon: Option<String>,
    pub customer: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(PromotionCodeListParams);

impl PromotionCodeCreateParams {
    /// The coupon named in either shape.
    pub fn coupon_id(&self) -> Result<&str, ParamError> {
        match (&self.promotion, &self.coupon) {
            (Some(_), Some(_)) => Err(ParamError::invalid(
                "coupon",
                "You may only specify one of these parameters: coupon, promotion.",
            )),
            (Some(p), None) => {
                if let Some(kind) = &p.kind
                    && kind != "coupon"
                {
                    return Err(ParamError::invalid(
                        "promotion[type]",
                        format!("Invalid promotion[type]: must be coupon; you passed {kind}"),
                    ));
                }
                p.coupon
                    .as_deref()
                    .ok_or_else(|| ParamError::missing("promotion[coupon]"))
            }
            (None, Some(c)) => Ok(c),
            (None, None) => Err(ParamError::missing("promotion[coupon]")),
        }
    }
}

/// Codes are case-insensitive, as customers type them.
pub fn code_key(code: &str) -> String {
    code.to_ascii_uppercase()
}

fn check_code(code: &str) -> Result<(), ParamError> {
    check_len("code", code, PROMOTION_CODE_CHARS_MAX)?;
    if code.is_empty()
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ParamError::invalid(
            "code",
            "Invalid code: use letters, digits, hyphens and underscores",
        ));
    }
    Ok(())
}

impl PromotionCode {
    /// `code` is the caller's or one generated for it; `coupon` has been checked to exist.
    pub fn new(
        id: String,
        now: i64,
        code: String,
        p: &PromotionCodeCreateParams,
    ) -> Result<Self, ParamError> {
        check_code(&code)?;
        let coupon = p.coupon_id()?.to_string();
        if let Some(t) = p.expires_at
            && t <= now
        {
            return Err(ParamError::invalid(
                "expires_at",
                "Invalid expires_at: must be in the future",
            ));
        }
        if let Some(m) = p.max_redemptions
            && m < 1
        {
            return Err(ParamError::invalid(
                "max_redemptions",
                "Invalid max_redemptions: must be at least 1",
            ));
        }
        let r = p.restrictions.as_ref();
        let minimum_amount = r.and_then(|r| r.minimum_amount);
        let minimum_currency = match (
            minimum_amount,
            r.and_then(|r| r.minimum_amount_currency.as_deref()),
        ) {
            (Some(m), Some(c)) if m > 0 => {
                Some(Currency::parse("restrictions[minimum_amount_currency]", c)?.code())
            }
            (Some(_), Some(_)) => {
                return Err(ParamError::invalid(
                    "restrictions[minimum_amount]",
                    "Invalid restrictions[minimum_amount]: must be greater than 0",
                ));
            }
            (Some(_), None) => {
                return Err(ParamError::missing("restrictions[minimum_amount_currency]"));
            }
            (None, Some(_)) => return Err(ParamError::missing("restrictions[minimum_amount]")),
            (None, None) => None,
        };
        Ok(Self {
            id,
            created: now,
            code,
            coupon,
            active: p.active.unwrap_or(true),
            customer: p.customer.clone(),
            expires_at: p.expires_at,
            max_redemptions: p.max_redemptions,
            times_redeemed: 0,
            restrictions: Restrictions {
                first_time_transaction: r.and_then(|r| r.first_time_transaction).unwrap_or(false),
                minimum_amount,
                minimum_amount_currency: minimum_currency,
            },
            metadata: apply_metadata(&Metadata::new(), &p.metadata)?,
        })
    }

    /// Whether `customer` may redeem it at `now`: active, unexpired, under its redemption cap,
    /// and not restricted to another customer.
    pub fn redeemable_by(&self, customer: &str, now: i64) -> bool {
        self.active
            && self.expires_at.is_none_or(|t| t > now)
            && self.max_redemptions.is_none_or(|m| self.times_redeemed < m)
            && self.customer.as_deref().is_none_or(|c| c == customer)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "promotion_code",
            "active": self.active,
            "code": self.code,
            "created": self.created,
            "customer": self.customer,
            "customer_account": null,
            "expires_at": self.expires_at,
            "livemode": false,
            "max_redemptions": self.max_redemptions,
            "metadata": self.metadata,
            "promotion": {"coupon": self.coupon, "type": "coupon"},
            "restrictions": {
                "first_time_transaction": self.restrictions.first_time_transaction,
                "minimum_amount": self.restrictions.minimum_amount,
                "minimum_amount_currency": self.restrictions.minimum_amount_currency,
            },
            "times_redeemed": self.times_redeemed,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Tax rates

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRate {
    pub id: String,
    pub created: i64,
    pub display_name: String,
    pub description: Option<String>,
    pub percentage: Decimal,
    pub inclusive: bool,
    pub active: bool,
    pub country: Option<String>,
    pub state: Option<String>,
    pub jurisdiction: Option<String>,
    pub tax_type: Option<String>,
    pub metadata: Metadata,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRateCreateParams {
    pub display_name: Option<String>,
    pub percentage: Option<Text>,
    pub inclusive: Option<bool>,
    pub active: Option<bool>,
    pub description: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub jurisdiction: Option<String>,
    pub tax_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRateUpdateParams {
    /// `Some(None)` is an empty value, which Stripe refuses for a display name.
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub country: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub state: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub jurisdiction: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub tax_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TaxRateListParams {
    pub active: Option<bool>,
    pub inclusive: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(TaxRateListParams);

const TAX_TYPES: [&str; 14] = [
    "amusement_tax",
    "communications_tax",
    "gst",
    "hst",
    "igst",
    "jct",
    "lease_tax",
    "pst",
    "qst",
    "retail_delivery_fee",
    "rst",
    "sales_tax",
    "service_tax",
    "vat",
];

fn check_tax_type(v: &Option<String>) -> Result<(), ParamError> {
    if let Some(t) = v
        && !TAX_TYPES.contains(&t.as_str())
    {
        return Err(ParamError::invalid(
            "tax_type",
            format!(
                "Invalid tax_type: must be one of {}; you passed {t}",
                TAX_TYPES.join(", ")
            ),
        ));
    }
    Ok(())
}

fn check_country(v: &Option<String>) -> Result<(), ParamError> {
    if let Some(c) = v
        && !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(ParamError::invalid(
            "country",
            "Invalid country: use a two-letter ISO country code, e.g. DE",
        ));
    }
    Ok(())
}

impl TaxRate {
    pub fn new(id: String, now: i64, p: &TaxRateCreateParams) -> Result<Self, ParamError> {
        let display_name = p
            .display_name
            .clone()
            .ok_or_else(|| ParamError::missing("display_name"))?;
        check_len("display_name", &display_name, 50)?;
        let percentage = parse_percent(
            "percentage",
            &p.percentage
                .as_ref()
                .ok_or_else(|| ParamError::missing("percentage"))?
                .0,
            4,
            true,
        )?;
        let inclusive = p
            .inclusive
            .ok_or_else(|| ParamError::missing("inclusive"))?;
        check_text("description", &p.description, 5000)?;
        check_text("jurisdiction", &p.jurisdiction, 50)?;
        check_text("state", &p.state, 2)?;
        check_country(&p.country)?;
        check_tax_type(&p.tax_type)?;
        Ok(Self {
            id,
            created: now,
            display_name,
            description: p.description.clone(),
            percentage,
            inclusive,
            active: p.active.unwrap_or(true),
            country: p.country.clone(),
            state: p.state.clone(),
            jurisdiction: p.jurisdiction.clone(),
            tax_type: p.tax_type.clone(),
            metadata: apply_metadata(&Metadata::new(), &p.metadata)?,
        })
    }

    pub fn apply(&mut self, p: &TaxRateUpdateParams) -> Result<(), ParamError> {
        if let Some(n) = &p.display_name {
            let n = n
                .as_deref()
                .ok_or_else(|| ParamError::empty("display_name"))?;
            check_len("display_name", n, 50)?;
            self.display_name = n.to_string();
        }
        if let Some(a) = p.active {
            self.active = a;
        }
        if let Some(d) = &p.description {
            check_text("description", d, 5000)?;
            self.description = d.clone();
        }
        if let Some(c) = &p.country {
            check_country(c)?;
            self.country = c.clone();
        }
        if let Some(s) = &p.state {
            check_text("state", s, 2)?;
            self.state = s.clone();
        }
        if let Some(j) = &p.jurisdiction {
            check_text("jurisdiction", j, 50)?;
            self.jurisdiction = j.clone();
        }
        if let Some(t) = &p.tax_type {
            check_tax_type(t)?;
            self.tax_type = t.clone();
        }
        self.metadata = apply_metadata(&self.metadata, &p.metadata)?;
        Ok(())
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "tax_rate",
            "active": self.active,
            "country": self.country,
            "created": self.created,
            "description": self.description,
            "display_name": self.display_name,
            "effective_percentage": number(&self.percentage),
            "flat_amount": null,
            "inclusive": self.inclusive,
            "jurisdiction": self.jurisdiction,
            "jurisdiction_level": null,
            "livemode": false,
            "metadata": self.metadata,
            "percentage": number(&self.percentage),
            "rate_type": "percentage",
            "state": self.state,
            "tax_type": self.tax_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_exact_and_bounded() {
        assert_eq!(
            parse_percent("p", "25.5", 2, false).unwrap().to_string(),
            "25.5"
        );
        assert_eq!(
            parse_percent("p", "20.00", 2, false).unwrap().to_string(),
            "20"
        );
        assert!(parse_percent("p", "0", 2, false).is_err());
        assert!(parse_percent("p", "0", 4, true).is_ok());
        assert!(parse_percent("p", "100.01", 2, false).is_err());
        assert!(parse_percent("p", "12.345", 2, false).is_err());
        assert!(parse_percent("p", "-1", 4, true).is_err());
        assert_eq!(number(&Decimal::from_str("25.5").unwrap()), json!(25.5));
    }

    #[test]
    fn promotion_codes_are_redeemable_within_their_limits() {
        let mut pc = PromotionCode {
            id: "promo_1".into(),
            created: 0,
            code: "SPRING".into(),
            coupon: "X".into(),
            active: true,
            customer: Some("cus_a".into()),
            expires_at: Some(100),
            max_redemptions: Some(1),
            times_redeemed: 0,
            restrictions: Restrictions {
                first_time_transaction: false,
                minimum_amount: None,
                minimum_amount_currency: None,
            },
            metadata: Metadata::new(),
        };
        assert!(pc.redeemable_by("cus_a", 99));
        assert!(!pc.redeemable_by("cus_b", 99));
        assert!(!pc.redeemable_by("cus_a", 100));
        pc.times_redeemed = 1;
        assert!(!pc.redeemable_by("cus_a", 99));
        pc.times_redeemed = 0;
        pc.active = false;
        assert!(!pc.redeemable_by("cus_a", 99));
    }

    #[test]
    fn coupon_durations() {
        let p = |v: Value| serde_json::from_value::<CouponCreateParams>(v).unwrap();
        let c = Coupon::new(
            "X".into(),
            0,
            &p(json!({"percent_off": "20", "duration": "forever"})),
        )
        .unwrap();
        assert_eq!(c.duration, Duration::Forever);
        let e = Coupon::new(
            "X".into(),
            0,
            &p(json!({"percent_off": "20", "duration": "repeating"})),
        )
        .unwrap_err();
        assert_eq!(e.param, "duration_in_months");
        let e = Coupon::new("X".into(), 0, &p(json!({"amount_off": 500}))).unwrap_err();
        assert_eq!(e.param, "currency");
        let mut c = Coupon::new(
            "X".into(),
            0,
            &p(json!({"amount_off": 500, "currency": "usd", "max_redemptions": 1})),
        )
        .unwrap();
        assert!(c.valid(1));
        c.times_redeemed = 1;
        assert!(!c.valid(1));
    }
}
