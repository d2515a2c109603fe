//! Webhook endpoints in Stripe's dialect, how deliveries are signed (Stripe's
//! `Stripe-Signature` or Standard Webhooks), and the retry schedule.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use utoipa::ToSchema;

use crate::ParamError;
use crate::event::valid_event_type;
use crate::id::made_after;
use crate::metadata::{Metadata, MetadataParam, present};
use crate::payments::check_text;

pub const ENDPOINT_PREFIX: &str = "we";
pub const DELIVERY_PREFIX: &str = "whdel";
pub const ATTEMPT_PREFIX: &str = "whatt";
pub const SECRET_PREFIX: &str = "whsec_";
pub const URL_CHARS_MAX: usize = 2_048;
pub const ENABLED_EVENTS_MAX: usize = 256;
/// How long the old secret keeps signing after a rotation, by default and at most.
pub const ROTATION_OVERLAP_DEFAULT_SECS: i64 = 86_400;
pub const ROTATION_OVERLAP_MAX_SECS: i64 = 7 * 86_400;

/// After the first attempt fails, each retry comes this long after the one before: about
/// three days in all (71 h 36 min), then the delivery gives up. Twelve attempts.
pub const RETRY_DELAYS_SECS: [i64; 11] = [
    60, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 36_000, 36_000, 36_000, 50_400,
];
/// How long the attempt log and finished deliveries are kept (Stripe keeps 30 days).
pub const LOG_RETENTION_SECS: i64 = 30 * 86_400;
/// An endpoint with no successful delivery for this long, while deliveries to it fail, is
/// disabled.
pub const DISABLE_AFTER_FAILING_SECS: i64 = 3 * 86_400;

/// When a delivery that has now failed `attempts` times is next tried; `None`: it gives up.
pub fn next_retry(attempts: i64, now: i64) -> Option<i64> {
    let i = usize::try_from(attempts.checked_sub(1)?).ok()?;
    RETRY_DELAYS_SECS.get(i).map(|d| now + d)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// `Stripe-Signature: t=…,v1=…` (what Stripe's SDKs verify).
    #[default]
    Stripe,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (standardwebhooks.com).
    StandardWebhooks,
}

/// A secret that still signs for a while after a rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiringSecret {
    pub secret: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub created: i64,
    pub url: String,
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub api_version: Option<String>,
    pub enabled: bool,
    pub secret: String,
    pub retiring_secrets: Vec<RetiringSecret>,
    pub scheme: SignatureScheme,
    /// Since when deliveries have failed with none succeeding (cleared by a success).
    pub failing_since: Option<i64>,
    pub disabled_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointCreateParams {
    pub url: Option<String>,
    /// Event types, or `*` for all.
    pub enabled_events: Option<Vec<String>>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    pub api_version: Option<String>,
    /// Stripe's Connect endpoints; only `false` is served.
    pub connect: Option<bool>,
    /// Ours: `stripe` (default) or `standard_webhooks`.
    pub signature_scheme: Option<SignatureScheme>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointUpdateParams {
    pub url: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
    /// `true` disables the endpoint, `false` enables it again.
    pub disabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EndpointListParams {
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(EndpointListParams);

/// `POST /v1/webhook_endpoints/{id}/rotate_secret` (ours).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretParams {
    /// Seconds the old secret keeps signing beside the new one (default a day, at most 7).
    pub overlap_seconds: Option<i64>,
}

/// `GET /v1/webhook_endpoints/{id}/attempts` and `GET /v1/events/{id}/webhook_attempts`
/// (ours).
#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AttemptListParams {
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
}

/// `POST /v1/events/{id}/resend` (ours).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendParams {
    /// The endpoint to send it to again.
    pub webhook_endpoint: Option<String>,
}

fn check_events(events: &[String]) -> Result<(), ParamError> {
    if events.is_empty() {
        return Err(ParamError::empty("enabled_events"));
    }
    if events.len() > ENABLED_EVENTS_MAX {
        return Err(ParamError::invalid(
            "enabled_events",
            format!("At most {ENABLED_EVENTS_MAX} event types."),
        ));
    }
    for e in events {
        if e != "*" && !valid_event_type(e) {
            return Err(ParamError::invalid(
                "enabled_events",
                format!("Invalid event type: {e}"),
            ));
        }
    }
    Ok(())
}

/// A fresh signing secret: `whsec_` and 32 random bytes in base64, usable by both schemes
/// (Standard Webhooks signs with the decoded bytes, Stripe with the whole string).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system has a random source");
    format!("{SECRET_PREFIX}{}", B64.encode(bytes))
}

impl WebhookEndpoint {
    /// An endpoint from checked parameters; the URL's reachability is checked by the caller.
    pub fn new(id: String, now: i64, p: &EndpointCreateParams) -> Result<Self, ParamError> {
        let url = p.url.clone().ok_or_else(|| ParamError::missing("url"))?;
        check_text("url", &p.url, URL_CHARS_MAX)?;
        let enabled_events = p
            .enabled_events
            .clone()
            .ok_or_else(|| ParamError::missing("enabled_events"))?;
        check_events(&enabled_events)?;
        check_text("description", &p.description, 5_000)?;
        if p.connect == Some(true) {
            return Err(ParamError::invalid(
                "connect",
                "Connect endpoints are not supported: Cashbox has no connected accounts.",
            ));
        }
        let metadata = match &p.metadata {
            Some(m) => m.apply(&Metadata::new())?,
            None => Metadata::new(),
        };
        Ok(Self {
            id,
            created: now,
            url,
            enabled_events,
            description: p.description.clone().filter(|d| !d.is_empty()),
            metadata,
            api_version: p.api_version.clone(),
            enabled: true,
            secret: new_secret(),
            retiring_secrets: Vec::new(),
            scheme: p.signature_scheme.unwrap_or_default(),
            failing_since: None,
            disabled_reason: None,
        })
    }

    pub fn update(&mut self, p: &EndpointUpdateParams) -> Result<(), ParamError> {
        check_text("url", &p.url, URL_CHARS_MAX)?;
        check_text("description", &p.description, 5_000)?;
        if let Some(events) = &p.enabled_events {
            check_events(events)?;
            self.enabled_events = events.clone();
        }
        if let Some(url) = &p.url {
            self.url = url.clone();
        }
        if let Some(d) = &p.description {
            self.description = Some(d.clone()).filter(|d| !d.is_empty());
        }
        if let Some(m) = &p.metadata {
            self.metadata = m.apply(&self.metadata)?;
        }
        if let Some(disabled) = p.disabled {
            self.enabled = !disabled;
            if self.enabled {
                self.disabled_reason = None;
                self.failing_since = None;
            }
        }
        Ok(())
    }

    /// A new secret; the current one keeps signing for `overlap` seconds.
    pub fn rotate(&mut self, now: i64, overlap: Option<i64>) -> Result<(), ParamError> {
        let overlap = overlap.unwrap_or(ROTATION_OVERLAP_DEFAULT_SECS);
        if !(0..=ROTATION_OVERLAP_MAX_SECS).contains(&overlap) {
            return Err(ParamError::invalid(
                "overlap_seconds",
                format!("Must be between 0 and {ROTATION_OVERLAP_MAX_SECS}."),
            ));
        }
        self.retiring_secrets.retain(|s| s.expires_at > now);
        if overlap > 0 {
            self.retiring_secrets.push(RetiringSecret {
                secret: self.secret.clone(),
                expires_at: now + overlap,
            });
        }
        self.secret = new_secret();
        Ok(())
    }

    /// Whether the event `event_id` of `event_type` is for this endpoint: an event made
    /// after the endpoint was (as Stripe, events from before an endpoint are not sent to it).
    pub fn wants(&self, event_type: &str, event_id: &str) -> bool {
        self.enabled && made_after(event_id, &self.id) && self.listens_to(event_type)
    }

    /// Whether the endpoint is enabled for events of `event_type` (`*`: all of them).
    pub fn listens_to(&self, event_type: &str) -> bool {
        self.enabled_events
            .iter()
            .any(|e| e == "*" || e == event_type)
    }

    /// The secrets that sign at `now`: the current one first.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        std::iter::once(self.secret.as_str())
            .chain(
                self.retiring_secrets
                    .iter()
                    .filter(|s| s.expires_at > now)
                    .map(|s| s.secret.as_str()),
            )
            .collect()
    }

    /// The headers that sign `body` for event `event_id` at `t`.
    pub fn signature_headers(&self, event_id: &str, t: i64, body: &[u8]) -> Vec<(String, String)> {
        let secrets = self.signing_secrets(t);
        match self.scheme {
            SignatureScheme::Stripe => vec![(
                "Stripe-Signature".into(),
                stripe_signature(&secrets, t, body),
            )],
            SignatureScheme::StandardWebhooks => vec![
                ("webhook-id".into(), event_id.to_string()),
                ("webhook-timestamp".into(), t.to_string()),
                (
                    "webhook-signature".into(),
                    standard_signature(&secrets, event_id, t, body),
                ),
            ],
        }
    }

    /// Stripe's rendering; `secret` is shown on create and rotation only.
    pub fn to_json(&self, with_secret: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "object": "webhook_endpoint",
            "api_version": self.api_version,
            "application": null,
            "created": self.created,
            "description": self.description,
            "enabled_events": self.enabled_events,
            "livemode": false,
            "metadata": self.metadata,
            "status": if self.enabled { "enabled" } else { "disabled" },
            "url": self.url,
            "signature_scheme": self.scheme,
            "disabled_reason": self.disabled_reason,
        });
        if with_secret {
            v["secret"] = self.secret.clone().into();
        }
        v
    }
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, one `v1` per secret.
pub fn stripe_signature(secrets: &[&str], t: i64, body: &[u8]) -> String {
    let ts = t.to_string();
    let mut out = format!("t={ts}");
    for s in secrets {
        let sig = hmac_sha256(s.as_bytes(), &[ts.as_bytes(), b".", body]);
        out.push_str(",v1=");
        out.push_str(&hex::encode(sig));
    }
    out
}

/// `v1,<base64 HMAC-SHA256(key, "<id>.<t>.<body>")>`, space-separated, one per secret; the
/// key is the base64 after `whsec_` (a secret that is not base64 signs with its bytes).
pub fn standard_signature(secrets: &[&str], msg_id: &str, t: i64, body: &[u8]) -> String {
    let ts = t.to_string();
    secrets
        .iter()
        .map(|s| {
            let raw = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
            let key = B64.decode(raw).unwrap_or_else(|_| raw.as_bytes().to_vec());
            let sig = hmac_sha256(&key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            format!("v1,{}", B64.encode(sig))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_vector_from_peers() {
        let body = br#"{"id":"evt_test_1","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","object":"payment_intent","amount":1999}}}"#;
        assert_eq!(
            stripe_signature(&["whsec_test_secret_123"], 1_700_000_000, body),
            "t=1700000000,v1=7b230f4127e95ff8885d88cbe6b7a98b4c66a6c59c661fd7f1c16b918b9daf6b"
        );
    }

    #[test]
    fn standard_webhooks_vector_from_peers() {
        assert_eq!(
            standard_signature(
                &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotation_signs_with_both_secrets_until_the_overlap_ends() {
        let p = EndpointCreateParams {
            url: Some("https://example.com/hook".into()),
            enabled_events: Some(vec!["*".into()]),
            ..EndpointCreateParams::default()
        };
        let mut e = WebhookEndpoint::new("we_1".into(), 100, &p).unwrap();
        let old = e.secret.clone();
        e.rotate(200, Some(50)).unwrap();
        assert_ne!(e.secret, old);
        assert_eq!(e.signing_secrets(249), vec![e.secret.as_str(), &old]);
        assert_eq!(e.signing_secrets(250), vec![e.secret.as_str()]);
        let header = &e.signature_headers("evt_1", 249, b"{}")[0].1;
        assert_eq!(header.matches("v1=").count(), 2);
        assert!(e.rotate(300, Some(ROTATION_OVERLAP_MAX_SECS + 1)).is_err());
    }

    #[test]
    fn the_retry_schedule_spans_about_three_days_then_gives_up() {
        let total: i64 = RETRY_DELAYS_SECS.iter().sum();
        assert!((70 * 3_600..=72 * 3_600).contains(&total), "{total}");
        assert_eq!(next_retry(1, 0), Some(60));
        assert_eq!(next_retry(3, 1_000), Some(2_800));
        assert_eq!(next_retry(11, 0), Some(50_400));
        assert_eq!(next_retry(12, 0), None);
        assert_eq!(next_retry(0, 0), None);
    }

    #[test]
    fn endpoints_want_their_events_from_their_creation_on() {
        use crate::id::new_id;
        let p = EndpointCreateParams {
            url: Some("https://example.com/hook".into()),
            enabled_events: Some(vec!["invoice.paid".into()]),
            ..EndpointCreateParams::default()
        };
        let before = new_id("evt");
        let mut e = WebhookEndpoint::new(new_id(ENDPOINT_PREFIX), 100, &p).unwrap();
        let after = new_id("evt");
        assert!(e.wants("invoice.paid", &after));
        assert!(!e.wants("invoice.paid", &before));
        assert!(!e.wants("customer.created", &after));
        e.enabled = false;
        assert!(!e.wants("invoice.paid", &after));
        let bad = EndpointCreateParams {
            enabled_events: Some(vec!["Invoice Paid".into()]),
            ..p
        };
        assert_eq!(
            WebhookEndpoint::new("we_2".into(), 0, &bad)
                .unwrap_err()
                .param,
            "enabled_events"
        );
    }
}
