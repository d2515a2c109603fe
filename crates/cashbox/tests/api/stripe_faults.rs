//! The Stripe processor against a scripted stand-in for what localstripe cannot do: timeouts,
//! 5xx before and after Stripe acted, 429, idempotent replays, declines with Stripe's codes,
//! and webhooks signed with rotated secrets. Each test proves that no failure charges twice or
//! loses a refund: the stand-in counts what it really did.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, spawn_full};
use cashbox_http::HttpConfig;

/// What the stand-in does with the next POST to a path.
#[derive(Debug, Clone)]
enum Fault {
    /// 500 before anything is done (a load balancer's): nothing saved under the key.
    Before500,
    /// 429 before anything is done.
    RateLimited,
    /// Does it, saves a 500 under the key (as Stripe does: it replays it), answers 500.
    After500,
    /// Does it, saves the answer, then answers too late (the client has given up).
    AfterThenHang,
    /// A card error with Stripe's codes.
    Decline(&'static str, &'static str),
}

#[derive(Default)]
struct Stand {
    faults: HashMap<&'static str, VecDeque<Fault>>,
    /// Idempotency-Key → the answer first given.
    saved: HashMap<String, (u16, Value)>,
    intents: Vec<Value>,
    refunds: Vec<Value>,
    /// POSTs that reached the stand-in, by path.
    posts: HashMap<String, usize>,
    /// A card updater has given `pm_renewed` a new number and expiry.
    renewed: bool,
    /// Payments are asynchronous: made `processing`, they succeed once this is set.
    settle_async: Option<bool>,
    next: usize,
}

type Shared = Arc<Mutex<Stand>>;

impl Stand {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_fake{}", self.next)
    }
}

async fn spawn_stand() -> (String, Shared) {
    let state: Shared = Arc::default();
    let app = Router::new()
        .route("/v1/payment_intents", post(create_intent))
        .route("/v1/payment_intents/search", get(search_intents))
        .route("/v1/payment_intents/{id}", get(get_intent))
        .route("/v1/refunds", post(create_refund).get(list_refunds))
        .route("/v1/payment_methods/{id}", get(get_card))
        .route("/v1/payment_methods/{id}/attach", post(attach_card))
        .route("/v1/payment_methods/{id}/detach", post(detach_card))
        .route("/v1/customers", post(create_customer))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), state)
}

/// Runs a POST as Stripe would: the key's saved answer if any, else the next fault or `act`.
async fn idempotent(
    state: &Shared,
    path: &'static str,
    headers: &HeaderMap,
    act: impl FnOnce(&mut Stand) -> (u16, Value),
) -> (StatusCode, Json<Value>) {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (answer, hang) = {
        let mut s = state.lock().unwrap();
        *s.posts.entry(path.to_string()).or_default() += 1;
        if let Some(saved) = s.saved.get(&key) {
            (saved.clone(), false)
        } else {
            let fault = s.faults.get_mut(path).and_then(VecDeque::pop_front);
            match fault {
                Some(Fault::Before500) => ((500, json!({"error": {"type": "api_error"}})), false),
                Some(Fault::RateLimited) => (
                    (
                        429,
                        json!({"error": {"type": "invalid_request_error", "code": "rate_limit"}}),
                    ),
                    false,
                ),
                Some(Fault::Decline(code, decline_code)) => {
                    let answer = (
                        402,
                        json!({"error": {"type": "card_error", "code": code,
                            "decline_code": decline_code, "message": "Your card was declined."}}),
                    );
                    s.saved.insert(key, answer.clone());
                    (answer, false)
                }
                Some(Fault::After500) => {
                    act(&mut s);
                    let answer = (500, json!({"error": {"type": "api_error"}}));
                    s.saved.insert(key, answer.clone());
                    (answer, false)
                }
                Some(Fault::AfterThenHang) => {
                    let answer = act(&mut s);
                    s.saved.insert(key, answer.clone());
                    (answer, true)
                }
                None => {
                    let answer = act(&mut s);
                    s.saved.insert(key, answer.clone());
                    (answer, false)
                }
            }
        }
    };
    if hang {
        // Longer than the processor's 2 s timeout in the test app.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    (StatusCode::from_u16(answer.0).unwrap(), Json(answer.1))
}

async fn create_intent(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    let form = pairs(&body);
    idempotent(&state, "/v1/payment_intents", &headers, |s| {
        let id = s.id("pi");
        let manual = form.get("capture_method").map(String::as_str) == Some("manual");
        let status = if s.settle_async.is_some() {
            "processing"
        } else if manual {
            "requires_capture"
        } else {
            "succeeded"
        };
        let pi = json!({
            "id": id,
            "object": "payment_intent",
            "amount": form["amount"].parse::<i64>().unwrap(),
            "currency": form["currency"],
            "payment_method": form["payment_method"],
            "status": status,
            "metadata": {"cashbox_attempt": form["metadata[cashbox_attempt]"]},
        });
        s.intents.push(pi.clone());
        (200, pi)
    })
    .await
}

async fn search_intents(State(state): State<Shared>, RawQuery(q): RawQuery) -> Json<Value> {
    let q = pairs(&q.unwrap_or_default());
    let query = &q["query"];
    let s = state.lock().unwrap();
    let found: Vec<Value> = s
        .intents
        .iter()
        .filter(|pi| {
            let key = pi["metadata"]["cashbox_attempt"].as_str().unwrap();
            *query == format!("metadata['cashbox_attempt']:'{key}'")
        })
        .cloned()
        .collect();
    Json(json!({"object": "search_result", "data": found}))
}

async fn get_intent(State(state): State<Shared>, Path(id): Path<String>) -> Json<Value> {
    let s = state.lock().unwrap();
    let mut pi = s.intents.iter().find(|pi| pi["id"] == id).cloned().unwrap();
    if s.settle_async == Some(true) {
        pi["status"] = "succeeded".into();
    }
    Json(pi)
}

async fn create_refund(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    let form = pairs(&body);
    idempotent(&state, "/v1/refunds", &headers, |s| {
        let id = s.id("re");
        let refund = json!({
            "id": id,
            "object": "refund",
            "amount": form["amount"].parse::<i64>().unwrap(),
            "currency": "usd",
            "payment_intent": form["payment_intent"],
            "status": "succeeded",
            "metadata": {"cashbox_refund": form["metadata[cashbox_refund]"]},
        });
        s.refunds.push(refund.clone());
        (200, refund)
    })
    .await
}

async fn list_refunds(State(state): State<Shared>, RawQuery(q): RawQuery) -> Json<Value> {
    let q = pairs(&q.unwrap_or_default());
    let s = state.lock().unwrap();
    let data: Vec<Value> = s
        .refunds
        .iter()
        .filter(|r| r["payment_intent"] == q["payment_intent"])
        .cloned()
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// Every pm_ id is a Visa card, as Stripe.js would have made it; once `renewed`, a card
/// updater has given `pm_renewed` a new expiry and number.
async fn get_card(State(state): State<Shared>, Path(id): Path<String>) -> Json<Value> {
    let (last4, year) = if id == "pm_renewed" && state.lock().unwrap().renewed {
        ("1881", 2037)
    } else {
        ("4242", 2034)
    };
    Json(json!({
        "id": id,
        "object": "payment_method",
        "card": {"brand": "visa", "last4": last4, "exp_month": 12, "exp_year": year,
            "funding": "credit", "country": "US", "fingerprint": "fp4242"},
    }))
}

async fn attach_card(State(state): State<Shared>, Path(id): Path<String>) -> Json<Value> {
    *state
        .lock()
        .unwrap()
        .posts
        .entry(format!("attach {id}"))
        .or_default() += 1;
    Json(json!({"id": id, "object": "payment_method"}))
}

async fn detach_card(State(state): State<Shared>, Path(id): Path<String>) -> Json<Value> {
    *state
        .lock()
        .unwrap()
        .posts
        .entry(format!("detach {id}"))
        .or_default() += 1;
    Json(json!({"id": id, "object": "payment_method", "customer": null}))
}

async fn create_customer(State(state): State<Shared>) -> Json<Value> {
    let id = state.lock().unwrap().id("cus");
    Json(json!({"id": id, "object": "customer"}))
}

fn pairs(encoded: &str) -> HashMap<String, String> {
    form_urlencoded::parse(encoded.as_bytes())
        .into_owned()
        .collect()
}

static NOW_OFFSET: AtomicI64 = AtomicI64::new(0);
fn clock() -> i64 {
    cashbox_app::unix_now() + NOW_OFFSET.load(Ordering::SeqCst)
}

async fn app_on(stand: &str, secrets: &[&str]) -> TestApp {
    spawn_full(
        HttpConfig::default(),
        AppOptions {
            stripe_api_base: Some(stand.to_string()),
            inbound_secrets: secrets.iter().map(|s| s.to_string()).collect(),
            clock: Some(clock),
            ..AppOptions::default()
        },
    )
    .await
}

fn fault(state: &Shared, path: &'static str, f: Fault) {
    state
        .lock()
        .unwrap()
        .faults
        .entry(path)
        .or_default()
        .push_back(f);
}

/// The processor event `id` once applied: the queue is run until it is (the receiver also
/// applies it in the background, and one process at a time may).
async fn settled(t: &TestApp, id: &str) -> Value {
    for _ in 0..100 {
        t.app.apply_inbound_events().await.unwrap();
        let e = t.get(&format!("/v1/processor_events/{id}")).await;
        if e.ok()["status"] != "pending" {
            return e.ok().clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{id} was never applied");
}

/// `cashbox ledger check`: balanced, and matching every payment and refund.
async fn assert_ledger(t: &TestApp) {
    let report = t.app.check_ledger().await.unwrap();
    assert!(report.is_sound(), "{report:?}");
}

/// Moves the clock past the lease and runs the recovery sweep, as serve's tick does.
async fn recover(t: &TestApp) {
    NOW_OFFSET.fetch_add(
        cashbox_core::payments::PENDING_LEASE_SECS + 1,
        Ordering::SeqCst,
    );
    t.app.recover_interrupted().await.unwrap();
}

async fn pay(t: &TestApp, amount: &str) -> crate::support::Resp {
    t.post(
        "/v1/payment_intents",
        &[
            ("amount", amount),
            ("currency", "usd"),
            ("payment_method", "pm_1Card"),
            ("confirm", "true"),
        ],
    )
    .await
}

/// The Cashbox PaymentIntent behind an unfinished answer: the newest one.
async fn newest_intent(t: &TestApp) -> Value {
    let listed = t.get("/v1/payment_intents?limit=1").await;
    listed.ok()["data"][0].clone()
}

#[tokio::test]
async fn an_answer_lost_after_stripe_charged_is_recovered_with_one_charge() {
    let (base, stand) = spawn_stand().await;
    let t = app_on(&base, &[]).await;
    fault(&stand, "/v1/payment_intents", Fault::AfterThenHang);
    let r = pay(&t, "1500").await;
    assert_eq!(r.status, 500, "{:?}", r.body);
    let pi = newest_intent(&t).await;
    assert_eq!(pi["status"], "processing");
    // The same request retried by serve's sweep: Stripe replays the charge it made.
    recover(&t).await;
    let pi = t
        .get(&format!(
            "/v1/payment_intents/{}",
            pi["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(pi.ok()["status"], "succeeded");
    assert_eq!(pi.ok()["amount_received"], 1500);
    assert_ledger(&t).await;
    let s = stand.lock().unwrap();
    assert_eq!(s.intents.len(), 1, "charged once");
    assert_eq!(
        s.posts["/v1/payment_intents"], 2,
        "asked twice, under one key"
    );
}

#[tokio::test]
async fn a_5xx_or_429_before_stripe_acted_is_not_a_decline_and_is_retried() {
    let (base, stand) = spawn_stand().await;
    let t = app_on(&base, &[]).await;
    for f in [Fault::Before500, Fault::RateLimited] {
        fault(&stand, "/v1/payment_intents", f.clone());
        let r = pay(&t, "700").await;
        assert_eq!(r.status, 500, "{f:?}: {:?}", r.body);
        let pi = newest_intent(&t).await;
        assert_eq!(pi["status"], "processing", "{f:?} is not a decline");
        assert!(pi["last_payment_error"].is_null());
        recover(&t).await;
        let id = pi["id"].as_str().unwrap();
        assert_eq!(
            t.get(&format!("/v1/payment_intents/{id}")).await.ok()["status"],
            "succeeded"
        );
    }
    assert_ledger(&t).await;
    assert_eq!(stand.lock().unwrap().intents.len(), 2, "one charge each");
}

#[tokio::test]
async fn a_5xx_after_stripe_charged_is_resolved_by_the_attempt_key_not_a_second_charge() {
    let (base, stand) = spawn_stand().await;
    let t = app_on(&base, &[]).await;
    fault(&stand, "/v1/payment_intents", Fault::After500);
    // Stripe replays the 500 to the key; Cashbox finds the payment by its attempt key.
    let r = pay(&t, "2500").await;
    assert_eq!(r.ok()["status"], "succeeded");
    recover(&t).await;
    assert_ledger(&t).await;
    let s = stand.lock().unwrap();
    assert_eq!(s.intents.len(), 1);
    assert_eq!(s.posts["/v1/payment_intents"], 1);
}

#[tokio::test]
async fn stripes_decline_codes_pass_through_unchanged() {
    let (base, stand) = spawn_stand().await;
    let t = app_on(&base, &[]).await;
    fault(
        &stand,
        "/v1/payment_intents",
        Fault::Decline("card_declined", "insufficient_funds"),
    );
    let r = pay(&t, "900").await;
    let error = r.error(402, "card_error");
    assert_eq!(error["code"], "card_declined");
    assert_eq!(error["decline_code"], "insufficient_funds");
    assert_eq!(
        error["payment_intent"]["last_payment_error"]["decline_code"],
        "insufficient_funds"
    );
    // The card is tried again under a new attempt: a new key, and it succeeds.
    let id = error["payment_intent"]["id"].as_str().unwrap();
    let again = t
        .post(
            &format!("/v1/payment_intents/{id}/confirm"),
            &[("payment_method", "pm_2Card")],
        )
        .await;
    assert_eq!(again.ok()["status"], "succeeded");
    assert_eq!(stand.lock().unwrap().intents.len(), 1);
}

#[tokio::test]
async fn a_refund_whose_answer_was_lost_or_failed_is_made_once() {
    let (base, stand) = spawn_stand().await;
    let t = app_on(&base, &[]).await;
    let pi = pay(&t, "3000").await;
    let pi = pi.ok()["id"].as_str().unwrap().to_string();

    fault(&stand, "/v1/refunds", Fault::AfterThenHang);
    let r = t
        .post(
            "/v1/refunds",
            &[("payment_intent", &pi), ("amount", "1000")],
        )
        .await;
    assert_eq!(r.status, 500, "{:?}", r.body);
    let listed = t.get(&format!("/v1/refunds?payment_intent={pi}")).await;
    assert_eq!(listed.ok()["data"][0]["status"], "pending");
    recover(&t).await;

    fault(&stand, "/v1/refunds", Fault::After500);
    let r = t
        .post("/v1/refunds", &[("payment_intent", &pi), ("amount", "500")])
        .await;
    assert_eq!(
        r.ok()["status"],
        "succeeded",
        "found by its key: {:?}",
        r.body
    );

    let listed = t.get(&format!("/v1/refunds?payment_intent={pi}")).await;
    let statuses: Vec<(i64, &str)> = listed.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["amount"].as_i64().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [(500, "succeeded"), (1000, "succeeded")]);
    let charge = newest_intent(&t).await["latest_charge"].clone();
    let charge = t
        .get(&format!("/v1/charges/{}", charge.as_str().unwrap()))
        .await;
    assert_eq!(charge.ok()["amount_refunded"], 1500);
    assert_ledger(&t).await;
    let s = stand.lock().unwrap();
    let made: Vec<i64> = s
        .refunds
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(made, [1000, 500], "each refund made once on Stripe");
}

fn signed(secret: &str, t: i64, body: &str) -> String {
    cashbox_core::webhooks::stripe_signature(&[secret], t, body.as_bytes())
}

#[tokio::test]
async fn webhooks_signed_with_the_old_or_the_new_secret_pass_while_rotating() {
    let (base, _stand) = spawn_stand().await;
    let (old, new) = ("whsec_old_secret", "whsec_new_secret");
    let t = app_on(&base, &[new, old]).await;
    let now = clock();
    let deliver = |secret: &'static str, id: &'static str, at: i64| {
        let body = json!({"id": id, "object": "event", "type": "customer.created",
            "created": at, "data": {"object": {"id": "cus_x", "object": "customer"}}})
        .to_string();
        let header = signed(secret, at, &body);
        let t = &t;
        async move {
            t.send(
                reqwest::Method::POST,
                "/webhooks/stripe",
                Some(("application/json", body)),
                &[("stripe-signature", &header)],
            )
            .await
        }
    };
    assert_eq!(deliver(old, "evt_old1", now).await.status, 200);
    assert_eq!(deliver(new, "evt_new1", now).await.status, 200);
    let refused = deliver("whsec_retired", "evt_gone1", now).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["error"]["param"], "Stripe-Signature");
    assert_eq!(deliver(new, "evt_stale1", now - 301).await.status, 400);
    // Delivered again: acknowledged, kept once.
    let again = deliver(new, "evt_new1", now).await;
    assert_eq!(again.body["duplicate"], true);
    let logged = t.get("/v1/processor_events").await;
    let mut ids: Vec<&str> = logged.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["evt_new1", "evt_old1"]);
    // Nothing for Cashbox to do with a customer made on Stripe's side.
    let e = settled(&t, "evt_old1").await;
    assert_eq!(e["status"], "ignored");
    assert_eq!(e["outcome"], "Cashbox does not act on customer.created");
}

/// Posts `event` to the receiver signed with `secret`, as Stripe would.
async fn deliver(t: &TestApp, secret: &str, event: Value) -> crate::support::Resp {
    let body = event.to_string();
    let header = signed(secret, clock(), &body);
    t.send(
        reqwest::Method::POST,
        "/webhooks/stripe",
        Some(("application/json", body)),
        &[("stripe-signature", &header)],
    )
    .await
}

#[tokio::test]
async fn card_updates_and_detaches_on_stripes_side_reach_the_mirrored_card() {
    let (base, stand) = spawn_stand().await;
    let secret = "whsec_cards";
    let t = app_on(&base, &[secret]).await;
    let customer = t.create_customer(&[("email", "card@example.com")]).await;
    let customer = customer["id"].as_str().unwrap();
    let attached = t
        .post(
            "/v1/payment_methods/pm_renewed/attach",
            &[("customer", customer)],
        )
        .await;
    assert_eq!(
        attached.ok()["card"]["last4"],
        "4242",
        "mirrored as Stripe has it"
    );
    assert_eq!(stand.lock().unwrap().posts["attach pm_renewed"], 1);
    stand.lock().unwrap().renewed = true;

    // A card updater changed the card on Stripe's side; the event says so.
    let card_event = |id: &str, kind: &str| {
        json!({"id": id, "object": "event", "type": kind, "created": clock(),
            "data": {"object": {"id": "pm_renewed", "object": "payment_method"}}})
    };
    let r = deliver(
        &t,
        secret,
        card_event("evt_upd1", "payment_method.automatically_updated"),
    )
    .await;
    assert_eq!(r.status, 200);
    let e = settled(&t, "evt_upd1").await;
    assert_eq!(e["status"], "applied", "{e:?}");
    let pm = t.get("/v1/payment_methods/pm_renewed").await;
    assert_eq!(pm.ok()["card"]["last4"], "1881");
    assert_eq!(pm.ok()["card"]["exp_year"], 2037);
    let updated = t.events_of_type("payment_method.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(
        updated[0]["data"]["previous_attributes"]["card"]["exp_year"],
        2034
    );
    // The same news again (another event id): nothing left to change.
    deliver(&t, secret, card_event("evt_upd2", "payment_method.updated")).await;
    let e = settled(&t, "evt_upd2").await;
    assert_eq!(e["outcome"], "pm_renewed is up to date");

    // Detached on Stripe's side: detached in Cashbox, once however often it arrives.
    for n in 0..3 {
        let r = deliver(
            &t,
            secret,
            card_event("evt_det1", "payment_method.detached"),
        )
        .await;
        assert_eq!(r.body["duplicate"], n > 0);
    }
    let e = settled(&t, "evt_det1").await;
    let pm = t.get("/v1/payment_methods/pm_renewed").await;
    assert!(pm.ok()["customer"].is_null());
    assert_eq!(e["status"], "applied");
    assert_eq!(t.events_of_type("payment_method.detached").await.len(), 1);

    // Detaching in Cashbox detaches on Stripe too.
    let again = t
        .post(
            "/v1/payment_methods/pm_other/attach",
            &[("customer", customer)],
        )
        .await;
    again.ok();
    t.post("/v1/payment_methods/pm_other/detach", &[])
        .await
        .ok();
    assert_eq!(stand.lock().unwrap().posts["detach pm_other"], 1);
    assert_ledger(&t).await;
}

#[tokio::test]
async fn an_asynchronous_payment_settles_when_stripe_says_it_succeeded() {
    let (base, stand) = spawn_stand().await;
    let secret = "whsec_async";
    let t = app_on(&base, &[secret]).await;
    stand.lock().unwrap().settle_async = Some(false);
    let pi = pay(&t, "4100").await;
    assert_eq!(pi.ok()["status"], "processing", "not final yet");
    let id = pi.ok()["id"].as_str().unwrap().to_string();
    // Stripe finishes it and says so; Stripe's PaymentIntent names Cashbox's attempt.
    stand.lock().unwrap().settle_async = Some(true);
    let theirs = stand.lock().unwrap().intents[0].clone();
    let event = json!({"id": "evt_async1", "object": "event", "type": "payment_intent.succeeded",
        "created": clock(), "data": {"object": theirs}});
    for _ in 0..2 {
        assert_eq!(deliver(&t, secret, event.clone()).await.status, 200);
    }
    let e = settled(&t, "evt_async1").await;
    assert_eq!(e["status"], "applied", "{e:?}");
    let now = t.get(&format!("/v1/payment_intents/{id}")).await;
    assert_eq!(now.ok()["status"], "succeeded");
    assert_eq!(now.ok()["amount_received"], 4100);
    assert_eq!(t.events_of_type("payment_intent.succeeded").await.len(), 1);
    assert_eq!(
        stand.lock().unwrap().intents.len(),
        1,
        "one payment on Stripe"
    );
    assert_ledger(&t).await;
}
