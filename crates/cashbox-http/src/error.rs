//! The one error type at the HTTP edge, rendered as Stripe's envelope:
//! `{"error": {"type", "code", "decline_code", "message", "param"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use cashbox_app::AppError;
use cashbox_core::ParamError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    InvalidRequestError,
    CardError,
    IdempotencyError,
    AuthenticationError,
    PermissionError,
    RateLimitError,
    ApiError,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: ErrorType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_code: Option<&'static str>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// Where to read about this error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc_url: Option<String>,
}

/// Stripe's error envelope.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// A complete envelope made by the use case (a card error carrying its PaymentIntent),
    /// sent as it is: it is also what an idempotent replay sends.
    pub prepared: Option<Box<serde_json::Value>>,
    /// Boxed: errors travel in every `Result` of the request path; keep that small.
    pub body: Box<ErrorBody>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: ErrorType, message: impl Into<String>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody {
                kind,
                code: None,
                decline_code: None,
                message: message.into(),
                param: None,
                doc_url: None,
            }),
            retry_after_secs: None,
            prepared: None,
        }
    }

    pub fn code(mut self, code: &'static str) -> Self {
        self.body.code = Some(code);
        self
    }

    pub fn param(mut self, param: impl Into<String>) -> Self {
        let p = param.into();
        self.body.param = (!p.is_empty()).then_some(p);
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequestError,
            message,
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::ApiError,
            "An unexpected error occurred on our side. The request may be retried with the same Idempotency-Key.",
        )
    }

    pub fn missing_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorType::AuthenticationError,
            "You did not provide an API key. Provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    }

    pub fn invalid_key(redacted: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorType::AuthenticationError,
            format!("Invalid API Key provided: {redacted}"),
        )
        .code("api_key_invalid")
    }
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        Self::invalid_request(e.message).code(e.code).param(e.param)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Param(p) => p.into(),
            AppError::NotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, ErrorType::InvalidRequestError, e.to_string())
                    .code("resource_missing")
                    .param("id")
            }
            AppError::MissingReference { ref param, .. } => {
                let param = param.clone();
                Self::invalid_request(e.to_string())
                    .code("resource_missing")
                    .param(param)
            }
            AppError::IdempotencyClaimLost => Self::new(
                StatusCode::CONFLICT,
                ErrorType::IdempotencyError,
                "A later request with the same Idempotency-Key took over while this one ran; nothing was changed by this request.",
            )
            .code("idempotency_key_in_use"),
            AppError::Card { body } => {
                let mut e = Self::new(StatusCode::PAYMENT_REQUIRED, ErrorType::CardError, "card error");
                e.prepared = Some(Box::new(body));
                e
            }
            AppError::Processor(ref p) => {
                tracing::error!(error = %p, "processor call failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorType::ApiError,
                    "The payment processor did not answer. Nothing was charged twice: the operation stays processing and completes when retried.",
                )
            }
            AppError::Store(ref s) if s.is_lock_conflict() => {
                tracing::warn!(error = %e, "request gave up over a lock; the client may retry");
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorType::InvalidRequestError,
                    "This object cannot be accessed right now because another API request or Cashbox process is currently accessing it. Nothing was changed; retry the request.",
                )
                .code("lock_timeout")
            }
            AppError::Store(_)
            | AppError::Crypto(_)
            | AppError::Corrupt(_)
            | AppError::Transition(_) => {
                // The detail goes to the log with the request id, never to the client.
                tracing::error!(error = %e, "request failed");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = match self.prepared {
            Some(body) => (self.status, axum::Json(*body)).into_response(),
            None => (self.status, axum::Json(ErrorEnvelope { error: *self.body })).into_response(),
        };
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
