//! Test clocks through the API.

use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn a_clock_advances_and_takes_its_customers_with_it() {
    let t = spawn_app().await;
    let r = t
        .post(
            "/v1/test_helpers/test_clocks",
            &[("frozen_time", "1700000000"), ("name", "renewals")],
        )
        .await;
    let clock = r.ok().clone();
    let id = clock["id"].as_str().unwrap();
    assert!(id.starts_with("clock_"));
    assert_eq!(clock["object"], "test_helpers.test_clock");
    assert_eq!(clock["status"], "ready");
    assert_eq!(clock["frozen_time"], 1_700_000_000);
    assert_eq!(clock["status_details"], json!({}));

    let cus = t
        .post(
            "/v1/customers",
            &[
                ("email", "clocked@example.com"),
                ("test_clock", id),
                ("expand[]", "test_clock"),
            ],
        )
        .await;
    assert_eq!(cus.ok()["test_clock"]["id"], id);
    let cus_id = cus.ok()["id"].as_str().unwrap().to_string();
    let on_clock = t.get(&format!("/v1/customers?test_clock={id}")).await;
    assert_eq!(on_clock.ok()["data"][0]["id"], cus_id.as_str());

    // Only forward, and as far as asked: ten years in one step.
    let back = t
        .post(
            &format!("/v1/test_helpers/test_clocks/{id}/advance"),
            &[("frozen_time", "1600000000")],
        )
        .await;
    assert_eq!(
        back.error(400, "invalid_request_error")["param"],
        "frozen_time"
    );
    let ten_years = (1_700_000_000i64 + 10 * 365 * 86_400).to_string();
    let moved = t
        .post(
            &format!("/v1/test_helpers/test_clocks/{id}/advance"),
            &[("frozen_time", &ten_years)],
        )
        .await;
    assert_eq!(moved.ok()["status"], "ready");
    assert_eq!(moved.ok()["frozen_time"].to_string(), ten_years);
    assert_eq!(
        t.events_of_type("test_helpers.test_clock.advancing")
            .await
            .len(),
        1
    );
    assert_eq!(
        t.events_of_type("test_helpers.test_clock.ready")
            .await
            .len(),
        1
    );

    let listed = t.get("/v1/test_helpers/test_clocks").await;
    assert_eq!(listed.ok()["data"][0]["id"], id);

    // Deleting the clock deletes the customers that live in it.
    let deleted = t
        .delete(&format!("/v1/test_helpers/test_clocks/{id}"))
        .await;
    assert_eq!(deleted.ok()["deleted"], true);
    let gone = t.get(&format!("/v1/customers/{cus_id}")).await;
    assert_eq!(gone.ok()["deleted"], true);
    t.get(&format!("/v1/test_helpers/test_clocks/{id}"))
        .await
        .error(404, "invalid_request_error");
    assert_eq!(t.events_of_type("customer.deleted").await.len(), 1);
}

#[tokio::test]
async fn clock_errors() {
    let t = spawn_app().await;
    let r = t
        .post("/v1/test_helpers/test_clocks", &[("name", "x")])
        .await;
    assert_eq!(
        r.error(400, "invalid_request_error")["param"],
        "frozen_time"
    );
    let r = t
        .post("/v1/customers", &[("test_clock", "clock_missing")])
        .await;
    assert_eq!(r.error(400, "invalid_request_error")["param"], "test_clock");
    let r = t
        .post(
            "/v1/test_helpers/test_clocks/clock_missing/advance",
            &[("frozen_time", "1")],
        )
        .await;
    r.error(404, "invalid_request_error");
    assert!(
        t.get("/v1/customers").await.ok()["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// Found by a probe: an advance to year 9999 never answered (and grew the database without
/// bound); a clock created at 9999999999999 failed for good when advanced. Times stay in the
/// calendar, one advance goes at most ten years, and a long one answers while it goes on.
#[tokio::test]
async fn advances_are_bounded_answer_and_can_be_stopped() {
    use crate::support::{AppOptions, spawn_full};
    let t = spawn_full(
        cashbox_http::HttpConfig::default(),
        AppOptions {
            advance_answer_within: Some(std::time::Duration::ZERO),
            ..AppOptions::default()
        },
    )
    .await;
    let b = crate::billing::Billing::with(t, Some("pm_card_visa")).await;
    let far =
        b.t.post(
            "/v1/test_helpers/test_clocks",
            &[("frozen_time", "9999999999999")],
        )
        .await;
    assert_eq!(
        far.error(400, "invalid_request_error")["param"],
        "frozen_time"
    );
    let year_9999 =
        b.t.post(
            &format!("/v1/test_helpers/test_clocks/{}/advance", b.clock),
            &[("frozen_time", "253370764800")],
        )
        .await;
    assert_eq!(
        year_9999.error(400, "invalid_request_error")["param"],
        "frozen_time"
    );

    // A daily subscription advanced a year: the answer comes before the work is done.
    let product = b.t.post("/v1/products", &[("name", "Daily")]).await;
    let product = product.ok()["id"].as_str().unwrap().to_string();
    let price =
        b.t.post(
            "/v1/prices",
            &[
                ("product", &product),
                ("currency", "usd"),
                ("unit_amount", "100"),
                ("recurring[interval]", "day"),
            ],
        )
        .await;
    let price = price.ok()["id"].as_str().unwrap().to_string();
    let sub = b.subscribe(&[("items[0][price]", &price)]).await;
    assert_eq!(sub["status"], "active");
    let year = (crate::billing::T0 + 365 * 86_400).to_string();
    let answered =
        b.t.post(
            &format!("/v1/test_helpers/test_clocks/{}/advance", b.clock),
            &[("frozen_time", &year)],
        )
        .await;
    assert_eq!(answered.ok()["status"], "advancing");
    assert_eq!(
        answered.ok()["status_details"]["advancing"]["target_frozen_time"].to_string(),
        year
    );
    let again =
        b.t.post(
            &format!("/v1/test_helpers/test_clocks/{}/advance", b.clock),
            &[("frozen_time", &year)],
        )
        .await;
    assert_eq!(
        again.error(400, "invalid_request_error")["code"],
        "test_clock_not_ready"
    );
    let mut clock = serde_json::Value::Null;
    for _ in 0..600 {
        clock =
            b.t.get(&format!("/v1/test_helpers/test_clocks/{}", b.clock))
                .await
                .ok()
                .clone();
        if clock["status"] == "ready" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(clock["status"], "ready");
    assert_eq!(clock["frozen_time"].to_string(), year);
    let invoices =
        b.t.get(&format!(
            "/v1/invoices?subscription={}&limit=100",
            sub["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(invoices.ok()["has_more"], true, "a year of daily renewals");
    assert_eq!(
        b.t.events_of_type("test_helpers.test_clock.ready")
            .await
            .len(),
        1
    );

    // Deleting a clock stops its advance.
    let ten_years = (crate::billing::T0 + 3_650 * 86_400).to_string();
    let answered =
        b.t.post(
            &format!("/v1/test_helpers/test_clocks/{}/advance", b.clock),
            &[("frozen_time", &ten_years)],
        )
        .await;
    assert_eq!(answered.ok()["status"], "advancing");
    b.t.delete(&format!("/v1/test_helpers/test_clocks/{}", b.clock))
        .await
        .ok();
    let count = || async {
        b.t.app
            .store()
            .count_where("invoices", "1 = 1")
            .await
            .unwrap()
    };
    // A renewal batch under way when the clock went finishes; then nothing more is made.
    let mut settled = count().await;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let now = count().await;
        if now == settled {
            break;
        }
        settled = now;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    assert_eq!(count().await, settled, "no more invoices after the delete");
    assert!(
        settled < 3_000,
        "{settled} invoices: the ten years did not run"
    );
}
