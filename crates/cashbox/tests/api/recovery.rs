//! A processor call that charged but whose answer was lost leaves the payment pending; after
//! the lease, the recovery sweep finishes it with the same processor key: one charge.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use cashbox_app::{App, RequestCtx, Settings};
use cashbox_core::crypto::KeyRing;
use cashbox_core::payments::{PENDING_LEASE_SECS, PaymentIntentCreateParams, RefundCreateParams};
use cashbox_processor::sandbox::SandboxProcessor;
use cashbox_processor::{
    AuthorizeRequest, BoxFuture, CaptureRequest, CardDetails, CardError, Outcome, Processor,
    ProcessorError, RawCard, RefundRequest, VerifyRequest, VoidRequest,
};
use cashbox_store::Store;
use cashbox_store::testing::{fresh_database_url, remove_test_database};

/// The sandbox, except that while `lose_answers` is set it performs each money movement and
/// then reports a timeout (as a network failure after the processor acted would), and while
/// `still_processing` is set it answers `Processing` instead of the outcome.
struct LossyProcessor {
    inner: SandboxProcessor,
    lose_answers: Arc<AtomicBool>,
    still_processing: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl LossyProcessor {
    async fn maybe_lose(
        &self,
        outcome: Result<Outcome, ProcessorError>,
    ) -> Result<Outcome, ProcessorError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.lose_answers.load(Ordering::SeqCst) {
            return Err(ProcessorError::Timeout);
        }
        if self.still_processing.load(Ordering::SeqCst) {
            return Ok(Outcome::Processing);
        }
        outcome
    }
}

impl Processor for LossyProcessor {
    fn name(&self) -> &'static str {
        "lossy"
    }
    fn tokenize_card(&self, card: RawCard<'_>) -> Result<CardDetails, CardError> {
        self.inner.tokenize_card(card)
    }
    fn test_card(&self, id: &str) -> Option<CardDetails> {
        self.inner.test_card(id)
    }
    fn verify<'a>(
        &'a self,
        req: VerifyRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move { self.maybe_lose(self.inner.verify(req).await).await })
    }
    fn authorize<'a>(
        &'a self,
        req: AuthorizeRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move { self.maybe_lose(self.inner.authorize(req).await).await })
    }
    fn capture<'a>(
        &'a self,
        req: CaptureRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move { self.maybe_lose(self.inner.capture(req).await).await })
    }
    fn void<'a>(&'a self, req: VoidRequest<'a>) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move { self.maybe_lose(self.inner.void(req).await).await })
    }
    fn refund<'a>(
        &'a self,
        req: RefundRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move { self.maybe_lose(self.inner.refund(req).await).await })
    }
}

static NOW_OFFSET: AtomicI64 = AtomicI64::new(0);
fn clock() -> i64 {
    cashbox_app::unix_now() + NOW_OFFSET.load(Ordering::SeqCst)
}

/// An application on a fresh database whose processor is a [`LossyProcessor`] that loses
/// answers from the start, on `clock`; with the processor's switches and call count.
struct Lossy {
    app: App,
    store: Store,
    url: String,
    lose: Arc<AtomicBool>,
    processing: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

async fn lossy_app(clock: fn() -> i64) -> Lossy {
    let url = fresh_database_url().await.unwrap();
    let store = Store::connect(&url, 8).await.unwrap();
    store.migrate().await.unwrap();
    let ring = KeyRing::parse(&KeyRing::generate_entry("r1")).unwrap();
    let lose = Arc::new(AtomicBool::new(true));
    let processing = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let processor = LossyProcessor {
        inner: SandboxProcessor::new(store.clone(), ring.derive_key("card-fingerprint"), clock),
        lose_answers: lose.clone(),
        still_processing: processing.clone(),
        calls: calls.clone(),
    };
    let settings = Settings {
        business: Default::default(),
        public_url: "http://127.0.0.1:9".into(),
        clock: Some(clock),
        ..Settings::default()
    };
    let app = App::with_processor(store.clone(), ring, settings, Box::new(processor));
    Lossy {
        app,
        store,
        url,
        lose,
        processing,
        calls,
    }
}

/// Creates and confirms a 25.00 USD payment whose processor answer is lost.
async fn pay_and_lose_the_answer(app: &App, ctx: &RequestCtx) {
    let params = PaymentIntentCreateParams {
        amount: Some(2500),
        currency: Some("usd".into()),
        payment_method: Some("pm_card_visa".into()),
        confirm: Some(true),
        ..Default::default()
    };
    let err = app
        .payment_intents()
        .create(ctx, params, &[])
        .await
        .unwrap_err();
    assert!(matches!(err, cashbox_app::AppError::Processor(_)), "{err}");
}

#[tokio::test]
async fn interrupted_payments_and_refunds_finish_once() {
    let Lossy {
        app,
        store,
        url,
        lose,
        processing,
        calls,
    } = lossy_app(clock).await;
    let ctx = RequestCtx::default();

    // The processor charges, but Cashbox never hears back.
    pay_and_lose_the_answer(&app, &ctx).await;
    let listed = app
        .payment_intents()
        .list(&Default::default(), &[])
        .await
        .unwrap();
    let pi_id = listed.data[0]["id"].as_str().unwrap().to_string();
    assert_eq!(listed.data[0]["status"], "processing");

    // Within the lease nothing is resumed; after it, the sweep finishes the payment.
    lose.store(false, Ordering::SeqCst);
    assert_eq!(app.recover_interrupted().await.unwrap().examined, 1);
    assert_eq!(
        app.payment_intents()
            .retrieve(&pi_id, cashbox_app::ClientAuth::Secret, &[])
            .await
            .unwrap()["status"],
        "processing"
    );
    NOW_OFFSET.store(PENDING_LEASE_SECS + 1, Ordering::SeqCst);
    let report = app.recover_interrupted().await.unwrap();
    assert_eq!(report.failed, 0);
    let pi = app
        .payment_intents()
        .retrieve(&pi_id, cashbox_app::ClientAuth::Secret, &[])
        .await
        .unwrap();
    assert_eq!(pi["status"], "succeeded");
    let charges = app
        .charges()
        .list(
            &serde_json::from_value(serde_json::json!({"payment_intent": pi_id})).unwrap(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(charges.data.len(), 1);
    // The processor's own journal holds one charge for the intent, not two.
    let charged = store
        .count_where("sandbox_operations", "kind = 'charge'")
        .await
        .unwrap();
    assert_eq!(charged, 1);

    // A refund whose answer is lost is settled the same way.
    lose.store(true, Ordering::SeqCst);
    let refund = RefundCreateParams {
        payment_intent: Some(pi_id.clone()),
        amount: Some(1000),
        ..Default::default()
    };
    assert!(app.refunds().create(&ctx, refund, &[]).await.is_err());
    lose.store(false, Ordering::SeqCst);
    NOW_OFFSET.store(2 * (PENDING_LEASE_SECS + 1), Ordering::SeqCst);
    app.recover_interrupted().await.unwrap();
    let refunds = app
        .refunds()
        .list(
            &serde_json::from_value(serde_json::json!({"payment_intent": pi_id})).unwrap(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(refunds.data.len(), 1);
    assert_eq!(refunds.data[0]["status"], "succeeded");
    // A processor that answers "processing" leaves the payment processing; the sweep asks
    // again once the lease has passed and applies the final answer.
    processing.store(true, Ordering::SeqCst);
    let params = PaymentIntentCreateParams {
        amount: Some(700),
        currency: Some("eur".into()),
        payment_method: Some("pm_card_visa".into()),
        confirm: Some(true),
        ..Default::default()
    };
    let pending = app
        .payment_intents()
        .create(&ctx, params, &[])
        .await
        .unwrap();
    assert_eq!(pending["status"], "processing");
    let second_id = pending["id"].as_str().unwrap().to_string();
    processing.store(false, Ordering::SeqCst);
    NOW_OFFSET.store(3 * (PENDING_LEASE_SECS + 1), Ordering::SeqCst);
    app.recover_interrupted().await.unwrap();
    let done = app
        .payment_intents()
        .retrieve(&second_id, cashbox_app::ClientAuth::Secret, &[])
        .await
        .unwrap();
    assert_eq!(done["status"], "succeeded");

    let report = app.check_ledger().await.unwrap();
    assert!(report.is_sound(), "{report:?}");
    assert!(calls.load(Ordering::SeqCst) >= 6);
    store.close().await;
    remove_test_database(&url);
}

static REPLAY_OFFSET: AtomicI64 = AtomicI64::new(0);
fn replay_clock() -> i64 {
    cashbox_app::unix_now() + REPLAY_OFFSET.load(Ordering::SeqCst)
}

/// Found by a probe: a request in flight when the process was killed, retried with its key,
/// replayed the provisional object (`processing`) for good while the object itself was
/// `succeeded`; same-key requests sent while the first was at the processor were given that
/// provisional object too. A retry is told the request is in flight (409) until the object
/// is finished, then gets the final object.
#[tokio::test]
async fn a_retry_never_replays_a_provisional_object() {
    use cashbox_app::idempotency::IdempotencyOutcome;
    let Lossy {
        app,
        store,
        url,
        lose,
        ..
    } = lossy_app(replay_clock).await;
    let claim = || app.claim_idempotency("key_test", "retry-me", b"same request");
    let IdempotencyOutcome::Proceed(first) = claim().await.unwrap() else {
        panic!("the first request claims its key");
    };
    let ctx = RequestCtx {
        request_id: None,
        idempotency: Some(first),
    };
    // The processor charges, but the answer is lost: the intent stays `processing`.
    pay_and_lose_the_answer(&app, &ctx).await;

    // Within the lease a retry is told the first request is in flight.
    assert!(matches!(
        claim().await.unwrap(),
        IdempotencyOutcome::InFlight
    ));
    // After it, the retry finishes the payment (once) and gets the final object.
    lose.store(false, Ordering::SeqCst);
    REPLAY_OFFSET.store(PENDING_LEASE_SECS + 2, Ordering::SeqCst);
    for _ in 0..2 {
        let IdempotencyOutcome::Replay { status, body } = claim().await.unwrap() else {
            panic!("a retry after the lease gets the request's answer");
        };
        assert_eq!(status, 200);
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["object"], "payment_intent");
        assert_eq!(body["status"], "succeeded", "{body}");
    }
    let charged = store
        .count_where("sandbox_operations", "kind = 'charge'")
        .await
        .unwrap();
    assert_eq!(charged, 1);
    let report = app.check_ledger().await.unwrap();
    assert!(report.is_sound(), "{report:?}");
    store.close().await;
    remove_test_database(&url);
}
