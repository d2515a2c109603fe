//! The conventions every endpoint shares: auth, permissions, errors, limits, expand, ops.

use std::num::NonZeroU32;

use cashbox_core::api_key::KeyKind;
use cashbox_http::HttpConfig;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{spawn_app, spawn_with};

#[tokio::test]
async fn authentication_errors() {
    let t = spawn_app().await;
    let none = t
        .send(Method::GET, "/v1/customers", None, &[("authorization", "")])
        .await;
    none.error(401, "authentication_error");

    let wrong = t
        .send(
            Method::GET,
            "/v1/customers",
            None,
            &[("authorization", "Bearer sk_test_wrongwrongwrongwrong1234")],
        )
        .await;
    let e = wrong.error(401, "authentication_error");
    assert_eq!(e["message"], "Invalid API Key provided: sk_test_****1234");

    let garbage = t
        .send(
            Method::GET,
            "/v1/customers",
            None,
            &[("authorization", "Bearer hello")],
        )
        .await;
    garbage.error(401, "authentication_error");

    // HTTP basic auth with the key as user name, as Stripe's curl examples do.
    let basic = base64_encode(&format!("{}:", t.key));
    let ok = t
        .send(
            Method::GET,
            "/v1/customers",
            None,
            &[("authorization", &format!("Basic {basic}"))],
        )
        .await;
    ok.ok();

    // A revoked key stops working.
    let key = t.key_of(KeyKind::Secret, &[]).await;
    let auth = format!("Bearer {key}");
    t.send(
        Method::GET,
        "/v1/customers",
        None,
        &[("authorization", &auth)],
    )
    .await
    .ok();
    let id = t.app.api_keys().list().await.unwrap().pop().unwrap().id;
    assert!(t.app.api_keys().revoke(&id).await.unwrap());
    t.send(
        Method::GET,
        "/v1/customers",
        None,
        &[("authorization", &auth)],
    )
    .await
    .error(401, "authentication_error");
}

fn base64_encode(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn restricted_and_publishable_keys() {
    let t = spawn_app().await;
    let reader = format!(
        "Bearer {}",
        t.key_of(KeyKind::Restricted, &["customers:read"]).await
    );
    let writer = format!(
        "Bearer {}",
        t.key_of(KeyKind::Restricted, &["customers:write"]).await
    );
    let publishable = format!("Bearer {}", t.key_of(KeyKind::Publishable, &[]).await);
    let body = || Some(("application/x-www-form-urlencoded", "name=x".to_string()));

    t.send(
        Method::GET,
        "/v1/customers",
        None,
        &[("authorization", &reader)],
    )
    .await
    .ok();
    let e = t
        .send(
            Method::POST,
            "/v1/customers",
            body(),
            &[("authorization", &reader)],
        )
        .await;
    e.error(403, "permission_error");
    t.send(
        Method::GET,
        "/v1/events",
        None,
        &[("authorization", &reader)],
    )
    .await
    .error(403, "permission_error");

    t.send(
        Method::POST,
        "/v1/customers",
        body(),
        &[("authorization", &writer)],
    )
    .await
    .ok();
    t.send(
        Method::GET,
        "/v1/customers",
        None,
        &[("authorization", &writer)],
    )
    .await
    .ok();

    t.send(
        Method::GET,
        "/v1/customers",
        None,
        &[("authorization", &publishable)],
    )
    .await
    .error(403, "permission_error");
}

#[tokio::test]
async fn unknown_urls_and_methods() {
    let t = spawn_app().await;
    let r = t.get("/v1/nothing_here").await;
    assert_eq!(
        r.error(404, "invalid_request_error")["message"],
        "Unrecognized request URL (GET: /v1/nothing_here)."
    );
    let r = t.send(Method::PUT, "/v1/customers", None, &[]).await;
    r.error(404, "invalid_request_error");
}

#[tokio::test]
async fn every_response_has_a_request_id_and_stripe_version_is_accepted() {
    let t = spawn_app().await;
    let r = t
        .send(
            Method::GET,
            "/v1/customers",
            None,
            &[("stripe-version", "2026-10-28.endive")],
        )
        .await;
    r.ok();
    assert!(r.header("request-id").unwrap().starts_with("req_"));
    let e = t.get("/v1/customers/cus_x").await;
    assert!(e.header("request-id").unwrap().starts_with("req_"));
    assert_ne!(r.header("request-id"), e.header("request-id"));
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let t = spawn_with(HttpConfig {
        rate_limit_per_second: NonZeroU32::new(1),
        rate_limit_burst: NonZeroU32::new(2).unwrap(),
        ..HttpConfig::default()
    })
    .await;
    t.get("/v1/customers").await.ok();
    t.get("/v1/customers").await.ok();
    let limited = t.get("/v1/customers").await;
    limited.error(429, "rate_limit_error");
    assert!(
        limited
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // The limit is per key: another key is not affected.
    let other = format!("Bearer {}", t.key_of(KeyKind::Secret, &[]).await);
    t.send(
        Method::GET,
        "/v1/customers",
        None,
        &[("authorization", &other)],
    )
    .await
    .ok();
}

#[tokio::test]
async fn body_size_is_limited() {
    let t = spawn_with(HttpConfig {
        body_limit_bytes: 1024,
        ..HttpConfig::default()
    })
    .await;
    let big = "d".repeat(2000);
    let r = t
        .post("/v1/customers", &[("description", big.as_str())])
        .await;
    r.error(413, "invalid_request_error");
    assert_eq!(t.get("/v1/customers").await.ok()["data"], json!([]));
}

#[tokio::test]
async fn expand_machinery() {
    let t = spawn_app().await;
    let c = t.create_customer(&[("email", "e@x.io")]).await;
    let id = c["id"].as_str().unwrap();
    // Expandable links that are empty stay null.
    let r = t.get(&format!("/v1/customers/{id}?expand[]=test_clock&expand[]=invoice_settings.default_payment_method")).await;
    assert_eq!(r.ok()["test_clock"], serde_json::Value::Null);
    let r = t.get("/v1/customers?expand[]=data.test_clock").await;
    assert_eq!(r.ok()["data"].as_array().unwrap().len(), 1);
    // Anything else cannot be expanded, as Stripe says.
    let r = t.get(&format!("/v1/customers/{id}?expand[]=email")).await;
    let e = r.error(400, "invalid_request_error");
    assert_eq!(e["message"], "This property cannot be expanded (email).");
    assert_eq!(e["param"], "expand");
    let r = t.post("/v1/customers", &[("expand[0]", "nope")]).await;
    r.error(400, "invalid_request_error");
    assert_eq!(
        t.get("/v1/customers").await.ok()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn health_ready_metrics_openapi() {
    let t = spawn_app().await;
    let unauth = [("authorization", "")];
    assert_eq!(
        t.send(Method::GET, "/health", None, &unauth).await.ok()["status"],
        "ok"
    );
    assert_eq!(
        t.send(Method::GET, "/ready", None, &unauth).await.ok()["status"],
        "ready"
    );

    t.create_customer(&[]).await;
    t.get("/v1/customers/cus_missing").await;
    // A payment's outcome is applied in a fast transaction (deferred or buffered).
    let pi = t
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(pi.ok()["status"], "succeeded");
    let m = t.send(Method::GET, "/metrics", None, &unauth).await;
    let text = m.body.as_str().unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("cashbox_http_requests_total")
                && l.contains("route=\"/v1/customers\"")
                && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(
        text.contains("route=\"/v1/customers/{id}\""),
        "ids must not become labels"
    );
    assert!(text.contains("cashbox_http_request_duration_seconds_bucket"));
    let committed = text
        .lines()
        .filter(|l| {
            l.starts_with("cashbox_fast_transactions_total") && l.contains("outcome=\"committed\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum::<u64>();
    assert!(committed >= 1, "fast transactions are counted: {text}");

    let doc = t.send(Method::GET, "/v1/openapi.json", None, &unauth).await;
    let paths = doc.ok()["paths"].as_object().unwrap().clone();
    for (path, methods) in [
        ("/v1/customers", &["get", "post"][..]),
        ("/v1/customers/{id}", &["get", "post", "delete"][..]),
        ("/v1/events", &["get"][..]),
        ("/v1/events/{id}", &["get"][..]),
        ("/health", &["get"][..]),
        ("/v1/payment_methods", &["get", "post"][..]),
        ("/v1/payment_methods/{id}/attach", &["post"][..]),
        ("/v1/setup_intents/{id}/confirm", &["post"][..]),
        ("/v1/payment_intents", &["get", "post"][..]),
        ("/v1/payment_intents/{id}/confirm", &["post"][..]),
        ("/v1/payment_intents/{id}/capture", &["post"][..]),
        ("/v1/charges/{id}", &["get"][..]),
        ("/v1/refunds", &["get", "post"][..]),
        ("/v1/customers/{id}/payment_methods", &["get"][..]),
    ] {
        for m in methods {
            assert!(
                paths[path].get(*m).is_some(),
                "{m} {path} missing from the OpenAPI document"
            );
        }
    }
    // Every API operation declares the errors the gate may answer, with Stripe's envelope
    // (the document itself is open to all and answers no error).
    let components = &doc.ok()["components"]["schemas"];
    assert!(components["ErrorEnvelope"].is_object());
    for (path, item) in &paths {
        if !path.starts_with("/v1/") || path == "/v1/openapi.json" {
            continue;
        }
        // A restricted key can be given it: every operation belongs to a resource.
        assert!(
            cashbox_core::api_key::Resource::for_path(path).is_some(),
            "{path} has no resource a restricted key could be granted"
        );
        for (method, op) in item.as_object().unwrap() {
            for status in cashbox_http::ERROR_STATUSES {
                let declared = &op["responses"][status.to_string()];
                assert_eq!(
                    declared["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorEnvelope",
                    "{method} {path} {status}"
                );
            }
        }
    }
    // Every API operation declares what it answers field by field, not a bare `object`
    // (what each answer renders is checked against it in every test: `schema.rs`).
    let resolve = |s: &Value| -> Value {
        match s["$ref"].as_str() {
            Some(r) => components[r.trim_start_matches("#/components/schemas/")].clone(),
            None => s.clone(),
        }
    };
    let mut described = 0;
    let mut operation_ids = std::collections::BTreeSet::new();
    for (path, item) in &paths {
        for op in item.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            assert!(operation_ids.insert(id.to_string()), "{id} twice");
        }
        if !path.starts_with("/v1/") || path == "/v1/openapi.json" {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let schema = resolve(&op["responses"]["200"]["content"]["application/json"]["schema"]);
            assert!(
                schema["properties"]
                    .as_object()
                    .is_some_and(|p| !p.is_empty())
                    || schema["oneOf"].is_array(),
                "{method} {path} declares no fields: {schema}"
            );
            described += 1;
        }
    }
    assert!(described > 150, "{described} operations");
    // Every reference names a schema the document holds (a generated client refuses a dangling
    // one).
    let text = doc.ok().to_string();
    for r in text.split("\"#/components/schemas/").skip(1) {
        let name = &r[..r.find('"').unwrap()];
        assert!(
            components[name].is_object(),
            "{name} is referenced, not declared"
        );
    }
    // A deleted customer retrieves as the deleted object, which its schema allows.
    let retrieved = &paths["/v1/customers/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert!(
        retrieved.to_string().contains("CustomerOrDeleted"),
        "{retrieved}"
    );
}

/// Text reaches the store only as UTF-8 without NUL: PostgreSQL refuses NUL in text (a 500
/// before), and invalid UTF-8 was stored with replacement characters.
#[tokio::test]
async fn nul_and_invalid_utf8_are_refused_as_parameter_errors() {
    let t = spawn_app().await;
    let lists = [
        "/v1/charges?customer=a%00",
        "/v1/payment_intents?starting_after=pi_a%00",
        "/v1/products?starting_after=prod_%00",
        "/v1/coupons?ending_before=%00",
        "/v1/events?type=a%00",
        "/v1/customers?email=a%00b%40example.com",
        "/v1/invoices?subscription=sub_%00",
    ];
    for path in lists {
        let r = t.get(path).await;
        let e = r.error(400, "invalid_request_error");
        assert!(
            e["message"].as_str().unwrap().contains("NUL"),
            "{path}: {e}"
        );
    }
    type Create<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let creates: [Create; 4] = [
        ("/v1/customers", &[("email", "a\0b@example.com")], "email"),
        (
            "/v1/prices",
            &[
                ("currency", "usd"),
                ("unit_amount", "100"),
                ("product_data[name]", "P"),
                ("lookup_key", "k\0"),
            ],
            "lookup_key",
        ),
        (
            "/v1/billing/meters",
            &[
                ("display_name", "M"),
                ("event_name", "e\0"),
                ("default_aggregation[formula]", "sum"),
            ],
            "event_name",
        ),
        ("/v1/customers", &[("metadata[k\0]", "v")], ""),
    ];
    for (path, pairs, param) in creates {
        let r = t.post(path, pairs).await;
        let e = r.error(400, "invalid_request_error");
        assert_eq!(e["param"].as_str().unwrap_or(""), param, "{path}: {e}");
    }
    let r = t
        .post_json("/v1/customers", json!({"name": "a\u{0}b"}))
        .await;
    assert_eq!(r.error(400, "invalid_request_error")["param"], "name");
    let bad_utf8 = t
        .send(
            Method::POST,
            "/v1/customers",
            Some((
                "application/x-www-form-urlencoded",
                "name=%FF%FEJenny".into(),
            )),
            &[],
        )
        .await;
    let e = bad_utf8.error(400, "invalid_request_error");
    assert_eq!(e["param"], "name");
    // In the path, before any extractor: the envelope, not axum's plain text.
    for path in [
        "/v1/customers/cus_%FF",
        "/v1/customers/cus_%00",
        "/v1/products/%C3",
    ] {
        t.get(path).await.error(400, "invalid_request_error");
    }
    // Nothing was written.
    let listed = t.get("/v1/customers").await;
    assert_eq!(listed.ok()["data"].as_array().unwrap().len(), 0);
    let prices = t.get("/v1/prices").await;
    assert_eq!(prices.ok()["data"].as_array().unwrap().len(), 0);
}

/// Found by a probe: a URL or headers too large were answered without Stripe's envelope.
#[tokio::test]
async fn oversized_urls_and_headers_get_the_error_envelope() {
    let t = spawn_app().await;
    let long = format!("/v1/customers?email={}", "a".repeat(20 * 1024));
    let r = t.get(&long).await;
    assert_eq!(
        r.error(414, "invalid_request_error")["type"],
        "invalid_request_error"
    );
    let big = "b".repeat(40 * 1024);
    let r = t
        .send(Method::GET, "/v1/customers", None, &[("x-padding", &big)])
        .await;
    r.error(431, "invalid_request_error");
    // Under the limits, the same request is answered.
    let r = t
        .send(
            Method::GET,
            "/v1/customers",
            None,
            &[("x-padding", "small")],
        )
        .await;
    r.ok();
}
