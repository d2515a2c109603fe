//! The differential test: the use cases that run in fast transactions (deferred on SQLite,
//! buffered on PostgreSQL: a payment's outcome, the billing run's renewals and retries) run
//! once with them and once in ordinary transactions only, from the same start, on the same
//! clock and key ring; every row of every table and every object the API shows must be the
//! same, ids aside. A fast transaction made to lose a write on purpose must be caught.

use std::collections::BTreeMap;

use crate::billing::{Billing, T0};
use crate::support::{AppOptions, TestApp, spawn_full};
use crate::usage;

fn fixed_clock() -> i64 {
    T0
}

/// What a run left: its tables' plain rows and the API's objects, ids and random tokens
/// masked, each list sorted.
type Outcome = BTreeMap<String, Vec<String>>;

/// `text` with every run of 14 or more letters and digits (the random part of ids, secrets,
/// tokens and request ids) and every invoice prefix (8 capitals and digits, drawn at random per customer)
/// as `*`, and the server's address (its port) as `BASE`.
fn masked(text: &str, base: &str) -> String {
    let text = text.replace(base, "BASE");
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let prefix = run.len() == 8
            && run
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if run.len() >= 14 || prefix {
            out.push('*');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

async fn run(options: AppOptions, lose_writes: bool) -> (TestApp, Outcome) {
    let t = spawn_full(cashbox_http::HttpConfig::default(), options).await;
    if lose_writes {
        t.app.lose_writes_in_fast_transactions();
    }
    let b = Billing::with(t, Some("pm_card_visa")).await;
    // Every event goes to the webhook outbox (by trigger) while an endpoint exists.
    b.t.post(
        "/v1/webhook_endpoints",
        &[
            ("url", "http://127.0.0.1:9/hook"),
            ("enabled_events[]", "*"),
        ],
    )
    .await
    .ok();
    // Payments: one paid, one declined, one refunded in part.
    let paid =
        b.t.post(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("customer", &b.customer),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(paid.ok()["status"], "succeeded");
    let paid = paid.ok()["id"].as_str().unwrap().to_string();
    let declined =
        b.t.post(
            "/v1/payment_intents",
            &[
                ("amount", "3000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_chargeDeclined"),
                ("confirm", "true"),
            ],
        )
        .await;
    declined.error(402, "card_error");
    b.t.post(
        "/v1/refunds",
        &[("payment_intent", &paid), ("amount", "500")],
    )
    .await
    .ok();
    // Subscriptions renewed by the billing run: three months of one, a declined renewal and
    // its retries for another customer.
    let price = b.price(1_500).await;
    // A licensed and a metered item: the renewals bill the usage recorded in between.
    let meter = usage::meter(&b, "api_calls", "sum").await;
    let metered = usage::metered_price(&b, &meter, &[("unit_amount", "3")]).await;
    b.subscribe(&[("items[0][price]", &price), ("items[1][price]", &metered)])
        .await;
    let record_usage = |(i, (value, day)): (usize, (i64, i64))| {
        let b = &b;
        async move {
            b.advance(T0 + day * 86_400).await;
            usage::usage(b, "api_calls", value, T0 + day * 86_400, &format!("u{i}"))
                .await
                .ok();
        }
    };
    let card =
        b.t.create_customer(&[
            ("email", "failing@example.com"),
            ("test_clock", &b.clock),
            ("payment_method", "pm_card_visa"),
        ])
        .await;
    let failing = card["id"].as_str().unwrap().to_string();
    let sub =
        b.t.post(
            "/v1/subscriptions",
            &[("customer", &failing), ("items[0][price]", &price)],
        )
        .await;
    assert_eq!(sub.ok()["status"], "active");
    let declining =
        b.t.post(
            "/v1/payment_methods/pm_card_chargeCustomerFail/attach",
            &[("customer", &failing)],
        )
        .await;
    let declining = declining.ok()["id"].as_str().unwrap().to_string();
    b.t.post(
        &format!("/v1/customers/{failing}"),
        &[("invoice_settings[default_payment_method]", &declining)],
    )
    .await
    .ok();
    for usage in [(40, 3), (7, 20), (12, 45)].into_iter().enumerate() {
        record_usage(usage).await;
    }
    b.advance(T0 + 95 * 86_400).await;

    let mut outcome = Outcome::new();
    for (table, rows) in cashbox_store::testing::plain_rows(b.t.app.store())
        .await
        .unwrap()
    {
        let mut rows: Vec<String> = rows.iter().map(|r| masked(r, &b.t.base)).collect();
        rows.sort();
        outcome.insert(format!("table {table}"), rows);
    }
    for list in [
        "/v1/payment_intents?limit=100",
        "/v1/charges?limit=100",
        "/v1/refunds?limit=100",
        "/v1/invoices?limit=100",
        "/v1/subscriptions?status=all&limit=100",
        "/v1/customers?limit=100",
        "/v1/events?limit=100",
    ] {
        let r = b.t.get(list).await;
        let data = r.ok()["data"].as_array().unwrap();
        assert!(data.len() < 100, "{list}: everything on one page");
        let mut objects: Vec<String> = data
            .iter()
            .map(|o| masked(&o.to_string(), &b.t.base))
            .collect();
        objects.sort();
        outcome.insert(list.to_string(), objects);
    }
    (b.t, outcome)
}

/// The first difference between two outcomes, if any.
fn difference(fast: &Outcome, ordinary: &Outcome) -> Option<String> {
    for (what, rows) in fast {
        let other = ordinary.get(what).map(Vec::as_slice).unwrap_or_default();
        if rows.as_slice() != other {
            let only_fast: Vec<&String> = rows.iter().filter(|r| !other.contains(r)).collect();
            let only_ordinary: Vec<&String> = other.iter().filter(|r| !rows.contains(r)).collect();
            // Where the first pair parts, with some context on either side.
            let parting = match (only_fast.first(), only_ordinary.first()) {
                (Some(a), Some(b)) => {
                    let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
                    let from = at.saturating_sub(200);
                    let window = |s: &str| {
                        s.get(from..(at + 200).min(s.len()))
                            .unwrap_or(s)
                            .to_string()
                    };
                    format!("\n  with:    …{}…\n  without: …{}…", window(a), window(b))
                }
                _ => String::new(),
            };
            return Some(format!(
                "{what}: {} rows with fast transactions, {} without; {} and {} differ{parting}",
                rows.len(),
                other.len(),
                only_fast.len(),
                only_ordinary.len()
            ));
        }
    }
    ordinary
        .keys()
        .find(|k| !fast.contains_key(*k))
        .map(|k| format!("{k}: only without fast transactions"))
}

fn options(ring: &str, ordinary: bool) -> AppOptions {
    AppOptions {
        clock: Some(fixed_clock),
        ring_entry: Some(ring.to_string()),
        ordinary_transactions_only: ordinary,
        ..AppOptions::default()
    }
}

#[tokio::test]
async fn fast_transactions_write_what_ordinary_ones_write() {
    let ring = cashbox_core::crypto::KeyRing::generate_entry("diff").to_string();
    let (fast_app, fast) = run(options(&ring, false), false).await;
    let (_, ordinary) = run(options(&ring, true), false).await;
    if let Some(d) = difference(&fast, &ordinary) {
        panic!("fast and ordinary transactions differ: {d}");
    }
    let report = fast_app.app.check_ledger().await.unwrap();
    assert!(report.is_sound(), "{report:?}");
}

/// Also shows that both runs above are what they say: the scenario takes fast transactions
/// (losing their writes changes what it leaves), and a run in ordinary transactions only
/// takes none (losing writes of fast transactions changes nothing there).
#[tokio::test]
async fn a_fast_transaction_that_loses_a_write_is_caught() {
    let ring = cashbox_core::crypto::KeyRing::generate_entry("diff").to_string();
    let (_, broken) = run(options(&ring, false), true).await;
    let (_, ordinary) = run(options(&ring, true), false).await;
    let found = difference(&broken, &ordinary);
    assert!(found.is_some(), "a lost write went unnoticed");
    let (_, ordinary_told_to_lose) = run(options(&ring, true), true).await;
    let found = difference(&ordinary_told_to_lose, &ordinary);
    assert!(found.is_none(), "{found:?}");
}
