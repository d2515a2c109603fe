//! Webhook endpoints and deliveries through the API, to a receiver in the test.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use cashbox_app::WebhookSettings;
use cashbox_app::webhooks::{WebhookWorker, webhook_client};
use cashbox_core::webhooks::{LOG_RETENTION_SECS, standard_signature, stripe_signature};
use serde_json::Value;

use crate::support::{AppOptions, TestApp, spawn_app, spawn_full};

/// What the receiver was sent: headers and body of each request, in order.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, Bytes)>>>);

impl Received {
    fn events(&self) -> Vec<(HeaderMap, Value)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(h, b)| (h.clone(), serde_json::from_slice(b).unwrap()))
            .collect()
    }

    fn raw(&self, i: usize) -> (HeaderMap, Bytes) {
        self.0.lock().unwrap()[i].clone()
    }
}

/// A receiver on loopback answering with `statuses` in turn (then 200); its URL.
async fn receiver(statuses: Vec<u16>) -> (String, Received) {
    let received = Received::default();
    let script = Arc::new(Mutex::new(statuses.into_iter()));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let received = received.clone();
            move |headers: HeaderMap, body: Bytes| {
                let received = received.clone();
                let script = Arc::clone(&script);
                async move {
                    received.0.lock().unwrap().push((headers, body));
                    let status = script.lock().unwrap().next().unwrap_or(200);
                    (StatusCode::from_u16(status).unwrap(), "thanks")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), received)
}

async fn endpoint(t: &TestApp, url: &str, extra: &[(&str, &str)]) -> Value {
    let mut pairs = vec![("url", url), ("enabled_events[]", "*")];
    pairs.extend_from_slice(extra);
    t.post("/v1/webhook_endpoints", &pairs).await.ok().clone()
}

/// One round of the worker: fan out, then deliver what is due.
async fn work(t: &TestApp) {
    let client = webhook_client(&WebhookSettings::default());
    t.app.run_webhooks_once(&client).await.unwrap();
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).unwrap().to_str().unwrap()
}

#[tokio::test]
async fn endpoints_are_created_read_updated_listed_and_deleted() {
    let t = spawn_app().await;
    let created = endpoint(
        &t,
        "https://example.com/hooks",
        &[("description", "orders"), ("metadata[team]", "billing")],
    )
    .await;
    assert_eq!(created["object"], "webhook_endpoint");
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["enabled_events"][0], "*");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = created["id"].as_str().unwrap();

    let read = t.get(&format!("/v1/webhook_endpoints/{id}")).await;
    assert!(
        read.ok().get("secret").is_none(),
        "the secret is shown once"
    );
    assert_eq!(read.ok()["metadata"]["team"], "billing");

    let updated = t
        .post(
            &format!("/v1/webhook_endpoints/{id}"),
            &[("enabled_events[]", "invoice.paid"), ("disabled", "true")],
        )
        .await;
    assert_eq!(updated.ok()["status"], "disabled");
    assert_eq!(
        updated.ok()["enabled_events"],
        serde_json::json!(["invoice.paid"])
    );

    let list = t.get("/v1/webhook_endpoints").await;
    assert_eq!(list.ok()["data"][0]["id"], id);

    // Bad input: a Stripe-style error, nothing written.
    let missing = t
        .post("/v1/webhook_endpoints", &[("enabled_events[]", "*")])
        .await;
    assert_eq!(missing.error(400, "invalid_request_error")["param"], "url");
    let bad_event = t
        .post(
            "/v1/webhook_endpoints",
            &[
                ("url", "https://example.com/x"),
                ("enabled_events[]", "Not An Event"),
            ],
        )
        .await;
    assert_eq!(
        bad_event.error(400, "invalid_request_error")["param"],
        "enabled_events"
    );
    let ftp = t
        .post(
            "/v1/webhook_endpoints",
            &[("url", "ftp://example.com/x"), ("enabled_events[]", "*")],
        )
        .await;
    assert_eq!(
        ftp.error(400, "invalid_request_error")["code"],
        "url_invalid"
    );
    let list = t.get("/v1/webhook_endpoints").await;
    assert_eq!(list.ok()["data"].as_array().unwrap().len(), 1);

    let deleted = t.delete(&format!("/v1/webhook_endpoints/{id}")).await;
    assert_eq!(deleted.ok()["deleted"], true);
    t.get(&format!("/v1/webhook_endpoints/{id}"))
        .await
        .error(404, "invalid_request_error");
}

#[tokio::test]
async fn events_are_delivered_signed_and_pending_until_acknowledged() {
    let t = spawn_app().await;
    let (url, received) = receiver(vec![]).await;
    let e = endpoint(&t, &url, &[]).await;
    let secret = e["secret"].as_str().unwrap().to_string();
    let only_invoices = t
        .post(
            "/v1/webhook_endpoints",
            &[("url", &url), ("enabled_events[]", "invoice.paid")],
        )
        .await;
    only_invoices.ok();

    let customer = t.create_customer(&[("email", "a@example.com")]).await;
    let event = &t.events_of_type("customer.created").await[0];
    let event_id = event["id"].as_str().unwrap();

    // Pending for the endpoint that wants it (not the invoice-only one, nor one made after
    // the event), before and after it is fanned out to deliveries.
    let before = t.get(&format!("/v1/events/{event_id}")).await;
    assert_eq!(before.ok()["pending_webhooks"], 1);
    let (late_url, late) = receiver(vec![]).await;
    endpoint(&t, &late_url, &[]).await;
    let still = t.get(&format!("/v1/events/{event_id}")).await;
    assert_eq!(still.ok()["pending_webhooks"], 1);
    t.app.fan_out_events().await.unwrap();
    let pending = t.get(&format!("/v1/events/{event_id}")).await;
    assert_eq!(pending.ok()["pending_webhooks"], 1);

    work(&t).await;
    let got = received.events();
    assert_eq!(got.len(), 1);
    let (headers, body) = &got[0];
    assert_eq!(body["id"], event_id);
    assert_eq!(body["type"], "customer.created");
    assert_eq!(body["data"]["object"]["id"], customer["id"]);
    // Signed over the exact bytes sent, with the endpoint's secret.
    let sig = header(headers, "stripe-signature");
    let ts: i64 = sig
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap();
    let (_, raw) = received.raw(0);
    assert_eq!(sig, stripe_signature(&[&secret], ts, &raw));
    assert!(header(headers, "content-type").starts_with("application/json"));

    let after = t.get(&format!("/v1/events/{event_id}")).await;
    assert_eq!(after.ok()["pending_webhooks"], 0);
    assert!(
        late.events().is_empty(),
        "an endpoint gets no event from before it was made"
    );
    let attempts = t
        .get(&format!(
            "/v1/webhook_endpoints/{}/attempts",
            e["id"].as_str().unwrap()
        ))
        .await;
    let a = &attempts.ok()["data"][0];
    assert_eq!(a["status_code"], 200);
    assert_eq!(a["event"], event_id);
    assert_eq!(a["response_excerpt"], "thanks");
    assert!(a["latency_ms"].is_i64());

    // Sent again by hand; nothing else is due.
    let resend = t
        .post(
            &format!("/v1/events/{event_id}/resend"),
            &[("webhook_endpoint", e["id"].as_str().unwrap())],
        )
        .await;
    assert_eq!(resend.ok()["status"], "pending");
    // Not to an endpoint that is not enabled for the event's type.
    let refused = t
        .post(
            &format!("/v1/events/{event_id}/resend"),
            &[(
                "webhook_endpoint",
                only_invoices.ok()["id"].as_str().unwrap(),
            )],
        )
        .await;
    let err = refused.error(400, "invalid_request_error");
    assert_eq!(err["param"], "webhook_endpoint");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("customer.created"),
        "{err}"
    );
    work(&t).await;
    work(&t).await;
    assert_eq!(received.events().len(), 2, "the resend, and nothing more");
    assert_eq!(received.events()[1].1["id"], event_id);
}

/// An app whose clock is `now`.
async fn spawn_on_clock(now: fn() -> i64) -> TestApp {
    spawn_full(
        Default::default(),
        AppOptions {
            clock: Some(now),
            ..AppOptions::default()
        },
    )
    .await
}

static FAKE_NOW: AtomicI64 = AtomicI64::new(1_806_537_600);

fn fake_now() -> i64 {
    FAKE_NOW.load(Ordering::SeqCst)
}

/// 500 three times, then 200: four deliveries, 1, 5 and 30 minutes apart; an endpoint that
/// keeps failing for three days is disabled, and an event says so.
#[tokio::test]
async fn failures_are_retried_on_the_schedule_and_a_dead_endpoint_is_disabled() {
    let t0 = fake_now();
    let t = spawn_on_clock(fake_now).await;
    let (url, received) = receiver(vec![500, 500, 500]).await;
    let e = endpoint(&t, &url, &[("enabled_events[]", "customer.created")]).await;
    let e_id = e["id"].as_str().unwrap().to_string();
    t.create_customer(&[]).await;

    let at = |s: i64| FAKE_NOW.store(t0 + s, Ordering::SeqCst);
    let count = || received.events().len();
    work(&t).await;
    assert_eq!(count(), 1);
    for (before, due, expect) in [(59, 60, 2), (359, 360, 3), (2_159, 2_160, 4)] {
        at(before);
        work(&t).await;
        assert_eq!(count(), expect - 1, "not before {due}s");
        at(due);
        work(&t).await;
        assert_eq!(count(), expect, "at {due}s");
    }
    at(100_000);
    work(&t).await;
    assert_eq!(count(), 4, "delivered: no more attempts");
    let ids: Vec<Value> = received
        .events()
        .iter()
        .map(|(_, b)| b["id"].clone())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]));
    let attempts = t
        .get(&format!("/v1/webhook_endpoints/{e_id}/attempts"))
        .await;
    let codes: Vec<i64> = attempts.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![200, 500, 500, 500]);
    let times: Vec<i64> = attempts.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["created"].as_i64().unwrap() - t0)
        .collect();
    assert_eq!(times, vec![2_160, 360, 60, 0]);

    // A receiver that never answers 2xx: failing since the first failure, and disabled once
    // that is three days old.
    let (dead, _) = receiver(vec![500; 100]).await;
    let dead = endpoint(&t, &dead, &[("enabled_events[]", "customer.created")]).await;
    let dead_id = dead["id"].as_str().unwrap();
    t.post(
        &format!("/v1/webhook_endpoints/{e_id}"),
        &[("disabled", "true")],
    )
    .await
    .ok();
    t.create_customer(&[]).await;
    work(&t).await;
    let still = t.get(&format!("/v1/webhook_endpoints/{dead_id}")).await;
    assert_eq!(still.ok()["status"], "enabled");
    at(100_000 + 3 * 86_400);
    t.create_customer(&[]).await;
    work(&t).await;
    let disabled = t.get(&format!("/v1/webhook_endpoints/{dead_id}")).await;
    assert_eq!(disabled.ok()["status"], "disabled");
    assert!(disabled.ok()["disabled_reason"].is_string());
    let told = t.events_of_type("webhook_endpoint.disabled").await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["data"]["object"]["id"], dead_id);
}

#[tokio::test]
async fn standard_webhooks_endpoints_get_its_headers() {
    let t = spawn_app().await;
    let (url, received) = receiver(vec![]).await;
    let e = endpoint(&t, &url, &[("signature_scheme", "standard_webhooks")]).await;
    assert_eq!(e["signature_scheme"], "standard_webhooks");
    let secret = e["secret"].as_str().unwrap().to_string();
    t.create_customer(&[]).await;
    work(&t).await;
    let (headers, raw) = received.raw(0);
    let id = header(&headers, "webhook-id");
    let ts: i64 = header(&headers, "webhook-timestamp").parse().unwrap();
    assert!(id.starts_with("evt_"));
    assert!(headers.get("stripe-signature").is_none());
    assert_eq!(
        header(&headers, "webhook-signature"),
        standard_signature(&[&secret], id, ts, &raw)
    );

    // After a rotation both secrets sign until the overlap ends.
    let rotated = t
        .post(
            &format!(
                "/v1/webhook_endpoints/{}/rotate_secret",
                e["id"].as_str().unwrap()
            ),
            &[("overlap_seconds", "3600")],
        )
        .await;
    let new_secret = rotated.ok()["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    t.create_customer(&[]).await;
    work(&t).await;
    let (headers, raw) = received.raw(1);
    let id = header(&headers, "webhook-id");
    let ts: i64 = header(&headers, "webhook-timestamp").parse().unwrap();
    assert_eq!(
        header(&headers, "webhook-signature"),
        standard_signature(&[&new_secret, &secret], id, ts, &raw)
    );
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let production = spawn_full(
        Default::default(),
        AppOptions {
            webhooks: WebhookSettings {
                allow_loopback: false,
                ..WebhookSettings::default()
            },
            ..AppOptions::default()
        },
    )
    .await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost:8080/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
    ] {
        let r = production
            .post(
                "/v1/webhook_endpoints",
                &[("url", url), ("enabled_events[]", "*")],
            )
            .await;
        let err = r.error(400, "invalid_request_error");
        assert_eq!(err["code"], "url_invalid", "{url}");
        assert!(
            err["message"].as_str().unwrap().contains("private"),
            "{url}"
        );
    }
    let list = production.get("/v1/webhook_endpoints").await;
    assert!(list.ok()["data"].as_array().unwrap().is_empty());

    // Development allows loopback, but not the rest of the private space.
    let dev = spawn_app().await;
    endpoint(&dev, "http://127.0.0.1:9/hook", &[]).await;
    let r = dev
        .post(
            "/v1/webhook_endpoints",
            &[("url", "http://10.1.2.3/hook"), ("enabled_events[]", "*")],
        )
        .await;
    assert_eq!(r.error(400, "invalid_request_error")["code"], "url_invalid");
}

/// A slow endpoint holds only its own delivery: the fast one's is sent and recorded while
/// the slow one is still under way.
#[tokio::test]
async fn a_slow_endpoint_does_not_hold_up_the_others() {
    let t = spawn_app().await;
    let slow = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            "late"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, slow).await.unwrap() });
    let slow = endpoint(&t, &slow_url, &[]).await;
    let (fast_url, received) = receiver(vec![]).await;
    let fast = endpoint(&t, &fast_url, &[]).await;
    t.create_customer(&[]).await;

    let client = webhook_client(&WebhookSettings::default());
    let mut worker = WebhookWorker::new(t.app.clone(), client);
    let attempts = |e: &Value| {
        format!(
            "/v1/webhook_endpoints/{}/attempts",
            e["id"].as_str().unwrap()
        )
    };
    let started = std::time::Instant::now();
    while t.get(&attempts(&fast)).await.ok()["data"]
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(started.elapsed().as_secs() < 2, "the fast delivery waited");
        worker
            .turn(std::time::Duration::from_millis(50))
            .await
            .unwrap();
    }
    assert_eq!(received.events().len(), 1);
    assert_eq!(worker.in_flight(), 1, "the slow one is still under way");
    let slow_attempts = t.get(&attempts(&slow)).await;
    assert!(slow_attempts.ok()["data"].as_array().unwrap().is_empty());
    worker.drain().await.unwrap();
    let slow_attempts = t.get(&attempts(&slow)).await;
    assert_eq!(slow_attempts.ok()["data"][0]["status_code"], 200);
    assert_eq!(slow_attempts.ok()["data"][0]["response_excerpt"], "late");
}

/// Deleting an endpoint ends what was queued for it: nothing pending, nothing sent.
#[tokio::test]
async fn a_deleted_endpoint_gets_nothing_more() {
    let t = spawn_app().await;
    let (url, received) = receiver(vec![]).await;
    let e = endpoint(&t, &url, &[]).await;
    t.create_customer(&[]).await;
    let event = &t.events_of_type("customer.created").await[0];
    let path = format!("/v1/events/{}", event["id"].as_str().unwrap());
    t.app.fan_out_events().await.unwrap();
    assert_eq!(t.get(&path).await.ok()["pending_webhooks"], 1);

    let id = e["id"].as_str().unwrap();
    t.delete(&format!("/v1/webhook_endpoints/{id}")).await.ok();
    assert_eq!(t.get(&path).await.ok()["pending_webhooks"], 0);
    work(&t).await;
    assert!(received.events().is_empty());
}

static PRUNE_NOW: AtomicI64 = AtomicI64::new(1_806_537_600);

fn prune_now() -> i64 {
    PRUNE_NOW.load(Ordering::SeqCst)
}

/// Attempts and finished deliveries are kept 30 days, then pruned; the event can still be
/// sent again by hand.
#[tokio::test]
async fn the_webhook_log_is_kept_thirty_days() {
    let t0 = prune_now();
    let t = spawn_on_clock(prune_now).await;
    let (url, received) = receiver(vec![]).await;
    let e = endpoint(&t, &url, &[("enabled_events[]", "customer.created")]).await;
    let e_id = e["id"].as_str().unwrap();
    t.create_customer(&[]).await;
    work(&t).await;
    assert_eq!(received.events().len(), 1);
    let attempts = || async {
        t.get(&format!("/v1/webhook_endpoints/{e_id}/attempts"))
            .await
            .ok()["data"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(attempts().await, 1);

    PRUNE_NOW.store(t0 + LOG_RETENTION_SECS, Ordering::SeqCst);
    assert_eq!(t.app.prune_webhook_log().await.unwrap(), 0, "kept 30 days");
    assert_eq!(attempts().await, 1);
    PRUNE_NOW.store(t0 + LOG_RETENTION_SECS + 1, Ordering::SeqCst);
    assert_eq!(
        t.app.prune_webhook_log().await.unwrap(),
        2,
        "the attempt and its finished delivery"
    );
    assert_eq!(attempts().await, 0);

    let event = &t.events_of_type("customer.created").await[0];
    t.post(
        &format!("/v1/events/{}/resend", event["id"].as_str().unwrap()),
        &[("webhook_endpoint", e_id)],
    )
    .await
    .ok();
    work(&t).await;
    assert_eq!(received.events().len(), 2);
    assert_eq!(attempts().await, 1);
}
