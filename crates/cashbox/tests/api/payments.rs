//! One-time payments through the API, on the sandbox processor and Stripe's test cards.

use std::sync::atomic::{AtomicI64, Ordering};

use cashbox_core::api_key::KeyKind;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{AppOptions, TestApp, spawn_app, spawn_full};

impl TestApp {
    async fn pay(&self, pairs: &[(&str, &str)]) -> crate::support::Resp {
        let mut all = vec![("amount", "2000"), ("currency", "usd"), ("confirm", "true")];
        all.extend_from_slice(pairs);
        self.post("/v1/payment_intents", &all).await
    }

    async fn assert_ledger_sound(&self) {
        let report = self.app.check_ledger().await.unwrap();
        assert!(report.is_sound(), "{report:?}");
    }

    async fn event_types(&self) -> Vec<String> {
        let r = self.get("/v1/events?limit=100").await;
        r.ok()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect()
    }
}

#[tokio::test]
async fn a_customer_pays_with_4242() {
    let t = spawn_app().await;
    let cus = t.create_customer(&[("email", "payer@example.com")]).await;
    let cus_id = cus["id"].as_str().unwrap();
    let r = t
        .pay(&[
            ("customer", cus_id),
            ("payment_method", "pm_card_visa"),
            ("description", "Therapy session"),
        ])
        .await;
    let pi = r.ok();
    assert_eq!(pi["object"], "payment_intent");
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["amount_received"], 2000);
    assert!(
        pi["client_secret"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}_secret_", pi["id"].as_str().unwrap()))
    );
    let ch_id = pi["latest_charge"].as_str().unwrap();
    let ch = t.get(&format!("/v1/charges/{ch_id}")).await;
    let ch = ch.ok();
    assert_eq!(
        (
            ch["status"].as_str(),
            ch["paid"].as_bool(),
            ch["captured"].as_bool()
        ),
        (Some("succeeded"), Some(true), Some(true))
    );
    assert_eq!(ch["amount_captured"], 2000);
    assert_eq!(ch["outcome"]["type"], "authorized");
    assert_eq!(ch["payment_method_details"]["card"]["last4"], "4242");
    assert_eq!(ch["customer"], cus_id);

    // The receipt is a hosted page, reachable only through its URL.
    let receipt_url = ch["receipt_url"].as_str().unwrap();
    let page = reqwest::get(receipt_url).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("20.00 USD") && html.contains("4242"),
        "{html}"
    );
    let forged = reqwest::get(format!("{}/receipts/{ch_id}?token=000000", t.base))
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);

    // Expand the charge from the intent, and list both ways.
    let expanded = t
        .get(&format!(
            "/v1/payment_intents/{}?expand[]=latest_charge&expand[]=customer",
            pi["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(expanded.ok()["latest_charge"]["id"], ch_id);
    assert_eq!(expanded.ok()["customer"]["email"], "payer@example.com");
    let by_customer = t
        .get(&format!("/v1/payment_intents?customer={cus_id}"))
        .await;
    assert_eq!(by_customer.ok()["data"].as_array().unwrap().len(), 1);
    let charges = t
        .get(&format!(
            "/v1/charges?payment_intent={}",
            pi["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(charges.ok()["data"][0]["id"], ch_id);

    let types = t.event_types().await;
    for expected in [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
    ] {
        assert!(
            types.iter().any(|e| e == expected),
            "{expected} missing from {types:?}"
        );
    }
    t.assert_ledger_sound().await;
}

#[tokio::test]
async fn declines_carry_the_intent_and_stripes_codes() {
    let t = spawn_app().await;
    for (pm, code, decline) in [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "card_declined",
            "insufficient_funds",
        ),
        (
            "pm_card_chargeDeclinedExpiredCard",
            "expired_card",
            "expired_card",
        ),
        (
            "pm_card_chargeDeclinedIncorrectCvc",
            "incorrect_cvc",
            "incorrect_cvc",
        ),
    ] {
        let r = t.pay(&[("payment_method", pm)]).await;
        let e = r.error(402, "card_error");
        assert_eq!(
            (e["code"].as_str(), e["decline_code"].as_str()),
            (Some(code), Some(decline)),
            "{pm}"
        );
        let pi = &e["payment_intent"];
        assert_eq!(pi["status"], "requires_payment_method");
        assert_eq!(pi["last_payment_error"]["decline_code"], decline);
        assert_eq!(pi["payment_method"], Value::Null);
        let ch = t
            .get(&format!("/v1/charges/{}", e["charge"].as_str().unwrap()))
            .await;
        assert_eq!(ch.ok()["status"], "failed");
        assert_eq!(ch.ok()["failure_code"], code);
        assert_eq!(ch.ok()["outcome"]["type"], "issuer_declined");
        // The intent may be retried with another card.
        let retry = t
            .post(
                &format!("/v1/payment_intents/{}/confirm", pi["id"].as_str().unwrap()),
                &[("payment_method", "pm_card_visa")],
            )
            .await;
        assert_eq!(retry.ok()["status"], "succeeded");
    }
    let types = t.event_types().await;
    assert!(types.iter().any(|e| e == "payment_intent.payment_failed"));
    assert!(types.iter().any(|e| e == "charge.failed"));
    t.assert_ledger_sound().await;
}

#[tokio::test]
async fn three_d_secure_approve_and_fail() {
    let t = spawn_app().await;
    let r = t
        .pay(&[
            ("payment_method", "pm_card_authenticationRequired"),
            ("return_url", "https://shop.example/done"),
        ])
        .await;
    let pi = r.ok().clone();
    assert_eq!(pi["status"], "requires_action");
    let url = pi["next_action"]["redirect_to_url"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        pi["next_action"]["redirect_to_url"]["return_url"],
        "https://shop.example/done"
    );
    assert!(
        t.event_types()
            .await
            .contains(&"payment_intent.requires_action".to_string())
    );

    // The hosted page approves and sends the customer back to the shop.
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("20.00 USD"));
    let secret = pi["client_secret"].as_str().unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let submit = client
        .post(url.split('?').next().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("client_secret={secret}&result=approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(submit.status(), 303);
    let location = submit.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://shop.example/done?payment_intent="),
        "{location}"
    );
    assert!(location.ends_with("redirect_status=succeeded"));
    let done = t
        .get(&format!(
            "/v1/payment_intents/{}",
            pi["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(done.ok()["status"], "succeeded");
    assert_eq!(done.ok()["next_action"], Value::Null);

    // The API twin of the page, failing this time.
    let r = t
        .pay(&[("payment_method", "pm_card_threeDSecure2Required")])
        .await;
    let id = r.ok()["id"].as_str().unwrap().to_string();
    let failed = t
        .post(
            &format!("/v1/payment_intents/{id}/_authenticate"),
            &[("success", "false")],
        )
        .await;
    let f = failed.ok();
    assert_eq!(f["status"], "requires_payment_method");
    assert_eq!(
        f["last_payment_error"]["code"],
        "payment_intent_authentication_failure"
    );
    // A wrong client secret finds nothing.
    let bad = reqwest::get(format!(
        "{}/pages/authenticate/{id}?client_secret=nope",
        t.base
    ))
    .await
    .unwrap();
    assert_eq!(bad.status(), 404);
    t.assert_ledger_sound().await;
}

#[tokio::test]
async fn manual_capture_in_part_and_cancel_releases() {
    let t = spawn_app().await;
    let r = t
        .pay(&[
            ("amount", "1000"),
            ("payment_method", "pm_card_visa"),
            ("capture_method", "manual"),
        ])
        .await;
    let pi = r.ok().clone();
    let id = pi["id"].as_str().unwrap();
    assert_eq!(
        (pi["status"].as_str(), pi["amount_capturable"].as_i64()),
        (Some("requires_capture"), Some(1000))
    );
    let too_much = t
        .post(
            &format!("/v1/payment_intents/{id}/capture"),
            &[("amount_to_capture", "1001")],
        )
        .await;
    assert_eq!(
        too_much.error(400, "invalid_request_error")["param"],
        "amount_to_capture"
    );
    let captured = t
        .post(
            &format!("/v1/payment_intents/{id}/capture"),
            &[("amount_to_capture", "700")],
        )
        .await;
    let c = captured.ok();
    assert_eq!(
        (
            c["status"].as_str(),
            c["amount_received"].as_i64(),
            c["amount_capturable"].as_i64()
        ),
        (Some("succeeded"), Some(700), Some(0))
    );
    let ch = t
        .get(&format!(
            "/v1/charges/{}",
            c["latest_charge"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ch.ok()["amount_captured"], 700);
    let again = t
        .post(&format!("/v1/payment_intents/{id}/capture"), &[])
        .await;
    assert_eq!(
        again.error(400, "invalid_request_error")["code"],
        "payment_intent_unexpected_state"
    );

    let r = t
        .pay(&[
            ("amount", "500"),
            ("payment_method", "pm_card_visa"),
            ("capture_method", "manual"),
        ])
        .await;
    let id = r.ok()["id"].as_str().unwrap().to_string();
    let canceled = t
        .post(
            &format!("/v1/payment_intents/{id}/cancel"),
            &[("cancellation_reason", "abandoned")],
        )
        .await;
    assert_eq!(canceled.ok()["status"], "canceled");
    assert_eq!(canceled.ok()["cancellation_reason"], "abandoned");
    let ch = t
        .get(&format!(
            "/v1/charges/{}",
            canceled.ok()["latest_charge"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        (
            ch.ok()["refunded"].as_bool(),
            ch.ok()["amount_captured"].as_i64()
        ),
        (Some(true), Some(0))
    );
    let confirm = t
        .post(&format!("/v1/payment_intents/{id}/confirm"), &[])
        .await;
    confirm.error(400, "invalid_request_error");
    t.assert_ledger_sound().await;
}

#[tokio::test]
async fn partial_refunds_never_exceed_the_charge() {
    let t = spawn_app().await;
    let pi = t
        .pay(&[("amount", "1000"), ("payment_method", "pm_card_visa")])
        .await
        .ok()
        .clone();
    let pi_id = pi["id"].as_str().unwrap();
    let ch_id = pi["latest_charge"].as_str().unwrap();
    let r1 = t
        .post(
            "/v1/refunds",
            &[
                ("payment_intent", pi_id),
                ("amount", "400"),
                ("reason", "requested_by_customer"),
                ("metadata[ticket]", "T-1"),
            ],
        )
        .await;
    let r1 = r1.ok().clone();
    assert_eq!(
        (
            r1["status"].as_str(),
            r1["amount"].as_i64(),
            r1["charge"].as_str()
        ),
        (Some("succeeded"), Some(400), Some(ch_id))
    );
    assert_eq!(r1["metadata"], json!({"ticket": "T-1"}));
    t.post("/v1/refunds", &[("charge", ch_id), ("amount", "500")])
        .await
        .ok();
    let over = t
        .post("/v1/refunds", &[("charge", ch_id), ("amount", "101")])
        .await;
    let e = over.error(400, "invalid_request_error");
    assert_eq!(
        (e["code"].as_str(), e["param"].as_str()),
        (Some("amount_too_large"), Some("amount"))
    );
    let rest = t.post("/v1/refunds", &[("charge", ch_id)]).await;
    assert_eq!(rest.ok()["amount"], 100);
    let ch = t.get(&format!("/v1/charges/{ch_id}")).await;
    assert_eq!(
        (
            ch.ok()["amount_refunded"].as_i64(),
            ch.ok()["refunded"].as_bool()
        ),
        (Some(1000), Some(true))
    );
    let done = t
        .post("/v1/refunds", &[("charge", ch_id), ("amount", "1")])
        .await;
    assert_eq!(
        done.error(400, "invalid_request_error")["code"],
        "charge_already_refunded"
    );
    let listed = t.get(&format!("/v1/refunds?charge={ch_id}")).await;
    assert_eq!(listed.ok()["data"].as_array().unwrap().len(), 3);
    let cancel = t
        .post(
            &format!("/v1/refunds/{}/cancel", r1["id"].as_str().unwrap()),
            &[],
        )
        .await;
    cancel.error(400, "invalid_request_error");
    let types = t.event_types().await;
    assert!(
        types.contains(&"refund.created".to_string())
            && types.contains(&"charge.refunded".to_string())
    );
    t.assert_ledger_sound().await;
}

#[tokio::test]
async fn concurrent_refunds_cannot_over_refund() {
    let t = spawn_app().await;
    let pi = t
        .pay(&[("amount", "1000"), ("payment_method", "pm_card_visa")])
        .await
        .ok()
        .clone();
    let ch_id = pi["latest_charge"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let req = client
            .post(format!("{}/v1/refunds", t.base))
            .bearer_auth(&t.key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("charge={ch_id}&amount=300"));
        set.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    let mut ok = 0;
    while let Some(status) = set.join_next().await {
        match status.unwrap() {
            200 => ok += 1,
            400 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 3, "three refunds of 300 fit in 1000, a fourth does not");
    let ch = t.get(&format!("/v1/charges/{ch_id}")).await;
    assert_eq!(ch.ok()["amount_refunded"], 900);
    t.assert_ledger_sound().await;
}

static CLOCK_OFFSET: AtomicI64 = AtomicI64::new(0);
fn shifted_clock() -> i64 {
    cashbox_app::unix_now() + CLOCK_OFFSET.load(Ordering::SeqCst)
}

#[tokio::test]
async fn refund_window_is_enforced() {
    let t = spawn_full(
        Default::default(),
        AppOptions {
            refund_window_days: Some(30),
            clock: Some(shifted_clock),
            ..AppOptions::default()
        },
    )
    .await;
    let pi = t
        .pay(&[("payment_method", "pm_card_visa")])
        .await
        .ok()
        .clone();
    let ch_id = pi["latest_charge"].as_str().unwrap().to_string();
    t.post("/v1/refunds", &[("charge", &ch_id), ("amount", "100")])
        .await
        .ok();
    CLOCK_OFFSET.store(31 * 86_400, Ordering::SeqCst);
    let late = t
        .post("/v1/refunds", &[("charge", &ch_id), ("amount", "100")])
        .await;
    let e = late.error(400, "invalid_request_error");
    assert_eq!(e["code"], "charge_refund_window_expired");
    assert!(e["message"].as_str().unwrap().contains("30 days"));
}

#[tokio::test]
async fn fifty_concurrent_confirms_charge_once() {
    let t = spawn_app().await;
    let pi = t
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1500"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await;
    let id = pi.ok()["id"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let req = client
            .post(format!("{}/v1/payment_intents/{id}/confirm", t.base))
            .bearer_auth(&t.key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("");
        set.spawn(async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        });
    }
    let mut succeeded = 0;
    while let Some(res) = set.join_next().await {
        let (status, body) = res.unwrap();
        match status {
            200 => succeeded += usize::from(body["status"] == "succeeded"),
            400 => assert_eq!(body["error"]["code"], "payment_intent_unexpected_state"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(succeeded >= 1);
    let charges = t.get(&format!("/v1/charges?payment_intent={id}")).await;
    assert_eq!(
        charges.ok()["data"].as_array().unwrap().len(),
        1,
        "exactly one charge"
    );
    t.assert_ledger_sound().await;
}

#[tokio::test]
async fn a_replayed_confirm_charges_once() {
    let t = spawn_app().await;
    let pi = t
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1500"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await;
    let id = pi.ok()["id"].as_str().unwrap().to_string();
    let path = format!("/v1/payment_intents/{id}/confirm");
    let first = t
        .post_with(&path, &[], &[("idempotency-key", "confirm-1")])
        .await;
    let second = t
        .post_with(&path, &[], &[("idempotency-key", "confirm-1")])
        .await;
    assert_eq!(first.ok(), second.ok());
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    let charges = t.get(&format!("/v1/charges?payment_intent={id}")).await;
    assert_eq!(charges.ok()["data"].as_array().unwrap().len(), 1);

    // A decline is a result too: replayed as the same 402.
    let body = [
        ("amount", "900"),
        ("currency", "usd"),
        ("payment_method", "pm_card_chargeDeclined"),
        ("confirm", "true"),
    ];
    let d1 = t
        .post_with(
            "/v1/payment_intents",
            &body,
            &[("idempotency-key", "declined-1")],
        )
        .await;
    let d2 = t
        .post_with(
            "/v1/payment_intents",
            &body,
            &[("idempotency-key", "declined-1")],
        )
        .await;
    d1.error(402, "card_error");
    assert_eq!(d1.body, d2.body);
    assert_eq!(d2.status.as_u16(), 402);
    assert_eq!(d2.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn a_card_saved_with_a_setup_intent_is_charged_off_session() {
    let t = spawn_app().await;
    let cus = t.create_customer(&[("email", "saver@example.com")]).await;
    let cus_id = cus["id"].as_str().unwrap();
    let si = t
        .post(
            "/v1/setup_intents",
            &[
                ("customer", cus_id),
                ("payment_method", "pm_card_authenticationRequiredOnSetup"),
                ("confirm", "true"),
                ("usage", "off_session"),
            ],
        )
        .await;
    let si = si.ok().clone();
    assert_eq!(si["status"], "requires_action");
    let si_id = si["id"].as_str().unwrap();
    let done = t
        .post(
            &format!("/v1/setup_intents/{si_id}/_authenticate"),
            &[("success", "true")],
        )
        .await;
    assert_eq!(done.ok()["status"], "succeeded");
    let pm_id = done.ok()["payment_method"].as_str().unwrap().to_string();
    let pm = t.get(&format!("/v1/payment_methods/{pm_id}")).await;
    assert_eq!(pm.ok()["customer"], cus_id);
    assert!(
        t.event_types()
            .await
            .contains(&"setup_intent.succeeded".to_string())
    );

    // Later, with the customer away: off-session succeeds without authentication.
    let later = t
        .pay(&[
            ("customer", cus_id),
            ("payment_method", &pm_id),
            ("off_session", "true"),
        ])
        .await;
    assert_eq!(later.ok()["status"], "succeeded");
    // A card that always asks for authentication declines off-session. Attaching a test id
    // attaches a new PaymentMethod of that card, as in Stripe's test mode.
    let always = t
        .post(
            "/v1/payment_methods/pm_card_authenticationRequired/attach",
            &[("customer", cus_id)],
        )
        .await;
    assert_eq!(always.ok()["customer"], cus_id);
    assert_ne!(always.ok()["id"], "pm_card_authenticationRequired");
    let off = t
        .pay(&[
            ("customer", cus_id),
            ("payment_method", "pm_card_authenticationRequired"),
            ("off_session", "true"),
        ])
        .await;
    assert_eq!(
        off.error(402, "card_error")["code"],
        "authentication_required"
    );

    // A declining card fails the setup with the SetupIntent attached to the error.
    let bad = t
        .post(
            "/v1/setup_intents",
            &[
                ("customer", cus_id),
                ("payment_method", "pm_card_chargeDeclined"),
                ("confirm", "true"),
            ],
        )
        .await;
    let e = bad.error(402, "card_error");
    assert_eq!(e["setup_intent"]["status"], "requires_payment_method");
    t.assert_ledger_sound().await;
}

#[tokio::test]
async fn payment_methods_from_raw_cards_attach_and_detach() {
    let t = spawn_app().await;
    let card = |n: &str| {
        vec![
            ("type", "card".to_string()),
            ("card[number]", n.to_string()),
            ("card[exp_month]", "12".into()),
            ("card[exp_year]", "2031".into()),
            ("card[cvc]", "123".into()),
        ]
    };
    let pairs = card("4242424242424242");
    let p: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let pm = t.post("/v1/payment_methods", &p).await;
    let pm = pm.ok().clone();
    assert_eq!(
        (pm["card"]["brand"].as_str(), pm["card"]["last4"].as_str()),
        (Some("visa"), Some("4242"))
    );
    assert!(!pm.to_string().contains("4242424242424242"));
    let same = t.post("/v1/payment_methods", &p).await;
    assert_eq!(
        same.ok()["card"]["fingerprint"],
        pm["card"]["fingerprint"],
        "one card, one fingerprint"
    );

    for (number, code, param) in [
        ("4242424242424241", "incorrect_number", "card[number]"),
        ("4111111111111111", "card_declined", "card[number]"),
    ] {
        let pairs = card(number);
        let p: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let e = t.post("/v1/payment_methods", &p).await;
        let err = e.error(402, "card_error");
        assert_eq!(
            (err["code"].as_str(), err["param"].as_str()),
            (Some(code), Some(param))
        );
    }
    let expired = t
        .post(
            "/v1/payment_methods",
            &[
                ("type", "card"),
                ("card[number]", "4242424242424242"),
                ("card[exp_month]", "1"),
                ("card[exp_year]", "2020"),
            ],
        )
        .await;
    assert_eq!(
        expired.error(402, "card_error")["code"],
        "invalid_expiry_year"
    );
    let tok = t
        .post(
            "/v1/payment_methods",
            &[("type", "card"), ("card[token]", "tok_mastercard")],
        )
        .await;
    assert_eq!(tok.ok()["card"]["brand"], "mastercard");

    let cus = t.create_customer(&[]).await;
    let cus_id = cus["id"].as_str().unwrap();
    let pm_id = pm["id"].as_str().unwrap();
    let attached = t
        .post(
            &format!("/v1/payment_methods/{pm_id}/attach"),
            &[("customer", cus_id)],
        )
        .await;
    assert_eq!(attached.ok()["customer"], cus_id);
    let listed = t
        .get(&format!("/v1/customers/{cus_id}/payment_methods"))
        .await;
    assert_eq!(listed.ok()["data"][0]["id"], pm_id);
    let set_default = t
        .post(
            &format!("/v1/customers/{cus_id}"),
            &[("invoice_settings[default_payment_method]", pm_id)],
        )
        .await;
    assert_eq!(
        set_default.ok()["invoice_settings"]["default_payment_method"],
        pm_id
    );
    let expanded = t
        .get(&format!(
            "/v1/customers/{cus_id}?expand[]=invoice_settings.default_payment_method"
        ))
        .await;
    assert_eq!(
        expanded.ok()["invoice_settings"]["default_payment_method"]["card"]["last4"],
        "4242"
    );

    // A declining card cannot be attached; an unattached one cannot be the default.
    let declined = t
        .post(
            "/v1/payment_methods",
            &[("type", "card"), ("card[token]", "tok_chargeDeclined")],
        )
        .await;
    let declined_id = declined.ok()["id"].as_str().unwrap().to_string();
    let e = t
        .post(
            &format!("/v1/payment_methods/{declined_id}/attach"),
            &[("customer", cus_id)],
        )
        .await;
    assert_eq!(
        e.error(402, "card_error")["decline_code"],
        "generic_decline"
    );
    let e = t
        .post(
            &format!("/v1/customers/{cus_id}"),
            &[("invoice_settings[default_payment_method]", &declined_id)],
        )
        .await;
    assert_eq!(
        e.error(400, "invalid_request_error")["param"],
        "invoice_settings[default_payment_method]"
    );

    let detached = t
        .post(&format!("/v1/payment_methods/{pm_id}/detach"), &[])
        .await;
    assert_eq!(detached.ok()["customer"], Value::Null);
    let c = t.get(&format!("/v1/customers/{cus_id}")).await;
    assert_eq!(
        c.ok()["invoice_settings"]["default_payment_method"],
        Value::Null,
        "detaching clears the default"
    );
    let types = t.event_types().await;
    assert!(
        types.contains(&"payment_method.attached".to_string())
            && types.contains(&"payment_method.detached".to_string())
    );
}

#[tokio::test]
async fn payment_method_data_creates_the_card_in_the_same_request() {
    let t = spawn_app().await;
    let ok = t
        .pay(&[
            ("payment_method_data[type]", "card"),
            ("payment_method_data[card][token]", "tok_visa"),
        ])
        .await;
    let pi = ok.ok().clone();
    assert_eq!(pi["status"], "succeeded");
    let pm = t
        .get(&format!(
            "/v1/payment_methods/{}",
            pi["payment_method"].as_str().unwrap()
        ))
        .await;
    assert_eq!(pm.ok()["card"]["last4"], "4242");

    let raw = [
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", "4000000000009995"),
        ("payment_method_data[card][exp_month]", "12"),
        ("payment_method_data[card][exp_year]", "2031"),
    ];
    let declined = t.pay(&raw).await;
    assert_eq!(
        declined.error(402, "card_error")["decline_code"],
        "insufficient_funds"
    );

    let bad_number = [
        ("payment_method_data[type]", "card"),
        ("payment_method_data[card][number]", "4242424242424241"),
        ("payment_method_data[card][exp_month]", "12"),
        ("payment_method_data[card][exp_year]", "2031"),
    ];
    let e = t.pay(&bad_number).await;
    assert_eq!(
        e.error(402, "card_error")["param"],
        "payment_method_data[card][number]"
    );
    let both = t
        .pay(&[
            ("payment_method", "pm_card_visa"),
            ("payment_method_data[type]", "card"),
            ("payment_method_data[card][token]", "tok_visa"),
        ])
        .await;
    assert_eq!(
        both.error(400, "invalid_request_error")["param"],
        "payment_method_data"
    );
    let no_type = t
        .pay(&[("payment_method_data[card][token]", "tok_visa")])
        .await;
    assert_eq!(
        no_type.error(400, "invalid_request_error")["param"],
        "payment_method_data[type]"
    );

    // Confirming later, and setting a card up, work the same way.
    let open = t
        .post(
            "/v1/payment_intents",
            &[("amount", "800"), ("currency", "usd")],
        )
        .await;
    let id = open.ok()["id"].as_str().unwrap().to_string();
    let confirmed = t
        .post(
            &format!("/v1/payment_intents/{id}/confirm"),
            &[
                ("payment_method_data[type]", "card"),
                ("payment_method_data[card][token]", "tok_mastercard"),
            ],
        )
        .await;
    assert_eq!(confirmed.ok()["status"], "succeeded");
    let si = t
        .post(
            "/v1/setup_intents",
            &[
                ("confirm", "true"),
                ("payment_method_data[type]", "card"),
                ("payment_method_data[card][token]", "tok_visa"),
            ],
        )
        .await;
    assert_eq!(si.ok()["status"], "succeeded");
    t.assert_ledger_sound().await;
}

#[tokio::test]
async fn deleting_a_customer_detaches_its_cards() {
    let t = spawn_app().await;
    let cus = t.create_customer(&[]).await;
    let cus_id = cus["id"].as_str().unwrap();
    let pm = t
        .post(
            "/v1/payment_methods",
            &[("type", "card"), ("card[token]", "tok_visa")],
        )
        .await;
    let pm_id = pm.ok()["id"].as_str().unwrap().to_string();
    t.post(
        &format!("/v1/payment_methods/{pm_id}/attach"),
        &[("customer", cus_id)],
    )
    .await
    .ok();
    t.delete(&format!("/v1/customers/{cus_id}")).await.ok();
    let after = t.get(&format!("/v1/payment_methods/{pm_id}")).await;
    assert_eq!(after.ok()["customer"], Value::Null);
    let detached = t.get("/v1/events?type=payment_method.detached").await;
    assert_eq!(
        detached.ok()["data"][0]["data"]["object"]["id"],
        pm_id.as_str()
    );
}

#[tokio::test]
async fn a_browser_confirms_with_a_publishable_key_and_the_client_secret() {
    let t = spawn_app().await;
    let pk = format!("Bearer {}", t.key_of(KeyKind::Publishable, &[]).await);
    let pi = t
        .post(
            "/v1/payment_intents",
            &[("amount", "1200"), ("currency", "eur")],
        )
        .await;
    let pi = pi.ok().clone();
    let id = pi["id"].as_str().unwrap();
    let secret = pi["client_secret"].as_str().unwrap();
    let form = |pairs: &[(&str, &str)]| {
        Some((
            "application/x-www-form-urlencoded",
            crate::support::form(pairs),
        ))
    };

    let pm_id = t.browser_card(&pk).await;
    let path = format!("/v1/payment_intents/{id}/confirm");
    let no_secret = t
        .send(
            Method::POST,
            &path,
            form(&[("payment_method", &pm_id)]),
            &[("authorization", &pk)],
        )
        .await;
    no_secret.error(404, "invalid_request_error");
    let wrong = t
        .send(
            Method::POST,
            &path,
            form(&[
                ("payment_method", &pm_id),
                ("client_secret", "pi_x_secret_y"),
            ]),
            &[("authorization", &pk)],
        )
        .await;
    wrong.error(404, "invalid_request_error");
    let ok = t
        .send(
            Method::POST,
            &path,
            form(&[("payment_method", &pm_id), ("client_secret", secret)]),
            &[("authorization", &pk)],
        )
        .await;
    assert_eq!(ok.ok()["status"], "succeeded");
    let read = t
        .send(
            Method::GET,
            &format!("/v1/payment_intents/{id}?client_secret={secret}"),
            None,
            &[("authorization", &pk)],
        )
        .await;
    assert_eq!(read.ok()["status"], "succeeded");
    t.send(
        Method::GET,
        "/v1/payment_intents",
        None,
        &[("authorization", &pk)],
    )
    .await
    .error(403, "permission_error");
    t.send(
        Method::POST,
        "/v1/refunds",
        form(&[("payment_intent", id)]),
        &[("authorization", &pk)],
    )
    .await
    .error(403, "permission_error");
    // A public key may not attach cards to customers.
    let cus = t.create_customer(&[]).await;
    let attach = form(&[
        ("type", "card"),
        ("card[token]", "tok_visa"),
        ("customer", cus["id"].as_str().unwrap()),
    ]);
    let e = t
        .send(
            Method::POST,
            "/v1/payment_methods",
            attach,
            &[("authorization", &pk)],
        )
        .await;
    assert_eq!(e.error(403, "permission_error")["param"], "customer");
}

#[tokio::test]
async fn amounts_follow_each_currencys_rules() {
    let t = spawn_app().await;
    let t = &t;
    let create = |amount: &'static str, currency: &'static str| async move {
        t.post(
            "/v1/payment_intents",
            &[("amount", amount), ("currency", currency)],
        )
        .await
    };
    assert_eq!(
        create("49", "usd")
            .await
            .error(400, "invalid_request_error")["code"],
        "amount_too_small"
    );
    assert_eq!(
        create("100000000", "usd")
            .await
            .error(400, "invalid_request_error")["code"],
        "amount_too_large"
    );
    assert_eq!(create("50", "jpy").await.ok()["amount"], 50);
    assert_eq!(
        create("1005", "kwd")
            .await
            .error(400, "invalid_request_error")["param"],
        "amount"
    );
    assert_eq!(create("1000", "KWD").await.ok()["currency"], "kwd");
    assert_eq!(
        create("100", "xyz")
            .await
            .error(400, "invalid_request_error")["param"],
        "currency"
    );
    let missing = t.post("/v1/payment_intents", &[("currency", "usd")]).await;
    assert_eq!(
        missing.error(400, "invalid_request_error")["code"],
        "parameter_missing"
    );
    let no_pm = t
        .post(
            "/v1/payment_intents",
            &[("amount", "500"), ("currency", "usd"), ("confirm", "true")],
        )
        .await;
    assert_eq!(
        no_pm.error(400, "invalid_request_error")["code"],
        "payment_intent_unexpected_state"
    );
    // The failed confirm left nothing half-written: no intent from that request.
    let all = t.get("/v1/payment_intents?limit=100").await;
    assert_eq!(all.ok()["data"].as_array().unwrap().len(), 2);
}
