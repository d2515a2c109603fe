//! Disputes on the sandbox: Stripe's dispute test cards open them as their charge is captured;
//! evidence decides them as in Stripe's test mode; the ledger follows the money.

use cashbox_core::api_key::KeyKind;
use reqwest::Method;
use serde_json::Value;

use crate::checkout::{pay, priced, session};
use crate::support::{TestApp, spawn_app};

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

async fn pay_with(t: &TestApp, pm: &str, amount: &str) -> Value {
    let pi = t
        .post(
            "/v1/payment_intents",
            &[
                ("amount", amount),
                ("currency", "usd"),
                ("payment_method", pm),
                ("confirm", "true"),
            ],
        )
        .await;
    pi.ok().clone()
}

async fn dispute_of(t: &TestApp, pi: &str) -> Value {
    let listed = t.get(&format!("/v1/disputes?payment_intent={pi}")).await;
    let data = listed.ok()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1, "one dispute: {data:?}");
    data[0].clone()
}

async fn ledger_is_sound(t: &TestApp) -> Vec<(String, String, i64)> {
    let report = t.app.check_ledger().await.unwrap();
    assert!(report.is_sound(), "{report:?}");
    t.app
        .store()
        .ledger_balances()
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.account, b.currency, b.amount_minor))
        .collect()
}

fn balance(balances: &[(String, String, i64)], account: &str) -> i64 {
    balances
        .iter()
        .find(|(a, c, _)| a == account && c == "usd")
        .map_or(0, |(_, _, amount)| *amount)
}

async fn count_events(t: &TestApp, kind: &str) -> usize {
    t.events_of_type(kind).await.len()
}

#[tokio::test]
async fn the_dispute_card_opens_a_chargeback_that_winning_evidence_wins() {
    let t = spawn_app().await;
    let pi = pay_with(&t, "pm_card_createDispute", "2000").await;
    assert_eq!(pi["status"], "succeeded");
    let d = dispute_of(&t, &s(&pi["id"])).await;
    assert_eq!(d["status"], "needs_response");
    assert_eq!(d["reason"], "fraudulent");
    assert_eq!(
        (d["amount"].as_i64(), d["currency"].as_str()),
        (Some(2000), Some("usd"))
    );
    assert_eq!(d["charge"], pi["latest_charge"]);
    assert_eq!(d["is_charge_refundable"], false);
    let charge = t
        .get(&format!("/v1/charges/{}", s(&pi["latest_charge"])))
        .await;
    assert_eq!(charge.ok()["disputed"], true);
    // The money is gone: amount and fee out of the processor's balance.
    let b = ledger_is_sound(&t).await;
    assert_eq!(balance(&b, "disputes"), 2000);
    assert_eq!(balance(&b, "dispute_fees"), 1500);
    assert_eq!(balance(&b, "processor_clearing"), 2000 - 3500);
    assert_eq!(count_events(&t, "charge.dispute.created").await, 1);
    assert_eq!(count_events(&t, "charge.dispute.funds_withdrawn").await, 1);
    // A disputed charge is not refunded on top of it.
    let refund = t
        .post(
            "/v1/refunds",
            &[("payment_intent", pi["id"].as_str().unwrap())],
        )
        .await;
    assert_eq!(
        refund.error(400, "invalid_request_error")["code"],
        "charge_disputed"
    );

    // Evidence staged, then submitted: under review, then won as Stripe's test mode decides.
    let id = s(&d["id"]);
    let staged = t
        .post(
            &format!("/v1/disputes/{id}"),
            &[
                ("evidence[customer_name]", "Jenny Rosen"),
                ("evidence[uncategorized_text]", "winning_evidence"),
                ("submit", "false"),
                ("metadata[case]", "17"),
            ],
        )
        .await;
    assert_eq!(staged.ok()["status"], "needs_response");
    assert_eq!(staged.ok()["evidence"]["customer_name"], "Jenny Rosen");
    assert_eq!(staged.ok()["metadata"]["case"], "17");
    let won = t
        .post(
            &format!("/v1/disputes/{id}"),
            &[("evidence[product_description]", "A course")],
        )
        .await;
    assert_eq!(won.ok()["status"], "won");
    assert_eq!(won.ok()["evidence_details"]["submission_count"], 1);
    let b = ledger_is_sound(&t).await;
    assert_eq!(balance(&b, "disputes"), 0);
    assert_eq!(balance(&b, "dispute_fees"), 0);
    assert_eq!(balance(&b, "processor_clearing"), 2000);
    assert_eq!(count_events(&t, "charge.dispute.funds_reinstated").await, 1);
    assert_eq!(count_events(&t, "charge.dispute.closed").await, 1);
    // Closed is closed.
    let again = t.post(&format!("/v1/disputes/{id}/close"), &[]).await;
    again.error(400, "invalid_request_error");
    let more = t
        .post(
            &format!("/v1/disputes/{id}"),
            &[("evidence[customer_name]", "Someone")],
        )
        .await;
    more.error(400, "invalid_request_error");
    assert_eq!(
        t.get(&format!("/v1/disputes/{id}")).await.ok()["status"],
        "won"
    );
    // A restricted key may be given disputes, to read only.
    let reader = t.key_of(KeyKind::Restricted, &["disputes:read"]).await;
    let auth = format!("Bearer {reader}");
    let read = t
        .send(
            Method::GET,
            "/v1/disputes",
            None,
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(read.ok()["data"][0]["id"], id.as_str());
    let write = t
        .send(
            Method::POST,
            &format!("/v1/disputes/{id}"),
            Some(("application/x-www-form-urlencoded", "metadata[a]=b".into())),
            &[("authorization", &auth)],
        )
        .await;
    write.error(403, "permission_error");
}

#[tokio::test]
async fn a_lost_dispute_of_a_one_time_purchase_takes_back_what_it_granted() {
    let t = spawn_app().await;
    let (product, price) = priced(&t, "Rust course", "4900", false).await;
    let feature = t
        .post(
            "/v1/entitlements/features",
            &[("name", "Course"), ("lookup_key", "rust-course")],
        )
        .await;
    t.post(
        &format!("/v1/products/{product}/features"),
        &[("entitlement_feature", feature.ok()["id"].as_str().unwrap())],
    )
    .await
    .ok();
    let cs = session(
        &t,
        &[
            ("mode", "payment"),
            ("customer_creation", "always"),
            ("line_items[0][price]", &price),
            ("line_items[0][quantity]", "1"),
        ],
    )
    .await;
    let done = pay(&t, &cs, "4000 0000 0000 0259", &[]).await;
    assert_eq!(done.status.as_u16(), 303, "{:?}", done.body);
    let cs = t
        .get(&format!("/v1/checkout/sessions/{}", s(&cs["id"])))
        .await;
    let customer = s(&cs.ok()["customer"]);
    let pi = s(&cs.ok()["payment_intent"]);
    let entitled = format!("/v1/entitlements/active_entitlements?customer={customer}");
    assert_eq!(
        t.get(&entitled).await.ok()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let d = dispute_of(&t, &pi).await;
    // Accepting it: lost, and the course is taken back.
    let lost = t
        .post(&format!("/v1/disputes/{}/close", s(&d["id"])), &[])
        .await;
    assert_eq!(lost.ok()["status"], "lost");
    assert_eq!(
        t.get(&entitled).await.ok()["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let b = ledger_is_sound(&t).await;
    assert_eq!(balance(&b, "disputes"), 4900);
    assert_eq!(balance(&b, "dispute_fees"), 1500);
    assert_eq!(count_events(&t, "charge.dispute.funds_reinstated").await, 0);
}

#[tokio::test]
async fn an_inquiry_moves_no_money_and_closes_after_review() {
    let t = spawn_app().await;
    let pi = pay_with(&t, "pm_card_createDisputeInquiry", "1200").await;
    let d = dispute_of(&t, &s(&pi["id"])).await;
    assert_eq!(d["status"], "warning_needs_response");
    assert_eq!(d["payment_method_details"]["card"]["case_type"], "inquiry");
    assert_eq!(d["is_charge_refundable"], true);
    let b = ledger_is_sound(&t).await;
    assert_eq!(balance(&b, "disputes"), 0);
    assert_eq!(count_events(&t, "charge.dispute.funds_withdrawn").await, 0);
    let charge = t
        .get(&format!("/v1/charges/{}", s(&pi["latest_charge"])))
        .await;
    assert_eq!(charge.ok()["disputed"], false);
    let answered = t
        .post(
            &format!("/v1/disputes/{}", s(&d["id"])),
            &[("evidence[uncategorized_text]", "Delivered on time.")],
        )
        .await;
    assert_eq!(answered.ok()["status"], "warning_closed");
}

#[tokio::test]
async fn a_held_payment_is_disputed_when_captured_and_bad_evidence_changes_nothing() {
    let t = spawn_app().await;
    let pi = t
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "3000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_createDispute"),
                ("capture_method", "manual"),
                ("confirm", "true"),
            ],
        )
        .await;
    let id = s(&pi.ok()["id"]);
    let none = t.get(&format!("/v1/disputes?payment_intent={id}")).await;
    assert_eq!(
        none.ok()["data"].as_array().unwrap().len(),
        0,
        "nothing captured yet"
    );
    t.post(
        &format!("/v1/payment_intents/{id}/capture"),
        &[("amount_to_capture", "2500")],
    )
    .await
    .ok();
    let d = dispute_of(&t, &id).await;
    assert_eq!(d["amount"], 2500);
    let path = format!("/v1/disputes/{}", s(&d["id"]));
    for bad in [
        ("evidence[receipt]", "file_123"),
        ("evidence[favourite_colour]", "red"),
    ] {
        let r = t.post(&path, &[bad]).await;
        assert_eq!(
            r.error(400, "invalid_request_error")["param"],
            bad.0,
            "{bad:?}"
        );
    }
    let long = "x".repeat(20_001);
    let r = t
        .post(&path, &[("evidence[uncategorized_text]", long.as_str())])
        .await;
    r.error(400, "invalid_request_error");
    let now = t.get(&path).await;
    assert_eq!(now.ok()["status"], "needs_response");
    assert_eq!(now.ok()["evidence_details"]["has_evidence"], false);
    assert_eq!(count_events(&t, "charge.dispute.updated").await, 0);
    t.get("/v1/disputes/dp_nothing")
        .await
        .error(404, "invalid_request_error");
    ledger_is_sound(&t).await;
}
