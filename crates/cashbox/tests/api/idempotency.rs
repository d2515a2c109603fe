//! `Idempotency-Key`, as PRODUCT.md and Stripe describe it.

use cashbox_core::api_key::KeyKind;
use reqwest::Method;
use serde_json::json;

use crate::support::{form, spawn_app};

#[tokio::test]
async fn same_key_same_params_replays() {
    let t = spawn_app().await;
    let params = [("email", "idem@example.com"), ("metadata[order]", "42")];
    let first = t
        .post_with("/v1/customers", &params, &[("idempotency-key", "order-42")])
        .await;
    first.ok();
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = t
        .post_with("/v1/customers", &params, &[("idempotency-key", "order-42")])
        .await;
    assert_eq!(second.ok(), first.ok());
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        t.get("/v1/customers").await.ok()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(t.events_of_type("customer.created").await.len(), 1);
}

#[tokio::test]
async fn same_key_other_params_is_an_idempotency_error() {
    let t = spawn_app().await;
    t.post_with(
        "/v1/customers",
        &[("email", "a@x.io")],
        &[("idempotency-key", "k")],
    )
    .await
    .ok();
    let r = t
        .post_with(
            "/v1/customers",
            &[("email", "b@x.io")],
            &[("idempotency-key", "k")],
        )
        .await;
    let e = r.error(400, "idempotency_error");
    assert!(e["message"].as_str().unwrap().contains("same parameters"));
    // The same key on another path is another request, too.
    let c = t.get("/v1/customers").await.ok()["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t
        .post_with(
            &format!("/v1/customers/{c}"),
            &[("email", "a@x.io")],
            &[("idempotency-key", "k")],
        )
        .await;
    r.error(400, "idempotency_error");
}

#[tokio::test]
async fn validation_failures_are_not_saved() {
    let t = spawn_app().await;
    let bad = t
        .post_with(
            "/v1/customers",
            &[("email", "nope")],
            &[("idempotency-key", "retry-me")],
        )
        .await;
    bad.error(400, "invalid_request_error");
    let good = t
        .post_with(
            "/v1/customers",
            &[("email", "fixed@x.io")],
            &[("idempotency-key", "retry-me")],
        )
        .await;
    assert_eq!(good.ok()["email"], "fixed@x.io");
    assert_eq!(good.header("idempotent-replayed"), None);
    // Not-found is not saved either.
    let r = t
        .post_with(
            "/v1/customers/cus_nope",
            &[("name", "x")],
            &[("idempotency-key", "nf")],
        )
        .await;
    r.error(404, "invalid_request_error");
    let again = t
        .post_with(
            "/v1/customers/cus_nope",
            &[("name", "x")],
            &[("idempotency-key", "nf")],
        )
        .await;
    assert_eq!(again.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn keys_are_scoped_per_api_key() {
    let t = spawn_app().await;
    let other = format!("Bearer {}", t.key_of(KeyKind::Secret, &[]).await);
    let a = t
        .post_with(
            "/v1/customers",
            &[("name", "A")],
            &[("idempotency-key", "shared")],
        )
        .await;
    let b = t
        .post_with(
            "/v1/customers",
            &[("name", "B")],
            &[("idempotency-key", "shared"), ("authorization", &other)],
        )
        .await;
    assert_ne!(a.ok()["id"], b.ok()["id"]);
    assert_eq!(b.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_create_one_customer() {
    let t = spawn_app().await;
    let body = form(&[("email", "race@x.io")]);
    let client = reqwest::Client::new();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let req = client
            .post(format!("{}/v1/customers", t.base))
            .bearer_auth(&t.key)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("idempotency-key", "race")
            .body(body.clone());
        set.spawn(async move {
            let r = req.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        });
    }
    let mut ids = std::collections::HashSet::new();
    while let Some(res) = set.join_next().await {
        let (status, body) = res.unwrap();
        match status {
            200 => {
                ids.insert(body["id"].as_str().unwrap().to_string());
            }
            409 => assert_eq!(body["error"]["type"], "idempotency_error"),
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "every success must be the same customer");
    assert_eq!(
        t.get("/v1/customers").await.ok()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn get_requests_ignore_the_header_and_json_bodies_share_the_key_space() {
    let t = spawn_app().await;
    let r = t
        .send(
            Method::GET,
            "/v1/customers",
            None,
            &[("idempotency-key", "g")],
        )
        .await;
    r.ok();
    assert_eq!(r.header("idempotent-replayed"), None);
    let first = t
        .send(
            Method::POST,
            "/v1/customers",
            Some(("application/json", json!({"name": "J"}).to_string())),
            &[("idempotency-key", "j")],
        )
        .await;
    let second = t
        .send(
            Method::POST,
            "/v1/customers",
            Some(("application/json", json!({"name": "J"}).to_string())),
            &[("idempotency-key", "j")],
        )
        .await;
    assert_eq!(first.ok()["id"], second.ok()["id"]);
    let too_long = "k".repeat(256);
    let r = t
        .post_with("/v1/customers", &[], &[("idempotency-key", &too_long)])
        .await;
    r.error(400, "invalid_request_error");
}
