//! The processor moves money; Cashbox owns everything else. One trait, two implementations:
//! `sandbox` (built in, Stripe's test mode behaviour) and `stripe` (Stripe's API).
//!
//! The trait is honest about a remote processor: every money-moving call carries an
//! idempotency key the processor itself honours (a retry after a timeout never charges twice),
//! and failures of the call itself (network, timeout) are distinct from a card's decline.

use std::future::Future;
use std::pin::Pin;

pub mod sandbox;
pub mod stripe;

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
    RequiresAction(Action),
    /// Accepted but not final yet: ask again later with the same idempotency key.
    Processing,
}

/// What the cardholder authenticates, where the processor holds it: Stripe's PaymentIntent and
/// the client secret Stripe.js needs to run its 3-D Secure. Empty on the sandbox, whose own
/// page stands in for the issuer's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Action {
    pub reference: Option<String>,
    pub client_secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decline {
    /// Stripe's error code: `card_declined`, `expired_card`, `authentication_required`…
    pub code: String,
    /// Stripe's decline code: `generic_decline`, `insufficient_funds`… (none for errors that
    /// are not an issuer's decline, such as `authentication_required` on some processors).
    pub decline_code: Option<String>,
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
    /// The processor failed while handling the request (a 5xx): it may have acted, and
    /// asking again with the same key may only repeat the failure.
    #[error("the processor failed while handling the request: {0}")]
    Indeterminate(String),
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
    /// The processor's own customer the card belongs to ([`Processor::create_customer`]),
    /// where the processor keeps customers and the card is saved to one.
    pub customer: Option<&'a str>,
    /// Save the card to `customer` for later use (`setup_future_usage`).
    pub save_card: bool,
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
    /// The processor's payment the cardholder authenticated ([`Action::reference`]): its
    /// outcome is read instead of a new payment made.
    pub resume: Option<&'a str>,
    /// The merchant asks for authentication even where the card does not require it
    /// (`request_three_d_secure` `any` or `challenge`); only a present customer is asked.
    pub request_authentication: bool,
}

#[derive(Debug, Clone)]
pub struct VerifyRequest<'a> {
    pub idempotency_key: &'a str,
    /// The processor's own customer the card is attached to, where it keeps customers.
    pub customer: Option<&'a str>,
    pub card_token: &'a str,
    /// Setting up for later use (SetupIntent) may ask for authentication; attaching does not.
    pub for_setup: bool,
    pub authenticated: bool,
    /// The processor's setup the cardholder authenticated ([`Action::reference`]): its
    /// outcome is read instead of a new setup made.
    pub resume: Option<&'a str>,
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

/// A card the processor holds under its own id (a Stripe `pm_…` made by Stripe.js).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignCard {
    /// The processor's id, which Cashbox keeps as its PaymentMethod's id.
    pub id: String,
    pub details: CardDetails,
}

/// A refund as the processor has it (possibly made in its dashboard, not through Cashbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignRefund {
    pub id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// `succeeded`, `pending`, `failed`, `canceled`.
    pub status: String,
    /// The Cashbox refund that asked for it, if Cashbox did.
    pub cashbox_refund: Option<String>,
}

/// A payment as the processor has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignPayment {
    /// The processor's id (Cashbox's charges keep it as their reference).
    pub reference: String,
    /// The Cashbox attempt that made it (`pi_…:confirm:1`), from the processor's metadata.
    pub attempt_key: Option<String>,
    pub refunds: Vec<ForeignRefund>,
}

/// A dispute the processor will open on a captured charge (the sandbox's dispute cards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisputeNotice {
    /// Stripe's reason: `fraudulent`, `general`…
    pub reason: &'static str,
    /// An inquiry (no money moves) rather than a chargeback.
    pub inquiry: bool,
}

/// What a processor's customer is created with: only what the operator's settings share.
#[derive(Debug, Clone)]
pub struct CustomerRequest<'a> {
    pub idempotency_key: &'a str,
    /// Cashbox's customer id, kept in the processor's metadata (`cashbox_id`).
    pub cashbox_id: &'a str,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
}

pub trait Processor: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Checks the processor's credentials (the API key), once at start-up.
    fn check_credentials(&self) -> BoxFuture<'_, Result<(), ProcessorError>> {
        Box::pin(async { Ok(()) })
    }

    /// Whether cards are saved to the processor's own customers ([`Processor::create_customer`]).
    fn keeps_customers(&self) -> bool {
        false
    }

    /// Creates the processor's customer for a Cashbox customer; returns its id.
    fn create_customer<'a>(
        &'a self,
        req: CustomerRequest<'a>,
    ) -> BoxFuture<'a, Result<String, ProcessorError>> {
        let _ = req;
        Box::pin(async {
            Err(ProcessorError::Rejected(
                "this processor keeps no customers".into(),
            ))
        })
    }

    /// A card the processor holds under `id` (a PaymentMethod its client library made), or
    /// `None` if `id` is not one of its ids.
    fn foreign_card<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ForeignCard>, ProcessorError>> {
        let _ = id;
        Box::pin(async { Ok(None) })
    }

    /// Turns a raw card into a token. Only a sandbox accepts raw numbers.
    fn tokenize_card(&self, card: RawCard<'_>) -> Result<CardDetails, CardError>;

    /// Stripe's test PaymentMethod ids and tokens (`pm_card_visa`, `tok_chargeDeclined`).
    fn test_card(&self, id: &str) -> Option<CardDetails>;

    /// The payment `reference` and its refunds as the processor has them now, for applying
    /// what happened on the processor's side (a refund made in its dashboard).
    fn payment<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<ForeignPayment, ProcessorError>> {
        Box::pin(async move {
            Err(ProcessorError::Rejected(format!(
                "this processor does not report payments ({reference})"
            )))
        })
    }

    /// A dispute the processor opens as soon as a charge of `card_token` is captured: the
    /// sandbox's dispute test cards. A real processor reports disputes by webhook instead.
    fn dispute_after_capture(&self, card_token: &str) -> Option<DisputeNotice> {
        let _ = card_token;
        None
    }

    /// Sends a dispute's evidence to the processor (and submits it unless `submit` is false).
    /// Nothing to send on the sandbox.
    fn update_dispute<'a>(
        &'a self,
        reference: Option<&'a str>,
        evidence: &'a [(String, String)],
        submit: bool,
    ) -> BoxFuture<'a, Result<(), ProcessorError>> {
        let _ = (reference, evidence, submit);
        Box::pin(async { Ok(()) })
    }

    /// Accepts a dispute on the processor's side.
    fn close_dispute<'a>(
        &'a self,
        reference: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ProcessorError>> {
        let _ = reference;
        Box::pin(async { Ok(()) })
    }

    /// Forgets a card saved to one of the processor's customers. Nothing to do on the sandbox.
    fn detach_card<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), ProcessorError>> {
        let _ = token;
        Box::pin(async { Ok(()) })
    }

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
