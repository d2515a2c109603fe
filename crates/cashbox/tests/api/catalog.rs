//! Products and prices through the API.

use serde_json::{Value, json};

use crate::support::spawn_app;

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_product_with_a_default_price() {
    let t = spawn_app().await;
    let r = t
        .post(
            "/v1/products",
            &[
                ("name", "Therapy plan"),
                ("description", "Weekly sessions"),
                ("metadata[tier]", "gold"),
                ("marketing_features[0][name]", "8 sessions a month"),
                ("default_price_data[currency]", "usd"),
                ("default_price_data[unit_amount]", "19999"),
                ("default_price_data[recurring][interval]", "month"),
                ("expand[]", "default_price"),
            ],
        )
        .await;
    let p = r.ok();
    assert!(p["id"].as_str().unwrap().starts_with("prod_"));
    assert_eq!(p["object"], "product");
    assert_eq!(p["active"], true);
    assert_eq!(p["type"], "service");
    assert_eq!(p["metadata"], json!({"tier": "gold"}));
    assert_eq!(p["marketing_features"][0]["name"], "8 sessions a month");
    let price = &p["default_price"];
    assert_eq!(price["object"], "price");
    assert_eq!(price["product"], p["id"]);
    assert_eq!(price["unit_amount"], 19999);
    assert_eq!(price["unit_amount_decimal"], "19999");
    assert_eq!(price["type"], "recurring");
    assert_eq!(
        price["recurring"],
        json!({"interval": "month", "interval_count": 1, "meter": null, "trial_period_days": null, "usage_type": "licensed"})
    );
    assert_eq!(t.events_of_type("product.created").await.len(), 1);
    assert_eq!(t.events_of_type("price.created").await.len(), 1);

    // Retrieve, with the price expanded back to its product.
    let id = p["id"].as_str().unwrap();
    let price_id = price["id"].as_str().unwrap();
    let got = t
        .get(&format!("/v1/prices/{price_id}?expand[]=product"))
        .await;
    assert_eq!(got.ok()["product"]["id"], id);
}

#[tokio::test]
async fn products_update_list_and_delete() {
    let t = spawn_app().await;
    let a = t
        .post("/v1/products", &[("name", "A"), ("id", "plan-basic")])
        .await;
    assert_eq!(a.ok()["id"], "plan-basic");
    let again = t
        .post("/v1/products", &[("name", "A"), ("id", "plan-basic")])
        .await;
    assert_eq!(
        again.error(400, "invalid_request_error")["code"],
        "resource_already_exists"
    );
    let b = t.post("/v1/products", &[("name", "B")]).await;
    let b_id = b.ok()["id"].as_str().unwrap().to_string();

    let updated = t
        .post(
            "/v1/products/plan-basic",
            &[("active", "false"), ("description", "old"), ("name", "A2")],
        )
        .await;
    let u = updated.ok();
    assert_eq!(
        (u["active"].clone(), u["name"].clone()),
        (json!(false), json!("A2"))
    );
    let ev = t.events_of_type("product.updated").await;
    assert_eq!(ev[0]["data"]["previous_attributes"]["name"], "A");

    let active = t.get("/v1/products?active=true").await;
    assert_eq!(ids(active.ok()), vec![b_id.clone()]);
    let by_ids = t
        .get(&format!(
            "/v1/products?ids[]=plan-basic&ids[]={b_id}&limit=1"
        ))
        .await;
    assert_eq!(by_ids.ok()["data"].as_array().unwrap().len(), 1);
    assert_eq!(by_ids.ok()["has_more"], true);

    // A product with a price cannot be deleted; one without can.
    t.post(
        "/v1/prices",
        &[
            ("product", &b_id),
            ("currency", "usd"),
            ("unit_amount", "500"),
        ],
    )
    .await
    .ok();
    let refused = t.delete(&format!("/v1/products/{b_id}")).await;
    refused.error(400, "invalid_request_error");
    let deleted = t.delete("/v1/products/plan-basic").await;
    assert_eq!(
        deleted.ok(),
        &json!({"id": "plan-basic", "object": "product", "deleted": true})
    );
    t.get("/v1/products/plan-basic")
        .await
        .error(404, "invalid_request_error");
    assert_eq!(t.events_of_type("product.deleted").await.len(), 1);
}

#[tokio::test]
async fn prices_in_every_shape() {
    let t = spawn_app().await;
    let prod = t.post("/v1/products", &[("name", "AI assistant")]).await;
    let prod = prod.ok()["id"].as_str().unwrap().to_string();

    // Sub-cent: 0.05 cents per token, metered.
    let token = t
        .post(
            "/v1/prices",
            &[
                ("product", &prod),
                ("currency", "usd"),
                ("unit_amount_decimal", "0.05"),
                ("recurring[interval]", "month"),
                ("recurring[usage_type]", "metered"),
                ("nickname", "per token"),
            ],
        )
        .await;
    let token = token.ok();
    assert_eq!(token["unit_amount"], Value::Null);
    assert_eq!(token["unit_amount_decimal"], "0.05");
    assert_eq!(token["recurring"]["usage_type"], "metered");

    // Graduated tiers, shown only with expand[]=tiers.
    let tiered = t
        .post(
            "/v1/prices",
            &[
                ("product", &prod),
                ("currency", "usd"),
                ("billing_scheme", "tiered"),
                ("tiers_mode", "graduated"),
                ("tiers[0][up_to]", "1000"),
                ("tiers[0][unit_amount]", "5"),
                ("tiers[1][up_to]", "inf"),
                ("tiers[1][unit_amount_decimal]", "2.5"),
                ("tiers[1][flat_amount]", "100"),
                ("recurring[interval]", "month"),
            ],
        )
        .await;
    let tiered_id = tiered.ok()["id"].as_str().unwrap().to_string();
    assert!(tiered.ok().get("tiers").is_none());
    assert_eq!(tiered.ok()["billing_scheme"], "tiered");
    let with_tiers = t
        .get(&format!("/v1/prices/{tiered_id}?expand[]=tiers"))
        .await;
    let tiers = &with_tiers.ok()["tiers"];
    assert_eq!(tiers[0]["up_to"], 1000);
    assert_eq!(tiers[0]["unit_amount"], 5);
    assert_eq!(tiers[1]["up_to"], Value::Null);
    assert_eq!(tiers[1]["unit_amount"], Value::Null);
    assert_eq!(tiers[1]["unit_amount_decimal"], "2.5");
    assert_eq!(tiers[1]["flat_amount"], 100);

    // Packages and several currencies.
    let package = t
        .post(
            "/v1/prices",
            &[
                ("product", &prod),
                ("currency", "usd"),
                ("unit_amount", "500"),
                ("transform_quantity[divide_by]", "60"),
                ("transform_quantity[round]", "up"),
                ("currency_options[eur][unit_amount]", "450"),
                ("currency_options[jpy][unit_amount]", "700"),
                ("expand[]", "currency_options"),
            ],
        )
        .await;
    let package = package.ok();
    assert_eq!(package["type"], "one_time");
    assert_eq!(
        package["transform_quantity"],
        json!({"divide_by": 60, "round": "up"})
    );
    assert_eq!(package["currency_options"]["eur"]["unit_amount"], 450);
    assert_eq!(package["currency_options"]["jpy"]["unit_amount"], 700);
    assert_eq!(package["currency_options"]["usd"]["unit_amount"], 500);

    // Lists filter on type, currency, recurring interval and product.
    let one_time = t.get("/v1/prices?type=one_time").await;
    assert_eq!(ids(one_time.ok()), vec![package["id"].as_str().unwrap()]);
    let monthly = t
        .get(&format!(
            "/v1/prices?recurring[interval]=month&product={prod}"
        ))
        .await;
    assert_eq!(ids(monthly.ok()).len(), 2);
    let metered = t.get("/v1/prices?recurring[usage_type]=metered").await;
    assert_eq!(ids(metered.ok()), vec![token["id"].as_str().unwrap()]);
    let eur = t.get("/v1/prices?currency=eur").await;
    assert!(ids(eur.ok()).is_empty());
    let listed_tiers = t.get("/v1/prices?expand[]=data.tiers&type=recurring").await;
    let with = listed_tiers.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("tiers").is_some())
        .count();
    assert_eq!(with, 1);
}

#[tokio::test]
async fn bad_prices_get_stripe_errors_and_write_nothing() {
    let t = spawn_app().await;
    let prod = t.post("/v1/products", &[("name", "P")]).await;
    let prod = prod.ok()["id"].as_str().unwrap().to_string();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("currency", "usd"), ("unit_amount", "5")], "product"),
        (vec![("product", &prod), ("unit_amount", "5")], "currency"),
        (vec![("product", &prod), ("currency", "usd")], "unit_amount"),
        (
            vec![
                ("product", &prod),
                ("currency", "usd"),
                ("unit_amount", "-1"),
            ],
            "unit_amount",
        ),
        (
            vec![
                ("product", &prod),
                ("currency", "usd"),
                ("unit_amount", "5"),
                ("unit_amount_decimal", "5"),
            ],
            "unit_amount",
        ),
        (
            vec![
                ("product", &prod),
                ("currency", "usd"),
                ("unit_amount_decimal", "0.0000000000001"),
            ],
            "unit_amount_decimal",
        ),
        (
            vec![
                ("product", &prod),
                ("currency", "usd"),
                ("unit_amount", "5"),
                ("recurring[interval]", "fortnight"),
            ],
            "recurring[interval]",
        ),
        (
            vec![
                ("product", &prod),
                ("currency", "usd"),
                ("unit_amount", "5"),
                ("recurring[interval]", "year"),
                ("recurring[interval_count]", "4"),
            ],
            "recurring[interval_count]",
        ),
        (
            vec![
                ("product", &prod),
                ("currency", "usd"),
                ("billing_scheme", "tiered"),
                ("tiers_mode", "volume"),
                ("tiers[0][up_to]", "10"),
                ("tiers[0][unit_amount]", "5"),
            ],
            "tiers[0][up_to]",
        ),
        (
            vec![
                ("product", "prod_missing"),
                ("currency", "usd"),
                ("unit_amount", "5"),
            ],
            "product",
        ),
        (
            vec![
                ("product", &prod),
                ("currency", "xyz"),
                ("unit_amount", "5"),
            ],
            "currency",
        ),
    ];
    for (pairs, param) in cases {
        let r = t.post("/v1/prices", &pairs).await;
        let e = r.error(400, "invalid_request_error");
        assert_eq!(e["param"], param, "{pairs:?}: {}", r.body);
    }
    // Amounts cannot change after creation: Stripe refuses the parameter.
    let ok = t
        .post(
            "/v1/prices",
            &[
                ("product", &prod),
                ("currency", "usd"),
                ("unit_amount", "5"),
            ],
        )
        .await;
    let id = ok.ok()["id"].as_str().unwrap().to_string();
    let r = t
        .post(&format!("/v1/prices/{id}"), &[("unit_amount", "6")])
        .await;
    assert_eq!(
        r.error(400, "invalid_request_error")["code"],
        "parameter_unknown"
    );
    let all = t.get("/v1/prices?limit=100").await;
    assert_eq!(ids(all.ok()), vec![id]);
    assert_eq!(t.events_of_type("price.created").await.len(), 1);
}

#[tokio::test]
async fn lookup_keys_are_unique_and_transfer() {
    let t = spawn_app().await;
    let old = t
        .post(
            "/v1/prices",
            &[
                ("product_data[name]", "Pro"),
                ("currency", "usd"),
                ("unit_amount", "1000"),
                ("recurring[interval]", "month"),
                ("lookup_key", "pro_monthly"),
            ],
        )
        .await;
    let old = old.ok().clone();
    let prod = old["product"].as_str().unwrap().to_string();
    assert!(prod.starts_with("prod_"));
    let base = [
        ("product", prod.as_str()),
        ("currency", "usd"),
        ("unit_amount", "1200"),
        ("recurring[interval]", "month"),
        ("lookup_key", "pro_monthly"),
    ];
    let clash = t.post("/v1/prices", &base).await;
    assert_eq!(
        clash.error(400, "invalid_request_error")["param"],
        "lookup_key"
    );

    let mut moved = base.to_vec();
    moved.push(("transfer_lookup_key", "true"));
    let new = t.post("/v1/prices", &moved).await;
    let new_id = new.ok()["id"].as_str().unwrap().to_string();
    assert_eq!(new.ok()["lookup_key"], "pro_monthly");
    let old_now = t
        .get(&format!("/v1/prices/{}", old["id"].as_str().unwrap()))
        .await;
    assert_eq!(old_now.ok()["lookup_key"], Value::Null);
    let found = t.get("/v1/prices?lookup_keys[]=pro_monthly").await;
    assert_eq!(ids(found.ok()), vec![new_id.clone()]);

    // Update: clear the key, deactivate, and make the product's default price.
    let r = t
        .post(
            &format!("/v1/products/{prod}"),
            &[("default_price", &new_id)],
        )
        .await;
    assert_eq!(r.ok()["default_price"], new_id.as_str());
    let r = t
        .post(
            &format!("/v1/prices/{new_id}"),
            &[
                ("lookup_key", ""),
                ("active", "false"),
                ("metadata[plan]", "pro"),
            ],
        )
        .await;
    let p = r.ok();
    assert_eq!(
        (p["lookup_key"].clone(), p["active"].clone()),
        (Value::Null, json!(false))
    );
    assert_eq!(p["metadata"]["plan"], "pro");
    let none = t.get("/v1/prices?lookup_keys[]=pro_monthly").await;
    assert!(ids(none.ok()).is_empty());
    let inactive = t.get("/v1/prices?active=false").await;
    assert_eq!(ids(inactive.ok()), vec![new_id]);
}

/// Prices racing for one new lookup key: one gets it, the others get Stripe's 400, never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_lookup_keys_get_one_winner() {
    let t = spawn_app().await;
    let client = reqwest::Client::new();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let req = client
            .post(format!("{}/v1/prices", t.base))
            .bearer_auth(&t.key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(crate::support::form(&[
                // Each its own new product, so nothing but the key is shared.
                ("product_data[name]", "Racer"),
                ("currency", "usd"),
                ("unit_amount", "100"),
                ("lookup_key", "contested"),
            ]));
        set.spawn(async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        });
    }
    let mut won = 0;
    while let Some(res) = set.join_next().await {
        let (status, body) = res.unwrap();
        match status {
            200 => won += 1,
            400 => assert_eq!(body["error"]["param"], "lookup_key", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(won, 1);
    let found = t.get("/v1/prices?lookup_keys[]=contested").await;
    assert_eq!(ids(found.ok()).len(), 1);
}

#[tokio::test]
async fn a_product_name_cannot_be_emptied() {
    let t = spawn_app().await;
    let r = t.post("/v1/products", &[("name", "")]).await;
    assert_eq!(r.error(400, "invalid_request_error")["param"], "name");
    let p = t.post("/v1/products", &[("name", "Kept")]).await;
    let id = p.ok()["id"].as_str().unwrap().to_string();
    let r = t.post(&format!("/v1/products/{id}"), &[("name", "")]).await;
    assert_eq!(r.error(400, "invalid_request_error")["param"], "name");
    assert_eq!(
        t.get(&format!("/v1/products/{id}")).await.ok()["name"],
        "Kept"
    );
}
