//! API keys: secret (`sk_`), restricted (`rk_`, with per-resource permissions) and publishable
//! (`pk_`, only what a browser may do). Only a key's SHA-256 is stored.

use std::fmt;

use crate::id::random_token;

/// Random characters after the `sk_test_` prefix: 32 base62 characters are 190 bits.
pub const KEY_RANDOM_CHARS: usize = 32;
/// A key supplied by the operator through the environment must be at least this long.
pub const ENV_SECRET_KEY_CHARS_MIN: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Secret,
    Restricted,
    Publishable,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Restricted => "restricted",
            Self::Publishable => "publishable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "secret" => Some(Self::Secret),
            "restricted" => Some(Self::Restricted),
            "publishable" => Some(Self::Publishable),
            _ => None,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Self::Secret => "sk_test_",
            Self::Restricted => "rk_test_",
            Self::Publishable => "pk_test_",
        }
    }

    /// The kind a presented key claims by its prefix.
    pub fn of_secret(secret: &str) -> Option<Self> {
        let kind = match secret.get(..3)? {
            "sk_" => Self::Secret,
            "rk_" => Self::Restricted,
            "pk_" => Self::Publishable,
            _ => return None,
        };
        let mode = secret.get(3..8)?;
        (mode == "test_" || mode == "live_").then_some(kind)
    }
}

/// A new random key of `kind`.
pub fn generate(kind: KeyKind) -> String {
    format!("{}{}", kind.prefix(), random_token(KEY_RANDOM_CHARS))
}

/// Whether an operator-supplied `CASHBOX_SECRET_KEY` is acceptable.
pub fn is_valid_env_secret(secret: &str) -> bool {
    KeyKind::of_secret(secret) == Some(KeyKind::Secret)
        && secret.len() >= ENV_SECRET_KEY_CHARS_MIN
        && secret.is_ascii()
        && !secret.contains(char::is_whitespace)
}

/// What may be shown of a key: `sk_test_****wxyz`, as Stripe's error messages do.
pub fn redact(secret: &str) -> String {
    let prefix: String = secret.chars().take(8).collect();
    let chars: Vec<char> = secret.chars().collect();
    let tail: String = if chars.len() > 12 {
        chars[chars.len() - 4..].iter().collect()
    } else {
        String::new()
    };
    format!("{prefix}****{tail}")
}

/// A resource family that restricted keys grant access to, by the name used in
/// `--permission customers:write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Customers,
    Events,
    PaymentMethods,
    SetupIntents,
    PaymentIntents,
    Charges,
    Refunds,
    Products,
    Prices,
    Coupons,
    PromotionCodes,
    TaxRates,
    Subscriptions,
    Invoices,
    CreditNotes,
    Billing,
    Entitlements,
    Checkout,
    BillingPortal,
    WebhookEndpoints,
    TestClocks,
    Disputes,
    ProcessorEvents,
}

impl Resource {
    pub const ALL: [Resource; 23] = [
        Self::Customers,
        Self::Events,
        Self::PaymentMethods,
        Self::SetupIntents,
        Self::PaymentIntents,
        Self::Charges,
        Self::Refunds,
        Self::Products,
        Self::Prices,
        Self::Coupons,
        Self::PromotionCodes,
        Self::TaxRates,
        Self::Subscriptions,
        Self::Invoices,
        Self::CreditNotes,
        Self::Billing,
        Self::Entitlements,
        Self::Checkout,
        Self::BillingPortal,
        Self::WebhookEndpoints,
        Self::TestClocks,
        Self::Disputes,
        Self::ProcessorEvents,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customers => "customers",
            Self::Events => "events",
            Self::PaymentMethods => "payment_methods",
            Self::SetupIntents => "setup_intents",
            Self::PaymentIntents => "payment_intents",
            Self::Charges => "charges",
            Self::Refunds => "refunds",
            Self::Products => "products",
            Self::Prices => "prices",
            Self::Coupons => "coupons",
            Self::PromotionCodes => "promotion_codes",
            Self::TaxRates => "tax_rates",
            Self::Subscriptions => "subscriptions",
            Self::Invoices => "invoices",
            Self::CreditNotes => "credit_notes",
            Self::Billing => "billing",
            Self::Entitlements => "entitlements",
            Self::Checkout => "checkout",
            Self::BillingPortal => "billing_portal",
            Self::WebhookEndpoints => "webhook_endpoints",
            Self::TestClocks => "test_clocks",
            Self::Disputes => "disputes",
            Self::ProcessorEvents => "processor_events",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub resource: Resource,
    pub access: Access,
}

impl Permission {
    /// Parses `customers:read` or `customers:write`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (resource, access) = s.split_once(':').ok_or_else(|| {
            format!("permission {s:?} must look like resource:read or resource:write")
        })?;
        let resource = Resource::parse(resource).ok_or_else(|| {
            let known: Vec<&str> = Resource::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown resource {resource:?}; known: {}", known.join(", "))
        })?;
        let access = match access {
            "read" => Access::Read,
            "write" => Access::Write,
            other => return Err(format!("access must be read or write, not {other:?}")),
        };
        Ok(Self { resource, access })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = match self.access {
            Access::Read => "read",
            Access::Write => "write",
        };
        write!(f, "{}:{access}", self.resource.as_str())
    }
}

/// What a key may do. Write implies read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    pub kind: KeyKind,
    pub permissions: Vec<Permission>,
}

impl Grants {
    pub fn allows(&self, resource: Resource, access: Access) -> bool {
        match self.kind {
            KeyKind::Secret => true,
            // Publishable keys reach only the browser-facing endpoints, which say so themselves.
            KeyKind::Publishable => false,
            KeyKind::Restricted => self
                .permissions
                .iter()
                .any(|p| p.resource == resource && p.access >= access),
        }
    }
}

impl Resource {
    /// The resource an API path belongs to, from its first segment after `/v1/`.
    pub fn for_path(path: &str) -> Option<Self> {
        let segment = path.strip_prefix("/v1/")?.split('/').next()?;
        Some(match segment {
            "customers" => Self::Customers,
            "events" => Self::Events,
            "payment_methods" => Self::PaymentMethods,
            "setup_intents" => Self::SetupIntents,
            "payment_intents" => Self::PaymentIntents,
            "charges" => Self::Charges,
            "refunds" => Self::Refunds,
            "products" => Self::Products,
            "prices" => Self::Prices,
            "coupons" => Self::Coupons,
            "promotion_codes" => Self::PromotionCodes,
            "tax_rates" => Self::TaxRates,
            "subscriptions" | "subscription_items" => Self::Subscriptions,
            "invoices" | "invoiceitems" | "invoice_payments" => Self::Invoices,
            "credit_notes" => Self::CreditNotes,
            "billing" => Self::Billing,
            "entitlements" => Self::Entitlements,
            "checkout" => Self::Checkout,
            "billing_portal" => Self::BillingPortal,
            "webhook_endpoints" => Self::WebhookEndpoints,
            "test_helpers" => Self::TestClocks,
            "disputes" => Self::Disputes,
            "processor_events" => Self::ProcessorEvents,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_their_prefix() {
        let k = generate(KeyKind::Secret);
        assert!(k.starts_with("sk_test_"));
        assert_eq!(k.len(), 8 + KEY_RANDOM_CHARS);
        assert_eq!(KeyKind::of_secret(&k), Some(KeyKind::Secret));
        assert_eq!(
            KeyKind::of_secret(&generate(KeyKind::Publishable)),
            Some(KeyKind::Publishable)
        );
        assert_eq!(KeyKind::of_secret("xx_test_abc"), None);
        assert_eq!(KeyKind::of_secret("sk_"), None);
    }

    #[test]
    fn env_secret_rules() {
        assert!(is_valid_env_secret("sk_test_0123456789abcdef"));
        assert!(!is_valid_env_secret("sk_test_short"));
        assert!(!is_valid_env_secret("pk_test_0123456789abcdef"));
        assert!(!is_valid_env_secret("sk_test_0123456789 abcdef"));
    }

    #[test]
    fn redaction_keeps_only_prefix_and_tail() {
        assert_eq!(redact("sk_test_abcdefghijklmnop"), "sk_test_****mnop");
        assert_eq!(redact("sk_test_ab"), "sk_test_****");
    }

    #[test]
    fn restricted_grants() {
        let g = Grants {
            kind: KeyKind::Restricted,
            permissions: vec![Permission::parse("customers:write").unwrap()],
        };
        assert!(g.allows(Resource::Customers, Access::Read));
        assert!(g.allows(Resource::Customers, Access::Write));
        assert!(!g.allows(Resource::Events, Access::Read));
        let r = Grants {
            kind: KeyKind::Restricted,
            permissions: vec![Permission::parse("events:read").unwrap()],
        };
        assert!(!r.allows(Resource::Events, Access::Write));
        assert!(Permission::parse("nope:read").is_err());
        assert!(Permission::parse("customers:admin").is_err());
        assert_eq!(
            Permission::parse("customers:read").unwrap().to_string(),
            "customers:read"
        );
    }
}
