//! The built-in sandbox: Stripe's test-mode behaviour for its test cards, with a journal of its
//! own in the `sandbox_operations` table, written in its own transactions the way a remote
//! processor keeps its books apart from ours.

pub mod cards;

use cashbox_core::id::new_id;
use cashbox_store::{SandboxOp, Store};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{
    AuthorizeRequest, BoxFuture, CaptureRequest, CardDetails, CardError, Decline, DisputeNotice,
    Outcome, Processor, ProcessorError, RawCard, RefundRequest, VerifyRequest, VoidRequest,
};
use cards::{Behavior, TestCard};

pub struct SandboxProcessor {
    store: Store,
    fingerprint_key: Zeroizing<[u8; 32]>,
    now: fn() -> i64,
}

/// Expiry given to cards created from test ids, as Stripe's test PaymentMethods have one.
const TEST_ID_EXPIRY_YEARS_AHEAD: u32 = 3;

impl SandboxProcessor {
    pub fn new(store: Store, fingerprint_key: Zeroizing<[u8; 32]>, now: fn() -> i64) -> Self {
        Self {
            store,
            fingerprint_key,
            now,
        }
    }

    fn fingerprint(&self, number: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.fingerprint_key.as_ref())
            .expect("HMAC takes any key");
        mac.update(number.as_bytes());
        let digest = mac.finalize().into_bytes();
        hex::encode(&digest[..8])
    }

    fn card_of(token: &str) -> Result<&'static TestCard, ProcessorError> {
        cards::by_token(token)
            .ok_or_else(|| ProcessorError::Rejected(format!("unknown card token {token}")))
    }

    /// Writes one journal entry, or returns the one already under this idempotency key.
    async fn journal(&self, mut op: SandboxOp) -> Result<Outcome, ProcessorError> {
        op.request_hash = request_hash(&op);
        let stored = self
            .store
            .sandbox_record(&op)
            .await
            .map_err(|e| ProcessorError::Network(e.to_string()))?;
        outcome_of(&op, stored)
    }

    /// The authorization or charge `req` asks for, decided, as its journal entry.
    fn authorization_op(&self, req: &AuthorizeRequest<'_>) -> Result<SandboxOp, ProcessorError> {
        let card = Self::card_of(req.card_token)?;
        let kind = if req.capture { "charge" } else { "authorize" };
        let mut op = self.op(
            kind,
            req.idempotency_key,
            req.amount_minor,
            req.currency,
            req.card_token,
            None,
        );
        set_outcome(&mut op, &decide_charge(card, req));
        op.request_hash = request_hash(&op);
        Ok(op)
    }

    fn op(
        &self,
        kind: &str,
        key: &str,
        amount_minor: i64,
        currency: &str,
        token: &str,
        reference: Option<&str>,
    ) -> SandboxOp {
        SandboxOp {
            id: new_id("sbx"),
            idempotency_key: key.to_string(),
            request_hash: String::new(),
            kind: kind.to_string(),
            amount_minor,
            currency: currency.to_string(),
            card_token: token.to_string(),
            reference: reference.map(str::to_string),
            outcome: "succeeded".into(),
            error_code: None,
            decline_code: None,
            message: None,
            created: (self.now)(),
        }
    }
}

fn set_outcome(op: &mut SandboxOp, outcome: &Decision) {
    match outcome {
        Decision::Succeed => op.outcome = "succeeded".into(),
        Decision::Authenticate => op.outcome = "requires_action".into(),
        Decision::Decline(code, decline_code, message) => {
            op.outcome = "declined".into();
            op.error_code = Some((*code).into());
            op.decline_code = Some((*decline_code).into());
            op.message = Some((*message).into());
        }
    }
}

enum Decision {
    Succeed,
    Authenticate,
    Decline(&'static str, &'static str, &'static str),
}

const AUTHENTICATION_REQUIRED: Decision = Decision::Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
);

/// What a test card does when charged.
fn decide_charge(card: &TestCard, req: &AuthorizeRequest<'_>) -> Decision {
    match card.behavior {
        Behavior::Declines {
            code,
            decline_code,
            message,
        } => Decision::Decline(code, decline_code, message),
        Behavior::AttachesThenDeclines => Decision::Decline(
            "card_declined",
            "generic_decline",
            "Your card was declined.",
        ),
        _ if req.authenticated => Decision::Succeed,
        _ if req.request_authentication && !req.off_session => Decision::Authenticate,
        Behavior::Succeeds | Behavior::Disputed { .. } => Decision::Succeed,
        Behavior::AuthenticatesUnlessSetUp if req.off_session && req.card_set_up => {
            Decision::Succeed
        }
        Behavior::AuthenticatesUnlessSetUp | Behavior::AlwaysAuthenticates if req.off_session => {
            AUTHENTICATION_REQUIRED
        }
        Behavior::AuthenticatesUnlessSetUp | Behavior::AlwaysAuthenticates => {
            Decision::Authenticate
        }
    }
}

/// What a test card does when attached or set up for later use.
fn decide_verify(card: &TestCard, req: &VerifyRequest<'_>) -> Decision {
    match card.behavior {
        Behavior::Declines {
            code,
            decline_code,
            message,
        } => Decision::Decline(code, decline_code, message),
        Behavior::AuthenticatesUnlessSetUp | Behavior::AlwaysAuthenticates
            if req.for_setup && !req.authenticated =>
        {
            Decision::Authenticate
        }
        _ => Decision::Succeed,
    }
}

/// A digest of what an operation asks, so a key used again for another request is caught.
fn request_hash(op: &SandboxOp) -> String {
    let text = format!(
        "{}|{}|{}|{}|{:?}",
        op.kind, op.amount_minor, op.currency, op.card_token, op.reference
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The outcome of `op` as the journal has it under its key (`stored`: `op` itself, or the
/// earlier operation with the key).
fn outcome_of(op: &SandboxOp, stored: SandboxOp) -> Result<Outcome, ProcessorError> {
    if stored.request_hash != op.request_hash {
        return Err(ProcessorError::Rejected(format!(
            "idempotency key {} was used for a different request",
            op.idempotency_key
        )));
    }
    Ok(match stored.outcome.as_str() {
        "succeeded" => Outcome::Succeeded {
            reference: stored.id,
        },
        "requires_action" => Outcome::RequiresAction(Default::default()),
        "processing" => Outcome::Processing,
        _ => Outcome::Declined(Decline {
            code: stored.error_code.unwrap_or_else(|| "card_declined".into()),
            decline_code: Some(
                stored
                    .decline_code
                    .unwrap_or_else(|| "generic_decline".into()),
            ),
            message: stored
                .message
                .unwrap_or_else(|| "Your card was declined.".into()),
            reference: stored.id,
        }),
    })
}

impl Processor for SandboxProcessor {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn tokenize_card(&self, card: RawCard<'_>) -> Result<CardDetails, CardError> {
        let (test, month, year) = cards::check_raw(
            card.number,
            card.exp_month,
            card.exp_year,
            card.cvc,
            card.today,
        )?;
        Ok(test.details(month, year, self.fingerprint(test.number)))
    }

    fn dispute_after_capture(&self, card_token: &str) -> Option<DisputeNotice> {
        match cards::by_token(card_token)?.behavior {
            Behavior::Disputed { inquiry } => Some(DisputeNotice {
                reason: if inquiry { "general" } else { "fraudulent" },
                inquiry,
            }),
            _ => None,
        }
    }

    fn test_card(&self, id: &str) -> Option<CardDetails> {
        let name = id
            .strip_prefix("pm_card_")
            .or_else(|| id.strip_prefix("tok_"))?;
        let test = cards::by_name(name)?;
        let year = 2026 + TEST_ID_EXPIRY_YEARS_AHEAD;
        Some(test.details(12, year, self.fingerprint(test.number)))
    }

    fn verify<'a>(
        &'a self,
        req: VerifyRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let card = Self::card_of(req.card_token)?;
            let mut op = self.op(
                "verify",
                req.idempotency_key,
                0,
                "usd",
                req.card_token,
                None,
            );
            set_outcome(&mut op, &decide_verify(card, &req));
            self.journal(op).await
        })
    }

    fn authorize<'a>(
        &'a self,
        req: AuthorizeRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move { self.journal(self.authorization_op(&req)?).await })
    }

    /// The journal entries written in one statement on PostgreSQL (a billing run's charges).
    fn authorize_many<'a>(
        &'a self,
        reqs: Vec<AuthorizeRequest<'a>>,
    ) -> BoxFuture<'a, Vec<Result<Outcome, ProcessorError>>> {
        Box::pin(async move {
            let ops: Vec<Result<SandboxOp, ProcessorError>> =
                reqs.iter().map(|r| self.authorization_op(r)).collect();
            let valid: Vec<SandboxOp> = ops.iter().filter_map(|o| o.clone().ok()).collect();
            let mut stored = match self.store.sandbox_record_many(&valid).await {
                Ok(stored) => stored.into_iter(),
                Err(e) => {
                    let e = ProcessorError::Network(e.to_string());
                    return ops.iter().map(|_| Err(e.clone())).collect();
                }
            };
            ops.into_iter()
                .map(|op| {
                    let op = op?;
                    let stored = stored.next().ok_or_else(|| {
                        ProcessorError::Network("the journal lost an operation".into())
                    })?;
                    outcome_of(&op, stored)
                })
                .collect()
        })
    }

    fn capture<'a>(
        &'a self,
        req: CaptureRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let auth = self.authorization(req.authorization).await?;
            let captured = self.total(&auth.id, "capture").await?;
            if auth.kind != "authorize" || captured + req.amount_minor > auth.amount_minor {
                return Err(ProcessorError::Rejected(format!(
                    "cannot capture {} of authorization {}",
                    req.amount_minor, auth.id
                )));
            }
            let op = self.op(
                "capture",
                req.idempotency_key,
                req.amount_minor,
                req.currency,
                &auth.card_token,
                Some(&auth.id),
            );
            self.journal(op).await
        })
    }

    fn void<'a>(&'a self, req: VoidRequest<'a>) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let auth = self.authorization(req.authorization).await?;
            let op = self.op(
                "void",
                req.idempotency_key,
                0,
                &auth.currency,
                &auth.card_token,
                Some(&auth.id),
            );
            self.journal(op).await
        })
    }

    fn refund<'a>(
        &'a self,
        req: RefundRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let charge = self.authorization(req.charge_reference).await?;
            let paid = match charge.kind.as_str() {
                "charge" => charge.amount_minor,
                _ => self.total(&charge.id, "capture").await?,
            };
            let refunded = self.total(&charge.id, "refund").await?;
            if refunded + req.amount_minor > paid {
                return Err(ProcessorError::Rejected(format!(
                    "refund of {} exceeds what is left of {}",
                    req.amount_minor, charge.id
                )));
            }
            let op = self.op(
                "refund",
                req.idempotency_key,
                req.amount_minor,
                req.currency,
                &charge.card_token,
                Some(&charge.id),
            );
            self.journal(op).await
        })
    }
}

impl SandboxProcessor {
    async fn authorization(&self, id: &str) -> Result<SandboxOp, ProcessorError> {
        self.store
            .sandbox_op(id)
            .await
            .map_err(|e| ProcessorError::Network(e.to_string()))?
            .filter(|op| op.outcome == "succeeded")
            .ok_or_else(|| ProcessorError::Rejected(format!("no succeeded operation {id}")))
    }

    async fn total(&self, reference: &str, kind: &str) -> Result<i64, ProcessorError> {
        self.store
            .sandbox_total(reference, kind)
            .await
            .map_err(|e| ProcessorError::Network(e.to_string()))
    }
}
