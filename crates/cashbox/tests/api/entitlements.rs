//! Features, product features, active entitlements, purchase grants and quotas.

use serde_json::Value;

use crate::billing::{Billing, DAY, T0};

async fn feature(b: &Billing, lookup_key: &str) -> String {
    let r =
        b.t.post(
            "/v1/entitlements/features",
            &[("name", lookup_key), ("lookup_key", lookup_key)],
        )
        .await;
    r.ok()["id"].as_str().unwrap().to_string()
}

/// A product with `feature` attached (with extra product-feature parameters).
async fn product_with(b: &Billing, feature: &str, extra: &[(&str, &str)]) -> String {
    let p = b.t.post("/v1/products", &[("name", "Thing")]).await;
    let product = p.ok()["id"].as_str().unwrap().to_string();
    let mut pairs = vec![("entitlement_feature", feature)];
    pairs.extend_from_slice(extra);
    let pf =
        b.t.post(&format!("/v1/products/{product}/features"), &pairs)
            .await;
    assert_eq!(pf.ok()["object"], "product_feature");
    assert_eq!(pf.ok()["entitlement_feature"]["id"], feature);
    product
}

async fn lookup_keys(b: &Billing) -> Vec<String> {
    let r =
        b.t.get(&format!(
            "/v1/entitlements/active_entitlements?customer={}",
            b.customer
        ))
        .await;
    r.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["object"], "entitlements.active_entitlement");
            e["lookup_key"].as_str().unwrap().to_string()
        })
        .collect()
}

async fn consume(b: &Billing, feature: &str, key: &str) -> crate::support::Resp {
    b.t.post(
        "/v1/entitlements/consume",
        &[
            ("customer", &b.customer),
            ("feature", feature),
            ("key", key),
        ],
    )
    .await
}

#[tokio::test]
async fn features_have_unique_lookup_keys_and_attach_to_products_once() {
    let b = Billing::new(None).await;
    let f = feature(&b, "reports").await;
    let got = b.t.get(&format!("/v1/entitlements/features/{f}")).await;
    assert_eq!(got.ok()["lookup_key"], "reports");
    assert_eq!(got.ok()["object"], "entitlements.feature");
    let dup =
        b.t.post(
            "/v1/entitlements/features",
            &[("name", "Reports"), ("lookup_key", "reports")],
        )
        .await;
    assert_eq!(
        dup.error(400, "invalid_request_error")["param"],
        "lookup_key"
    );
    let by_key =
        b.t.get("/v1/entitlements/features?lookup_key=reports")
            .await;
    assert_eq!(by_key.ok()["data"][0]["id"], f.as_str());
    let product = product_with(&b, &f, &[]).await;
    let again =
        b.t.post(
            &format!("/v1/products/{product}/features"),
            &[("entitlement_feature", &f)],
        )
        .await;
    assert_eq!(
        again.error(400, "invalid_request_error")["param"],
        "entitlement_feature"
    );
    let missing =
        b.t.post(
            &format!("/v1/products/{product}/features"),
            &[("entitlement_feature", "feat_nothing")],
        )
        .await;
    assert_eq!(
        missing.error(400, "invalid_request_error")["param"],
        "entitlement_feature"
    );
    let list = b.t.get(&format!("/v1/products/{product}/features")).await;
    let pf = list.ok()["data"][0]["id"].as_str().unwrap().to_string();
    let gone =
        b.t.delete(&format!("/v1/products/{product}/features/{pf}"))
            .await;
    assert_eq!(gone.ok()["deleted"], true);
    let list = b.t.get(&format!("/v1/products/{product}/features")).await;
    assert_eq!(list.ok()["data"].as_array().unwrap().len(), 0);
}

/// The therapy plan: 8 sessions a month.
#[tokio::test]
async fn a_quota_allows_eight_consumes_refuses_the_ninth_and_resets_at_renewal() {
    let b = Billing::new(Some("pm_card_visa")).await;
    let sessions = feature(&b, "sessions").await;
    let product = product_with(&b, &sessions, &[("quota", "8")]).await;
    let price =
        b.t.post(
            "/v1/prices",
            &[
                ("product", &product),
                ("currency", "usd"),
                ("unit_amount", "19999"),
                ("recurring[interval]", "month"),
            ],
        )
        .await;
    let price = price.ok()["id"].as_str().unwrap().to_string();
    assert!(lookup_keys(&b).await.is_empty());
    let not_yet = consume(&b, "sessions", "k0").await;
    assert_eq!(
        not_yet.error(400, "invalid_request_error")["code"],
        "entitlement_missing"
    );

    let sub = b.subscribe(&[("items[0][price]", &price)]).await;
    let sub_id = sub["id"].as_str().unwrap().to_string();
    assert_eq!(lookup_keys(&b).await, vec!["sessions"]);
    let summaries =
        b.t.events_of_type("entitlements.active_entitlement_summary.updated")
            .await;
    assert_eq!(summaries.len(), 1);
    assert_eq!(
        summaries[0]["data"]["object"]["entitlements"]["data"][0]["lookup_key"],
        "sessions"
    );

    for i in 1..=8 {
        let r = consume(&b, "sessions", &format!("k{i}")).await;
        assert_eq!(r.ok()["used"], i, "consume {i}");
    }
    // A retried consume counts once.
    let replay = consume(&b, "sessions", "k8").await;
    assert_eq!(
        (
            replay.ok()["used"].as_i64(),
            replay.ok()["replayed"].as_bool()
        ),
        (Some(8), Some(true))
    );
    let ninth = consume(&b, "sessions", "k9").await;
    assert_eq!(
        ninth.error(400, "invalid_request_error")["code"],
        "quota_exceeded"
    );
    let check =
        b.t.get(&format!(
            "/v1/entitlements/check?customer={}&feature=sessions",
            b.customer
        ))
        .await;
    let check = check.ok();
    assert_eq!(
        (
            check["allowed"].as_bool(),
            check["remaining"].as_i64(),
            check["quota"].as_i64()
        ),
        (Some(false), Some(0), Some(8))
    );
    assert_eq!(check["period_end"], T0 + 30 * DAY);

    // The renewal starts a new period and a fresh count.
    b.advance(T0 + 30 * DAY + 60).await;
    let check =
        b.t.get(&format!(
            "/v1/entitlements/check?customer={}&feature=sessions",
            b.customer
        ))
        .await;
    assert_eq!(
        (check.ok()["allowed"].as_bool(), check.ok()["used"].as_i64()),
        (Some(true), Some(0))
    );
    assert_eq!(consume(&b, "sessions", "k9").await.ok()["used"], 1);

    // Canceling revokes.
    b.t.delete(&format!("/v1/subscriptions/{sub_id}"))
        .await
        .ok();
    assert!(lookup_keys(&b).await.is_empty());
    assert_eq!(
        b.t.events_of_type("entitlements.active_entitlement_summary.updated")
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn concurrent_consumes_never_pass_the_quota() {
    let b = Billing::new(Some("pm_card_visa")).await;
    let credits = feature(&b, "credits").await;
    let product = product_with(&b, &credits, &[("quota", "5")]).await;
    let price =
        b.t.post(
            "/v1/prices",
            &[
                ("product", &product),
                ("currency", "usd"),
                ("unit_amount", "500"),
                ("recurring[interval]", "month"),
            ],
        )
        .await;
    let price = price.ok()["id"].as_str().unwrap().to_string();
    b.subscribe(&[("items[0][price]", &price)]).await;
    let client = reqwest::Client::new();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let req = client
            .post(format!("{}/v1/entitlements/consume", b.t.base))
            .bearer_auth(&b.t.key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("customer", &b.customer)
                    .append_pair("feature", "credits")
                    .append_pair("key", &format!("c{i}"))
                    .finish(),
            );
        set.spawn(async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        });
    }
    let mut ok = 0;
    while let Some(res) = set.join_next().await {
        let (status, body) = res.unwrap();
        if status == 200 {
            ok += 1;
        } else {
            assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
        }
    }
    assert_eq!(ok, 5);
    let check =
        b.t.get(&format!(
            "/v1/entitlements/check?customer={}&feature=credits",
            b.customer
        ))
        .await;
    assert_eq!(check.ok()["used"], 5);
}

/// One purchase: an invoice of `price`, paid.
async fn buy(b: &Billing, price: &str) -> Value {
    let inv = b.t.post("/v1/invoices", &[("customer", &b.customer)]).await;
    let inv = inv.ok()["id"].as_str().unwrap().to_string();
    b.t.post(
        "/v1/invoiceitems",
        &[
            ("customer", &b.customer),
            ("invoice", &inv),
            ("price", price),
        ],
    )
    .await
    .ok();
    let paid = b.t.post(&format!("/v1/invoices/{inv}/pay"), &[]).await;
    assert_eq!(paid.ok()["status"], "paid");
    paid.ok().clone()
}

/// The course platform: a purchase grants access for 365 days; a full refund revokes it.
#[tokio::test]
async fn a_purchase_grants_access_for_its_days_and_a_refund_revokes_it() {
    let b = Billing::new(Some("pm_card_visa")).await;
    let course = feature(&b, "course-rust").await;
    let product = product_with(&b, &course, &[("grant_days", "365")]).await;
    let price =
        b.t.post(
            "/v1/prices",
            &[
                ("product", &product),
                ("currency", "usd"),
                ("unit_amount", "4900"),
            ],
        )
        .await;
    let price = price.ok()["id"].as_str().unwrap().to_string();

    buy(&b, &price).await;
    assert_eq!(lookup_keys(&b).await, vec!["course-rust"]);

    // Still there on day 364, gone on day 365.
    b.advance(T0 + 364 * DAY).await;
    assert_eq!(lookup_keys(&b).await, vec!["course-rust"]);
    b.advance(T0 + 365 * DAY + 1).await;
    assert!(lookup_keys(&b).await.is_empty());

    // A second purchase, refunded in full, revokes at once.
    buy(&b, &price).await;
    assert_eq!(lookup_keys(&b).await, vec!["course-rust"]);
    let invoices =
        b.t.get(&format!("/v1/invoices?customer={}&limit=1", b.customer))
            .await;
    let pi = invoices.ok()["data"][0]["payment_intent"]
        .as_str()
        .unwrap()
        .to_string();
    let partial =
        b.t.post("/v1/refunds", &[("payment_intent", &pi), ("amount", "100")])
            .await;
    assert_eq!(partial.ok()["status"], "succeeded");
    assert_eq!(
        lookup_keys(&b).await,
        vec!["course-rust"],
        "a partial refund keeps access"
    );
    let rest = b.t.post("/v1/refunds", &[("payment_intent", &pi)]).await;
    assert_eq!(rest.ok()["status"], "succeeded");
    assert!(lookup_keys(&b).await.is_empty());
    let summaries =
        b.t.events_of_type("entitlements.active_entitlement_summary.updated")
            .await;
    // Newest first: revoked by the refund, granted again, run out on day 365 (the clock's
    // advance ran that end as due work), granted.
    let counts: Vec<usize> = summaries
        .iter()
        .map(|e| {
            e["data"]["object"]["entitlements"]["data"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(counts, vec![0, 1, 0, 1], "{summaries:?}");
    let ran_out = &summaries[2];
    assert_eq!(
        ran_out["data"]["previous_attributes"]["entitlements"]["data"][0]["feature"],
        course.as_str()
    );
}

/// What a past_due subscription does to access is a setting: by default it keeps entitling
/// while its payment is retried; with `past_due_revokes_entitlements` it stops at once.
#[tokio::test]
async fn past_due_keeps_or_revokes_access_as_configured() {
    for revokes in [false, true] {
        let options = crate::support::AppOptions {
            past_due_revokes_entitlements: revokes,
            ..Default::default()
        };
        let t = crate::support::spawn_full(cashbox_http::HttpConfig::default(), options).await;
        let b = Billing::with(t, Some("pm_card_chargeCustomerFail")).await;
        let f = feature(&b, "reports").await;
        let product = product_with(&b, &f, &[]).await;
        let price =
            b.t.post(
                "/v1/prices",
                &[
                    ("product", &product),
                    ("currency", "usd"),
                    ("unit_amount", "1000"),
                    ("recurring[interval]", "month"),
                ],
            )
            .await;
        let price = price.ok()["id"].as_str().unwrap().to_string();
        let sub = b
            .subscribe(&[("items[0][price]", &price), ("trial_period_days", "3")])
            .await;
        assert_eq!(lookup_keys(&b).await, vec!["reports"]);
        // The trial ends and the card fails: past_due.
        b.advance(T0 + 3 * DAY + 60).await;
        let sub = b.sub(sub["id"].as_str().unwrap()).await;
        assert_eq!(sub["status"], "past_due");
        let keys = lookup_keys(&b).await;
        if revokes {
            assert!(keys.is_empty(), "{keys:?}");
        } else {
            assert_eq!(keys, vec!["reports"]);
        }
    }
}
