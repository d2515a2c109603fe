//! The event log: every change records an event in Stripe's shape.

use serde_json::{Value, json};

use crate::support::spawn_app;

#[tokio::test]
async fn customer_changes_record_events() {
    let t = spawn_app().await;
    let created = t
        .post_with(
            "/v1/customers",
            &[("name", "A"), ("metadata[k]", "1")],
            &[("idempotency-key", "ev-1")],
        )
        .await;
    let c = created.ok().clone();
    let id = c["id"].as_str().unwrap();
    let request_id = created.header("request-id").unwrap().to_string();
    t.post(
        &format!("/v1/customers/{id}"),
        &[("name", "B"), ("metadata[k]", "2"), ("metadata[n]", "x")],
    )
    .await
    .ok();
    // An update that changes nothing records nothing.
    t.post(&format!("/v1/customers/{id}"), &[("name", "B")])
        .await
        .ok();
    t.delete(&format!("/v1/customers/{id}")).await.ok();

    let all = t.get("/v1/events").await;
    let data = all.ok()["data"].as_array().unwrap().clone();
    let types: Vec<&str> = data.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["customer.deleted", "customer.updated", "customer.created"]
    );

    let created_event = &data[2];
    assert_eq!(created_event["object"], "event");
    assert!(created_event["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(created_event["data"]["object"], c);
    assert!(created_event["data"].get("previous_attributes").is_none());
    assert_eq!(
        created_event["request"],
        json!({"id": request_id, "idempotency_key": "ev-1"})
    );
    assert_eq!(created_event["livemode"], false);
    assert!(created_event["api_version"].is_string());

    let updated = &data[1];
    assert_eq!(updated["data"]["object"]["name"], "B");
    assert_eq!(
        updated["data"]["previous_attributes"],
        json!({"name": "A", "metadata": {"k": "1", "n": null}})
    );
    assert_eq!(updated["request"]["idempotency_key"], Value::Null);

    let one = t
        .get(&format!("/v1/events/{}", updated["id"].as_str().unwrap()))
        .await;
    assert_eq!(one.ok(), updated);
    t.get("/v1/events/evt_missing")
        .await
        .error(404, "invalid_request_error");
}

#[tokio::test]
async fn events_filter_by_type_family_and_time() {
    let t = spawn_app().await;
    let c = t.create_customer(&[]).await;
    let id = c["id"].as_str().unwrap();
    t.post(&format!("/v1/customers/{id}"), &[("name", "x")])
        .await
        .ok();
    t.create_customer(&[]).await;

    let count = |v: &Value| v["data"].as_array().unwrap().len();
    assert_eq!(
        count(t.get("/v1/events?type=customer.created").await.ok()),
        2
    );
    assert_eq!(count(t.get("/v1/events?type=customer.*").await.ok()), 3);
    assert_eq!(
        count(
            t.get("/v1/events?types[]=customer.updated&types[]=customer.deleted")
                .await
                .ok()
        ),
        1
    );
    assert_eq!(count(t.get("/v1/events?type=invoice.paid").await.ok()), 0);
    assert_eq!(count(t.get("/v1/events?created[gte]=0").await.ok()), 3);
    assert_eq!(count(t.get("/v1/events?created[lt]=1000").await.ok()), 0);
    let page = t.get("/v1/events?limit=1").await;
    assert_eq!(page.ok()["has_more"], true);

    for bad in [
        "type=Customer%20Created",
        "type=a&types[]=b",
        "types[0]=a..b",
    ] {
        t.get(&format!("/v1/events?{bad}"))
            .await
            .error(400, "invalid_request_error");
    }
}
