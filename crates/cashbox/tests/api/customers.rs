//! Customers through the API: the whole life of one, lists, filters and validation.

use serde_json::{Value, json};

use crate::support::spawn_app;

#[tokio::test]
async fn create_retrieve_update_delete() {
    let t = spawn_app().await;
    let c = t
        .create_customer(&[
            ("email", "jenny@example.com"),
            ("name", "Jenny Rosen"),
            ("phone", "+15555550100"),
            ("description", "therapy client"),
            ("address[line1]", "1 Main St"),
            ("address[city]", "Springfield"),
            ("metadata[plan]", "pro"),
            ("metadata[seat]", "3"),
            ("balance", "-500"),
            ("preferred_locales[0]", "en"),
        ])
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("cus_"));
    assert_eq!(c["object"], "customer");
    assert_eq!(c["email"], "jenny@example.com");
    assert_eq!(c["address"]["line1"], "1 Main St");
    assert_eq!(c["address"]["country"], Value::Null);
    assert_eq!(c["metadata"], json!({"plan": "pro", "seat": "3"}));
    assert_eq!(c["balance"], -500);
    assert_eq!(c["preferred_locales"], json!(["en"]));
    assert_eq!(c["invoice_settings"]["default_payment_method"], Value::Null);
    assert_eq!(c["delinquent"], false);
    assert_eq!(c["livemode"], false);
    assert!(c["created"].as_i64().unwrap() > 1_700_000_000);

    let got = t.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(got.ok(), &c);

    let updated = t
        .post(
            &format!("/v1/customers/{id}"),
            &[
                ("name", "Jenny R."),
                ("phone", ""),
                ("metadata[seat]", ""),
                ("metadata[tier]", "gold"),
            ],
        )
        .await;
    let u = updated.ok();
    assert_eq!(u["name"], "Jenny R.");
    assert_eq!(u["phone"], Value::Null);
    assert_eq!(u["email"], "jenny@example.com");
    assert_eq!(u["metadata"], json!({"plan": "pro", "tier": "gold"}));

    let cleared = t
        .post(&format!("/v1/customers/{id}"), &[("metadata", "")])
        .await;
    assert_eq!(cleared.ok()["metadata"], json!({}));

    let deleted = t.delete(&format!("/v1/customers/{id}")).await;
    assert_eq!(
        deleted.ok(),
        &json!({"id": id, "object": "customer", "deleted": true})
    );

    // A deleted customer retrieves as a tombstone, cannot be changed or deleted again, and
    // leaves the list.
    let again = t.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(again.ok()["deleted"], true);
    assert!(again.body.get("email").is_none());
    let e = t
        .post(&format!("/v1/customers/{id}"), &[("name", "x")])
        .await;
    assert_eq!(
        e.error(404, "invalid_request_error")["code"],
        "resource_missing"
    );
    t.delete(&format!("/v1/customers/{id}"))
        .await
        .error(404, "invalid_request_error");
    let list = t.get("/v1/customers").await;
    assert_eq!(list.ok()["data"], json!([]));
}

#[tokio::test]
async fn unknown_customer_is_resource_missing() {
    let t = spawn_app().await;
    for id in ["cus_doesnotexist", "pi_123", "not-an-id"] {
        let r = t.get(&format!("/v1/customers/{id}")).await;
        let e = r.error(404, "invalid_request_error");
        assert_eq!(e["code"], "resource_missing");
        assert_eq!(e["param"], "id");
        assert_eq!(e["message"], format!("No such customer: '{id}'"));
    }
}

#[tokio::test]
async fn json_bodies_work_like_forms() {
    let t = spawn_app().await;
    let r = t
        .post_json(
            "/v1/customers",
            json!({"email": "j@example.com", "balance": 250, "metadata": {"a": "1", "n": 2}, "address": {"country": "US"}}),
        )
        .await;
    let c = r.ok();
    assert_eq!(c["balance"], 250);
    assert_eq!(c["metadata"], json!({"a": "1", "n": "2"}));
    assert_eq!(c["address"]["country"], "US");
    let id = c["id"].as_str().unwrap();
    let u = t
        .post_json(
            &format!("/v1/customers/{id}"),
            json!({"email": null, "metadata": {"a": null}}),
        )
        .await;
    assert_eq!(u.ok()["email"], Value::Null);
    assert_eq!(u.ok()["metadata"], json!({"n": "2"}));
    let bad = t
        .post_json("/v1/customers", json!(["not", "an", "object"]))
        .await;
    bad.error(400, "invalid_request_error");
}

#[tokio::test]
async fn list_pages_newest_first_and_filters_by_email() {
    let t = spawn_app().await;
    let mut ids = Vec::new();
    for email in ["a@x.io", "b@x.io", "c@x.io", "b@x.io"] {
        ids.push(
            t.create_customer(&[("email", email)]).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    let page1 = t.get("/v1/customers?limit=2").await;
    let p1 = page1.ok();
    assert_eq!(p1["object"], "list");
    assert_eq!(p1["url"], "/v1/customers");
    assert_eq!(p1["has_more"], true);
    let got: Vec<&str> = p1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, newest_first[..2]);

    let page2 = t
        .get(&format!(
            "/v1/customers?limit=2&starting_after={}",
            newest_first[1]
        ))
        .await;
    let got: Vec<&str> = page2.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, newest_first[2..]);
    assert_eq!(page2.body["has_more"], false);

    let before = t
        .get(&format!("/v1/customers?ending_before={}", newest_first[2]))
        .await;
    let got: Vec<&str> = before.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, newest_first[..2]);

    let by_email = t.get("/v1/customers?email=b%40x.io").await;
    let got: Vec<&str> = by_email.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[3].as_str(), ids[1].as_str()]);
    // Stripe's email filter is case-sensitive.
    let upper = t.get("/v1/customers?email=B%40x.io").await;
    assert_eq!(upper.ok()["data"], json!([]));

    let created = t.get("/v1/customers?created[gte]=0&limit=100").await;
    assert_eq!(created.ok()["data"].as_array().unwrap().len(), 4);
    let future = t.get("/v1/customers?created[gt]=4102444800").await;
    assert_eq!(future.ok()["data"], json!([]));
}

#[tokio::test]
async fn list_parameters_are_checked() {
    let t = spawn_app().await;
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("starting_after=cus_nope", "starting_after"),
        ("starting_after=a&ending_before=b", "ending_before"),
        ("created[between]=1", "created"),
    ] {
        let r = t.get(&format!("/v1/customers?{query}")).await;
        assert_eq!(
            r.error(400, "invalid_request_error")["param"],
            param,
            "{query}"
        );
    }
}

#[tokio::test]
async fn invalid_values_are_refused_and_nothing_is_written() {
    let t = spawn_app().await;
    // (parameters, the param the error names, its code)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (&[("email", "not-an-email")], "email", "email_invalid"),
        (
            &[("balance", "12.50")],
            "balance",
            "parameter_invalid_integer",
        ),
        (
            &[("tax_exempt", "sometimes")],
            "tax_exempt",
            "parameter_invalid",
        ),
        (
            &[("address[planet]", "Mars")],
            "address[planet]",
            "parameter_unknown",
        ),
        (
            &[("invoice_prefix", "lower")],
            "invoice_prefix",
            "parameter_invalid",
        ),
        (
            &[("test_clock", "clock_123")],
            "test_clock",
            "resource_missing",
        ),
        (
            &[("payment_method", "pm_card_nosuchcard")],
            "payment_method",
            "resource_missing",
        ),
        (
            &[("shipping[address][city]", "X")],
            "shipping[name]",
            "parameter_missing",
        ),
    ];
    for (pairs, param, code) in cases {
        let r = t.post("/v1/customers", pairs).await;
        let e = r.error(400, "invalid_request_error");
        assert_eq!(e["param"], *param, "{pairs:?}: {}", r.body);
        assert_eq!(e["code"], *code, "{pairs:?}: {}", r.body);
    }
    let name = "n".repeat(257);
    let r = t.post("/v1/customers", &[("name", name.as_str())]).await;
    assert_eq!(r.error(400, "invalid_request_error")["param"], "name");

    assert_eq!(t.get("/v1/customers").await.ok()["data"], json!([]));
    assert!(t.events_of_type("customer.created").await.is_empty());
}

#[tokio::test]
async fn metadata_follows_stripes_limits() {
    let t = spawn_app().await;
    let c = t.create_customer(&[("metadata[keep]", "1")]).await;
    let path = format!("/v1/customers/{}", c["id"].as_str().unwrap());

    let long_key = "k".repeat(41);
    let key_param = format!("metadata[{long_key}]");
    let r = t
        .post(&path, &[(key_param.as_str(), "v"), ("name", "changed")])
        .await;
    assert_eq!(r.error(400, "invalid_request_error")["param"], key_param);

    let long_value = "v".repeat(501);
    let r = t.post(&path, &[("metadata[k]", long_value.as_str())]).await;
    assert_eq!(
        r.error(400, "invalid_request_error")["param"],
        "metadata[k]"
    );

    let keys: Vec<(String, String)> = (0..50)
        .map(|i| (format!("metadata[k{i}]"), "v".to_string()))
        .collect();
    let pairs: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = t.post(&path, &pairs).await;
    assert_eq!(r.error(400, "invalid_request_error")["param"], "metadata");

    // 50 keys exactly is fine once `keep` is removed in the same request.
    let mut pairs = pairs.clone();
    pairs.push(("metadata[keep]", ""));
    assert_eq!(
        t.post(&path, &pairs).await.ok()["metadata"]
            .as_object()
            .unwrap()
            .len(),
        50
    );

    // The failed requests changed nothing: the name is the original and only one update event.
    assert_eq!(t.get(&path).await.ok()["name"], Value::Null);
    assert_eq!(t.events_of_type("customer.updated").await.len(), 1);
}

#[tokio::test]
async fn deleting_erases_personal_data() {
    let t = spawn_app().await;
    let c = t
        .create_customer(&[("email", "erase@example.com"), ("name", "Erase Me")])
        .await;
    let id = c["id"].as_str().unwrap();
    t.delete(&format!("/v1/customers/{id}")).await.ok();
    let row = t.app.store().customer(id).await.unwrap().unwrap();
    assert!(row.deleted);
    assert!(row.sealed.is_none());
    assert!(row.email_bidx.is_none());
    let found = t.get("/v1/customers?email=erase%40example.com").await;
    assert_eq!(found.ok()["data"], json!([]));
}

/// A balance near i64's ends made `total + balance` overflow when an invoice was finalized
/// (a wrap in a release build: a negative amount due). Balances are bounded.
#[tokio::test]
async fn a_customer_balance_is_bounded() {
    let t = spawn_app().await;
    let max = i64::MAX.to_string();
    let r = t.post("/v1/customers", &[("balance", &max)]).await;
    assert_eq!(r.error(400, "invalid_request_error")["param"], "balance");
    let ok = t.create_customer(&[("balance", "-99999999000")]).await;
    let id = ok["id"].as_str().unwrap();
    let min = i64::MIN.to_string();
    let r = t
        .post(&format!("/v1/customers/{id}"), &[("balance", &min)])
        .await;
    assert_eq!(r.error(400, "invalid_request_error")["param"], "balance");
    let got = t.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(got.ok()["balance"], -99_999_999_000i64);
}
