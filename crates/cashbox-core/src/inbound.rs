//! The processor's webhooks coming in (Stripe's, to `/webhooks/stripe`): the signature check,
//! and the log entry each event becomes, applied later from a queue.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::crypto::constant_time_eq;
use crate::webhooks::hmac_sha256;

/// How far a signature's timestamp may be from now, as Stripe's libraries allow by default.
pub const TOLERANCE_SECS: i64 = 300;
/// Stripe's event ids.
pub const EVENT_PREFIX: &str = "evt";
/// Attempts at applying an event before it is marked failed: with the waits of
/// [`retry_after`], a little over a day of trying (a processor outage is not a lost event).
pub const APPLY_ATTEMPTS_MAX: u32 = 32;
/// How long one process may take to apply an event before another may try.
pub const CLAIM_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header has no timestamp or no v1 signature")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches the payload with any configured secret")]
    NoMatch,
    #[error("a tolerance of zero would refuse every signature")]
    NoTolerance,
}

/// Checks `Stripe-Signature: t=…,v1=…[,v1=…]` over `body` against each of `secrets` (any
/// match passes; `v0` and unknown schemes are ignored), in constant time per comparison.
/// Returns the signed timestamp.
pub fn verify_stripe_signature(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&str],
    now: i64,
    tolerance: i64,
) -> Result<i64, SignatureError> {
    if tolerance <= 0 {
        return Err(SignatureError::NoTolerance);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok().filter(|s| s.len() == 32)),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(t) > tolerance.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let ts = t.to_string();
    let matched = secrets.iter().any(|secret| {
        let expected = hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), b".", body]);
        signatures
            .iter()
            .any(|candidate| constant_time_eq(candidate, &expected))
    });
    if matched {
        Ok(t)
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// Where an inbound event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundStatus {
    /// Received and acknowledged; not applied yet.
    Pending,
    /// Applied: what it changed is in `outcome`.
    Applied,
    /// Nothing for Cashbox to do (an event type it does not act on, or one it caused).
    Ignored,
    /// Could not be applied after [`APPLY_ATTEMPTS_MAX`] attempts; `outcome` says why.
    Failed,
}

impl InboundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Applied => "applied",
            Self::Ignored => "ignored",
            Self::Failed => "failed",
        }
    }
}

/// One event the processor sent, kept once by its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundEvent {
    /// The processor's event id (`evt_…`).
    pub id: String,
    /// When Cashbox first received it.
    pub received: i64,
    pub processor: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// When the processor created it.
    pub created: i64,
    pub livemode: bool,
    pub status: InboundStatus,
    pub outcome: Option<String>,
    pub attempts: u32,
    /// The event's `data.object`.
    pub object: Value,
    /// Being applied by one process until then (a process that dies leaves it to the next
    /// round once it passes).
    #[serde(default)]
    pub claimed_until: Option<i64>,
}

/// Whether `id` is one of Stripe's event ids: `evt_`, then letters, digits or underscores
/// (test events have them), at most 255 characters.
pub fn is_event_id(id: &str) -> bool {
    id.len() <= 255
        && id.strip_prefix("evt_").is_some_and(|body| {
            !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// `GET /v1/processor_events`: the inbound log, newest first.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboundListParams {
    /// `pending`, `applied`, `ignored` or `failed`.
    pub status: Option<String>,
    /// The id of the processor's object the events are about.
    pub object: Option<String>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(InboundListParams);

/// How long after its `attempts`-th failed attempt an event is tried again: 15 s, doubling,
/// at most an hour.
pub fn retry_after(attempts: u32) -> i64 {
    15_i64
        .saturating_mul(1_i64 << attempts.saturating_sub(1).min(8))
        .min(3_600)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MalformedEvent(pub &'static str);

impl InboundEvent {
    /// The event in a verified payload.
    pub fn parse(processor: &str, body: &[u8], now: i64) -> Result<Self, MalformedEvent> {
        let v: Value =
            serde_json::from_slice(body).map_err(|_| MalformedEvent("the payload is not JSON"))?;
        let id = v["id"]
            .as_str()
            .filter(|id| is_event_id(id))
            .ok_or(MalformedEvent("the event has no evt_ id"))?;
        let kind = v["type"]
            .as_str()
            .filter(|t| !t.is_empty() && t.len() <= 100)
            .ok_or(MalformedEvent("the event has no type"))?;
        let object = v["data"]["object"].clone();
        if !object.is_object() {
            return Err(MalformedEvent("the event has no data.object"));
        }
        Ok(Self {
            id: id.to_string(),
            received: now,
            processor: processor.to_string(),
            kind: kind.to_string(),
            created: v["created"].as_i64().unwrap_or(now),
            livemode: v["livemode"].as_bool().unwrap_or(false),
            status: InboundStatus::Pending,
            outcome: None,
            attempts: 0,
            object,
            claimed_until: None,
        })
    }

    /// Takes the event to apply it at `now`, unless it is settled or another process has it.
    pub fn claim(&mut self, now: i64) -> bool {
        if self.status != InboundStatus::Pending || self.claimed_until.is_some_and(|u| u > now) {
            return false;
        }
        self.claimed_until = Some(now.saturating_add(CLAIM_SECS));
        true
    }

    /// Records an attempt at applying it at `now`: `Ok` is final; an error leaves it pending,
    /// tried again after [`retry_after`], until the last attempt.
    pub fn settle(&mut self, result: Result<(InboundStatus, String), String>, now: i64) {
        self.claimed_until = None;
        self.attempts = self.attempts.saturating_add(1);
        match result {
            Ok((status, outcome)) => {
                self.status = status;
                self.outcome = Some(outcome);
            }
            Err(reason) => {
                if self.attempts >= APPLY_ATTEMPTS_MAX {
                    self.status = InboundStatus::Failed;
                } else {
                    // Not before then: the claim keeps the next round off it.
                    self.claimed_until = Some(now.saturating_add(retry_after(self.attempts)));
                }
                self.outcome = Some(reason);
            }
        }
    }

    /// The id of the object the event is about (`data.object.id`).
    pub fn object_id(&self) -> Option<&str> {
        self.object["id"].as_str()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "processor_event",
            "processor": self.processor,
            "type": self.kind,
            "created": self.created,
            "received": self.received,
            "livemode": self.livemode,
            "status": self.status.as_str(),
            "outcome": self.outcome,
            "attempts": self.attempts,
            "data": {"object": self.object},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"id":"evt_test_1","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","object":"payment_intent","amount":1999}}}"#;
    const SECRET: &str = "whsec_test_secret_123";
    const GOOD: &str =
        "t=1700000000,v1=7b230f4127e95ff8885d88cbe6b7a98b4c66a6c59c661fd7f1c16b918b9daf6b";

    fn verify(header: Option<&str>, secrets: &[&str], now: i64) -> Result<i64, SignatureError> {
        verify_stripe_signature(header, BODY.as_bytes(), secrets, now, TOLERANCE_SECS)
    }

    #[test]
    fn the_reference_vector_verifies() {
        assert_eq!(
            verify(Some(GOOD), &[SECRET], 1_700_000_000),
            Ok(1_700_000_000)
        );
        // Within the tolerance either side.
        assert!(verify(Some(GOOD), &[SECRET], 1_700_000_300).is_ok());
        assert!(verify(Some(GOOD), &[SECRET], 1_699_999_700).is_ok());
    }

    #[test]
    fn rotation_any_secret_and_any_v1_pass() {
        assert!(verify(Some(GOOD), &["whsec_old", SECRET], 1_700_000_000).is_ok());
        let several = format!("t=1700000000,v0=abc,v1={},{}", "00".repeat(32), &GOOD[13..]);
        assert!(verify(Some(&several), &[SECRET], 1_700_000_000).is_ok());
    }

    #[test]
    fn everything_else_is_refused() {
        let now = 1_700_000_000;
        assert_eq!(verify(None, &[SECRET], now), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some("v1=abc"), &[SECRET], now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some("t=1700000000"), &[SECRET], now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some("t=1700000000,v1="), &[SECRET], now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some(GOOD), &[SECRET], now + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(GOOD), &["whsec_other"], now),
            Err(SignatureError::NoMatch)
        );
        // The same signature over another body.
        assert_eq!(
            verify_stripe_signature(Some(GOOD), b"{}", &[SECRET], now, TOLERANCE_SECS),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify_stripe_signature(Some(GOOD), BODY.as_bytes(), &[SECRET], now, 0),
            Err(SignatureError::NoTolerance)
        );
        // v0 alone is not a signature.
        let v0 = GOOD.replace("v1=", "v0=");
        assert_eq!(
            verify(Some(&v0), &[SECRET], now),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn events_are_parsed_and_settled() {
        let mut e = InboundEvent::parse("stripe", BODY.as_bytes(), 5).unwrap();
        assert!(e.claim(10));
        assert!(!e.claim(11), "another process has it");
        assert!(e.claim(10 + CLAIM_SECS + 1), "its claim lapsed");
        assert_eq!(
            (e.id.as_str(), e.kind.as_str(), e.object_id()),
            ("evt_test_1", "payment_intent.succeeded", Some("pi_1"))
        );
        assert!(InboundEvent::parse("stripe", b"{\"id\":\"x\"}", 5).is_err());
        let mut now = 100;
        let mut waited = 0;
        for n in 1..APPLY_ATTEMPTS_MAX {
            e.settle(Err("later".into()), now);
            assert_eq!(e.status, InboundStatus::Pending);
            assert!(!e.claim(now), "not tried again at once");
            now += retry_after(n);
            waited += retry_after(n);
            assert!(e.claim(now), "tried again after its wait");
        }
        assert!(waited > 86_400, "a day of trying: {waited} s");
        e.settle(Err("again".into()), now);
        assert_eq!(e.status, InboundStatus::Failed);
        assert!(!e.claim(now + 10_000));
        e.settle(Ok((InboundStatus::Applied, "done".into())), now);
        assert_eq!(
            (e.status, e.attempts),
            (InboundStatus::Applied, APPLY_ATTEMPTS_MAX + 1)
        );
    }
}
