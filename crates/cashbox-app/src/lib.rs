//! Cashbox's use cases: what one API call or one background job does, over the store and the
//! key ring. A mutating use case is one transaction that also writes its events and, when the
//! request carried an `Idempotency-Key`, the response to replay.
//!
//! Use cases are found by resource: `app.customers()`, `app.subscriptions()`,
//! `app.payment_intents()`… (each a service declared by `service!` next to its code). A use
//! case checks its parameters alone, begins its transaction, loads what they name, calls the
//! domain's rules (`cashbox_core`), stores what they return and carries out their effects.

/// A resource's use cases, found by name: `app.subscriptions().create(…)`. A service borrows
/// the [`App`] and reaches the shared machinery (store, keys, events) through it.
macro_rules! service {
    ($name:ident, $accessor:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy)]
        pub struct $name<'a> {
            app: &'a $crate::App,
        }

        impl std::ops::Deref for $name<'_> {
            type Target = $crate::App;
            fn deref(&self) -> &$crate::App {
                self.app
            }
        }

        impl $crate::App {
            #[doc = $doc]
            pub fn $accessor(&self) -> $name<'_> {
                $name { app: self }
            }
        }
    };
}
pub(crate) use service;

pub mod auth;
pub mod billing;
pub mod checkout;
pub mod context;
pub mod customers;
mod docs;
pub mod error;
pub mod events;
pub mod expand;
pub mod idempotency;
pub mod inbound;
pub mod keys;
pub mod ledger;
pub mod payments;
pub mod portal;
pub mod rotation;
pub mod search;
pub mod usage;
pub mod webhooks;

use std::sync::Arc;

use cashbox_core::crypto::{Compressed, KeyRing};
use cashbox_processor::Processor;
use cashbox_processor::sandbox::SandboxProcessor;
use cashbox_store::{SealedColumn, Store, Tx};
use serde_json::Value;

pub use context::{ClientAuth, IdempotencyClaim, RequestCtx};
pub use error::{AppError, AppResult};
pub use payments::processor::CustomerShare;
pub use webhooks::WebhookSettings;

/// Settings the use cases need; the binary builds them from its configuration.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// SHA-256 of the operator's `CASHBOX_SECRET_KEY`, accepted as a secret key.
    pub env_secret_key_hash: Option<Vec<u8>>,
    /// Where hosted pages (receipts, authentication) are reached: `http://127.0.0.1:4242`.
    pub public_url: String,
    /// Refunds are refused this many days after the charge (the course platform's 30).
    pub refund_window_days: Option<u32>,
    /// The wall clock; tests substitute their own. `None` is the system clock.
    pub clock: Option<fn() -> i64>,
    /// How failed renewal payments are retried.
    pub dunning: Dunning,
    /// Whether a `past_due` subscription stops entitling its customer (default: it keeps
    /// entitling while its payment is retried).
    pub past_due_revokes_entitlements: bool,
    /// Where webhook deliveries may go and how long each may take.
    pub webhooks: WebhookSettings,
    /// Runs every use case in ordinary transactions, never deferred (SQLite) or buffered
    /// (PostgreSQL) ones: slower, and the same rows written (the differential test checks).
    pub ordinary_transactions_only: bool,
    /// How long a test clock's advance request waits for the advance to finish before it
    /// answers with the clock `advancing` (`None`: [`billing::clocks::ADVANCE_ANSWER_WITHIN`]).
    pub advance_answer_within: Option<std::time::Duration>,
    /// The business the hosted pages and documents speak for.
    pub business: BusinessProfile,
    /// What a processor's customer (Stripe's) is created with besides Cashbox's id.
    pub processor_customer_share: CustomerShare,
    /// The secrets the processor's webhooks to Cashbox are signed with (none: not received).
    pub inbound_secrets: inbound::InboundSecrets,
    /// Stripe.js on the hosted pages, when the processor is Stripe: the card goes from the
    /// browser to Stripe and Cashbox receives a PaymentMethod id.
    pub stripe_js: Option<StripeJs>,
}

/// What a hosted page needs to load Stripe.js.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StripeJs {
    /// `pk_live_…` or `pk_test_…`: public by design.
    pub publishable_key: String,
    /// `https://js.stripe.com/v3/`, or a stand-in's in tests.
    pub js_url: String,
}

/// The business behind the hosted pages (checkout, the invoice page, receipts) and the
/// invoice PDF: its name, postal address, support email, logo and tax id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BusinessProfile {
    pub name: String,
    /// Its lines, in order.
    pub address: Vec<String>,
    pub support_email: Option<String>,
    /// An http(s) URL of an image.
    pub logo_url: Option<String>,
    pub tax_id: Option<String>,
}

impl Default for BusinessProfile {
    fn default() -> Self {
        Self {
            name: "Cashbox".into(),
            address: Vec::new(),
            support_email: None,
            logo_url: None,
            tax_id: None,
        }
    }
}

/// What happens to a subscription when the last retry of its invoice fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DunningFinal {
    Cancel,
    Unpaid,
    PastDue,
}

/// The retry schedule for failed invoice payments: each retry so many days after the
/// previous attempt (Stripe's default smart-retry window is close to 3, 5 and 7 days).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dunning {
    pub retry_days: Vec<i64>,
    pub after_last_retry: DunningFinal,
}

impl Default for Dunning {
    fn default() -> Self {
        Self {
            retry_days: vec![3, 5, 7],
            after_last_retry: DunningFinal::Cancel,
        }
    }
}

/// A piece of work given a transaction, which it hands back with its result
/// ([`App::transact`]).
pub(crate) type TxWork<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = (Tx, AppResult<T>)> + Send + 'a>>;

/// The application: shared by every request and job. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    keys: KeyRing,
    settings: Settings,
    processor: Box<dyn Processor>,
    auth_cache: auth::AuthCache,
    usage_cache: usage::usage_cache::UsageCache,
    #[cfg(feature = "fault-injection")]
    lose_writes: std::sync::atomic::AtomicBool,
}

impl App {
    /// The application on the built-in sandbox processor.
    pub fn new(store: Store, keys: KeyRing, settings: Settings) -> Self {
        let fingerprint_key = keys.derive_key("card-fingerprint");
        let sandbox = SandboxProcessor::new(
            store.clone(),
            fingerprint_key,
            settings.clock.unwrap_or(unix_now),
        );
        Self::with_processor(store, keys, settings, Box::new(sandbox))
    }

    pub fn with_processor(
        store: Store,
        keys: KeyRing,
        settings: Settings,
        processor: Box<dyn Processor>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                keys,
                settings,
                processor,
                auth_cache: auth::AuthCache::default(),
                usage_cache: usage::usage_cache::UsageCache::default(),
                #[cfg(feature = "fault-injection")]
                lose_writes: Default::default(),
            }),
        }
    }

    /// Makes every deferred or buffered transaction of this application lose a write
    /// ([`Tx::lose_a_write`]), for the differential test to show that it notices.
    #[cfg(feature = "fault-injection")]
    pub fn lose_writes_in_fast_transactions(&self) {
        self.inner
            .lose_writes
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn processor(&self) -> &dyn Processor {
        self.inner.processor.as_ref()
    }

    pub(crate) fn usage_cache(&self) -> &usage::usage_cache::UsageCache {
        &self.inner.usage_cache
    }

    /// Where browsers reach the hosted pages (`http://127.0.0.1:4242`).
    pub fn public_url(&self) -> &str {
        &self.settings().public_url
    }

    /// The business the hosted pages speak for.
    pub fn business(&self) -> &BusinessProfile {
        &self.settings().business
    }

    /// Stripe.js for the hosted pages' card fields, when the processor is Stripe.
    pub fn stripe_js(&self) -> Option<&StripeJs> {
        self.settings().stripe_js.as_ref()
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// A keyed digest of a request, for idempotency: never a plain hash of parameters that may
    /// hold a card number.
    pub fn request_fingerprint(&self, canonical: &str) -> Vec<u8> {
        self.keys().blind_index("idempotency.request", canonical)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn keys(&self) -> &KeyRing {
        &self.inner.keys
    }

    /// Wall-clock Unix seconds. Only the application reads the clock; the domain is given time.
    pub fn now(&self) -> i64 {
        self.inner
            .settings
            .clock
            .map_or_else(unix_now, |clock| clock())
    }

    /// Runs `work` in one transaction and commits it. On SQLite the work runs first outside
    /// the write turn ([`cashbox_store::Store::deferred`]) and is written only if nothing it
    /// read has changed; on PostgreSQL it runs first with its writes held and sent together
    /// ([`cashbox_store::Store::buffered`]). The work runs again in an ordinary transaction,
    /// whose outcome is the answer, only if that first run conflicted: its commit found a
    /// change, or it failed having seen what an ordinary transaction would not have
    /// ([`Tx::failure_stands`]). A failure that stands is the answer at once. `work` must not
    /// commit, must have no effect outside the transaction (a first run may be thrown away),
    /// and must take its locks by reading.
    pub(crate) async fn transact<'a, T>(
        &self,
        mut work: impl FnMut(Tx) -> TxWork<'a, T>,
    ) -> AppResult<T> {
        let first = if self.settings().ordinary_transactions_only {
            None
        } else {
            match self.store().deferred() {
                Some(tx) => Some(tx),
                None => self.store().buffered().await?,
            }
        };
        #[cfg(feature = "fault-injection")]
        let first = first.map(|mut tx| {
            if self
                .inner
                .lose_writes
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                tx.lose_a_write();
            }
            tx
        });
        if let Some(tx) = first {
            match work(tx).await {
                (tx, Ok(v)) => match tx.commit().await {
                    Ok(()) => return Ok(v),
                    Err(cashbox_store::StoreError::Conflict) => {}
                    Err(e) => return Err(e.into()),
                },
                // What only a deferred or buffered transaction refuses.
                (
                    _,
                    Err(AppError::Store(
                        cashbox_store::StoreError::Conflict
                        | cashbox_store::StoreError::NotDeferrable,
                    )),
                ) => {}
                (tx, Err(e)) => {
                    if tx.failure_stands().await? {
                        return Err(e);
                    }
                    tracing::info!(
                        error = %e,
                        "work in a deferred or buffered transaction failed on what it saw there: running it again in an ordinary one"
                    );
                }
            }
        }
        // A deadlock or serialization failure wrote nothing: the work runs again (a few
        // times) rather than failing over a lock.
        let mut lock_conflicts = 0;
        loop {
            let (tx, v) = work(self.store().begin().await?).await;
            let done = match v {
                Ok(v) => tx.commit().await.map(|()| v).map_err(AppError::from),
                Err(e) => Err(e),
            };
            match done {
                Err(AppError::Store(e)) if e.is_lock_conflict() && lock_conflicts < 3 => {
                    lock_conflicts += 1;
                    tracing::info!(error = %e, "a transaction gave up over a lock: running it again");
                }
                done => return done,
            }
        }
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
        self.commit_response(tx, ctx, 200, &response).await?;
        Ok(response)
    }

    /// Saves `body` as the idempotent response (any status: a declined payment's 402 is a
    /// result like any other), commits, and marks the claim done.
    pub(crate) async fn commit_response(
        &self,
        mut tx: Tx,
        ctx: &RequestCtx,
        status: u16,
        body: &Value,
    ) -> AppResult<()> {
        self.save_response(&mut tx, ctx, status, body).await?;
        tx.commit().await?;
        if let Some(claim) = &ctx.idempotency {
            claim.mark_completed();
        }
        Ok(())
    }

    /// Commits phase 1 of a use case that goes on to a processor call: `body` (the object
    /// pending) is saved as the request's provisional response, which a retry with its key is
    /// never shown: it is told the request is in flight until the outcome replaces it
    /// ([`App::save_response`] in a later phase), or, if the request stopped, the object is
    /// finished and its final rendering saved ([`App::claim_idempotency`]).
    pub(crate) async fn commit_provisional(
        &self,
        mut tx: Tx,
        ctx: &RequestCtx,
        body: &Value,
    ) -> AppResult<()> {
        self.save_response_as(&mut tx, ctx, 200, body, true).await?;
        tx.commit().await?;
        if let Some(claim) = &ctx.idempotency {
            claim.mark_completed();
        }
        Ok(())
    }

    /// Saves `body` as the request's idempotent response in `tx`, if it has a key.
    pub(crate) async fn save_response(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        status: u16,
        body: &Value,
    ) -> AppResult<()> {
        self.save_response_as(tx, ctx, status, body, false).await
    }

    async fn save_response_as(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        status: u16,
        body: &Value,
        provisional: bool,
    ) -> AppResult<()> {
        if let Some(claim) = &ctx.idempotency {
            let sealed = self.seal_response(&claim.row_id, body);
            let saved = if claim.is_completed() {
                // A later phase of the same request: the final response replaces the provisional.
                tx.replace_idempotent_response(&claim.row_id, &claim.token, status, &sealed)
                    .await?
            } else {
                tx.complete_idempotency(&claim.row_id, &claim.token, status, &sealed, provisional)
                    .await?
            };
            if !saved {
                return Err(AppError::IdempotencyClaimLost);
            }
        }
        Ok(())
    }

    pub(crate) fn seal_response(&self, row_id: &str, body: &Value) -> Vec<u8> {
        let compressed = Compressed::of_json(body).expect("JSON values always serialize");
        self.keys()
            .seal_compressed(&SealedColumn::IdempotencyResponses.aad(row_id), &compressed)
    }

    /// The end of a use case run through [`App::transact`]: a 200 response expanded through
    /// the transaction, and the response saved for the Idempotency-Key. The caller marks the
    /// claim done once the transaction commits.
    pub(crate) async fn respond(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        status: u16,
        mut body: Value,
        expand: &[Vec<String>],
    ) -> AppResult<(u16, Value)> {
        if status == 200 {
            self.expand(&mut expand::Reader::Tx(tx), &mut body, expand)
                .await?;
        }
        self.save_response(tx, ctx, status, &body).await?;
        Ok((status, body))
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use cashbox_core::crypto::KeyRing;
    use cashbox_store::StoreError;

    use super::*;

    async fn app() -> (App, cashbox_store::testing::FreshStore) {
        let fresh = cashbox_store::testing::fresh_store().await.unwrap();
        let keys = KeyRing::parse(&KeyRing::generate_entry("k1")).unwrap();
        (
            App::new(fresh.store.clone(), keys, Settings::default()),
            fresh,
        )
    }

    #[tokio::test]
    async fn work_that_fails_on_what_it_saw_runs_once() {
        let (app, _db) = app().await;
        let runs = AtomicUsize::new(0);
        let failed = app
            .transact(|mut tx| {
                let runs = &runs;
                Box::pin(async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let result = match tx.customer("cus_x").await {
                        Ok(None) => Err(AppError::not_found("customer", "cus_x")),
                        Ok(Some(c)) => Ok(c.id),
                        Err(e) => Err(e.into()),
                    };
                    (tx, result)
                })
            })
            .await;
        assert!(
            matches!(failed, Err(AppError::NotFound { .. })),
            "{failed:?}"
        );
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "a failure that stands is not rerun"
        );
    }

    #[tokio::test]
    async fn work_that_conflicts_runs_again_in_an_ordinary_transaction() {
        let (app, _db) = app().await;
        let runs = AtomicUsize::new(0);
        let done = app
            .transact(|tx| {
                let runs = &runs;
                Box::pin(async move {
                    let run = runs.fetch_add(1, Ordering::SeqCst);
                    let result = if run == 0 {
                        Err(AppError::Store(StoreError::Conflict))
                    } else {
                        Ok(run)
                    };
                    (tx, result)
                })
            })
            .await
            .unwrap();
        assert_eq!(done, 1);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
