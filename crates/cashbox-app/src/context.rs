//! What a use case knows about the request that called it.

use std::sync::atomic::{AtomicBool, Ordering};

/// The request that runs a use case: for events (`request.id`, `request.idempotency_key`) and
/// for saving the idempotent response.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub request_id: Option<String>,
    pub idempotency: Option<std::sync::Arc<IdempotencyClaim>>,
}

/// A claimed `Idempotency-Key`. The use case completes it in its transaction; if nothing
/// completes it, the HTTP layer releases it when the request ends.
#[derive(Debug)]
pub struct IdempotencyClaim {
    pub key: String,
    pub row_id: String,
    pub token: String,
    completed: AtomicBool,
}

impl IdempotencyClaim {
    pub fn new(key: String, row_id: String, token: String) -> Self {
        Self {
            key,
            row_id,
            token,
            completed: AtomicBool::new(false),
        }
    }

    pub fn is_completed(&self) -> bool {
        self.completed.load(Ordering::Acquire)
    }

    pub(crate) fn mark_completed(&self) {
        self.completed.store(true, Ordering::Release);
    }
}

impl RequestCtx {
    pub fn idempotency_key(&self) -> Option<String> {
        self.idempotency.as_ref().map(|c| c.key.clone())
    }
}

/// Who may act on an intent: a secret key, or a browser holding a publishable key and the
/// intent's `client_secret`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth<'a> {
    Secret,
    Publishable(Option<&'a str>),
}

impl ClientAuth<'_> {
    /// Whether this caller may see and confirm an intent whose secret is `secret`.
    pub fn allows(&self, secret: &str) -> bool {
        match self {
            Self::Secret => true,
            Self::Publishable(Some(given)) => {
                cashbox_core::crypto::constant_time_eq(given.as_bytes(), secret.as_bytes())
            }
            Self::Publishable(None) => false,
        }
    }
}
