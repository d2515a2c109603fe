//! The processor moves money; Cashbox owns everything else. One trait, two implementations:
//! `sandbox` (built in, Stripe's test mode behaviour) and, in a later issue, `stripe`.
//!
//! The trait is honest about a remote processor: every money-moving call carries an
//! idempotency key the processor itself honours (a retry after a timeout never charges twice),
//! and failures of the call itself (network, timeout) are distinct from a card's decline.

use std::future::Future;
use std::pin::Pin;

pub mod sandbox;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the processor knows about a card. Never the number or the CVC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardDetails {
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub funding: String,
    pub country: String,
    /// The same card always has the same fingerprint; it reveals nothing of the number.
    pub fingerprint: String,
    /// The processor's handle for charging this card later.
    pub token: String,
}

/// A raw card as a browser would send it to the processor. Only the sandbox accepts these.
pub struct RawCard<'a> {
    pub number: &'a str,
    pub exp_month: i64,
    pub exp_year: i64,
    pub cvc: Option<&'a str>,
    /// The current year and month, to refuse expired cards.
    pub today: (i64, i64),
}

/// A card rejected before any charge, with Stripe's code and the parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CardError {
    pub code: &'static str,
    pub decline_code: Option<&'static str>,
    pub param: &'static str,
    pub message: String,
}

/// The result of asking the processor to move money or check a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded {
        /// The processor's id for this operation.
        reference: String,
    },
    Declined(Decline),
    /// The cardholder must authenticate (3-D Secure) before this can succeed.
    RequiresAction,
    /// Accepted but not final yet: ask again later with the same idempotency key.
    Processing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decline {
    /// Stripe's error code: `card_declined`, `expired_card`, `authentication_required`…
    pub code: String,
    /// Stripe's decline code: `generic_decline`, `insufficient_funds`…
    pub decline_code: String,
    pub message: String,
    pub reference: String,
}

/// The call itself failed: the outcome is unknown and the caller retries with the same
/// idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessorError {
    #[error("the processor could not be reached: {0}")]
    Network(String),
    #[error("the processor did not answer in time")]
    Timeout,
    #[error("the processor refused the request: {0}")]
    Rejected(String),
    #[error(
        "raw card numbers are not accepted by this processor; collect cards with its client library"
    )]
    RawCardsUnsupported,
}

#[derive(Debug, Clone)]
pub struct AuthorizeRequest<'a> {
    pub idempotency_key: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub card_token: &'a str,
    /// Capture at once (`capture_method=automatic`) or hold the funds.
    pub capture: bool,
    /// The customer is not present to authenticate.
    pub off_session: bool,
    /// The card was set up for later off-session use (a succeeded SetupIntent, or a payment
    /// with `setup_future_usage`).
    pub card_set_up: bool,
    /// The cardholder completed authentication for this attempt.
    pub authenticated: bool,
    /// The merchant asks for authentication even where the card does not require it
    /// (`request_three_d_secure` `any` or `challenge`); only a present customer is asked.
    pub request_authentication: bool,
}

#[derive(Debug, Clone)]
pub struct VerifyRequest<'a> {
    pub idempotency_key: &'a str,
    pub card_token: &'a str,
    /// Setting up for later use (SetupIntent) may ask for authentication; attaching does not.
    pub for_setup: bool,
    pub authenticated: bool,
}

#[derive(Debug, Clone)]
pub struct CaptureRequest<'a> {
    pub idempotency_key: &'a str,
    pub authorization: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
}

#[derive(Debug, Clone)]
pub struct RefundRequest<'a> {
    pub idempotency_key: &'a str,
    pub charge_reference: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
}

#[derive(Debug, Clone)]
pub struct VoidRequest<'a> {
    pub idempotency_key: &'a str,
    pub authorization: &'a str,
}

pub trait Processor: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Turns a raw card into a token. Only a sandbox accepts raw numbers.
    fn tokenize_card(&self, card: RawCard<'_>) -> Result<CardDetails, CardError>;

    /// Stripe's test PaymentMethod ids and tokens (`pm_card_visa`, `tok_chargeDeclined`).
    fn test_card(&self, id: &str) -> Option<CardDetails>;

    /// Checks a card for attaching or setting up for later use.
    fn verify<'a>(
        &'a self,
        req: VerifyRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>>;

    /// Authorizes (and with `capture`, captures) a payment.
    fn authorize<'a>(
        &'a self,
        req: AuthorizeRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>>;

    /// Authorizes several payments, each as [`Processor::authorize`] would; the answers in
    /// the order asked. A processor that can take them together overrides it.
    fn authorize_many<'a>(
        &'a self,
        reqs: Vec<AuthorizeRequest<'a>>,
    ) -> BoxFuture<'a, Vec<Result<Outcome, ProcessorError>>> {
        Box::pin(async move {
            let mut answers = Vec::with_capacity(reqs.len());
            for req in reqs {
                answers.push(self.authorize(req).await);
            }
            answers
        })
    }

    fn capture<'a>(
        &'a self,
        req: CaptureRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>>;

    /// Releases an uncaptured authorization.
    fn void<'a>(&'a self, req: VoidRequest<'a>) -> BoxFuture<'a, Result<Outcome, ProcessorError>>;

    fn refund<'a>(
        &'a self,
        req: RefundRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>>;
}
