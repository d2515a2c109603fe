//! Random sequences of payments, captures, refunds and cancels; after every step the ledger
//! balances per currency, matches the charges and refunds, and no charge is over-refunded.

use cashbox_app::{App, RequestCtx};
use cashbox_core::crypto::KeyRing;
use cashbox_core::payments::{
    PaymentIntentCancelParams, PaymentIntentCaptureParams, PaymentIntentCreateParams,
    RefundCreateParams,
};
use cashbox_store::testing::{fresh_database_url, remove_test_database};
use proptest::prelude::*;
use serde_json::Value;

use crate::support::build_app;

#[derive(Debug, Clone)]
enum Op {
    Pay {
        amount: i64,
        currency: &'static str,
        card: &'static str,
        manual: bool,
    },
    Capture {
        which: usize,
        per_mille: i64,
    },
    Refund {
        which: usize,
        amount: Option<i64>,
    },
    Cancel {
        which: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (50i64..5_000, prop::sample::select(vec!["usd", "eur", "jpy"]),
              prop::sample::select(vec!["pm_card_visa", "pm_card_visa", "pm_card_chargeDeclined", "pm_card_authenticationRequired"]),
              any::<bool>())
            .prop_map(|(amount, currency, card, manual)| Op::Pay { amount, currency, card, manual }),
        2 => (0usize..8, 1i64..=1000).prop_map(|(which, per_mille)| Op::Capture { which, per_mille }),
        3 => (0usize..8, prop::option::of(1i64..3_000)).prop_map(|(which, amount)| Op::Refund { which, amount }),
        1 => (0usize..8).prop_map(|which| Op::Cancel { which }),
    ]
}

async fn apply(app: &App, intents: &mut Vec<Value>, op: &Op) {
    let ctx = RequestCtx::default();
    let pick =
        |which: usize, intents: &Vec<Value>| intents.get(which % intents.len().max(1)).cloned();
    match op {
        Op::Pay {
            amount,
            currency,
            card,
            manual,
        } => {
            let params = PaymentIntentCreateParams {
                amount: Some(*amount),
                currency: Some(currency.to_string()),
                payment_method: Some(card.to_string()),
                confirm: Some(true),
                capture_method: manual.then_some(cashbox_core::payments::CaptureMethod::Manual),
                ..Default::default()
            };
            match app.payment_intents().create(&ctx, params, &[]).await {
                Ok(pi) => intents.push(pi),
                Err(cashbox_app::AppError::Card { body }) => {
                    intents.push(body["error"]["payment_intent"].clone())
                }
                Err(e) => panic!("paying failed unexpectedly: {e}"),
            }
        }
        Op::Capture { which, per_mille } => {
            if let Some(pi) = pick(*which, intents) {
                let id = pi["id"].as_str().unwrap();
                let amount = (pi["amount"].as_i64().unwrap() * per_mille / 1000).max(1);
                let params = PaymentIntentCaptureParams {
                    amount_to_capture: Some(amount),
                    ..Default::default()
                };
                let _ = app.payment_intents().capture(&ctx, id, params, &[]).await;
            }
        }
        Op::Refund { which, amount } => {
            if let Some(pi) = pick(*which, intents) {
                let params = RefundCreateParams {
                    payment_intent: Some(pi["id"].as_str().unwrap().to_string()),
                    amount: *amount,
                    ..Default::default()
                };
                let _ = app.refunds().create(&ctx, params, &[]).await;
            }
        }
        Op::Cancel { which } => {
            if let Some(pi) = pick(*which, intents) {
                let id = pi["id"].as_str().unwrap();
                let _ = app
                    .payment_intents()
                    .cancel(&ctx, id, PaymentIntentCancelParams::default(), &[])
                    .await;
            }
        }
    }
}

async fn check(app: &App) {
    let report = app.check_ledger().await.unwrap();
    assert!(report.is_sound(), "{report:?}");
    let charges = app
        .charges()
        .list(
            &serde_json::from_value(serde_json::json!({"limit": 100})).unwrap(),
            &[],
        )
        .await
        .unwrap();
    for c in charges.data {
        let (captured, refunded) = (
            c["amount_captured"].as_i64().unwrap(),
            c["amount_refunded"].as_i64().unwrap(),
        );
        assert!(
            refunded <= captured,
            "charge {} refunded {refunded} of {captured}",
            c["id"]
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn the_ledger_stays_sound(ops in prop::collection::vec(op(), 1..14)) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let url = fresh_database_url().await.unwrap();
            let ring = KeyRing::generate_entry("p1").to_string();
            let (app, _) = build_app(&url, &ring).await;
            let mut intents = Vec::new();
            for op in &ops {
                apply(&app, &mut intents, op).await;
                check(&app).await;
            }
            app.store().close().await;
            remove_test_database(&url);
        });
    }
}
