//! PaymentMethods, SetupIntents, PaymentIntents, Charges and Refunds: their stored documents,
//! request parameters, state rules and Stripe renderings. Documents are sealed whole before
//! storage; no document ever holds a card number or CVC.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ParamError;
use crate::currency::Currency;
use crate::customer::{Address, patch};
use crate::metadata::{Metadata, MetadataParam, present};
use crate::money::{Money, MoneyError};

pub const PM_PREFIX: &str = "pm";
pub const SETI_PREFIX: &str = "seti";
pub const PI_PREFIX: &str = "pi";
pub const CHARGE_PREFIX: &str = "ch";
pub const REFUND_PREFIX: &str = "re";
pub const TEXT_CHARS_MAX: usize = 5000;
pub const STATEMENT_DESCRIPTOR_CHARS_MAX: usize = 22;

// ---------------------------------------------------------------------------------------------
// Shared pieces

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingDetails {
    pub address: Option<Address>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
}

impl fmt::Debug for BillingDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BillingDetails([redacted])")
    }
}

impl BillingDetails {
    fn to_json(&self) -> Value {
        json!({
            "address": self.address.clone().unwrap_or_default(),
            "email": self.email,
            "name": self.name,
            "phone": self.phone,
        })
    }
}

/// What is kept of a card: never the number or the CVC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub funding: String,
    pub country: String,
    pub fingerprint: String,
    /// The processor's handle for charging the card.
    pub token: String,
}

impl Card {
    fn details_json(&self) -> Value {
        json!({
            "brand": self.brand,
            "checks": {"address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass"},
            "country": self.country,
            "exp_month": self.exp_month,
            "exp_year": self.exp_year,
            "fingerprint": self.fingerprint,
            "funding": self.funding,
            "last4": self.last4,
        })
    }
}

/// A payment or setup error as Stripe reports it in `last_payment_error` / `last_setup_error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    pub code: String,
    pub decline_code: Option<String>,
    pub message: String,
    pub charge: Option<String>,
    pub payment_method: Option<String>,
}

impl LastError {
    pub const AUTHENTICATION_FAILURE: &'static str = "payment_intent_authentication_failure";

    pub fn authentication_failed(payment_method: Option<String>, setup: bool) -> Self {
        let (code, what) = if setup {
            ("setup_intent_authentication_failure", "SetupIntent")
        } else {
            (Self::AUTHENTICATION_FAILURE, "PaymentIntent")
        };
        Self {
            code: code.into(),
            decline_code: None,
            message: format!(
                "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this {what} again."
            ),
            charge: None,
            payment_method,
        }
    }

    fn to_json(&self, pm: Option<&Value>) -> Value {
        json!({
            "type": "card_error",
            "code": self.code,
            "decline_code": self.decline_code,
            "message": self.message,
            "charge": self.charge,
            "payment_method": pm.cloned().or_else(|| self.payment_method.clone().map(Value::String)),
            "doc_url": format!("https://stripe.com/docs/error-codes/{}", self.code.replace('_', "-")),
        })
    }
}

/// Where the cardholder authenticates (the hosted page), and where they go afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub url: String,
    pub return_url: Option<String>,
}

impl Redirect {
    fn to_json(&self) -> Value {
        json!({
            "type": "redirect_to_url",
            "redirect_to_url": {"url": self.url, "return_url": self.return_url},
        })
    }
}

/// `off_session` may be a boolean or Stripe's `one_off` / `recurring`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffSession(pub bool);

impl<'de> Deserialize<'de> for OffSession {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::Bool(b) => Ok(Self(b)),
            Value::String(s) => match s.as_str() {
                "true" | "one_off" | "recurring" => Ok(Self(true)),
                "false" => Ok(Self(false)),
                other => Err(D::Error::custom(format!(
                    "Invalid off_session: must be true, false, one_off or recurring; you passed {other}"
                ))),
            },
            _ => Err(D::Error::custom("Invalid off_session: must be a boolean")),
        }
    }
}

pub(crate) fn check_text(param: &str, v: &Option<String>, max: usize) -> Result<(), ParamError> {
    if let Some(v) = v {
        crate::param::check_len(param, v, max)?;
    }
    Ok(())
}

pub(crate) fn check_descriptor(param: &str, v: &Option<String>) -> Result<(), ParamError> {
    if let Some(v) = v {
        crate::param::check_len(param, v, STATEMENT_DESCRIPTOR_CHARS_MAX)?;
        if v.contains(['<', '>', '\\', '\'', '"', '*']) {
            return Err(ParamError::invalid(
                param,
                format!("Invalid {param}: it cannot contain < > \\ ' \" or *"),
            ));
        }
    }
    Ok(())
}

pub fn apply_metadata(
    current: &Metadata,
    p: &Option<MetadataParam>,
) -> Result<Metadata, ParamError> {
    match p {
        Some(m) => m.apply(current),
        None => Ok(current.clone()),
    }
}

// ---------------------------------------------------------------------------------------------
// PaymentMethods

/// A raw card as a request sends it (sandbox only). Its `Debug` prints nothing of it.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardParams {
    pub number: Option<String>,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub cvc: Option<String>,
    /// A test token such as `tok_visa`.
    pub token: Option<String>,
}

impl fmt::Debug for CardParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardParams([redacted])")
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodCreateParams {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub card: Option<CardParams>,
    pub billing_details: Option<BillingDetails>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    pub allow_redisplay: Option<String>,
    /// Accepted for Stripe compatibility: creating for a customer attaches.
    pub customer: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardUpdateParams {
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodUpdateParams {
    pub billing_details: Option<BillingDetails>,
    pub card: Option<CardUpdateParams>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    pub allow_redisplay: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodAttachParams {
    pub customer: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodListParams {
    pub customer: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(PaymentMethodListParams);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    pub created: i64,
    pub customer: Option<String>,
    pub billing_details: BillingDetails,
    pub card: Card,
    pub metadata: Metadata,
    pub allow_redisplay: String,
    /// Set up for off-session use (a succeeded SetupIntent, or a payment with
    /// `setup_future_usage`).
    pub set_up: bool,
}

fn check_allow_redisplay(v: &Option<String>) -> Result<(), ParamError> {
    match v.as_deref() {
        None | Some("always" | "limited" | "unspecified") => Ok(()),
        Some(other) => Err(ParamError::invalid(
            "allow_redisplay",
            format!(
                "Invalid allow_redisplay: must be one of always, limited or unspecified; you passed {other}"
            ),
        )),
    }
}

fn check_billing(b: &Option<BillingDetails>) -> Result<(), ParamError> {
    if let Some(b) = b {
        check_text("billing_details[name]", &b.name, 256)?;
        check_text("billing_details[email]", &b.email, 512)?;
        check_text("billing_details[phone]", &b.phone, 50)?;
    }
    Ok(())
}

impl PaymentMethod {
    pub fn new(
        id: String,
        now: i64,
        card: Card,
        p: &PaymentMethodCreateParams,
    ) -> Result<Self, ParamError> {
        check_billing(&p.billing_details)?;
        check_allow_redisplay(&p.allow_redisplay)?;
        Ok(Self {
            id,
            created: now,
            customer: None,
            billing_details: p.billing_details.clone().unwrap_or_default(),
            card,
            metadata: apply_metadata(&Metadata::new(), &p.metadata)?,
            allow_redisplay: p
                .allow_redisplay
                .clone()
                .unwrap_or_else(|| "unspecified".into()),
            set_up: false,
        })
    }

    /// A PaymentMethod made from a test id (`pm_card_visa`) when a request names one.
    pub fn from_test_card(id: String, now: i64, card: Card) -> Self {
        Self {
            id,
            created: now,
            customer: None,
            billing_details: BillingDetails::default(),
            card,
            metadata: Metadata::new(),
            allow_redisplay: "unspecified".into(),
            set_up: false,
        }
    }

    pub fn updated(
        &self,
        p: PaymentMethodUpdateParams,
        this_year: i64,
    ) -> Result<Self, ParamError> {
        check_billing(&p.billing_details)?;
        check_allow_redisplay(&p.allow_redisplay)?;
        let mut next = self.clone();
        if let Some(b) = p.billing_details {
            next.billing_details = b;
        }
        if let Some(c) = p.card {
            if let Some(m) = c.exp_month {
                if !(1..=12).contains(&m) {
                    return Err(ParamError::new(
                        "card[exp_month]",
                        "invalid_expiry_month",
                        "Your card's expiration month is invalid.",
                    ));
                }
                next.card.exp_month = m as u32;
            }
            if let Some(y) = c.exp_year {
                let y = if (0..100).contains(&y) { 2000 + y } else { y };
                if y < this_year || y > this_year + 50 {
                    return Err(ParamError::new(
                        "card[exp_year]",
                        "invalid_expiry_year",
                        "Your card's expiration year is invalid.",
                    ));
                }
                next.card.exp_year = y as u32;
            }
        }
        next.metadata = apply_metadata(&self.metadata, &p.metadata)?;
        if let Some(a) = p.allow_redisplay {
            next.allow_redisplay = a;
        }
        Ok(next)
    }

    pub fn to_json(&self) -> Value {
        let mut card = self.card.details_json();
        card["display_brand"] = json!(self.card.brand);
        card["generated_from"] = Value::Null;
        card["networks"] = json!({"available": [self.card.brand], "preferred": null});
        card["three_d_secure_usage"] = json!({"supported": true});
        card["wallet"] = Value::Null;
        let mut v = json!({
            "id": self.id,
            "object": "payment_method",
            "allow_redisplay": self.allow_redisplay,
            "billing_details": null,
            "card": null,
            "created": self.created,
            "customer": self.customer,
            "livemode": false,
            "metadata": self.metadata,
            "type": "card",
        });
        // Moved in: `json!` would copy them (see the crate documentation).
        v["billing_details"] = self.billing_details.to_json();
        v["card"] = card;
        v
    }
}

// ---------------------------------------------------------------------------------------------
// PaymentIntents

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
}

impl PiStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::Processing => "processing",
            Self::RequiresCapture => "requires_capture",
            Self::Canceled => "canceled",
            Self::Succeeded => "succeeded",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMethod {
    Automatic,
    AutomaticAsync,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FutureUsage {
    OnSession,
    OffSession,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmationMethod {
    Automatic,
    Manual,
}

/// A processor call in progress. While one is pending, the intent accepts no other change;
/// a pending call older than its lease is resumed with the same processor idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Pending {
    Confirm {
        attempt: u32,
        since: i64,
        authenticated: bool,
    },
    Capture {
        amount_minor: i64,
        since: i64,
    },
    Cancel {
        since: i64,
    },
}

/// How long a pending processor call may run before another request may resume it.
pub const PENDING_LEASE_SECS: i64 = 60;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomaticPaymentMethods {
    pub enabled: Option<bool>,
    pub allow_redirects: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentIntentCreateParams {
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    /// A new card to create and use, instead of `payment_method`.
    pub payment_method_data: Option<PaymentMethodCreateParams>,
    pub payment_method_types: Option<Vec<String>>,
    pub automatic_payment_methods: Option<AutomaticPaymentMethods>,
    pub confirm: Option<bool>,
    /// `true`, `false`, `one_off` or `recurring`.
    #[schema(value_type = Option<bool>)]
    pub off_session: Option<OffSession>,
    pub capture_method: Option<CaptureMethod>,
    pub confirmation_method: Option<ConfirmationMethod>,
    pub setup_future_usage: Option<FutureUsage>,
    pub description: Option<String>,
    pub receipt_email: Option<String>,
    pub statement_descriptor: Option<String>,
    pub statement_descriptor_suffix: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    pub return_url: Option<String>,
    pub error_on_requires_action: Option<bool>,
    pub use_stripe_sdk: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentIntentUpdateParams {
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    pub capture_method: Option<CaptureMethod>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<FutureUsage>)]
    pub setup_future_usage: Option<Option<FutureUsage>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub receipt_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub statement_descriptor: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub statement_descriptor_suffix: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    pub payment_method_types: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentIntentConfirmParams {
    pub payment_method: Option<String>,
    pub payment_method_data: Option<PaymentMethodCreateParams>,
    pub return_url: Option<String>,
    /// `true`, `false`, `one_off` or `recurring`.
    #[schema(value_type = Option<bool>)]
    pub off_session: Option<OffSession>,
    pub setup_future_usage: Option<FutureUsage>,
    pub receipt_email: Option<String>,
    pub capture_method: Option<CaptureMethod>,
    pub client_secret: Option<String>,
    pub error_on_requires_action: Option<bool>,
    pub use_stripe_sdk: Option<bool>,
    pub payment_method_types: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentIntentCaptureParams {
    pub amount_to_capture: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    pub statement_descriptor: Option<String>,
    pub statement_descriptor_suffix: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentIntentCancelParams {
    pub cancellation_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IntentRetrieveParams {
    pub client_secret: Option<String>,
}

/// The sandbox's authentication step: `success=true` approves, `false` fails (localstripe's
/// form, so tests written against it work unchanged).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthenticateParams {
    pub client_secret: Option<String>,
    pub success: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PaymentIntentListParams {
    pub customer: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(PaymentIntentListParams);

/// `payment_method_options[card][request_three_d_secure]`: whether the customer is asked to
/// authenticate a payment the card alone would not require it for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestThreeDSecure {
    /// When the card or the processor requires it.
    #[default]
    Automatic,
    /// Whenever the card supports it, if the customer is present.
    Any,
    /// Always, if the customer is present.
    Challenge,
}

impl RequestThreeDSecure {
    /// Whether the merchant asks for authentication beyond what the card requires.
    pub fn requested(self) -> bool {
        self != Self::Automatic
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub amount_capturable: i64,
    pub amount_received: i64,
    pub currency: Currency,
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    pub status: PiStatus,
    pub capture_method: CaptureMethod,
    pub confirmation_method: ConfirmationMethod,
    pub setup_future_usage: Option<FutureUsage>,
    pub description: Option<String>,
    pub receipt_email: Option<String>,
    pub statement_descriptor: Option<String>,
    pub statement_descriptor_suffix: Option<String>,
    pub metadata: Metadata,
    pub client_secret: String,
    pub latest_charge: Option<String>,
    pub last_payment_error: Option<LastError>,
    pub next_action: Option<Redirect>,
    pub cancellation_reason: Option<String>,
    pub canceled_at: Option<i64>,
    pub return_url: Option<String>,
    pub off_session: bool,
    pub payment_method_types: Vec<String>,
    /// Confirmation attempts so far; each has its own processor idempotency key.
    pub attempts: u32,
    pub pending: Option<Pending>,
    /// The processor's authorization or charge for `latest_charge`.
    pub processor_ref: Option<String>,
    /// The invoice this intent pays, when an invoice made it.
    #[serde(default)]
    pub invoice: Option<String>,
    #[serde(default)]
    pub request_three_d_secure: RequestThreeDSecure,
    /// The Checkout Session this intent pays (not rendered: Stripe's PaymentIntent does not
    /// name it); its success completes the session.
    #[serde(default)]
    pub checkout_session: Option<String>,
    /// While `requires_action` on a processor that runs 3-D Secure itself (Stripe): its
    /// payment to authenticate, and the client secret Stripe.js needs. Not rendered.
    #[serde(default)]
    pub processor_action: Option<ProcessorAction>,
}

/// A processor's payment awaiting the cardholder's authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorAction {
    pub reference: String,
    pub client_secret: Option<String>,
}

/// An error in a request that is well formed but not allowed in the object's state.
pub fn unexpected_state(message: impl Into<String>) -> ParamError {
    ParamError::new("", "payment_intent_unexpected_state", message)
}

fn check_payment_method_types(types: &Option<Vec<String>>) -> Result<(), ParamError> {
    if let Some(types) = types
        && let Some(bad) = types.iter().find(|t| t.as_str() != "card")
    {
        return Err(ParamError::invalid(
            "payment_method_types",
            format!(
                "The payment method type provided: {bad} is invalid. This processor supports: card."
            ),
        ));
    }
    Ok(())
}

pub fn check_return_url(url: &Option<String>) -> Result<(), ParamError> {
    if let Some(u) = url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(ParamError::invalid(
            "return_url",
            "Invalid return_url: must be an http or https URL",
        ));
    }
    Ok(())
}

impl PaymentIntent {
    /// A new PaymentIntent from checked parameters; `amount` and `currency` are validated by
    /// the caller against the currency's limits.
    pub fn new(
        id: String,
        now: i64,
        amount: i64,
        currency: Currency,
        client_secret: String,
        p: &PaymentIntentCreateParams,
    ) -> Result<Self, ParamError> {
        check_text("description", &p.description, TEXT_CHARS_MAX)?;
        check_text("receipt_email", &p.receipt_email, 800)?;
        check_descriptor("statement_descriptor", &p.statement_descriptor)?;
        check_descriptor(
            "statement_descriptor_suffix",
            &p.statement_descriptor_suffix,
        )?;
        check_payment_method_types(&p.payment_method_types)?;
        check_return_url(&p.return_url)?;
        if p.return_url.is_some() && p.confirm != Some(true) {
            return Err(ParamError::invalid(
                "return_url",
                "return_url can only be passed when confirm is true.",
            ));
        }
        if p.off_session.is_some() && p.confirm != Some(true) {
            return Err(ParamError::invalid(
                "off_session",
                "off_session can only be passed when confirm is true.",
            ));
        }
        let status = if p.payment_method.is_some() || p.payment_method_data.is_some() {
            PiStatus::RequiresConfirmation
        } else {
            PiStatus::RequiresPaymentMethod
        };
        Ok(Self {
            id,
            created: now,
            amount,
            amount_capturable: 0,
            amount_received: 0,
            currency,
            customer: p.customer.clone(),
            payment_method: p.payment_method.clone(),
            status,
            capture_method: p.capture_method.unwrap_or(CaptureMethod::Automatic),
            confirmation_method: p
                .confirmation_method
                .unwrap_or(ConfirmationMethod::Automatic),
            setup_future_usage: p.setup_future_usage,
            description: p.description.clone(),
            receipt_email: p.receipt_email.clone(),
            statement_descriptor: p.statement_descriptor.clone(),
            statement_descriptor_suffix: p.statement_descriptor_suffix.clone(),
            metadata: apply_metadata(&Metadata::new(), &p.metadata)?,
            client_secret,
            latest_charge: None,
            last_payment_error: None,
            next_action: None,
            cancellation_reason: None,
            canceled_at: None,
            return_url: p.return_url.clone(),
            off_session: false,
            payment_method_types: vec!["card".into()],
            attempts: 0,
            pending: None,
            processor_ref: None,
            invoice: None,
            request_three_d_secure: RequestThreeDSecure::Automatic,
            checkout_session: None,
            processor_action: None,
        })
    }

    /// Whether parameters may still change the intent.
    fn check_updatable(&self) -> Result<(), ParamError> {
        match self.status {
            PiStatus::RequiresPaymentMethod
            | PiStatus::RequiresConfirmation
            | PiStatus::RequiresAction => Ok(()),
            s => Err(unexpected_state(format!(
                "This PaymentIntent's attributes cannot be updated because it has a status of {}.",
                s.as_str()
            ))),
        }
    }

    /// This intent with `p` applied. Amount and currency are checked by the caller.
    pub fn updated(&self, p: PaymentIntentUpdateParams) -> Result<Self, ParamError> {
        self.check_updatable()?;
        check_payment_method_types(&p.payment_method_types)?;
        let mut next = self.clone();
        if let Some(a) = p.amount {
            next.amount = a;
        }
        if let Some(c) = p.currency {
            next.currency = Currency::parse("currency", &c)?;
        }
        if let Some(c) = p.customer {
            next.customer = Some(c);
        }
        if let Some(pm) = p.payment_method {
            next.payment_method = Some(pm);
            next.status = PiStatus::RequiresConfirmation;
            next.next_action = None;
        }
        if let Some(m) = p.capture_method {
            next.capture_method = m;
        }
        if let Some(v) = p.setup_future_usage {
            next.setup_future_usage = v;
        }
        if let Some(v) = p.description {
            check_text("description", &v, TEXT_CHARS_MAX)?;
            next.description = v;
        }
        if let Some(v) = p.receipt_email {
            next.receipt_email = v;
        }
        if let Some(v) = p.statement_descriptor {
            check_descriptor("statement_descriptor", &v)?;
            next.statement_descriptor = v;
        }
        if let Some(v) = p.statement_descriptor_suffix {
            check_descriptor("statement_descriptor_suffix", &v)?;
            next.statement_descriptor_suffix = v;
        }
        next.metadata = apply_metadata(&self.metadata, &p.metadata)?;
        Ok(next)
    }

    /// Whether the intent may be confirmed now; the message is Stripe's.
    pub fn check_confirmable(&self) -> Result<(), ParamError> {
        match self.status {
            PiStatus::RequiresPaymentMethod
            | PiStatus::RequiresConfirmation
            | PiStatus::RequiresAction => Ok(()),
            PiStatus::Succeeded => Err(unexpected_state(
                "You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.",
            )),
            PiStatus::Canceled => Err(unexpected_state(
                "You cannot confirm this PaymentIntent because it has a status of canceled. Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_payment_method, requires_action.",
            )),
            s => Err(unexpected_state(format!(
                "You cannot confirm this PaymentIntent because it has a status of {}. Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_payment_method, requires_action.",
                s.as_str()
            ))),
        }
    }

    pub fn check_capturable(&self, amount_to_capture: i64) -> Result<(), ParamError> {
        if self.status != PiStatus::RequiresCapture {
            return Err(unexpected_state(format!(
                "This PaymentIntent could not be captured because it has a status of {}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
                self.status.as_str()
            )));
        }
        if amount_to_capture <= 0 || amount_to_capture > self.amount_capturable {
            return Err(ParamError::new(
                "amount_to_capture",
                "amount_too_large",
                format!(
                    "The amount to capture ({amount_to_capture}) must be positive and at most the amount capturable ({}).",
                    self.amount_capturable
                ),
            ));
        }
        Ok(())
    }

    pub fn check_cancelable(&self) -> Result<(), ParamError> {
        match self.status {
            PiStatus::Succeeded | PiStatus::Canceled | PiStatus::Processing => {
                Err(unexpected_state(format!(
                    "You cannot cancel this PaymentIntent because it has a status of {}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.",
                    self.status.as_str()
                )))
            }
            _ => Ok(()),
        }
    }

    /// The processor idempotency key of a confirmation attempt.
    pub fn attempt_key(&self, attempt: u32) -> String {
        format!("{}:confirm:{attempt}", self.id)
    }

    pub fn to_json(&self) -> Value {
        let status = match self.pending {
            Some(Pending::Confirm { .. }) => PiStatus::Processing,
            _ => self.status,
        };
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": self.amount_capturable,
            "amount_details": {"tip": {}},
            "amount_received": self.amount_received,
            "application": null,
            "application_fee_amount": null,
            "automatic_payment_methods": null,
            "canceled_at": self.canceled_at,
            "cancellation_reason": self.cancellation_reason,
            "capture_method": self.capture_method,
            "client_secret": self.client_secret,
            "confirmation_method": self.confirmation_method,
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "last_payment_error": self.last_payment_error.as_ref().map(|e| e.to_json(None)),
            "invoice": self.invoice,
            "latest_charge": self.latest_charge,
            "livemode": false,
            "metadata": self.metadata,
            "next_action": self.next_action.as_ref().map(Redirect::to_json),
            "on_behalf_of": null,
            "payment_method": self.payment_method,
            "payment_method_options": {"card": {"request_three_d_secure": self.request_three_d_secure}},
            "payment_method_types": self.payment_method_types,
            "processing": null,
            "receipt_email": self.receipt_email,
            "review": null,
            "setup_future_usage": self.setup_future_usage,
            "shipping": null,
            "statement_descriptor": self.statement_descriptor,
            "statement_descriptor_suffix": self.statement_descriptor_suffix,
            "status": status.as_str(),
            "transfer_data": null,
            "transfer_group": null,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Charges

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    Succeeded,
    Pending,
    Failed,
}

impl ChargeStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Pending => "pending",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    /// Refunds reserved while their processor call runs; never more than is refundable.
    pub refunds_pending: i64,
    pub currency: Currency,
    pub customer: Option<String>,
    pub payment_intent: String,
    pub payment_method: String,
    pub card: Card,
    pub billing_details: BillingDetails,
    pub status: ChargeStatus,
    pub captured: bool,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub decline_code: Option<String>,
    pub description: Option<String>,
    pub receipt_email: Option<String>,
    pub receipt_url: String,
    pub statement_descriptor: Option<String>,
    pub metadata: Metadata,
    pub processor_ref: String,
    /// An uncaptured authorization released on cancel.
    pub released: bool,
    /// The invoice its PaymentIntent pays, if any.
    #[serde(default)]
    pub invoice: Option<String>,
    /// A cardholder's bank disputed it (a chargeback, not an inquiry).
    #[serde(default)]
    pub disputed: bool,
}

/// Why a charge cannot be refunded as asked: each one of Stripe's errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefused {
    #[error("Charge {0} has not been captured, so it cannot be refunded.")]
    NotCaptured(String),
    #[error(
        "Charge {id} is more than {days} days old; refunds are allowed within {days} days of the payment."
    )]
    WindowExpired { id: String, days: u32 },
    #[error("Charge {0} has already been refunded.")]
    AlreadyRefunded(String),
    #[error(
        "Refund amount ({asked}) is greater than the unrefunded amount on charge {id} ({left})."
    )]
    TooLarge { id: String, asked: i64, left: i64 },
    #[error("Invalid amount: must be a positive integer.")]
    NotPositive,
    #[error("Charge {0} has been charged back: its dispute settles the money, not a refund.")]
    Disputed(String),
    #[error("the charge's amounts overflow: {0}")]
    Money(#[from] MoneyError),
}

impl From<RefundRefused> for ParamError {
    fn from(e: RefundRefused) -> Self {
        let message = e.to_string();
        match e {
            RefundRefused::NotCaptured(_) => {
                ParamError::new("charge", "charge_not_refundable", message)
            }
            RefundRefused::WindowExpired { .. } => {
                ParamError::new("charge", "charge_refund_window_expired", message)
            }
            RefundRefused::Disputed(_) => ParamError::new("charge", "charge_disputed", message),
            RefundRefused::AlreadyRefunded(_) => {
                ParamError::new("charge", "charge_already_refunded", message)
            }
            RefundRefused::TooLarge { .. } => {
                ParamError::new("amount", "amount_too_large", message)
            }
            RefundRefused::NotPositive => ParamError::invalid("amount", message),
            RefundRefused::Money(_) => ParamError::invalid("amount", message),
        }
    }
}

impl Charge {
    /// Whether all that was captured was refunded.
    pub fn refunded(&self) -> bool {
        self.amount_captured > 0 && self.amount_refunded == self.amount_captured
    }

    pub fn captured_amount(&self) -> Money {
        Money::new(self.amount_captured, self.currency)
    }

    /// The ledger posting for capturing `amount` of this charge: a sale and its settlement,
    /// or for an invoice (whose sale was posted when it was finalized) the settlement alone.
    pub fn capture_posting(&self, amount: Money) -> crate::ledger::Posting {
        match self.invoice {
            Some(_) => crate::ledger::Posting::invoice_payment_captured(&self.id, amount),
            None => crate::ledger::Posting::payment_captured(&self.id, amount),
        }
    }

    /// What can still be refunded, net of refunds in flight.
    pub fn refundable(&self) -> Result<Money, MoneyError> {
        self.captured_amount()
            .checked_sub(Money::new(self.amount_refunded, self.currency))?
            .checked_sub(Money::new(self.refunds_pending, self.currency))
    }

    /// Reserves a refund of `asked` (all that is left if `None`) at `now`, while its
    /// processor call runs; refunds may be limited to `window_days` after the charge.
    pub fn reserve_refund(
        &mut self,
        asked: Option<i64>,
        now: i64,
        window_days: Option<u32>,
    ) -> Result<Money, RefundRefused> {
        if asked.is_some_and(|a| a <= 0) {
            return Err(RefundRefused::NotPositive);
        }
        if self.status != ChargeStatus::Succeeded || !self.captured {
            return Err(RefundRefused::NotCaptured(self.id.clone()));
        }
        if self.disputed {
            return Err(RefundRefused::Disputed(self.id.clone()));
        }
        if let Some(days) = window_days
            && now.saturating_sub(self.created) > i64::from(days) * 86_400
        {
            return Err(RefundRefused::WindowExpired {
                id: self.id.clone(),
                days,
            });
        }
        let left = self.refundable()?;
        if !left.is_positive() {
            return Err(RefundRefused::AlreadyRefunded(self.id.clone()));
        }
        let amount = asked.map_or(left, |a| Money::new(a, self.currency));
        if amount.checked_cmp(left)? == std::cmp::Ordering::Greater {
            return Err(RefundRefused::TooLarge {
                id: self.id.clone(),
                asked: amount.amount_minor(),
                left: left.amount_minor(),
            });
        }
        self.refunds_pending = Money::new(self.refunds_pending, self.currency)
            .checked_add(amount)?
            .amount_minor();
        Ok(amount)
    }

    /// A reserved refund of `amount` is over: paid (`succeeded`) or not. Returns whether the
    /// charge is now refunded in full.
    /// An amount that was never reserved is refused, and nothing changes.
    pub fn refund_settled(&mut self, amount: Money, succeeded: bool) -> Result<bool, MoneyError> {
        let pending = Money::new(self.refunds_pending, self.currency).checked_sub(amount)?;
        let refunded = Money::new(self.amount_refunded, self.currency).checked_add(amount)?;
        if !amount.is_positive()
            || pending.amount_minor() < 0
            || refunded.checked_cmp(self.captured_amount())? == std::cmp::Ordering::Greater
        {
            return Err(MoneyError::OutOfRange);
        }
        self.refunds_pending = pending.amount_minor();
        if succeeded {
            self.amount_refunded = refunded.amount_minor();
        }
        Ok(self.amount_captured > 0 && self.amount_refunded == self.amount_captured)
    }

    pub fn to_json(&self) -> Value {
        let paid = self.status == ChargeStatus::Succeeded;
        let outcome = match self.status {
            ChargeStatus::Failed => {
                let blocked = self.decline_code.as_deref() == Some("fraudulent");
                json!({
                    "network_status": if blocked { "not_sent_to_network" } else { "declined_by_network" },
                    "reason": self.decline_code,
                    "risk_level": "normal",
                    "risk_score": 20,
                    "seller_message": "The bank did not return any further details with this decline.",
                    "type": if blocked { "blocked" } else { "issuer_declined" },
                })
            }
            _ => json!({
                "network_status": "approved_by_network",
                "reason": null,
                "risk_level": "normal",
                "risk_score": 20,
                "seller_message": "Payment complete.",
                "type": "authorized",
            }),
        };
        let mut card = self.card.details_json();
        card["network"] = json!(self.card.brand);
        card["three_d_secure"] = Value::Null;
        let mut v = json!({
            "id": self.id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.amount_captured,
            "amount_refunded": self.amount_refunded,
            "application": null,
            "application_fee": null,
            "balance_transaction": null,
            "billing_details": null,
            "calculated_statement_descriptor": self.statement_descriptor.clone().unwrap_or_else(|| "CASHBOX".into()),
            "captured": self.captured,
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "disputed": self.disputed,
            "failure_code": self.failure_code,
            "failure_message": self.failure_message,
            "fraud_details": {},
            "livemode": false,
            "metadata": self.metadata,
            "outcome": null,
            "paid": paid,
            "payment_intent": self.payment_intent,
            "payment_method": self.payment_method,
            "payment_method_details": {"card": null, "type": "card"},
            "receipt_email": self.receipt_email,
            "receipt_number": null,
            "receipt_url": self.receipt_url,
            "refunded": self.refunded()
                || self.released,
            "review": null,
            "shipping": null,
            "statement_descriptor": self.statement_descriptor,
            "status": self.status,
        });
        // Moved in: `json!` would copy them (see the crate documentation).
        v["billing_details"] = self.billing_details.to_json();
        v["outcome"] = outcome;
        v["payment_method_details"]["card"] = card;
        v
    }
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChargeListParams {
    pub customer: Option<String>,
    pub payment_intent: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(ChargeListParams);

// ---------------------------------------------------------------------------------------------
// Refunds

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    Duplicate,
    Fraudulent,
    RequestedByCustomer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    RequiresAction,
    Succeeded,
    Failed,
    Canceled,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::RequiresAction => "requires_action",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundCreateParams {
    pub charge: Option<String>,
    pub payment_intent: Option<String>,
    pub amount: Option<i64>,
    pub reason: Option<RefundReason>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    pub instructions_email: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundUpdateParams {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RefundListParams {
    pub charge: Option<String>,
    pub payment_intent: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(RefundListParams);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub currency: Currency,
    pub charge: String,
    pub payment_intent: String,
    pub reason: Option<RefundReason>,
    pub status: RefundStatus,
    pub failure_reason: Option<String>,
    pub metadata: Metadata,
    pub processor_ref: Option<String>,
}

impl Refund {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "balance_transaction": null,
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "destination_details": {"card": {"reference_status": "available", "reference_type": "acquirer_reference_number", "type": "refund"}, "type": "card"},
            "failure_reason": self.failure_reason,
            "metadata": self.metadata,
            "payment_intent": self.payment_intent,
            "reason": self.reason,
            "receipt_number": null,
            "source_transfer_reversal": null,
            "status": self.status.as_str(),
            "transfer_reversal": null,
        })
    }

    pub fn updated(&self, p: RefundUpdateParams) -> Result<Self, ParamError> {
        let mut next = self.clone();
        next.metadata = apply_metadata(&self.metadata, &p.metadata)?;
        Ok(next)
    }
}

// ---------------------------------------------------------------------------------------------
// SetupIntents

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetiStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    Canceled,
    Succeeded,
}

impl SetiStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::Processing => "processing",
            Self::Canceled => "canceled",
            Self::Succeeded => "succeeded",
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupIntentCreateParams {
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    pub payment_method_data: Option<PaymentMethodCreateParams>,
    pub confirm: Option<bool>,
    pub usage: Option<FutureUsage>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    pub payment_method_types: Option<Vec<String>>,
    pub automatic_payment_methods: Option<AutomaticPaymentMethods>,
    pub return_url: Option<String>,
    pub use_stripe_sdk: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupIntentConfirmParams {
    pub payment_method: Option<String>,
    pub payment_method_data: Option<PaymentMethodCreateParams>,
    pub return_url: Option<String>,
    pub client_secret: Option<String>,
    pub use_stripe_sdk: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupIntentCancelParams {
    pub cancellation_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SetupIntentListParams {
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(SetupIntentListParams);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupIntent {
    pub id: String,
    pub created: i64,
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    pub status: SetiStatus,
    pub usage: FutureUsage,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub client_secret: String,
    pub last_setup_error: Option<LastError>,
    pub next_action: Option<Redirect>,
    pub cancellation_reason: Option<String>,
    pub return_url: Option<String>,
    pub attempts: u32,
    /// When the processor call of the current attempt started (status `processing`).
    pub pending_since: Option<i64>,
    /// The cardholder authenticated the current attempt.
    pub authenticated: bool,
    /// The Checkout Session this intent saves a card for (not rendered); its success
    /// completes the session.
    #[serde(default)]
    pub checkout_session: Option<String>,
    /// While `requires_action` on a processor that runs 3-D Secure itself (Stripe): its
    /// SetupIntent to authenticate and the client secret Stripe.js needs. Not rendered.
    #[serde(default)]
    pub processor_action: Option<ProcessorAction>,
}

impl SetupIntent {
    pub fn new(
        id: String,
        now: i64,
        client_secret: String,
        p: &SetupIntentCreateParams,
    ) -> Result<Self, ParamError> {
        check_text("description", &p.description, TEXT_CHARS_MAX)?;
        check_payment_method_types(&p.payment_method_types)?;
        check_return_url(&p.return_url)?;
        Ok(Self {
            id,
            created: now,
            customer: p.customer.clone(),
            payment_method: p.payment_method.clone(),
            status: if p.payment_method.is_some() || p.payment_method_data.is_some() {
                SetiStatus::RequiresConfirmation
            } else {
                SetiStatus::RequiresPaymentMethod
            },
            usage: p.usage.unwrap_or(FutureUsage::OffSession),
            description: p.description.clone(),
            metadata: apply_metadata(&Metadata::new(), &p.metadata)?,
            client_secret,
            last_setup_error: None,
            next_action: None,
            cancellation_reason: None,
            return_url: p.return_url.clone(),
            attempts: 0,
            pending_since: None,
            authenticated: false,
            processor_action: None,
            checkout_session: None,
        })
    }

    pub fn attempt_key(&self) -> String {
        format!("{}:confirm:{}", self.id, self.attempts)
    }

    pub fn check_confirmable(&self) -> Result<(), ParamError> {
        match self.status {
            SetiStatus::RequiresPaymentMethod
            | SetiStatus::RequiresConfirmation
            | SetiStatus::RequiresAction => Ok(()),
            s => Err(ParamError::new(
                "",
                "setup_intent_unexpected_state",
                format!(
                    "You cannot confirm this SetupIntent because it has a status of {}.",
                    s.as_str()
                ),
            )),
        }
    }

    pub fn check_cancelable(&self) -> Result<(), ParamError> {
        match self.status {
            SetiStatus::Succeeded | SetiStatus::Canceled | SetiStatus::Processing => {
                Err(ParamError::new(
                    "",
                    "setup_intent_unexpected_state",
                    format!(
                        "You cannot cancel this SetupIntent because it has a status of {}.",
                        self.status.as_str()
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "setup_intent",
            "application": null,
            "automatic_payment_methods": null,
            "cancellation_reason": self.cancellation_reason,
            "client_secret": self.client_secret,
            "created": self.created,
            "customer": self.customer,
            "description": self.description,
            "flow_directions": null,
            "last_setup_error": self.last_setup_error.as_ref().map(|e| e.to_json(None)),
            "latest_attempt": null,
            "livemode": false,
            "mandate": null,
            "metadata": self.metadata,
            "next_action": self.next_action.as_ref().map(Redirect::to_json),
            "on_behalf_of": null,
            "payment_method": self.payment_method,
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "payment_method_types": ["card"],
            "single_use_mandate": null,
            "status": self.status.as_str(),
            "usage": self.usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currency::USD;

    fn charge(captured: i64) -> Charge {
        let card = Card {
            brand: "visa".into(),
            last4: "4242".into(),
            exp_month: 12,
            exp_year: 2030,
            funding: "credit".into(),
            country: "US".into(),
            fingerprint: "fp".into(),
            token: "tok".into(),
        };
        serde_json::from_value(json!({
            "id": "ch_1", "created": 0, "amount": captured, "amount_captured": captured,
            "amount_refunded": 0, "refunds_pending": 0, "currency": "usd", "customer": null,
            "payment_intent": "pi_1", "payment_method": "pm_1", "card": card,
            "billing_details": BillingDetails::default(), "status": "succeeded",
            "captured": true, "failure_code": null, "failure_message": null,
            "decline_code": null, "description": null, "receipt_email": null,
            "receipt_url": "", "statement_descriptor": null, "metadata": {},
            "processor_ref": "ref", "released": false,
        }))
        .unwrap()
    }

    #[test]
    fn refunds_reserve_what_is_left_and_settle_once() {
        let usd = |x| Money::new(x, USD);
        let mut c = charge(1_000);
        assert_eq!(c.reserve_refund(Some(400), 10, None), Ok(usd(400)));
        assert_eq!(c.refundable(), Ok(usd(600)));
        // What is reserved cannot be reserved twice.
        assert_eq!(
            c.reserve_refund(Some(700), 10, None),
            Err(RefundRefused::TooLarge {
                id: "ch_1".into(),
                asked: 700,
                left: 600
            })
        );
        assert_eq!(c.refund_settled(usd(400), false), Ok(false));
        assert_eq!((c.refunds_pending, c.amount_refunded), (0, 0));
        let all = c.reserve_refund(None, 10, None).unwrap();
        assert_eq!(all, usd(1_000));
        assert_eq!(c.refund_settled(all, true), Ok(true));
        assert_eq!(
            c.reserve_refund(None, 10, None),
            Err(RefundRefused::AlreadyRefunded("ch_1".into()))
        );
        // Settling what was never reserved is refused, and changes nothing.
        let mut c = charge(1_000);
        assert_eq!(c.refund_settled(usd(-1), true), Err(MoneyError::OutOfRange));
        assert_eq!(c.refund_settled(usd(10), true), Err(MoneyError::OutOfRange));
        c.reserve_refund(Some(10), 0, None).unwrap();
        assert_eq!(c.refund_settled(usd(11), true), Err(MoneyError::OutOfRange));
        assert_eq!((c.refunds_pending, c.amount_refunded), (10, 0));
    }

    #[test]
    fn refunds_are_refused_by_stripes_rules_with_its_codes() {
        let mut c = charge(1_000);
        let code = |e: RefundRefused| ParamError::from(e).code;
        let e = c.reserve_refund(Some(0), 0, None).unwrap_err();
        assert_eq!(e, RefundRefused::NotPositive);
        assert_eq!(ParamError::from(e).param, "amount");
        let e = c.reserve_refund(None, 31 * 86_400, Some(30)).unwrap_err();
        assert_eq!(code(e), "charge_refund_window_expired");
        assert!(c.reserve_refund(None, 30 * 86_400, Some(30)).is_ok());
        let mut c = charge(1_000);
        c.captured = false;
        assert_eq!(
            code(c.reserve_refund(None, 0, None).unwrap_err()),
            "charge_not_refundable"
        );
        let mut c = charge(1_000);
        let e = c.reserve_refund(Some(1_001), 0, None).unwrap_err();
        assert_eq!(ParamError::from(e).param, "amount");
    }

    fn pi(status: PiStatus) -> PaymentIntent {
        let p = PaymentIntentCreateParams::default();
        let mut pi =
            PaymentIntent::new("pi_1".into(), 0, 1000, USD, "pi_1_secret_x".into(), &p).unwrap();
        pi.status = status;
        pi
    }

    #[test]
    fn confirmable_states_follow_stripe() {
        for s in [
            PiStatus::RequiresPaymentMethod,
            PiStatus::RequiresConfirmation,
            PiStatus::RequiresAction,
        ] {
            assert!(pi(s).check_confirmable().is_ok());
        }
        for s in [
            PiStatus::Succeeded,
            PiStatus::Canceled,
            PiStatus::Processing,
            PiStatus::RequiresCapture,
        ] {
            assert_eq!(
                pi(s).check_confirmable().unwrap_err().code,
                "payment_intent_unexpected_state"
            );
        }
    }

    #[test]
    fn capture_is_bounded_by_what_is_capturable() {
        let mut p = pi(PiStatus::RequiresCapture);
        p.amount_capturable = 1000;
        assert!(p.check_capturable(1000).is_ok());
        assert!(p.check_capturable(1001).is_err());
        assert!(p.check_capturable(0).is_err());
        assert!(pi(PiStatus::Succeeded).check_capturable(1).is_err());
    }

    #[test]
    fn cancel_rules() {
        assert!(pi(PiStatus::RequiresCapture).check_cancelable().is_ok());
        assert!(pi(PiStatus::Succeeded).check_cancelable().is_err());
        assert!(pi(PiStatus::Canceled).check_cancelable().is_err());
    }

    #[test]
    fn pending_confirmation_renders_as_processing() {
        let mut p = pi(PiStatus::RequiresConfirmation);
        p.pending = Some(Pending::Confirm {
            attempt: 1,
            since: 0,
            authenticated: false,
        });
        assert_eq!(p.to_json()["status"], "processing");
    }

    #[test]
    fn card_parameters_never_print() {
        let p = PaymentMethodCreateParams {
            card: Some(CardParams {
                number: Some("4242424242424242".into()),
                cvc: Some("123".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let printed = format!("{p:?}");
        assert!(
            !printed.contains("4242") && !printed.contains("123"),
            "{printed}"
        );
    }

    #[test]
    fn billing_details_are_redacted_in_debug() {
        let b = BillingDetails {
            name: Some("Secret Name".into()),
            ..Default::default()
        };
        assert!(!format!("{b:?}").contains("Secret"));
    }
}
