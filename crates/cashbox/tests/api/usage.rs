//! Meters, meter events and usage-based prices through the API, on test clocks.

use serde_json::{Value, json};

use crate::billing::{Billing, DAY, T0, amounts};

/// April 2027 has 30 days: the first monthly period ends here.
const MAY1: i64 = T0 + 30 * DAY;
const GRACE: i64 = 3_600;

pub(crate) async fn meter(b: &Billing, event_name: &str, formula: &str) -> String {
    let r =
        b.t.post(
            "/v1/billing/meters",
            &[
                ("display_name", event_name),
                ("event_name", event_name),
                ("default_aggregation[formula]", formula),
            ],
        )
        .await;
    r.ok()["id"].as_str().unwrap().to_string()
}

/// A monthly metered price on `meter`, with extra price parameters.
pub(crate) async fn metered_price(b: &Billing, meter: &str, extra: &[(&str, &str)]) -> String {
    let product = b.t.post("/v1/products", &[("name", "Usage")]).await;
    let product = product.ok()["id"].as_str().unwrap().to_string();
    let mut pairs = vec![
        ("product", product.as_str()),
        ("currency", "usd"),
        ("recurring[interval]", "month"),
        ("recurring[usage_type]", "metered"),
        ("recurring[meter]", meter),
    ];
    pairs.extend_from_slice(extra);
    let price = b.t.post("/v1/prices", &pairs).await;
    price.ok()["id"].as_str().unwrap().to_string()
}

pub(crate) async fn usage(
    b: &Billing,
    event: &str,
    value: i64,
    ts: i64,
    id: &str,
) -> crate::support::Resp {
    b.t.post(
        "/v1/billing/meter_events",
        &[
            ("event_name", event),
            ("payload[stripe_customer_id]", &b.customer),
            ("payload[value]", &value.to_string()),
            ("timestamp", &ts.to_string()),
            ("identifier", id),
        ],
    )
    .await
}

fn usage_line<'a>(inv: &'a Value, price: &str) -> &'a Value {
    inv["lines"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["pricing"]["price_details"]["price"] == price || l["price"]["id"] == price)
        .unwrap_or_else(|| panic!("no line for {price} in {inv}"))
}

#[tokio::test]
async fn meters_are_created_listed_updated_and_deactivated() {
    let b = Billing::new(None).await;
    let id = meter(&b, "api_calls", "count").await;
    let m = b.t.get(&format!("/v1/billing/meters/{id}")).await;
    let m = m.ok();
    assert_eq!(m["object"], "billing.meter");
    assert_eq!(m["default_aggregation"]["formula"], "count");
    assert_eq!(
        m["customer_mapping"]["event_payload_key"],
        "stripe_customer_id"
    );
    assert_eq!(m["value_settings"]["event_payload_key"], "value");
    assert_eq!(m["status"], "active");

    // An event name belongs to one meter.
    let again =
        b.t.post(
            "/v1/billing/meters",
            &[
                ("display_name", "again"),
                ("event_name", "api_calls"),
                ("default_aggregation[formula]", "sum"),
            ],
        )
        .await;
    assert_eq!(
        again.error(400, "invalid_request_error")["param"],
        "event_name"
    );
    let missing =
        b.t.post(
            "/v1/billing/meters",
            &[("display_name", "x"), ("event_name", "x")],
        )
        .await;
    assert_eq!(
        missing.error(400, "invalid_request_error")["param"],
        "default_aggregation[formula]"
    );

    let renamed =
        b.t.post(
            &format!("/v1/billing/meters/{id}"),
            &[("display_name", "API calls")],
        )
        .await;
    assert_eq!(renamed.ok()["display_name"], "API calls");
    let off =
        b.t.post(&format!("/v1/billing/meters/{id}/deactivate"), &[])
            .await;
    assert_eq!(off.ok()["status"], "inactive");
    assert!(off.ok()["status_transitions"]["deactivated_at"].is_i64());
    // An inactive meter refuses events.
    let refused = usage(&b, "api_calls", 1, T0, "e1").await;
    assert_eq!(
        refused.error(400, "invalid_request_error")["code"],
        "billing_meter_inactive"
    );
    let inactive = b.t.get("/v1/billing/meters?status=inactive").await;
    assert_eq!(inactive.ok()["data"][0]["id"], id.as_str());
    let active = b.t.get("/v1/billing/meters?status=active").await;
    assert_eq!(active.ok()["data"].as_array().unwrap().len(), 0);
    let on =
        b.t.post(&format!("/v1/billing/meters/{id}/reactivate"), &[])
            .await;
    assert_eq!(on.ok()["status"], "active");
    assert_eq!(
        b.t.events_of_type("billing.meter.deactivated").await.len(),
        1
    );
    assert_eq!(
        b.t.events_of_type("billing.meter.reactivated").await.len(),
        1
    );
}

#[tokio::test]
async fn meter_events_are_checked_counted_once_and_summarized() {
    let b = Billing::new(None).await;
    let id = meter(&b, "tokens", "sum").await;
    let first = usage(&b, "tokens", 25, T0 - 60, "evt-1").await;
    let first = first.ok();
    assert_eq!(first["object"], "billing.meter_event");
    assert_eq!(first["identifier"], "evt-1");
    assert_eq!(first["payload"]["value"], "25");
    assert_eq!(first["timestamp"], T0 - 60);

    // The same identifier is counted once.
    let dup = usage(&b, "tokens", 25, T0 - 60, "evt-1").await;
    assert_eq!(
        dup.error(400, "invalid_request_error")["code"],
        "meter_event_duplicate"
    );
    // Timestamps are measured against the customer's clock: 35 days back, 5 minutes ahead.
    let old = usage(&b, "tokens", 1, T0 - 36 * DAY, "evt-old").await;
    assert_eq!(
        old.error(400, "invalid_request_error")["code"],
        "timestamp_too_far_in_past"
    );
    let ahead = usage(&b, "tokens", 1, T0 + 301, "evt-ahead").await;
    assert_eq!(
        ahead.error(400, "invalid_request_error")["code"],
        "timestamp_in_future"
    );
    let frac = usage(&b, "tokens", 1, T0, "evt-frac").await;
    assert!(frac.ok()["identifier"] == "evt-frac");
    let bad_value =
        b.t.post(
            "/v1/billing/meter_events",
            &[
                ("event_name", "tokens"),
                ("payload[stripe_customer_id]", &b.customer),
                ("payload[value]", "1.5"),
            ],
        )
        .await;
    assert_eq!(
        bad_value.error(400, "invalid_request_error")["param"],
        "payload[value]"
    );
    let stranger =
        b.t.post(
            "/v1/billing/meter_events",
            &[
                ("event_name", "tokens"),
                ("payload[stripe_customer_id]", "cus_nobody"),
                ("payload[value]", "1"),
            ],
        )
        .await;
    assert_eq!(
        stranger.error(400, "invalid_request_error")["param"],
        "payload[stripe_customer_id]"
    );
    let unknown =
        b.t.post(
            "/v1/billing/meter_events",
            &[("event_name", "nope"), ("payload[value]", "1")],
        )
        .await;
    assert_eq!(
        unknown.error(400, "invalid_request_error")["param"],
        "event_name"
    );

    // One more in the next hour, then a cancel of it.
    b.advance(T0 + 7_200).await;
    usage(&b, "tokens", 100, T0 + 3_600 + 5, "evt-2").await.ok();
    let adj =
        b.t.post(
            "/v1/billing/meter_event_adjustments",
            &[
                ("event_name", "tokens"),
                ("type", "cancel"),
                ("cancel[identifier]", "evt-2"),
            ],
        )
        .await;
    assert_eq!(adj.ok()["status"], "complete");
    let twice =
        b.t.post(
            "/v1/billing/meter_event_adjustments",
            &[("event_name", "tokens"), ("cancel[identifier]", "evt-2")],
        )
        .await;
    assert_eq!(
        twice.error(400, "invalid_request_error")["param"],
        "cancel[identifier]"
    );
    usage(&b, "tokens", 7, T0 + 3_600 + 9, "evt-3").await.ok();

    let whole =
        b.t.get(&format!(
            "/v1/billing/meters/{id}/event_summaries?customer={}&start_time={}&end_time={}",
            b.customer,
            T0 - 3_600,
            T0 + 7_200
        ))
        .await;
    let whole = whole.ok();
    assert_eq!(whole["data"].as_array().unwrap().len(), 1);
    assert_eq!(whole["data"][0]["aggregated_value"], 25 + 1 + 7);
    assert_eq!(whole["data"][0]["object"], "billing.meter_event_summary");
    let hourly = b
        .t
        .get(&format!(
            "/v1/billing/meters/{id}/event_summaries?customer={}&start_time={}&end_time={}&value_grouping_window=hour",
            b.customer,
            T0 - 3_600,
            T0 + 7_200
        ))
        .await;
    let values: Vec<(i64, i64)> = hourly.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["start_time"].as_i64().unwrap(),
                s["aggregated_value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(values, vec![(T0 + 3_600, 7), (T0, 1), (T0 - 3_600, 25)]);
    let misaligned = b
        .t
        .get(&format!(
            "/v1/billing/meters/{id}/event_summaries?customer={}&start_time={}&end_time={}&value_grouping_window=hour",
            b.customer,
            T0 - 60,
            T0 + 7_200
        ))
        .await;
    assert_eq!(
        misaligned.error(400, "invalid_request_error")["param"],
        "start_time"
    );
    // Found by a probe: times near i64's ends overflowed `end - start`, and the windows
    // were then allocated without bound (one request could exhaust memory).
    let far = i64::MAX - i64::MAX.rem_euclid(86_400);
    for (start, end, param) in [(-far, far, "start_time"), (0, far, "end_time")] {
        for window in [
            "",
            "&value_grouping_window=hour",
            "&value_grouping_window=day",
        ] {
            let r = b
                .t
                .get(&format!(
                    "/v1/billing/meters/{id}/event_summaries?customer={}&start_time={start}&end_time={end}{window}",
                    b.customer,
                ))
                .await;
            assert_eq!(r.error(400, "invalid_request_error")["param"], param);
        }
    }
}

#[tokio::test]
async fn the_batch_endpoint_records_or_refuses_each_event() {
    let b = Billing::new(None).await;
    let id = meter(&b, "tokens", "sum").await;
    let mut events: Vec<Value> = (0..50)
        .map(|i| {
            json!({"event_name": "tokens", "identifier": format!("b-{i}"), "timestamp": T0 - 10,
                   "payload": {"stripe_customer_id": b.customer, "value": "2"}})
        })
        .collect();
    events.push(
        json!({"event_name": "tokens", "identifier": "b-3", "timestamp": T0 - 10,
        "payload": {"stripe_customer_id": b.customer, "value": "2"}}),
    );
    events.push(json!({"event_name": "tokens", "identifier": "b-x",
        "payload": {"stripe_customer_id": b.customer, "value": "two"}}));
    let r =
        b.t.post_json(
            "/v1/billing/meter_events/batch",
            json!({ "events": events }),
        )
        .await;
    let r = r.ok();
    assert_eq!(
        (r["recorded"].as_i64(), r["refused"].as_i64()),
        (Some(50), Some(2))
    );
    assert_eq!(r["data"][0]["identifier"], "b-0");
    assert_eq!(r["data"][50]["error"]["code"], "meter_event_duplicate");
    assert_eq!(r["data"][51]["error"]["param"], "payload[value]");
    let sum =
        b.t.get(&format!(
            "/v1/billing/meters/{id}/event_summaries?customer={}&start_time={}&end_time={}",
            b.customer,
            T0 - 60,
            T0
        ))
        .await;
    assert_eq!(sum.ok()["data"][0]["aggregated_value"], 100);
    let too_many: Vec<Value> = (0..1001).map(|_| json!({"event_name": "tokens"})).collect();
    let big =
        b.t.post_json(
            "/v1/billing/meter_events/batch",
            json!({ "events": too_many }),
        )
        .await;
    assert_eq!(big.error(400, "invalid_request_error")["param"], "events");
}

/// The AI assistant's plan: 1,000 cents a month, 0.05 cents a token, 5 cents a minute.
#[tokio::test]
async fn a_renewal_invoices_exactly_the_rated_usage_once() {
    let b = Billing::new(Some("pm_card_visa")).await;
    let tokens = meter(&b, "tokens", "sum").await;
    let minutes = meter(&b, "minutes", "sum").await;
    let base = b.price(1_000).await;
    let per_token = metered_price(&b, &tokens, &[("unit_amount_decimal", "0.05")]).await;
    let per_minute = metered_price(&b, &minutes, &[("unit_amount", "5")]).await;
    let sub = b
        .subscribe(&[
            ("items[0][price]", &base),
            ("items[1][price]", &per_token),
            ("items[2][price]", &per_minute),
        ])
        .await;
    let id = sub["id"].as_str().unwrap();
    assert_eq!(b.invoices(id).await[0]["total"], 1_000);

    b.advance(T0 + 3 * DAY).await;
    usage(&b, "tokens", 12_345, T0 + DAY, "t1").await.ok();
    usage(&b, "tokens", 12_345, T0 + DAY, "t1")
        .await
        .error(400, "invalid_request_error");
    usage(&b, "tokens", 10_001, T0 + 2 * DAY, "t2").await.ok();
    usage(&b, "minutes", 30, T0 + DAY, "m1").await.ok();
    usage(&b, "minutes", 7, T0 + 3 * DAY, "m2").await.ok();

    // After the period ended, inside the grace window: late usage of April still counts.
    b.advance(MAY1 + GRACE / 2).await;
    assert_eq!(
        b.invoices(id).await.len(),
        1,
        "no renewal before the grace ends"
    );
    usage(&b, "minutes", 3, MAY1 - 60, "m3").await.ok();
    // Usage of the new period is the next invoice's.
    usage(&b, "tokens", 999, MAY1 + 60, "t3").await.ok();

    b.advance(MAY1 + GRACE + 60).await;
    let invoices = b.invoices(id).await;
    assert_eq!(invoices.len(), 2);
    let renewal = &invoices[1];
    assert_eq!(renewal["billing_reason"], "subscription_cycle");
    assert_eq!(renewal["status"], "paid");
    // 22,346 tokens × 0.05 = 1,117.3 → 1,117; 40 minutes × 5 = 200.
    let t = usage_line(renewal, &per_token);
    assert_eq!(
        (t["amount"].as_i64(), t["quantity"].as_i64()),
        (Some(1_117), Some(22_346))
    );
    assert_eq!(t["period"]["start"], T0);
    assert_eq!(t["period"]["end"], MAY1);
    let m = usage_line(renewal, &per_minute);
    assert_eq!(
        (m["amount"].as_i64(), m["quantity"].as_i64()),
        (Some(200), Some(40))
    );
    assert_eq!(renewal["total"], 1_000 + 1_117 + 200);
    assert_eq!(amounts(renewal).iter().sum::<i64>(), 2_317);
    let sub = b.sub(id).await;
    assert_eq!(sub["current_period_start"], MAY1);

    // April is billed: a late April event is refused rather than lost or billed twice.
    let late = usage(&b, "minutes", 1, MAY1 - 30, "m4").await;
    assert_eq!(
        late.error(400, "invalid_request_error")["code"],
        "meter_event_period_invoiced"
    );

    // May's usage (the 999 tokens) is on June's invoice: 999 × 0.05 = 49.95 → 50.
    let june1 = MAY1 + 31 * DAY;
    b.advance(june1 + GRACE + 60).await;
    let invoices = b.invoices(id).await;
    assert_eq!(invoices.len(), 3);
    assert_eq!(usage_line(&invoices[2], &per_token)["amount"], 50);
    assert_eq!(usage_line(&invoices[2], &per_minute)["amount"], 0);
    assert_eq!(invoices[2]["total"], 1_050);
}

#[tokio::test]
async fn tiered_usage_prices_rate_the_whole_periods_usage() {
    let b = Billing::new(Some("pm_card_visa")).await;
    let tokens = meter(&b, "tokens", "sum").await;
    let calls = meter(&b, "calls", "count").await;
    // Graduated: the first 1,000 tokens free, then 0.1 cents each.
    let graduated = metered_price(
        &b,
        &tokens,
        &[
            ("billing_scheme", "tiered"),
            ("tiers_mode", "graduated"),
            ("tiers[0][up_to]", "1000"),
            ("tiers[0][unit_amount]", "0"),
            ("tiers[1][up_to]", "inf"),
            ("tiers[1][unit_amount_decimal]", "0.1"),
        ],
    )
    .await;
    // Volume: every call at 10 cents up to 100 calls, at 5 cents each beyond.
    let volume = metered_price(
        &b,
        &calls,
        &[
            ("billing_scheme", "tiered"),
            ("tiers_mode", "volume"),
            ("tiers[0][up_to]", "100"),
            ("tiers[0][unit_amount]", "10"),
            ("tiers[1][up_to]", "inf"),
            ("tiers[1][unit_amount]", "5"),
        ],
    )
    .await;
    let sub = b
        .subscribe(&[
            ("items[0][price]", &graduated),
            ("items[1][price]", &volume),
        ])
        .await;
    let id = sub["id"].as_str().unwrap();
    b.advance(T0 + DAY).await;
    usage(&b, "tokens", 2_000, T0 + DAY, "t1").await.ok();
    usage(&b, "tokens", 500, T0 + DAY, "t2").await.ok();
    let calls_batch: Vec<Value> = (0..150)
        .map(|i| {
            json!({"event_name": "calls", "identifier": format!("c{i}"), "timestamp": T0 + DAY,
                        "payload": {"stripe_customer_id": b.customer}})
        })
        .collect();
    let r =
        b.t.post_json(
            "/v1/billing/meter_events/batch",
            json!({ "events": calls_batch }),
        )
        .await;
    assert_eq!(r.ok()["recorded"], 150);
    b.advance(MAY1 + GRACE + 60).await;
    let invoices = b.invoices(id).await;
    let renewal = &invoices[1];
    // 1,500 tokens beyond the free tier × 0.1 = 150; 150 calls all at 5 = 750.
    assert_eq!(usage_line(renewal, &graduated)["amount"], 150);
    assert_eq!(usage_line(renewal, &volume)["amount"], 750);
    assert_eq!(renewal["total"], 900);
    assert_eq!(renewal["status"], "paid");
}

async fn check(b: &Billing, event: &str, quantity: i64) -> Value {
    let r =
        b.t.get(&format!(
            "/v1/billing/usage_check?customer={}&event_name={event}&quantity={quantity}",
            b.customer
        ))
        .await;
    r.ok().clone()
}

/// The AI assistant's monthly limit: usage is refused once the limit is reached, and a paid
/// top-up makes room at once; the renewal draws the top-up's credit.
#[tokio::test]
async fn a_spend_limit_blocks_and_a_paid_top_up_unblocks_at_once() {
    let b = Billing::new(Some("pm_card_visa")).await;
    let minutes = meter(&b, "minutes", "sum").await;
    let base = b.price(1_000).await;
    let per_minute = metered_price(&b, &minutes, &[("unit_amount", "5")]).await;
    let sub = b
        .subscribe(&[("items[0][price]", &base), ("items[1][price]", &per_minute)])
        .await;
    let id = sub["id"].as_str().unwrap().to_string();

    // No limit yet: anything goes.
    assert_eq!(check(&b, "minutes", 1_000).await["reason"], "no_limit");
    let limit =
        b.t.post(
            "/v1/billing/spend_limits",
            &[
                ("customer", &b.customer),
                ("amount", "1000"),
                ("currency", "usd"),
                ("behavior", "block"),
            ],
        )
        .await;
    assert_eq!(limit.ok()["object"], "spend_limit");
    let again =
        b.t.post(
            "/v1/billing/spend_limits",
            &[
                ("customer", &b.customer),
                ("amount", "5"),
                ("currency", "usd"),
            ],
        )
        .await;
    again.error(400, "invalid_request_error");

    let c = check(&b, "minutes", 100).await;
    assert_eq!(
        (
            c["allowed"].as_bool(),
            c["cost"].as_i64(),
            c["used"].as_i64()
        ),
        (Some(true), Some(500), Some(0))
    );
    assert_eq!(c["period_end"], MAY1);
    b.advance(T0 + DAY).await;
    usage(&b, "minutes", 150, T0 + DAY, "m1").await.ok();
    let c = check(&b, "minutes", 60).await;
    assert_eq!(
        (
            c["allowed"].as_bool(),
            c["reason"].as_str(),
            c["used"].as_i64(),
            c["remaining"].as_i64()
        ),
        (Some(false), Some("limit_reached"), Some(750), Some(250))
    );
    assert_eq!(check(&b, "minutes", 50).await["allowed"], true);
    usage(&b, "minutes", 50, T0 + DAY, "m2").await.ok();
    let spent = check(&b, "minutes", 0).await;
    assert_eq!(
        (spent["allowed"].as_bool(), spent["remaining"].as_i64()),
        (Some(false), Some(0))
    );

    // A paid top-up of 500 cents: room at once.
    let top_up =
        b.t.post(
            "/v1/payment_intents",
            &[
                ("customer", &b.customer),
                ("amount", "500"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
                ("metadata[cashbox_top_up]", "true"),
            ],
        )
        .await;
    assert_eq!(top_up.ok()["status"], "succeeded");
    let c = check(&b, "minutes", 60).await;
    assert_eq!(
        (
            c["allowed"].as_bool(),
            c["credit_balance"].as_i64(),
            c["remaining"].as_i64()
        ),
        (Some(true), Some(500), Some(500))
    );
    let summary = b
        .t
        .get(&format!(
            "/v1/billing/credit_balance_summary?customer={}&filter[type]=applicability_scope&filter[applicability_scope][price_type]=metered",
            b.customer
        ))
        .await;
    assert_eq!(
        summary.ok()["balances"][0]["available_balance"]["monetary"]["value"],
        500
    );
    usage(&b, "minutes", 60, T0 + DAY, "m3").await.ok();

    // The renewal bills 260 minutes (1,300) and draws the 500 of credit.
    b.advance(MAY1 + GRACE + 60).await;
    let invoices = b.invoices(&id).await;
    let renewal = &invoices[1];
    assert_eq!(usage_line(renewal, &per_minute)["amount"], 1_300);
    // Applied as Stripe applies credit grants: before tax, on the metered line, not as a line.
    assert!(!amounts(renewal).iter().any(|a| *a < 0), "{renewal}");
    assert_eq!(renewal["subtotal"], 1_000 + 1_300);
    let credit = &usage_line(renewal, &per_minute)["pretax_credit_amounts"][0];
    assert_eq!(credit["type"], "credit_balance_transaction");
    assert_eq!(credit["amount"], 500);
    assert!(
        credit["credit_balance_transaction"]
            .as_str()
            .is_some_and(|t| t.starts_with("cbtxn_"))
    );
    assert_eq!(renewal["total_pretax_credit_amounts"][0], *credit);
    assert_eq!(renewal["total"], 1_000 + 1_300 - 500);
    assert_eq!(renewal["total_excluding_tax"], 1_000 + 1_300 - 500);
    assert_eq!(renewal["status"], "paid");
    let summary =
        b.t.get(&format!(
            "/v1/billing/credit_balance_summary?customer={}",
            b.customer
        ))
        .await;
    assert_eq!(
        summary.ok()["balances"][0]["available_balance"]["monetary"]["value"],
        0
    );
    // A new period: the limit's room is back.
    let c = check(&b, "minutes", 60).await;
    assert_eq!(
        (c["allowed"].as_bool(), c["used"].as_i64()),
        (Some(true), Some(0))
    );
}

async fn grant(b: &Billing, value: &str) -> Value {
    let r =
        b.t.post(
            "/v1/billing/credit_grants",
            &[
                ("customer", b.customer.as_str()),
                ("amount[type]", "monetary"),
                ("amount[monetary][currency]", "usd"),
                ("amount[monetary][value]", value),
                ("applicability_config[scope][price_type]", "metered"),
                ("category", "promotional"),
                ("name", "Welcome"),
            ],
        )
        .await;
    r.ok().clone()
}

async fn balance(b: &Billing) -> i64 {
    let url = format!("/v1/billing/credit_balance_summary?customer={}", b.customer);
    b.t.get(&url).await.ok()["balances"][0]["available_balance"]["monetary"]["value"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn credit_grants_are_created_listed_expired_and_voided() {
    let b = Billing::new(None).await;
    let g1 = grant(&b, "300").await;
    assert_eq!(g1["object"], "billing.credit_grant");
    assert_eq!(g1["amount"]["monetary"]["value"], 300);
    assert_eq!(g1["priority"], 50);
    let g2 = grant(&b, "200").await;
    let bad =
        b.t.post(
            "/v1/billing/credit_grants",
            &[
                ("customer", &b.customer),
                ("amount[monetary][currency]", "usd"),
                ("amount[monetary][value]", "100"),
                ("category", "paid"),
            ],
        )
        .await;
    assert_eq!(
        bad.error(400, "invalid_request_error")["param"],
        "applicability_config[scope][price_type]"
    );
    let list =
        b.t.get(&format!(
            "/v1/billing/credit_grants?customer={}",
            b.customer
        ))
        .await;
    assert_eq!(list.ok()["data"].as_array().unwrap().len(), 2);
    assert_eq!(balance(&b).await, 500);
    let void =
        b.t.post(
            &format!(
                "/v1/billing/credit_grants/{}/void",
                g1["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert!(void.ok()["voided_at"].is_i64());
    assert_eq!(balance(&b).await, 200);
    let expired =
        b.t.post(
            &format!(
                "/v1/billing/credit_grants/{}/expire",
                g2["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(expired.ok()["expires_at"], T0);
    let after =
        b.t.get(&format!(
            "/v1/billing/credit_balance_summary?customer={}",
            b.customer
        ))
        .await;
    assert_eq!(after.ok()["balances"].as_array().unwrap().len(), 0);
    assert_eq!(
        b.t.events_of_type("billing.credit_grant.created")
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn a_usage_alert_fires_once_when_the_threshold_is_reached() {
    let b = Billing::new(None).await;
    let tokens = meter(&b, "tokens", "sum").await;
    let alert =
        b.t.post(
            "/v1/billing/alerts",
            &[
                ("alert_type", "usage_threshold"),
                ("title", "100 tokens"),
                ("usage_threshold[gte]", "100"),
                ("usage_threshold[meter]", &tokens),
                ("usage_threshold[recurrence]", "one_time"),
                ("usage_threshold[filters][0][type]", "customer"),
                ("usage_threshold[filters][0][customer]", &b.customer),
            ],
        )
        .await;
    let alert = alert.ok().clone();
    assert_eq!(alert["object"], "billing.alert");
    assert_eq!(
        alert["usage_threshold"]["filters"][0]["customer"],
        b.customer.as_str()
    );
    let no_meter =
        b.t.post(
            "/v1/billing/alerts",
            &[
                ("alert_type", "usage_threshold"),
                ("title", "x"),
                ("usage_threshold[gte]", "1"),
                ("usage_threshold[meter]", "mtr_nothing"),
            ],
        )
        .await;
    assert_eq!(
        no_meter.error(400, "invalid_request_error")["param"],
        "usage_threshold[meter]"
    );
    usage(&b, "tokens", 60, T0, "a1").await.ok();
    assert!(
        b.t.events_of_type("billing.alert.triggered")
            .await
            .is_empty()
    );
    usage(&b, "tokens", 50, T0, "a2").await.ok();
    usage(&b, "tokens", 10, T0, "a3").await.ok();
    let fired = b.t.events_of_type("billing.alert.triggered").await;
    assert_eq!(fired.len(), 1);
    let object = &fired[0]["data"]["object"];
    assert_eq!(object["object"], "billing.alert_triggered");
    assert_eq!(object["value"], 110);
    assert_eq!(object["customer"], b.customer.as_str());
    assert_eq!(object["alert"]["id"], alert["id"]);
    let id = alert["id"].as_str().unwrap();
    let archived =
        b.t.post(&format!("/v1/billing/alerts/{id}/archive"), &[])
            .await;
    assert_eq!(archived.ok()["status"], "archived");
    let back =
        b.t.post(&format!("/v1/billing/alerts/{id}/activate"), &[])
            .await;
    assert_eq!(
        back.error(400, "invalid_request_error")["code"],
        "alert_archived"
    );
}

/// Two processes on one PostgreSQL: a check answered by the second from its memory sees the
/// events recorded through the first within 100 ms, and its spend limit changes at once.
#[tokio::test]
async fn a_second_process_sees_usage_within_100_ms_on_postgres() {
    let b = Billing::new(None).await;
    if !b.t.db_url.starts_with("postgres") {
        return; // several processes share a database on PostgreSQL only
    }
    let minutes = meter(&b, "minutes", "sum").await;
    let per_minute = metered_price(&b, &minutes, &[("unit_amount", "5")]).await;
    b.subscribe(&[("items[0][price]", &per_minute)]).await;
    b.t.post(
        "/v1/billing/spend_limits",
        &[
            ("customer", &b.customer),
            ("amount", "1000"),
            ("currency", "usd"),
        ],
    )
    .await
    .ok();
    let (second, _) = crate::support::build_app_with(
        &b.t.db_url,
        &b.t.ring_entry,
        "http://127.0.0.1:1",
        Default::default(),
    )
    .await;
    let follower = tokio::spawn({
        let second = second.clone();
        async move { second.follow_usage().await }
    });
    let params = |q| cashbox_core::usage::credits::UsageCheckParams {
        customer: Some(b.customer.clone()),
        event_name: Some("minutes".into()),
        quantity: Some(q),
        subscription: None,
    };
    // Loaded into the second process's memory before the events arrive.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let before = second.spend_limits().check(&params(1)).await.unwrap();
    assert_eq!(before["used"], 0);
    for i in 0..5 {
        usage(&b, "minutes", 30, T0, &format!("x{i}")).await.ok();
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let after = second.spend_limits().check(&params(60)).await.unwrap();
    assert_eq!(after["used"], 750, "{after}");
    assert_eq!(after["allowed"], false);
    // A change of limit through the first is seen by the second's next check.
    let limits =
        b.t.get(&format!("/v1/billing/spend_limits?customer={}", b.customer))
            .await;
    let id = limits.ok()["data"][0]["id"].as_str().unwrap().to_string();
    b.t.post(
        &format!("/v1/billing/spend_limits/{id}"),
        &[("amount", "5000")],
    )
    .await
    .ok();
    let raised = second.spend_limits().check(&params(60)).await.unwrap();
    assert_eq!(
        (raised["allowed"].as_bool(), raised["limit"].as_i64()),
        (Some(true), Some(5000))
    );
    follower.abort();
}

/// Ending a metered subscription bills its last period's usage (once), late events in the
/// grace window included.
#[tokio::test]
async fn canceling_at_period_end_bills_the_last_periods_usage() {
    let b = Billing::new(Some("pm_card_visa")).await;
    let minutes = meter(&b, "minutes", "sum").await;
    let base = b.price(1_000).await;
    let per_minute = metered_price(&b, &minutes, &[("unit_amount", "5")]).await;
    let sub = b
        .subscribe(&[("items[0][price]", &base), ("items[1][price]", &per_minute)])
        .await;
    let id = sub["id"].as_str().unwrap().to_string();
    b.t.post(
        &format!("/v1/subscriptions/{id}"),
        &[("cancel_at_period_end", "true")],
    )
    .await
    .ok();
    b.advance(T0 + DAY).await;
    usage(&b, "minutes", 100, T0 + DAY, "m1").await.ok();
    b.advance(MAY1 + GRACE / 2).await;
    usage(&b, "minutes", 20, MAY1 - 10, "late").await.ok();
    b.advance(MAY1 + GRACE + 60).await;
    let sub = b.sub(&id).await;
    assert_eq!(sub["status"], "canceled");
    assert_eq!(sub["ended_at"], MAY1);
    let invoices = b.invoices(&id).await;
    assert_eq!(invoices.len(), 2);
    let last = &invoices[1];
    assert_eq!(usage_line(last, &per_minute)["amount"], 600);
    assert_eq!(last["total"], 600, "no new period of the plan is billed");
    assert_eq!(last["status"], "paid");
    // Nothing more is due, and the period's usage is closed.
    b.advance(MAY1 + 40 * DAY).await;
    assert_eq!(b.invoices(&id).await.len(), 2);
}

#[tokio::test]
async fn canceling_now_with_invoice_now_bills_the_usage_so_far() {
    let b = Billing::new(Some("pm_card_visa")).await;
    let minutes = meter(&b, "minutes", "sum").await;
    let per_minute = metered_price(&b, &minutes, &[("unit_amount", "5")]).await;
    let sub = b.subscribe(&[("items[0][price]", &per_minute)]).await;
    let id = sub["id"].as_str().unwrap().to_string();
    b.advance(T0 + 2 * DAY).await;
    usage(&b, "minutes", 10, T0 + DAY, "m1").await.ok();
    let r =
        b.t.delete(&format!("/v1/subscriptions/{id}?invoice_now=true"))
            .await;
    assert_eq!(r.ok()["status"], "canceled");
    let invoices = b.invoices(&id).await;
    let last = invoices.last().unwrap();
    assert_eq!(usage_line(last, &per_minute)["amount"], 50);
    assert_eq!(last["status"], "paid");
    let late = usage(&b, "minutes", 1, T0 + DAY, "m2").await;
    assert_eq!(
        late.error(400, "invalid_request_error")["code"],
        "meter_event_period_invoiced"
    );
}

#[tokio::test]
async fn usage_during_a_trial_is_not_billed() {
    let b = Billing::new(Some("pm_card_visa")).await;
    let minutes = meter(&b, "minutes", "sum").await;
    let per_minute = metered_price(&b, &minutes, &[("unit_amount", "5")]).await;
    let sub = b
        .subscribe(&[("items[0][price]", &per_minute), ("trial_period_days", "7")])
        .await;
    let id = sub["id"].as_str().unwrap().to_string();
    b.advance(T0 + DAY).await;
    usage(&b, "minutes", 100, T0 + DAY, "trial").await.ok();
    b.advance(T0 + 8 * DAY).await;
    usage(&b, "minutes", 10, T0 + 8 * DAY, "paid").await.ok();
    let invoices = b.invoices(&id).await;
    assert!(
        invoices.iter().all(|i| i["total"] == 0),
        "nothing billed for the trial: {invoices:?}"
    );
    // The trial's usage is closed; the first paid period's is billed at its end.
    let late = usage(&b, "minutes", 1, T0 + 2 * DAY, "late").await;
    assert_eq!(
        late.error(400, "invalid_request_error")["code"],
        "meter_event_period_invoiced"
    );
    b.advance(T0 + 7 * DAY + 30 * DAY + GRACE + 60).await;
    let invoices = b.invoices(&id).await;
    assert_eq!(
        usage_line(invoices.last().unwrap(), &per_minute)["amount"],
        50
    );
}

/// A top-up counts at once in the customer's own time, also on a clock behind the wall clock.
#[tokio::test]
async fn a_top_up_is_available_at_once_on_a_clock_in_the_past() {
    let t = crate::support::spawn_app().await;
    let past = 1_735_689_600; // 2025-01-01
    let clock = t
        .post(
            "/v1/test_helpers/test_clocks",
            &[("frozen_time", &past.to_string())],
        )
        .await;
    let clock = clock.ok()["id"].as_str().unwrap().to_string();
    let customer = t
        .create_customer(&[("test_clock", &clock), ("payment_method", "pm_card_visa")])
        .await;
    let customer = customer["id"].as_str().unwrap();
    let top_up = t
        .post(
            "/v1/payment_intents",
            &[
                ("customer", customer),
                ("amount", "700"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
                ("metadata[cashbox_top_up]", "true"),
            ],
        )
        .await;
    assert_eq!(top_up.ok()["status"], "succeeded");
    let grants = t
        .get(&format!("/v1/billing/credit_grants?customer={customer}"))
        .await;
    assert_eq!(grants.ok()["data"][0]["effective_at"], past);
    let check = t
        .get(&format!("/v1/billing/usage_check?customer={customer}"))
        .await;
    assert_eq!(check.ok()["credit_balance"], 700);
}

/// Credit is taken after discounts and before tax, as Stripe applies credit grants, and a
/// voided invoice gives its credit back.
#[tokio::test]
async fn credit_is_taxed_after_and_comes_back_when_the_invoice_is_voided() {
    let b = Billing::new(None).await;
    let tokens = meter(&b, "tokens", "sum").await;
    let per_token = metered_price(&b, &tokens, &[("unit_amount", "1")]).await;
    let rate = b.exclusive_tax("10").await;
    let coupon = b.percent_coupon("20").await;
    let sub = b
        .subscribe(&[
            ("items[0][price]", &per_token),
            ("default_tax_rates[0]", &rate),
            ("discounts[0][coupon]", &coupon),
            ("collection_method", "send_invoice"),
            ("days_until_due", "30"),
        ])
        .await;
    let id = sub["id"].as_str().unwrap().to_string();
    grant(&b, "300").await;
    b.advance(T0 + DAY).await;
    usage(&b, "tokens", 1_000, T0 + DAY, "t1").await.ok();

    b.advance(MAY1 + GRACE + 60).await;
    let invoices = b.invoices(&id).await;
    let renewal = invoices.last().unwrap();
    let line = usage_line(renewal, &per_token);
    // 1,000 of usage, 200 off, 300 of credit: 500 taxed at 10%.
    assert_eq!(line["amount"], 1_000);
    let pretax: Vec<(&str, i64)> = line["pretax_credit_amounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["type"].as_str().unwrap(), p["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        pretax,
        vec![("discount", 200), ("credit_balance_transaction", 300)]
    );
    assert_eq!(line["taxes"][0]["taxable_amount"], 500);
    assert_eq!(line["taxes"][0]["amount"], 50);
    assert_eq!(renewal["subtotal"], 1_000);
    assert_eq!(renewal["total_excluding_tax"], 500);
    assert_eq!(renewal["total"], 550);
    assert_eq!(renewal["amount_due"], 550);
    assert_eq!(renewal["status"], "open");
    assert_eq!(balance(&b).await, 0);

    let inv = renewal["id"].as_str().unwrap();
    let voided = b.t.post(&format!("/v1/invoices/{inv}/void"), &[]).await;
    assert_eq!(voided.ok()["status"], "void");
    assert_eq!(balance(&b).await, 300);
    let report = b.t.app.check_ledger().await.unwrap();
    assert!(report.is_sound(), "{report:?}");
}
