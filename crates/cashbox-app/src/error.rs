//! Every way a use case can fail. The HTTP layer maps each variant to one Stripe error.

use cashbox_core::ParamError;
use cashbox_core::billing::subscription::change::ChangeError;
use cashbox_core::crypto::CryptoError;
use cashbox_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Param(#[from] ParamError),
    /// The object named in the path does not exist (404).
    #[error("No such {object}: '{id}'")]
    NotFound { object: &'static str, id: String },
    /// An object named by a parameter does not exist (400, with the parameter).
    #[error("No such {object}: '{id}'")]
    MissingReference {
        object: &'static str,
        id: String,
        param: String,
    },
    /// The request's idempotency claim expired and another request took it over.
    #[error("a newer request with this Idempotency-Key took over while this one ran")]
    IdempotencyClaimLost,
    /// A card was declined or failed authentication: Stripe's 402 `card_error`. The body is
    /// the full error envelope, already saved as the idempotent response.
    #[error("card error")]
    Card { body: serde_json::Value },
    /// The processor call failed without an outcome; the object stays pending and a retry
    /// resumes it with the same processor idempotency key.
    #[error("processor unavailable: {0}")]
    Processor(#[from] cashbox_processor::ProcessorError),
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
    #[error("stored data could not be decrypted: {0}")]
    Crypto(#[from] CryptoError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The billing code tried a status change Stripe does not make (a bug, never the
    /// client's doing): nothing is written, and it is logged.
    #[error("{0}")]
    Transition(#[from] cashbox_core::billing::subscription::InvalidTransition),
}

pub type AppResult<T> = Result<T, AppError>;

impl From<ChangeError> for AppError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Param(p) => AppError::Param(p),
            ChangeError::NoSuchItem { id, param } => AppError::MissingReference {
                object: "subscription_item",
                id,
                param,
            },
            ChangeError::Transition(t) => AppError::Transition(t),
        }
    }
}

impl AppError {
    pub(crate) fn not_found(object: &'static str, id: &str) -> Self {
        Self::NotFound {
            object,
            id: id.to_string(),
        }
    }
}

/// Stripe's 402 `card_error` envelope. `extra` adds the objects Stripe attaches to it
/// (`payment_intent`, `setup_intent`, `charge`, `payment_method`).
pub(crate) fn card_error_body(
    code: &str,
    decline_code: Option<&str>,
    message: &str,
    param: Option<&str>,
    extra: &[(&str, serde_json::Value)],
) -> serde_json::Value {
    let mut error = serde_json::json!({
        "type": "card_error",
        "code": code,
        "message": message,
        "doc_url": format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")),
    });
    if let Some(d) = decline_code {
        error["decline_code"] = d.into();
    }
    if let Some(p) = param {
        error["param"] = p.into();
    }
    for (k, v) in extra {
        error[*k] = v.clone();
    }
    serde_json::json!({ "error": error })
}

impl From<cashbox_processor::CardError> for AppError {
    fn from(e: cashbox_processor::CardError) -> Self {
        AppError::Card {
            body: card_error_body(e.code, e.decline_code, &e.message, Some(e.param), &[]),
        }
    }
}
