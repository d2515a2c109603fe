//! Random sequences of what a subscriber and an application do to a subscription (changes of
//! quantity, cancellation at the period's end and its undoing, a card that starts failing or
//! works again, paying what is open, cancelling now) and clock advances. After every step:
//! each period is invoiced once, the ledger balances, and every status change is one Stripe
//! makes.

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::Value;

use crate::billing::{Billing, T0};
use crate::support::spawn_app;

#[derive(Debug, Clone)]
enum Op {
    Advance { days: i64 },
    Quantity { quantity: u8 },
    CancelAtPeriodEnd { cancel: bool },
    Card { failing: bool },
    PayOpen,
    CancelNow,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1i64..45).prop_map(|days| Op::Advance { days }),
        2 => (1u8..5).prop_map(|quantity| Op::Quantity { quantity }),
        1 => any::<bool>().prop_map(|cancel| Op::CancelAtPeriodEnd { cancel }),
        4 => any::<bool>().prop_map(|failing| Op::Card { failing }),
        2 => Just(Op::PayOpen),
        1 => Just(Op::CancelNow),
    ]
}

/// The status changes Stripe makes (from, to).
fn allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("incomplete", "active" | "incomplete_expired" | "canceled")
            | (
                "trialing",
                "active" | "past_due" | "unpaid" | "canceled" | "paused"
            )
            | ("active", "past_due" | "unpaid" | "canceled" | "paused")
            | ("past_due", "active" | "unpaid" | "canceled")
            | ("unpaid", "active" | "canceled")
            | ("paused", "active" | "canceled")
    )
}

struct World {
    b: Billing,
    sub: String,
    item: String,
    clock_time: i64,
    cards: (String, String),
}

async fn apply(w: &mut World, op: &Op) {
    let t = &w.b.t;
    match op {
        Op::Advance { days } => {
            w.clock_time += days * 86_400;
            w.b.advance(w.clock_time).await;
        }
        Op::Quantity { quantity } => {
            // Refused once the subscription has ended; either answer leaves a sound state.
            t.post(
                &format!("/v1/subscriptions/{}", w.sub),
                &[
                    ("items[0][id]", &w.item),
                    ("items[0][quantity]", &quantity.to_string()),
                ],
            )
            .await;
        }
        Op::CancelAtPeriodEnd { cancel } => {
            t.post(
                &format!("/v1/subscriptions/{}", w.sub),
                &[("cancel_at_period_end", &cancel.to_string())],
            )
            .await;
        }
        Op::Card { failing } => {
            let card = if *failing { &w.cards.1 } else { &w.cards.0 };
            t.post(
                &format!("/v1/customers/{}", w.b.customer),
                &[("invoice_settings[default_payment_method]", card)],
            )
            .await
            .ok();
        }
        Op::PayOpen => {
            let open = t
                .get(&format!(
                    "/v1/invoices?customer={}&status=open",
                    w.b.customer
                ))
                .await;
            for inv in open.ok()["data"].as_array().unwrap().clone() {
                t.post(
                    &format!("/v1/invoices/{}/pay", inv["id"].as_str().unwrap()),
                    &[("payment_method", &w.cards.0)],
                )
                .await;
            }
        }
        Op::CancelNow => {
            t.delete(&format!("/v1/subscriptions/{}", w.sub)).await;
        }
    }
}

async fn check(w: &World) {
    let t = &w.b.t;
    // Each period of the subscription is invoiced once (prorations aside).
    let invoices = t
        .get(&format!("/v1/invoices?subscription={}&limit=100", w.sub))
        .await;
    let mut periods = HashSet::new();
    for inv in invoices.ok()["data"].as_array().unwrap() {
        if inv["status"] == "void" {
            continue;
        }
        for line in inv["lines"]["data"].as_array().unwrap() {
            if line["proration"] == false && line["subscription"] == w.sub.as_str() {
                let start = line["period"]["start"].as_i64().unwrap();
                assert!(
                    periods.insert(start),
                    "the period from {start} is invoiced twice: {}",
                    inv["id"]
                );
            }
        }
    }
    // Every status change is one Stripe makes.
    let events: Vec<Value> = t
        .events_of_type("customer.subscription.updated")
        .await
        .into_iter()
        .chain(t.events_of_type("customer.subscription.deleted").await)
        .collect();
    for e in events {
        let to = e["data"]["object"]["status"].as_str().unwrap();
        if let Some(from) = e["data"]["previous_attributes"]["status"].as_str() {
            assert!(allowed(from, to), "{from} → {to} in {}", e["id"]);
        }
    }
    let report = t.app.check_ledger().await.unwrap();
    assert!(report.is_sound(), "{report:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn a_subscription_is_invoiced_once_per_period_and_changes_status_as_stripe_does(
        ops in prop::collection::vec(op(), 1..14),
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let b = Billing::with(spawn_app().await, Some("pm_card_visa")).await;
            let card = |id: &'static str| {
                let b = &b;
                async move {
                    let r = b
                        .t
                        .post(
                            &format!("/v1/payment_methods/{id}/attach"),
                            &[("customer", &b.customer)],
                        )
                        .await;
                    r.ok()["id"].as_str().unwrap().to_string()
                }
            };
            let cards = (card("pm_card_visa").await, card("pm_card_chargeCustomerFail").await);
            let price = b.price(1_000).await;
            let sub = b.subscribe(&[("items[0][price]", &price)]).await;
            assert_eq!(sub["status"], "active");
            let mut w = World {
                sub: sub["id"].as_str().unwrap().to_string(),
                item: sub["items"]["data"][0]["id"].as_str().unwrap().to_string(),
                clock_time: T0,
                cards,
                b,
            };
            for op in &ops {
                apply(&mut w, op).await;
                check(&w).await;
            }
        });
    }
}
