//! Every way a use case can fail. The HTTP layer maps each variant to one Stripe error.

use cashbox_core::ParamError;
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
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
    #[error("stored data could not be decrypted: {0}")]
    Crypto(#[from] CryptoError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub(crate) fn not_found(object: &'static str, id: &str) -> Self {
        Self::NotFound {
            object,
            id: id.to_string(),
        }
    }
}
