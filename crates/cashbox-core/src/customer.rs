//! Customers: request parameters, the domain record and its Stripe rendering.
//!
//! Everything personal (name, email, phone, description, addresses, metadata, locales) lives in
//! [`CustomerPrivate`], which the application seals before it reaches the store.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::ParamError;
use crate::currency::Currency;
use crate::id::random_token;
use crate::metadata::{Metadata, MetadataParam};
use crate::param::check_len;

pub const ID_PREFIX: &str = "cus";
pub const NAME_CHARS_MAX: usize = 256;
pub const EMAIL_CHARS_MAX: usize = 512;
pub const PHONE_CHARS_MAX: usize = 20;
pub const TEXT_CHARS_MAX: usize = 5000;
pub const PREFERRED_LOCALES_MAX: usize = 10;

/// Deserializes a field that may be absent (`None`), cleared (`Some(None)`, from an empty form
/// value or JSON `null`) or set.
pub fn patch<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub city: Option<String>,
    pub country: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub state: Option<String>,
}

impl Address {
    fn validate(&self, param: &str) -> Result<(), ParamError> {
        for (field, value) in [
            ("city", &self.city),
            ("country", &self.country),
            ("line1", &self.line1),
            ("line2", &self.line2),
            ("postal_code", &self.postal_code),
            ("state", &self.state),
        ] {
            if let Some(v) = value {
                check_len(&format!("{param}[{field}]"), v, TEXT_CHARS_MAX)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Shipping {
    pub address: Address,
    pub name: String,
    pub phone: Option<String>,
}

impl Shipping {
    fn validate(&self) -> Result<(), ParamError> {
        self.address.validate("shipping[address]")?;
        if self.name.is_empty() {
            return Err(ParamError::missing("shipping[name]"));
        }
        check_len("shipping[name]", &self.name, NAME_CHARS_MAX)?;
        if let Some(phone) = &self.phone {
            check_len("shipping[phone]", phone, PHONE_CHARS_MAX)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaxExempt {
    #[default]
    None,
    Exempt,
    Reverse,
}

impl TaxExempt {
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceSettingsParam {
    /// The PaymentMethod that invoices and subscriptions charge by default.
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub default_payment_method: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub footer: Option<Option<String>>,
}

impl InvoiceSettingsParam {
    /// The PaymentMethod a request names as the new default, if it names one.
    pub fn requested_default(settings: &Option<Self>) -> Option<&str> {
        settings
            .as_ref()
            .and_then(|s| s.default_payment_method.as_ref())
            .and_then(|pm| pm.as_deref())
    }
}

/// `POST /v1/customers`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerCreateParams {
    pub address: Option<Address>,
    /// Starting credit (negative) or debit (positive) in the customer's currency's minor unit.
    pub balance: Option<i64>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub invoice_prefix: Option<String>,
    pub invoice_settings: Option<InvoiceSettingsParam>,
    #[serde(default, deserialize_with = "crate::metadata::present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    pub name: Option<String>,
    /// A PaymentMethod to attach to the new customer.
    pub payment_method: Option<String>,
    pub phone: Option<String>,
    pub preferred_locales: Option<Vec<String>>,
    pub shipping: Option<Shipping>,
    pub tax_exempt: Option<TaxExempt>,
    /// The test clock this customer lives in.
    pub test_clock: Option<String>,
}

/// `POST /v1/customers/{id}`. An empty value clears a field.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerUpdateParams {
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<Address>)]
    pub address: Option<Option<Address>>,
    pub balance: Option<i64>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    pub invoice_prefix: Option<String>,
    pub invoice_settings: Option<InvoiceSettingsParam>,
    #[serde(default, deserialize_with = "crate::metadata::present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<Vec<String>>)]
    pub preferred_locales: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<Shipping>)]
    pub shipping: Option<Option<Shipping>>,
    #[serde(default, deserialize_with = "patch")]
    #[schema(value_type = Option<TaxExempt>)]
    pub tax_exempt: Option<Option<TaxExempt>>,
}

/// The personal part of a customer: sealed with the key ring before storage.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerPrivate {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub address: Option<Address>,
    pub shipping: Option<Shipping>,
    pub metadata: Metadata,
    pub preferred_locales: Vec<String>,
    pub tax_exempt: TaxExempt,
    pub invoice_footer: Option<String>,
}

impl fmt::Debug for CustomerPrivate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CustomerPrivate([redacted])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    pub created: i64,
    pub balance: i64,
    pub currency: Option<Currency>,
    pub default_payment_method: Option<String>,
    pub delinquent: bool,
    pub invoice_prefix: String,
    pub next_invoice_sequence: i64,
    pub test_clock: Option<String>,
    pub private: CustomerPrivate,
}

pub fn check_email(param: &str, email: &str) -> Result<(), ParamError> {
    check_len(param, email, EMAIL_CHARS_MAX)?;
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    };
    if !valid {
        return Err(ParamError::new(
            param,
            "email_invalid",
            format!("Invalid email address: {email}"),
        ));
    }
    Ok(())
}

fn check_invoice_prefix(prefix: &str) -> Result<(), ParamError> {
    let ok = (3..=12).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !ok {
        return Err(ParamError::invalid(
            "invoice_prefix",
            "Invalid invoice_prefix: must be 3-12 uppercase letters or numbers",
        ));
    }
    Ok(())
}

fn check_locales(locales: &[String]) -> Result<(), ParamError> {
    if locales.len() > PREFERRED_LOCALES_MAX {
        return Err(ParamError::invalid(
            "preferred_locales",
            format!("Invalid preferred_locales: at most {PREFERRED_LOCALES_MAX} locales"),
        ));
    }
    for (i, l) in locales.iter().enumerate() {
        let ok = (2..=16).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(ParamError::invalid(
                format!("preferred_locales[{i}]"),
                format!("Invalid locale: {l}"),
            ));
        }
    }
    Ok(())
}

fn check_private(p: &CustomerPrivate) -> Result<(), ParamError> {
    if let Some(name) = &p.name {
        check_len("name", name, NAME_CHARS_MAX)?;
    }
    if let Some(email) = &p.email {
        check_email("email", email)?;
    }
    if let Some(phone) = &p.phone {
        check_len("phone", phone, PHONE_CHARS_MAX)?;
    }
    if let Some(d) = &p.description {
        check_len("description", d, TEXT_CHARS_MAX)?;
    }
    if let Some(f) = &p.invoice_footer {
        check_len("invoice_settings[footer]", f, TEXT_CHARS_MAX)?;
    }
    if let Some(a) = &p.address {
        a.validate("address")?;
    }
    if let Some(s) = &p.shipping {
        s.validate()?;
    }
    check_locales(&p.preferred_locales)
}

/// A random invoice prefix as Stripe assigns them: eight upper-case letters and digits.
fn new_invoice_prefix() -> String {
    random_token(32)
        .chars()
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .chain(std::iter::repeat('0'))
        .take(8)
        .collect()
}

impl Customer {
    /// A new customer from validated parameters. References to other objects (test clock,
    /// payment methods) are the caller's to check.
    pub fn create(id: String, now: i64, p: CustomerCreateParams) -> Result<Self, ParamError> {
        let metadata = match &p.metadata {
            Some(m) => m.apply(&Metadata::new())?,
            None => Metadata::new(),
        };
        if let Some(prefix) = &p.invoice_prefix {
            check_invoice_prefix(prefix)?;
        }
        let settings = p.invoice_settings.unwrap_or_default();
        let private = CustomerPrivate {
            name: p.name,
            email: p.email,
            phone: p.phone,
            description: p.description,
            address: p.address,
            shipping: p.shipping,
            metadata,
            preferred_locales: p.preferred_locales.unwrap_or_default(),
            tax_exempt: p.tax_exempt.unwrap_or_default(),
            invoice_footer: settings.footer.flatten(),
        };
        check_private(&private)?;
        Ok(Self {
            id,
            created: now,
            balance: check_balance("balance", p.balance.unwrap_or(0))?,
            currency: None,
            default_payment_method: settings
                .default_payment_method
                .flatten()
                .or(p.payment_method),
            delinquent: false,
            invoice_prefix: p.invoice_prefix.unwrap_or_else(new_invoice_prefix),
            next_invoice_sequence: 1,
            test_clock: p.test_clock,
            private,
        })
    }

    /// This customer with `p` applied, or the first invalid parameter.
    pub fn updated(&self, p: CustomerUpdateParams) -> Result<Self, ParamError> {
        let mut next = self.clone();
        let private = &mut next.private;
        if let Some(v) = p.name {
            private.name = v;
        }
        if let Some(v) = p.email {
            private.email = v;
        }
        if let Some(v) = p.phone {
            private.phone = v;
        }
        if let Some(v) = p.description {
            private.description = v;
        }
        if let Some(v) = p.address {
            private.address = v;
        }
        if let Some(v) = p.shipping {
            private.shipping = v;
        }
        if let Some(v) = p.preferred_locales {
            private.preferred_locales = v.unwrap_or_default();
        }
        if let Some(v) = p.tax_exempt {
            private.tax_exempt = v.unwrap_or_default();
        }
        if let Some(m) = &p.metadata {
            private.metadata = m.apply(&private.metadata)?;
        }
        if let Some(settings) = p.invoice_settings {
            if let Some(f) = settings.footer {
                private.invoice_footer = f;
            }
            if let Some(pm) = settings.default_payment_method {
                next.default_payment_method = pm;
            }
        }
        if let Some(prefix) = p.invoice_prefix {
            check_invoice_prefix(&prefix)?;
            next.invoice_prefix = prefix;
        }
        if let Some(balance) = p.balance {
            next.balance = check_balance("balance", balance)?;
        }
        check_private(&next.private)?;
        Ok(next)
    }

    pub fn to_object(&self) -> CustomerObject {
        let p = &self.private;
        CustomerObject {
            id: self.id.clone(),
            object: "customer",
            address: p.address.clone(),
            balance: self.balance,
            created: self.created,
            currency: self.currency.map(Currency::code),
            default_source: None,
            delinquent: self.delinquent,
            description: p.description.clone(),
            discount: None,
            email: p.email.clone(),
            invoice_prefix: self.invoice_prefix.clone(),
            invoice_settings: InvoiceSettingsObject {
                custom_fields: None,
                default_payment_method: self.default_payment_method.clone().map(Value::String),
                footer: p.invoice_footer.clone(),
                rendering_options: None,
            },
            livemode: false,
            metadata: p.metadata.clone(),
            name: p.name.clone(),
            next_invoice_sequence: self.next_invoice_sequence,
            phone: p.phone.clone(),
            preferred_locales: p.preferred_locales.clone(),
            shipping: p.shipping.clone(),
            tax_exempt: p.tax_exempt,
            test_clock: self.test_clock.clone().map(Value::String),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.to_object()).expect("a customer always serializes")
    }
}

/// A customer as the API renders it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerObject {
    pub id: String,
    /// Always `customer`.
    pub object: &'static str,
    pub address: Option<Address>,
    pub balance: i64,
    pub created: i64,
    pub currency: Option<String>,
    #[schema(value_type = Option<crate::schema::Expandable>)]
    pub default_source: Option<Value>,
    pub delinquent: bool,
    pub description: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub discount: Option<Value>,
    pub email: Option<String>,
    pub invoice_prefix: String,
    pub invoice_settings: InvoiceSettingsObject,
    pub livemode: bool,
    pub metadata: Metadata,
    pub name: Option<String>,
    pub next_invoice_sequence: i64,
    pub phone: Option<String>,
    pub preferred_locales: Vec<String>,
    pub shipping: Option<Shipping>,
    pub tax_exempt: TaxExempt,
    /// The test clock id, or the clock itself when expanded.
    #[schema(value_type = Option<crate::schema::Expandable>)]
    pub test_clock: Option<Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceSettingsObject {
    #[schema(value_type = Option<Vec<Object>>)]
    pub custom_fields: Option<Value>,
    /// A PaymentMethod id, or the PaymentMethod when expanded.
    #[schema(value_type = Option<crate::schema::Expandable>)]
    pub default_payment_method: Option<Value>,
    pub footer: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub rendering_options: Option<Value>,
}

/// What `DELETE /v1/customers/{id}` returns, and what a deleted customer retrieves as.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeletedObject {
    pub id: String,
    pub object: &'static str,
    pub deleted: bool,
}

impl DeletedObject {
    pub fn customer(id: &str) -> Self {
        Self {
            id: id.to_string(),
            object: "customer",
            deleted: true,
        }
    }
}

/// `GET /v1/customers`.
#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomerListParams {
    /// 1 to 100, default 10.
    pub limit: Option<i64>,
    /// An object id: return the objects created before it.
    pub starting_after: Option<String>,
    /// An object id: return the objects created after it.
    pub ending_before: Option<String>,
    /// Unix seconds, or `created[gte]`, `created[lt]`…
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    /// Exact, case-sensitive match, as Stripe's.
    pub email: Option<String>,
    pub test_clock: Option<String>,
}

crate::impl_page!(CustomerListParams);

/// The most a customer's balance may be, owed or in credit, in minor units: a thousand
/// invoices at their limit, so that an invoice's total and the balance sum far inside `i64`.
pub const CUSTOMER_BALANCE_MAX_MINOR: i64 = 1_000 * crate::billing::INVOICE_AMOUNT_MAX_MINOR;

/// Checks a customer balance (`param`: the parameter that would set it).
pub fn check_balance(param: &str, balance: i64) -> Result<i64, ParamError> {
    if balance
        .checked_abs()
        .is_some_and(|b| b <= CUSTOMER_BALANCE_MAX_MINOR)
    {
        Ok(balance)
    } else {
        Err(ParamError::invalid(
            param,
            format!(
                "Invalid {param}: a customer's balance must be between -{CUSTOMER_BALANCE_MAX_MINOR} and {CUSTOMER_BALANCE_MAX_MINOR}."
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(v: Value) -> Result<Customer, ParamError> {
        let p: CustomerCreateParams = serde_json::from_value(v).unwrap();
        Customer::create("cus_1".into(), 1_700_000_000, p)
    }

    #[test]
    fn renders_stripe_shape() {
        let c = create(
            json!({"email": "jenny@example.com", "name": "Jenny", "metadata": {"plan": "pro"}}),
        )
        .unwrap();
        let v = c.to_json();
        assert_eq!(v["object"], "customer");
        assert_eq!(v["email"], "jenny@example.com");
        assert_eq!(v["metadata"], json!({"plan": "pro"}));
        assert_eq!(v["invoice_settings"]["default_payment_method"], Value::Null);
        assert_eq!(v["delinquent"], false);
        assert_eq!(v["livemode"], false);
        assert_eq!(v["tax_exempt"], "none");
        assert_eq!(v["invoice_prefix"].as_str().unwrap().len(), 8);
        assert_eq!(v["next_invoice_sequence"], 1);
    }

    #[test]
    fn invalid_email_names_the_param() {
        let err = create(json!({"email": "not-an-email"})).unwrap_err();
        assert_eq!((err.param.as_str(), err.code), ("email", "email_invalid"));
        assert!(create(json!({"email": "a@b"})).is_ok());
        assert!(create(json!({"email": "a b@c.d"})).is_err());
    }

    #[test]
    fn lengths_and_prefix_rules() {
        assert_eq!(
            create(json!({"name": "n".repeat(257)})).unwrap_err().param,
            "name"
        );
        assert_eq!(
            create(json!({"invoice_prefix": "ab"})).unwrap_err().param,
            "invoice_prefix"
        );
        assert_eq!(
            create(json!({"address": {"line1": "x".repeat(5001)}}))
                .unwrap_err()
                .param,
            "address[line1]"
        );
    }

    #[test]
    fn update_sets_clears_and_keeps() {
        let c =
            create(json!({"email": "a@b.c", "name": "A", "phone": "1", "metadata": {"k": "v"}}))
                .unwrap();
        let p: CustomerUpdateParams =
            serde_json::from_value(json!({"name": "B", "phone": null, "metadata": {"x": "y"}}))
                .unwrap();
        let next = c.updated(p).unwrap();
        assert_eq!(next.private.name.as_deref(), Some("B"));
        assert_eq!(next.private.phone, None);
        assert_eq!(next.private.email.as_deref(), Some("a@b.c"));
        assert_eq!(next.private.metadata.len(), 2);
        // A failing update leaves nothing half-applied: the original is untouched.
        let bad: CustomerUpdateParams =
            serde_json::from_value(json!({"name": "C", "email": "bad"})).unwrap();
        assert!(next.updated(bad).is_err());
        assert_eq!(next.private.name.as_deref(), Some("B"));
    }

    #[test]
    fn private_data_is_redacted_in_debug() {
        let c = create(json!({"email": "secret@example.com"})).unwrap();
        assert!(!format!("{c:?}").contains("secret@example.com"));
    }
}
