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
