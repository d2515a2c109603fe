//! Cashbox's use cases: what one API call or one background job does, over the store and the
//! key ring. A mutating use case is one transaction that also writes its events and, when the
//! request carried an `Idempotency-Key`, the response to replay.

pub mod auth;
pub mod context;
pub mod customers;
pub mod error;
pub mod events;
pub mod expand;
pub mod idempotency;
pub mod keys;
pub mod rotation;

use std::sync::Arc;

use cashbox_core::crypto::KeyRing;
use cashbox_store::{SealedColumn, Store, Tx};
use serde_json::Value;

pub use context::{IdempotencyClaim, RequestCtx};
pub use error::{AppError, AppResult};

/// Settings the use cases need; the binary builds them from its configuration.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// SHA-256 of the operator's `CASHBOX_SECRET_KEY`, accepted as a secret key.
    pub env_secret_key_hash: Option<Vec<u8>>,
}

/// The application: shared by every request and job. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    keys: KeyRing,
    settings: Settings,
    auth_cache: auth::AuthCache,
}

impl App {
    pub fn new(store: Store, keys: KeyRing, settings: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                keys,
                settings,
                auth_cache: auth::AuthCache::default(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn keys(&self) -> &KeyRing {
        &self.inner.keys
    }

    /// Wall-clock Unix seconds. Only the application reads the clock; the domain is given time.
    pub fn now(&self) -> i64 {
        unix_now()
    }

    /// Ends a mutating use case: expands the response through the transaction (so objects
    /// created in it are visible), saves it as the idempotent response in the same
    /// transaction, commits, and marks the claim done so the HTTP layer does not release it.
    pub(crate) async fn finish(
        &self,
        mut tx: Tx,
        ctx: &RequestCtx,
        mut response: Value,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        self.expand(&mut expand::Reader::Tx(&mut tx), &mut response, expand)
            .await?;
        if let Some(claim) = &ctx.idempotency {
            let bytes = serde_json::to_vec(&response).expect("JSON values always serialize");
            let sealed = self.keys().seal(
                &SealedColumn::IdempotencyResponses.aad(&claim.row_id),
                &bytes,
            );
            if !tx
                .complete_idempotency(&claim.row_id, &claim.token, 200, &sealed)
                .await?
            {
                return Err(AppError::IdempotencyClaimLost);
            }
        }
        tx.commit().await?;
        if let Some(claim) = &ctx.idempotency {
            claim.mark_completed();
        }
        Ok(response)
    }

    /// Deletes idempotency keys past their replay window. Run periodically by `serve`.
    pub async fn prune(&self) -> AppResult<u64> {
        Ok(self.store().prune_idempotency(self.now()).await?)
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
