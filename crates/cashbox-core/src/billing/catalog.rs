//! Products and Prices: what is sold and how it is priced, in Stripe's shapes and with
//! Stripe's validation. A price's amounts never change after creation (Stripe's rule): a new
//! price is made instead, and `lookup_key` moves to it with `transfer_lookup_key`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ParamError;
use crate::currency::Currency;
use crate::metadata::{Metadata, MetadataParam, present};
use crate::param::check_len;
use crate::payments::{apply_metadata, check_descriptor, check_text};

pub const PRODUCT_PREFIX: &str = "prod";
pub const PRICE_PREFIX: &str = "price";
/// Stripe's limits.
pub const NAME_CHARS_MAX: usize = 5000;
pub const LOOKUP_KEY_CHARS_MAX: usize = 200;
pub const IMAGES_MAX: usize = 8;
pub const MARKETING_FEATURES_MAX: usize = 15;
pub const TIERS_MAX: usize = 250;
/// The largest unit amount Stripe accepts, in minor units.
pub const UNIT_AMOUNT_MAX: i64 = 99_999_999_999;
/// `unit_amount_decimal` may carry at most this many decimal places (in minor units).
pub const DECIMAL_PLACES_MAX: u32 = 12;
pub const TRIAL_PERIOD_DAYS_MAX: i64 = 730;

fn only_one(params: &[&str]) -> ParamError {
    ParamError::new(
        params[0],
        "parameter_invalid",
        format!(
            "You may only specify one of these parameters: {}.",
            params.join(", ")
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Parameter value types that arrive as strings in forms and as numbers or strings in JSON.

/// A decimal amount in minor units (`unit_amount_decimal`), kept as Stripe echoes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DecimalAmount(pub String);

impl DecimalAmount {
    pub fn parse(param: &str, raw: &str) -> Result<Self, ParamError> {
        let d = Decimal::from_str(raw.trim())
            .map_err(|_| ParamError::invalid(param, format!("Invalid decimal: {raw}")))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(ParamError::invalid(
                param,
                format!("Invalid {param}: must be greater than or equal to 0"),
            ));
        }
        if d.scale() > DECIMAL_PLACES_MAX {
            return Err(ParamError::invalid(
                param,
                format!("Invalid {param}: at most {DECIMAL_PLACES_MAX} decimal places are allowed"),
            ));
        }
        if d > Decimal::from(UNIT_AMOUNT_MAX) {
            return Err(ParamError::invalid(
                param,
                format!("Invalid {param}: must be at most {UNIT_AMOUNT_MAX}"),
            ));
        }
        Ok(Self(d.normalize().to_string()))
    }

    pub fn value(&self) -> Decimal {
        Decimal::from_str(&self.0).unwrap_or_default()
    }

    fn from_minor(n: i64) -> Self {
        Self(n.to_string())
    }

    /// The amount as whole minor units, if it is whole.
    fn whole(&self) -> Option<i64> {
        let d = self.value();
        (d.fract().is_zero()).then(|| i64::try_from(d.mantissa() / 10i128.pow(d.scale())).ok())?
    }
}

/// A string or number parameter, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text, E> {
                Err(E::custom(
                    "Invalid decimal: send decimal amounts as strings, e.g. \"0.05\"",
                ))
            }
        }
        d.deserialize_any(V)
    }
}

impl utoipa::PartialSchema for Text {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        String::schema()
    }
}
impl ToSchema for Text {}

// ---------------------------------------------------------------------------------------------
// Products

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageDimensions {
    pub height: Text,
    pub length: Text,
    pub weight: Text,
    pub width: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketingFeature {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub created: i64,
    pub updated: i64,
    pub name: String,
    pub active: bool,
    pub description: Option<String>,
    pub images: Vec<String>,
    pub marketing_features: Vec<MarketingFeature>,
    pub metadata: Metadata,
    pub default_price: Option<String>,
    pub package_dimensions: Option<BTreeMap<String, String>>,
    pub shippable: Option<bool>,
    pub statement_descriptor: Option<String>,
    pub tax_code: Option<String>,
    pub unit_label: Option<String>,
    pub url: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
}

impl Product {
    pub fn to_json(&self) -> Value {
        let dims = self.package_dimensions.as_ref().map(|d| {
            // Dimensions (inches, ounces) are measurements, not money: a JSON number as given.
            let num = |k: &str| {
                d.get(k)
                    .and_then(|v| serde_json::from_str::<Value>(v).ok())
                    .unwrap_or(Value::Null)
            };
            json!({"height": num("height"), "length": num("length"), "weight": num("weight"), "width": num("width")})
        });
        json!({
            "id": self.id,
            "object": "product",
            "active": self.active,
            "created": self.created,
            "default_price": self.default_price,
            "description": self.description,
            "images": self.images,
            "livemode": false,
            "marketing_features": self.marketing_features,
            "metadata": self.metadata,
            "name": self.name,
            "package_dimensions": dims,
            "shippable": self.shippable,
            "statement_descriptor": self.statement_descriptor,
            "tax_code": self.tax_code,
            "type": self.kind,
            "unit_label": self.unit_label,
            "updated": self.updated,
            "url": self.url,
        })
    }
}

/// The price a product create makes and sets as its `default_price`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultPriceData {
    pub currency: Option<String>,
    pub unit_amount: Option<i64>,
    pub unit_amount_decimal: Option<Text>,
    pub recurring: Option<RecurringParams>,
    pub tax_behavior: Option<String>,
    pub currency_options: Option<BTreeMap<String, CurrencyOptionParams>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductCreateParams {
    pub id: Option<String>,
    pub name: Option<String>,
    pub active: Option<bool>,
    pub description: Option<String>,
    pub images: Option<Vec<String>>,
    pub marketing_features: Option<Vec<MarketingFeature>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    pub default_price_data: Option<DefaultPriceData>,
    pub package_dimensions: Option<PackageDimensions>,
    pub shippable: Option<bool>,
    pub statement_descriptor: Option<String>,
    pub tax_code: Option<String>,
    pub unit_label: Option<String>,
    pub url: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Fields that may be cleared with an empty value arrive as `Some(None)`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductUpdateParams {
    /// `Some(None)` is an empty value, which Stripe refuses for a name.
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<Vec<String>>)]
    pub images: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<Vec<MarketingFeature>>)]
    pub marketing_features: Option<Option<Vec<MarketingFeature>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub default_price: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<PackageDimensions>)]
    pub package_dimensions: Option<Option<PackageDimensions>>,
    pub shippable: Option<bool>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub statement_descriptor: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub tax_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub unit_label: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub url: Option<Option<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProductListParams {
    pub active: Option<bool>,
    pub ids: Option<Vec<String>>,
    pub shippable: Option<bool>,
    pub url: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(ProductListParams);

fn check_images(param: &str, images: &[String]) -> Result<(), ParamError> {
    if images.len() > IMAGES_MAX {
        return Err(ParamError::invalid(
            param,
            format!("Invalid {param}: at most {IMAGES_MAX} images are allowed"),
        ));
    }
    for (i, url) in images.iter().enumerate() {
        check_len(&format!("{param}[{i}]"), url, 2048)?;
    }
    Ok(())
}

fn check_features(param: &str, features: &[MarketingFeature]) -> Result<(), ParamError> {
    if features.len() > MARKETING_FEATURES_MAX {
        return Err(ParamError::invalid(
            param,
            format!("Invalid {param}: at most {MARKETING_FEATURES_MAX} features are allowed"),
        ));
    }
    for (i, f) in features.iter().enumerate() {
        check_len(&format!("{param}[{i}][name]"), &f.name, 80)?;
    }
    Ok(())
}

fn dimensions(d: &PackageDimensions) -> Result<BTreeMap<String, String>, ParamError> {
    let mut out = BTreeMap::new();
    for (k, v) in [
        ("height", &d.height),
        ("length", &d.length),
        ("weight", &d.weight),
        ("width", &d.width),
    ] {
        let param = format!("package_dimensions[{k}]");
        let n = Decimal::from_str(&v.0)
            .ok()
            .filter(|n| !n.is_sign_negative() && !n.is_zero())
            .ok_or_else(|| {
                ParamError::invalid(
                    &param,
                    format!("Invalid {param}: must be a positive number"),
                )
            })?;
        out.insert(k.to_string(), n.normalize().to_string());
    }
    Ok(out)
}

fn check_tax_code(param: &str, v: &Option<String>) -> Result<(), ParamError> {
    if let Some(code) = v
        && !(code.starts_with("txcd_")
            && code.len() == 13
            && code[5..].bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ParamError::invalid(
            param,
            format!("Invalid {param}: a tax code looks like txcd_10000000"),
        ));
    }
    Ok(())
}

/// A product's name: required, never empty (Stripe's message for an empty one).
fn check_name(name: &str) -> Result<(), ParamError> {
    if name.trim().is_empty() {
        return Err(ParamError::empty("name"));
    }
    check_len("name", name, NAME_CHARS_MAX)
}

impl Product {
    pub fn new(id: String, now: i64, p: &ProductCreateParams) -> Result<Self, ParamError> {
        let name = p.name.clone().ok_or_else(|| ParamError::missing("name"))?;
        check_name(&name)?;
        check_text("description", &p.description, 40_000)?;
        check_descriptor("statement_descriptor", &p.statement_descriptor)?;
        check_text("unit_label", &p.unit_label, 12)?;
        check_text("url", &p.url, 2048)?;
        check_tax_code("tax_code", &p.tax_code)?;
        let images = p.images.clone().unwrap_or_default();
        check_images("images", &images)?;
        let features = p.marketing_features.clone().unwrap_or_default();
        check_features("marketing_features", &features)?;
        let kind = match p.kind.as_deref() {
            None | Some("service") => "service",
            Some("good") => "good",
            Some(other) => {
                return Err(ParamError::invalid(
                    "type",
                    format!("Invalid type: must be one of good or service; you passed {other}"),
                ));
            }
        };
        Ok(Self {
            id,
            created: now,
            updated: now,
            name,
            active: p.active.unwrap_or(true),
            description: p.description.clone(),
            images,
            marketing_features: features,
            metadata: apply_metadata(&Metadata::new(), &p.metadata)?,
            default_price: None,
            package_dimensions: p.package_dimensions.as_ref().map(dimensions).transpose()?,
            shippable: p.shippable,
            statement_descriptor: p.statement_descriptor.clone(),
            tax_code: p.tax_code.clone(),
            unit_label: p.unit_label.clone(),
            url: p.url.clone(),
            kind: kind.to_string(),
        })
    }

    /// Applies an update except `default_price`, which the caller checks against the store.
    pub fn apply(&mut self, p: &ProductUpdateParams, now: i64) -> Result<(), ParamError> {
        if let Some(name) = &p.name {
            let name = name.as_deref().ok_or_else(|| ParamError::empty("name"))?;
            check_name(name)?;
            self.name = name.to_string();
        }
        if let Some(a) = p.active {
            self.active = a;
        }
        if let Some(d) = &p.description {
            check_text("description", d, 40_000)?;
            self.description = d.clone();
        }
        if let Some(images) = &p.images {
            let images = images.clone().unwrap_or_default();
            check_images("images", &images)?;
            self.images = images;
        }
        if let Some(f) = &p.marketing_features {
            let f = f.clone().unwrap_or_default();
            check_features("marketing_features", &f)?;
            self.marketing_features = f;
        }
        self.metadata = apply_metadata(&self.metadata, &p.metadata)?;
        if let Some(d) = &p.package_dimensions {
            self.package_dimensions = d.as_ref().map(dimensions).transpose()?;
        }
        if let Some(s) = p.shippable {
            self.shippable = Some(s);
        }
        if let Some(s) = &p.statement_descriptor {
            check_descriptor("statement_descriptor", s)?;
            self.statement_descriptor = s.clone();
        }
        if let Some(t) = &p.tax_code {
            check_tax_code("tax_code", t)?;
            self.tax_code = t.clone();
        }
        if let Some(u) = &p.unit_label {
            check_text("unit_label", u, 12)?;
            self.unit_label = u.clone();
        }
        if let Some(u) = &p.url {
            check_text("url", u, 2048)?;
            self.url = u.clone();
        }
        self.updated = now;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Prices

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    /// The longest billing period Stripe allows, three years, in this interval's units.
    fn max_count(self) -> u32 {
        match self {
            Self::Day => 1095,
            Self::Week => 156,
            Self::Month => 36,
            Self::Year => 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageType {
    Licensed,
    Metered,
}

impl UsageType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Licensed => "licensed",
            Self::Metered => "metered",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurring {
    pub interval: Interval,
    pub interval_count: u32,
    pub usage_type: UsageType,
    pub meter: Option<String>,
    pub trial_period_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurringParams {
    pub interval: Option<Interval>,
    pub interval_count: Option<i64>,
    pub usage_type: Option<UsageType>,
    pub meter: Option<String>,
    pub trial_period_days: Option<i64>,
    /// Accepted for old integrations; Stripe ignores it once meters are used.
    pub aggregate_usage: Option<String>,
}

impl Recurring {
    fn from_params(p: &RecurringParams) -> Result<Self, ParamError> {
        let interval = p
            .interval
            .ok_or_else(|| ParamError::missing("recurring[interval]"))?;
        let count = p.interval_count.unwrap_or(1);
        if count < 1 || count > i64::from(interval.max_count()) {
            return Err(ParamError::invalid(
                "recurring[interval_count]",
                format!(
                    "Invalid recurring[interval_count]: the billing period can be at most three years ({} {}s)",
                    interval.max_count(),
                    interval.as_str()
                ),
            ));
        }
        let trial = match p.trial_period_days {
            None => None,
            Some(d) if (1..=TRIAL_PERIOD_DAYS_MAX).contains(&d) => Some(d as u32),
            Some(_) => {
                return Err(ParamError::invalid(
                    "recurring[trial_period_days]",
                    format!(
                        "Invalid recurring[trial_period_days]: must be between 1 and {TRIAL_PERIOD_DAYS_MAX}"
                    ),
                ));
            }
        };
        let usage_type = p.usage_type.unwrap_or(UsageType::Licensed);
        if p.meter.is_some() && usage_type != UsageType::Metered {
            return Err(ParamError::invalid(
                "recurring[meter]",
                "A meter can only be set on a price with recurring[usage_type]=metered.",
            ));
        }
        if let Some(agg) = &p.aggregate_usage
            && !["sum", "last_during_period", "last_ever", "max"].contains(&agg.as_str())
        {
            return Err(ParamError::invalid(
                "recurring[aggregate_usage]",
                format!("Invalid recurring[aggregate_usage]: {agg}"),
            ));
        }
        Ok(Self {
            interval,
            interval_count: count as u32,
            usage_type,
            meter: p.meter.clone(),
            trial_period_days: trial,
        })
    }

    fn to_json(&self) -> Value {
        json!({
            "interval": self.interval,
            "interval_count": self.interval_count,
            "meter": self.meter,
            "trial_period_days": self.trial_period_days,
            "usage_type": self.usage_type,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TiersMode {
    Graduated,
    Volume,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub flat_amount: Option<DecimalAmount>,
    pub unit_amount: Option<DecimalAmount>,
    /// `None` is the last tier, `inf`.
    pub up_to: Option<i64>,
}

impl Tier {
    fn to_json(&self) -> Value {
        let whole = |d: &Option<DecimalAmount>| d.as_ref().and_then(DecimalAmount::whole);
        let text = |d: &Option<DecimalAmount>| d.as_ref().map(|d| d.0.clone());
        json!({
            "flat_amount": whole(&self.flat_amount),
            "flat_amount_decimal": text(&self.flat_amount),
            "unit_amount": whole(&self.unit_amount),
            "unit_amount_decimal": text(&self.unit_amount),
            "up_to": self.up_to,
        })
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierParams {
    pub up_to: Option<Text>,
    pub unit_amount: Option<i64>,
    pub unit_amount_decimal: Option<Text>,
    pub flat_amount: Option<i64>,
    pub flat_amount_decimal: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Round {
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformQuantity {
    pub divide_by: i64,
    pub round: Round,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformQuantityParams {
    pub divide_by: Option<i64>,
    pub round: Option<Round>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomUnitAmount {
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    pub preset: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomUnitAmountParams {
    pub enabled: Option<bool>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    pub preset: Option<i64>,
}

/// The amounts of a price in one currency: the price's own currency or a `currency_options`
/// entry. Exactly one of a unit amount, tiers or a customer-chosen amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amounts {
    pub unit_amount: Option<DecimalAmount>,
    pub tiers: Vec<Tier>,
    pub custom_unit_amount: Option<CustomUnitAmount>,
    pub tax_behavior: Option<String>,
}

impl Amounts {
    fn to_json(&self, tiered: bool) -> Value {
        json!({
            "custom_unit_amount": self.custom_unit_amount.as_ref().map(|c| json!({"maximum": c.maximum, "minimum": c.minimum, "preset": c.preset})),
            "tax_behavior": self.tax_behavior.as_deref().unwrap_or("unspecified"),
            "tiers": if tiered { json!(self.tiers.iter().map(Tier::to_json).collect::<Vec<_>>()) } else { Value::Null },
            "unit_amount": self.unit_amount.as_ref().and_then(DecimalAmount::whole),
            "unit_amount_decimal": self.unit_amount.as_ref().map(|d| d.0.clone()),
        })
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrencyOptionParams {
    pub unit_amount: Option<i64>,
    pub unit_amount_decimal: Option<Text>,
    pub tiers: Option<Vec<TierParams>>,
    pub custom_unit_amount: Option<CustomUnitAmountParams>,
    pub tax_behavior: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductDataParams {
    pub id: Option<String>,
    pub name: Option<String>,
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    pub statement_descriptor: Option<String>,
    pub tax_code: Option<String>,
    pub unit_label: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceCreateParams {
    pub currency: Option<String>,
    pub product: Option<String>,
    pub product_data: Option<ProductDataParams>,
    pub active: Option<bool>,
    pub billing_scheme: Option<String>,
    pub unit_amount: Option<i64>,
    pub unit_amount_decimal: Option<Text>,
    pub tiers: Option<Vec<TierParams>>,
    pub tiers_mode: Option<TiersMode>,
    pub transform_quantity: Option<TransformQuantityParams>,
    pub recurring: Option<RecurringParams>,
    pub custom_unit_amount: Option<CustomUnitAmountParams>,
    pub currency_options: Option<BTreeMap<String, CurrencyOptionParams>>,
    pub lookup_key: Option<String>,
    pub transfer_lookup_key: Option<bool>,
    pub nickname: Option<String>,
    pub tax_behavior: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceUpdateParams {
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub lookup_key: Option<Option<String>>,
    pub transfer_lookup_key: Option<bool>,
    #[serde(default, deserialize_with = "crate::customer::patch")]
    #[schema(value_type = Option<String>)]
    pub nickname: Option<Option<String>>,
    pub tax_behavior: Option<String>,
    pub currency_options: Option<BTreeMap<String, CurrencyOptionParams>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceRecurringFilter {
    pub interval: Option<Interval>,
    pub usage_type: Option<UsageType>,
    pub meter: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PriceListParams {
    pub active: Option<bool>,
    pub currency: Option<String>,
    pub product: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub lookup_keys: Option<Vec<String>>,
    pub recurring: Option<PriceRecurringFilter>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(PriceListParams);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub id: String,
    pub created: i64,
    pub product: String,
    pub active: bool,
    pub currency: Currency,
    pub tiers_mode: Option<TiersMode>,
    pub amounts: Amounts,
    pub currency_options: BTreeMap<String, Amounts>,
    pub transform_quantity: Option<TransformQuantity>,
    pub recurring: Option<Recurring>,
    pub lookup_key: Option<String>,
    pub nickname: Option<String>,
    pub metadata: Metadata,
}

fn check_tax_behavior(param: &str, v: &Option<String>) -> Result<(), ParamError> {
    if let Some(t) = v
        && !["inclusive", "exclusive", "unspecified"].contains(&t.as_str())
    {
        return Err(ParamError::invalid(
            param,
            format!(
                "Invalid {param}: must be one of inclusive, exclusive or unspecified; you passed {t}"
            ),
        ));
    }
    Ok(())
}

fn unit_amount(
    prefix: &str,
    unit_amount: Option<i64>,
    decimal: &Option<Text>,
) -> Result<Option<DecimalAmount>, ParamError> {
    let p = |f: &str| {
        if prefix.is_empty() {
            f.to_string()
        } else {
            format!("{prefix}[{f}]")
        }
    };
    match (unit_amount, decimal) {
        (Some(_), Some(_)) => Err(only_one(&[&p("unit_amount"), &p("unit_amount_decimal")])),
        (Some(n), None) => {
            if !(0..=UNIT_AMOUNT_MAX).contains(&n) {
                return Err(ParamError::invalid(
                    p("unit_amount"),
                    format!(
                        "Invalid {}: must be between 0 and {UNIT_AMOUNT_MAX}",
                        p("unit_amount")
                    ),
                ));
            }
            Ok(Some(DecimalAmount::from_minor(n)))
        }
        (None, Some(d)) => DecimalAmount::parse(&p("unit_amount_decimal"), &d.0).map(Some),
        (None, None) => Ok(None),
    }
}

fn tiers(prefix: &str, params: &[TierParams]) -> Result<Vec<Tier>, ParamError> {
    if params.is_empty() || params.len() > TIERS_MAX {
        return Err(ParamError::invalid(
            prefix,
            format!("Invalid {prefix}: give between 1 and {TIERS_MAX} tiers"),
        ));
    }
    let mut out: Vec<Tier> = Vec::with_capacity(params.len());
    for (i, t) in params.iter().enumerate() {
        let tp = format!("{prefix}[{i}]");
        let up_to = match t.up_to.as_ref().map(|u| u.0.as_str()) {
            None => return Err(ParamError::missing(format!("{tp}[up_to]"))),
            Some("inf") => None,
            Some(n) => Some(n.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ParamError::invalid(
                    format!("{tp}[up_to]"),
                    format!("Invalid {tp}[up_to]: must be a positive integer or inf"),
                )
            })?),
        };
        let last = i + 1 == params.len();
        if last != up_to.is_none() {
            return Err(ParamError::invalid(
                format!("{tp}[up_to]"),
                "Tiers must end with one whose up_to is inf, and only the last tier may be inf.",
            ));
        }
        if let (Some(prev), Some(this)) = (out.last().and_then(|t| t.up_to), up_to)
            && this <= prev
        {
            return Err(ParamError::invalid(
                format!("{tp}[up_to]"),
                "Tiers must be in ascending order of up_to.",
            ));
        }
        let unit = unit_amount(&tp, t.unit_amount, &t.unit_amount_decimal)?;
        let flat = match (t.flat_amount, &t.flat_amount_decimal) {
            (Some(_), Some(_)) => {
                return Err(only_one(&[
                    &format!("{tp}[flat_amount]"),
                    &format!("{tp}[flat_amount_decimal]"),
                ]));
            }
            (Some(n), None) => {
                if !(0..=UNIT_AMOUNT_MAX).contains(&n) {
                    return Err(ParamError::invalid(
                        format!("{tp}[flat_amount]"),
                        format!(
                            "Invalid {tp}[flat_amount]: must be between 0 and {UNIT_AMOUNT_MAX}"
                        ),
                    ));
                }
                Some(DecimalAmount::from_minor(n))
            }
            (None, Some(d)) => Some(DecimalAmount::parse(
                &format!("{tp}[flat_amount_decimal]"),
                &d.0,
            )?),
            (None, None) => None,
        };
        if unit.is_none() && flat.is_none() {
            return Err(ParamError::new(
                format!("{tp}[unit_amount]"),
                "parameter_missing",
                format!("Each tier needs a unit amount or a flat amount ({tp})."),
            ));
        }
        out.push(Tier {
            flat_amount: flat,
            unit_amount: unit,
            up_to,
        });
    }
    Ok(out)
}

fn custom_unit_amount(
    prefix: &str,
    p: &CustomUnitAmountParams,
) -> Result<Option<CustomUnitAmount>, ParamError> {
    if p.enabled != Some(true) {
        return Err(ParamError::invalid(
            format!("{prefix}[enabled]"),
            format!("{prefix}[enabled] must be true to let customers choose the amount."),
        ));
    }
    for (k, v) in [
        ("minimum", p.minimum),
        ("maximum", p.maximum),
        ("preset", p.preset),
    ] {
        if let Some(n) = v
            && !(0..=UNIT_AMOUNT_MAX).contains(&n)
        {
            return Err(ParamError::invalid(
                format!("{prefix}[{k}]"),
                format!("Invalid {prefix}[{k}]: must be between 0 and {UNIT_AMOUNT_MAX}"),
            ));
        }
    }
    if let (Some(min), Some(max)) = (p.minimum, p.maximum)
        && min > max
    {
        return Err(ParamError::invalid(
            format!("{prefix}[minimum]"),
            "The minimum must not be greater than the maximum.",
        ));
    }
    if let Some(preset) = p.preset
        && (p.minimum.is_some_and(|m| preset < m) || p.maximum.is_some_and(|m| preset > m))
    {
        return Err(ParamError::invalid(
            format!("{prefix}[preset]"),
            "The preset must be between the minimum and the maximum.",
        ));
    }
    Ok(Some(CustomUnitAmount {
        minimum: p.minimum,
        maximum: p.maximum,
        preset: p.preset,
    }))
}

/// The amounts of one currency, checked against the billing scheme.
fn amounts(
    prefix: &str,
    tiered: bool,
    unit: Option<i64>,
    unit_decimal: &Option<Text>,
    tier_params: &Option<Vec<TierParams>>,
    custom: &Option<CustomUnitAmountParams>,
    tax_behavior: &Option<String>,
) -> Result<Amounts, ParamError> {
    let p = |f: &str| {
        if prefix.is_empty() {
            f.to_string()
        } else {
            format!("{prefix}[{f}]")
        }
    };
    check_tax_behavior(&p("tax_behavior"), tax_behavior)?;
    let unit_amount = unit_amount(prefix, unit, unit_decimal)?;
    let (tiers, custom) = if tiered {
        if unit_amount.is_some() {
            return Err(ParamError::invalid(
                p("unit_amount"),
                "A tiered price takes its amounts from tiers, not unit_amount.",
            ));
        }
        let t = tier_params
            .as_ref()
            .ok_or_else(|| ParamError::missing(p("tiers")))?;
        (tiers(&p("tiers"), t)?, None)
    } else {
        if tier_params.is_some() {
            return Err(ParamError::invalid(
                p("tiers"),
                "Tiers can only be given with billing_scheme=tiered.",
            ));
        }
        let custom = custom
            .as_ref()
            .map(|c| custom_unit_amount(&p("custom_unit_amount"), c))
            .transpose()?
            .flatten();
        match (&unit_amount, &custom) {
            (Some(_), Some(_)) => {
                return Err(only_one(&[&p("unit_amount"), &p("custom_unit_amount")]));
            }
            (None, None) => return Err(ParamError::missing(p("unit_amount"))),
            _ => {}
        }
        (Vec::new(), custom)
    };
    Ok(Amounts {
        unit_amount,
        tiers,
        custom_unit_amount: custom,
        tax_behavior: tax_behavior.clone(),
    })
}

fn currency_options(
    own: Currency,
    tiered: bool,
    params: &BTreeMap<String, CurrencyOptionParams>,
) -> Result<BTreeMap<String, Amounts>, ParamError> {
    let mut out = BTreeMap::new();
    for (code, o) in params {
        let prefix = format!("currency_options[{code}]");
        let cur = Currency::parse(&prefix, code)?;
        if cur == own {
            return Err(ParamError::invalid(
                &prefix,
                "currency_options must not repeat the price's own currency.",
            ));
        }
        out.insert(
            cur.code(),
            amounts(
                &prefix,
                tiered,
                o.unit_amount,
                &o.unit_amount_decimal,
                &o.tiers,
                &o.custom_unit_amount,
                &o.tax_behavior,
            )?,
        );
    }
    Ok(out)
}

pub fn check_lookup_key(param: &str, key: &str) -> Result<(), ParamError> {
    if key.is_empty() {
        return Err(ParamError::invalid(
            param,
            "Invalid lookup_key: must not be empty",
        ));
    }
    check_len(param, key, LOOKUP_KEY_CHARS_MAX)
}

impl Price {
    /// Whether it bills usage (`recurring.usage_type=metered`).
    pub fn is_metered(&self) -> bool {
        self.recurring
            .as_ref()
            .is_some_and(|r| r.usage_type == UsageType::Metered)
    }

    /// A price from create parameters; `product` is the id the caller resolved (an existing
    /// product or the one `product_data` makes).
    pub fn new(
        id: String,
        now: i64,
        product: String,
        p: &PriceCreateParams,
    ) -> Result<Self, ParamError> {
        let currency = Currency::parse(
            "currency",
            p.currency
                .as_deref()
                .ok_or_else(|| ParamError::missing("currency"))?,
        )?;
        let tiered = match p.billing_scheme.as_deref() {
            None | Some("per_unit") => false,
            Some("tiered") => true,
            Some(other) => {
                return Err(ParamError::invalid(
                    "billing_scheme",
                    format!(
                        "Invalid billing_scheme: must be one of per_unit or tiered; you passed {other}"
                    ),
                ));
            }
        };
        if tiered != p.tiers_mode.is_some() {
            return Err(if tiered {
                ParamError::missing("tiers_mode")
            } else {
                ParamError::invalid(
                    "tiers_mode",
                    "tiers_mode can only be given with billing_scheme=tiered.",
                )
            });
        }
        let amounts = amounts(
            "",
            tiered,
            p.unit_amount,
            &p.unit_amount_decimal,
            &p.tiers,
            &p.custom_unit_amount,
            &p.tax_behavior,
        )?;
        let recurring = p
            .recurring
            .as_ref()
            .map(Recurring::from_params)
            .transpose()?;
        if amounts.custom_unit_amount.is_some() && recurring.is_some() {
            return Err(ParamError::invalid(
                "custom_unit_amount",
                "Customer-chosen amounts are only for one-time prices.",
            ));
        }
        let transform = match &p.transform_quantity {
            None => None,
            Some(t) => {
                if tiered {
                    return Err(ParamError::invalid(
                        "transform_quantity",
                        "transform_quantity cannot be combined with billing_scheme=tiered.",
                    ));
                }
                let divide_by = t
                    .divide_by
                    .ok_or_else(|| ParamError::missing("transform_quantity[divide_by]"))?;
                if divide_by < 1 {
                    return Err(ParamError::invalid(
                        "transform_quantity[divide_by]",
                        "Invalid transform_quantity[divide_by]: must be at least 1",
                    ));
                }
                Some(TransformQuantity {
                    divide_by,
                    round: t
                        .round
                        .ok_or_else(|| ParamError::missing("transform_quantity[round]"))?,
                })
            }
        };
        if let Some(k) = &p.lookup_key {
            check_lookup_key("lookup_key", k)?;
        }
        if p.transfer_lookup_key == Some(true) && p.lookup_key.is_none() {
            return Err(ParamError::invalid(
                "transfer_lookup_key",
                "transfer_lookup_key needs a lookup_key to transfer.",
            ));
        }
        check_text("nickname", &p.nickname, 5000)?;
        let currency_options = match &p.currency_options {
            Some(o) => currency_options(currency, tiered, o)?,
            None => BTreeMap::new(),
        };
        Ok(Self {
            id,
            created: now,
            product,
            active: p.active.unwrap_or(true),
            currency,
            tiers_mode: p.tiers_mode,
            amounts,
            currency_options,
            transform_quantity: transform,
            recurring,
            lookup_key: p.lookup_key.clone(),
            nickname: p.nickname.clone(),
            metadata: apply_metadata(&Metadata::new(), &p.metadata)?,
        })
    }

    /// Applies an update except the lookup key, which the caller moves in the store.
    pub fn apply(&mut self, p: &PriceUpdateParams) -> Result<(), ParamError> {
        if let Some(a) = p.active {
            self.active = a;
        }
        if let Some(n) = &p.nickname {
            check_text("nickname", n, 5000)?;
            self.nickname = n.clone();
        }
        if let Some(t) = &p.tax_behavior {
            check_tax_behavior("tax_behavior", &Some(t.clone()))?;
            let current = self
                .amounts
                .tax_behavior
                .as_deref()
                .unwrap_or("unspecified");
            if current != "unspecified" && current != t {
                return Err(ParamError::invalid(
                    "tax_behavior",
                    "tax_behavior cannot be changed once it is inclusive or exclusive.",
                ));
            }
            self.amounts.tax_behavior = Some(t.clone());
        }
        if let Some(o) = &p.currency_options {
            self.currency_options = currency_options(self.currency, self.tiers_mode.is_some(), o)?;
        }
        if let Some(Some(k)) = &p.lookup_key {
            check_lookup_key("lookup_key", k)?;
        }
        self.metadata = apply_metadata(&self.metadata, &p.metadata)?;
        Ok(())
    }

    pub fn kind(&self) -> &'static str {
        if self.recurring.is_some() {
            "recurring"
        } else {
            "one_time"
        }
    }

    /// The Stripe rendering. `tiers` and `currency_options` appear only when asked for with
    /// `expand[]`, as Stripe does.
    pub fn to_json_with(&self, tiers: bool, currency_options: bool) -> Value {
        let tiered = self.tiers_mode.is_some();
        let own = self.amounts.to_json(tiered);
        let mut v = json!({
            "id": self.id,
            "object": "price",
            "active": self.active,
            "billing_scheme": if tiered { "tiered" } else { "per_unit" },
            "created": self.created,
            "currency": self.currency,
            "custom_unit_amount": own["custom_unit_amount"],
            "livemode": false,
            "lookup_key": self.lookup_key,
            "metadata": self.metadata,
            "nickname": self.nickname,
            "product": self.product,
            "recurring": null,
            "tax_behavior": own["tax_behavior"],
            "tiers_mode": self.tiers_mode,
            "transform_quantity": self.transform_quantity.map(|t| json!({"divide_by": t.divide_by, "round": t.round})),
            "type": self.kind(),
            "unit_amount": own["unit_amount"],
            "unit_amount_decimal": own["unit_amount_decimal"],
        });
        if let Some(r) = &self.recurring {
            v["recurring"] = r.to_json();
        }
        if tiers && tiered {
            v["tiers"] = own["tiers"].clone();
        }
        if currency_options {
            let mut opts = serde_json::Map::new();
            opts.insert(self.currency.code(), own.clone());
            for (code, a) in &self.currency_options {
                opts.insert(code.clone(), a.to_json(tiered));
            }
            for o in opts.values_mut() {
                if !tiers || !tiered {
                    o.as_object_mut().map(|m| m.remove("tiers"));
                }
            }
            v["currency_options"] = Value::Object(opts);
        }
        v
    }

    pub fn to_json(&self) -> Value {
        self.to_json_with(false, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> PriceCreateParams {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn decimal_amounts_are_normalized_and_bounded() {
        assert_eq!(DecimalAmount::parse("x", "0.050").unwrap().0, "0.05");
        assert_eq!(
            DecimalAmount::parse("x", "2000").unwrap().whole(),
            Some(2000)
        );
        assert_eq!(DecimalAmount::parse("x", "0.05").unwrap().whole(), None);
        assert!(DecimalAmount::parse("x", "-1").is_err());
        assert!(DecimalAmount::parse("x", "0.0000000000001").is_err());
        assert!(DecimalAmount::parse("x", "abc").is_err());
    }

    #[test]
    fn a_per_unit_price_needs_exactly_one_amount() {
        let p = params(json!({"currency": "usd"}));
        assert_eq!(
            Price::new("price_1".into(), 0, "prod_1".into(), &p)
                .unwrap_err()
                .param,
            "unit_amount"
        );
        let p = params(json!({"currency": "usd", "unit_amount": 5, "unit_amount_decimal": "5"}));
        assert_eq!(
            Price::new("price_1".into(), 0, "prod_1".into(), &p)
                .unwrap_err()
                .param,
            "unit_amount"
        );
        let p = params(json!({"currency": "usd", "unit_amount_decimal": "0.05"}));
        let price = Price::new("price_1".into(), 0, "prod_1".into(), &p).unwrap();
        let v = price.to_json();
        assert_eq!(v["unit_amount"], Value::Null);
        assert_eq!(v["unit_amount_decimal"], "0.05");
    }

    #[test]
    fn tiers_must_ascend_and_end_with_inf() {
        let base = |tiers: Value| {
            params(
                json!({"currency": "usd", "billing_scheme": "tiered", "tiers_mode": "graduated", "tiers": tiers}),
            )
        };
        let ok = base(
            json!([{"up_to": "10", "unit_amount": 100}, {"up_to": "inf", "unit_amount": 50, "flat_amount": 10}]),
        );
        let price = Price::new("price_1".into(), 0, "prod_1".into(), &ok).unwrap();
        let v = price.to_json_with(true, false);
        assert_eq!(v["tiers"][0]["up_to"], 10);
        assert_eq!(v["tiers"][1]["up_to"], Value::Null);
        assert_eq!(v["tiers"][1]["flat_amount"], 10);
        assert!(price.to_json().get("tiers").is_none());
        let no_inf = base(json!([{"up_to": "10", "unit_amount": 100}]));
        assert_eq!(
            Price::new("p".into(), 0, "x".into(), &no_inf)
                .unwrap_err()
                .param,
            "tiers[0][up_to]"
        );
        let descending = base(
            json!([{"up_to": "10", "unit_amount": 1}, {"up_to": "5", "unit_amount": 1}, {"up_to": "inf", "unit_amount": 1}]),
        );
        assert_eq!(
            Price::new("p".into(), 0, "x".into(), &descending)
                .unwrap_err()
                .param,
            "tiers[1][up_to]"
        );
    }

    #[test]
    fn recurring_periods_are_at_most_three_years() {
        let p = params(
            json!({"currency": "usd", "unit_amount": 100, "recurring": {"interval": "month", "interval_count": 37}}),
        );
        assert_eq!(
            Price::new("p".into(), 0, "x".into(), &p).unwrap_err().param,
            "recurring[interval_count]"
        );
        let p = params(
            json!({"currency": "usd", "unit_amount": 100, "recurring": {"interval": "month", "interval_count": 36, "trial_period_days": 7}}),
        );
        let price = Price::new("p".into(), 0, "x".into(), &p).unwrap();
        assert_eq!(price.to_json()["recurring"]["trial_period_days"], 7);
        assert_eq!(price.kind(), "recurring");
    }
}
