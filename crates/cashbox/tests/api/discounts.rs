//! Coupons, promotion codes and tax rates through the API.

use serde_json::{Value, json};

use crate::support::spawn_app;

#[tokio::test]
async fn coupons_in_stripes_shapes() {
    let t = spawn_app().await;
    let pct = t
        .post(
            "/v1/coupons",
            &[
                ("percent_off", "25.5"),
                ("duration", "forever"),
                ("name", "Launch"),
            ],
        )
        .await;
    let pct = pct.ok().clone();
    let id = pct["id"].as_str().unwrap();
    assert_eq!(id.len(), 8, "Stripe-style generated coupon id: {id}");
    assert_eq!(pct["object"], "coupon");
    assert_eq!(pct["percent_off"], json!(25.5));
    assert_eq!(pct["amount_off"], Value::Null);
    assert_eq!(pct["valid"], true);
    assert_eq!(pct["times_redeemed"], 0);

    let amount = t
        .post(
            "/v1/coupons",
            &[
                ("id", "WELCOME-10"),
                ("amount_off", "1000"),
                ("currency", "usd"),
                ("duration", "repeating"),
                ("duration_in_months", "3"),
                ("max_redemptions", "100"),
                ("currency_options[eur][amount_off]", "900"),
                ("expand[]", "currency_options"),
            ],
        )
        .await;
    let a = amount.ok();
    assert_eq!(a["id"], "WELCOME-10");
    assert_eq!(
        (a["amount_off"].clone(), a["currency"].clone()),
        (json!(1000), json!("usd"))
    );
    assert_eq!(a["duration_in_months"], 3);
    assert_eq!(a["currency_options"]["eur"]["amount_off"], 900);

    let dup = t
        .post("/v1/coupons", &[("id", "WELCOME-10"), ("percent_off", "5")])
        .await;
    assert_eq!(
        dup.error(400, "invalid_request_error")["code"],
        "resource_already_exists"
    );

    let renamed = t
        .post(
            "/v1/coupons/WELCOME-10",
            &[("name", "Welcome"), ("metadata[src]", "ads")],
        )
        .await;
    assert_eq!(renamed.ok()["name"], "Welcome");
    let terms = t
        .post("/v1/coupons/WELCOME-10", &[("amount_off", "5")])
        .await;
    assert_eq!(
        terms.error(400, "invalid_request_error")["code"],
        "parameter_unknown"
    );

    let listed = t.get("/v1/coupons?limit=1").await;
    assert_eq!(listed.ok()["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed.ok()["has_more"], true);

    let deleted = t.delete("/v1/coupons/WELCOME-10").await;
    assert_eq!(
        deleted.ok(),
        &json!({"id": "WELCOME-10", "object": "coupon", "deleted": true})
    );
    t.get("/v1/coupons/WELCOME-10")
        .await
        .error(404, "invalid_request_error");
    assert_eq!(t.events_of_type("coupon.created").await.len(), 2);
    assert_eq!(t.events_of_type("coupon.updated").await.len(), 1);
    assert_eq!(t.events_of_type("coupon.deleted").await.len(), 1);
}

#[tokio::test]
async fn bad_coupons_are_refused() {
    let t = spawn_app().await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "percent_off"),
        (vec![("percent_off", "0")], "percent_off"),
        (vec![("percent_off", "100.5")], "percent_off"),
        (
            vec![("percent_off", "10"), ("amount_off", "5")],
            "percent_off",
        ),
        (vec![("amount_off", "500")], "currency"),
        (
            vec![("percent_off", "10"), ("duration", "repeating")],
            "duration_in_months",
        ),
        (
            vec![("percent_off", "10"), ("duration_in_months", "3")],
            "duration_in_months",
        ),
        (
            vec![("percent_off", "10"), ("redeem_by", "1000")],
            "redeem_by",
        ),
        (
            vec![
                ("percent_off", "10"),
                ("applies_to[products][0]", "prod_nope"),
            ],
            "applies_to[products][0]",
        ),
    ];
    for (pairs, param) in cases {
        let r = t.post("/v1/coupons", &pairs).await;
        assert_eq!(
            r.error(400, "invalid_request_error")["param"],
            param,
            "{pairs:?}"
        );
    }
    let none = t.get("/v1/coupons").await;
    assert!(none.ok()["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn promotion_codes_are_unique_among_active_codes() {
    let t = spawn_app().await;
    t.post("/v1/coupons", &[("id", "FALL"), ("percent_off", "20")])
        .await
        .ok();
    let promo = t
        .post(
            "/v1/promotion_codes",
            &[
                ("promotion[type]", "coupon"),
                ("promotion[coupon]", "FALL"),
                ("code", "fall20"),
                ("restrictions[minimum_amount]", "5000"),
                ("restrictions[minimum_amount_currency]", "usd"),
                ("expand[]", "promotion.coupon"),
            ],
        )
        .await;
    let p = promo.ok().clone();
    assert!(p["id"].as_str().unwrap().starts_with("promo_"));
    assert_eq!(p["promotion"]["type"], "coupon");
    assert_eq!(p["promotion"]["coupon"]["percent_off"], json!(20));
    assert_eq!(p["restrictions"]["minimum_amount"], 5000);

    // Codes compare case-insensitively among active codes; the older `coupon` param works too.
    let clash = t
        .post(
            "/v1/promotion_codes",
            &[("coupon", "FALL"), ("code", "FALL20")],
        )
        .await;
    assert_eq!(clash.error(400, "invalid_request_error")["param"], "code");
    let id = p["id"].as_str().unwrap();
    let off = t
        .post(&format!("/v1/promotion_codes/{id}"), &[("active", "false")])
        .await;
    assert_eq!(off.ok()["active"], false);
    let second = t
        .post(
            "/v1/promotion_codes",
            &[("coupon", "FALL"), ("code", "FALL20")],
        )
        .await;
    let second_id = second.ok()["id"].as_str().unwrap().to_string();
    // The first cannot come back while the second holds the code.
    let back = t
        .post(&format!("/v1/promotion_codes/{id}"), &[("active", "true")])
        .await;
    assert_eq!(back.error(400, "invalid_request_error")["param"], "code");

    let by_code = t.get("/v1/promotion_codes?code=Fall20").await;
    assert_eq!(by_code.ok()["data"].as_array().unwrap().len(), 2);
    let active = t.get("/v1/promotion_codes?code=fall20&active=true").await;
    assert_eq!(active.ok()["data"][0]["id"], second_id.as_str());
    let missing = t
        .post("/v1/promotion_codes", &[("promotion[coupon]", "NOPE")])
        .await;
    assert_eq!(
        missing.error(400, "invalid_request_error")["param"],
        "promotion[coupon]"
    );
    let generated = t.post("/v1/promotion_codes", &[("coupon", "FALL")]).await;
    assert_eq!(generated.ok()["code"].as_str().unwrap().len(), 8);
}

#[tokio::test]
async fn tax_rates() {
    let t = spawn_app().await;
    let vat = t
        .post(
            "/v1/tax_rates",
            &[
                ("display_name", "VAT"),
                ("percentage", "19"),
                ("inclusive", "true"),
                ("country", "DE"),
                ("tax_type", "vat"),
            ],
        )
        .await;
    let vat = vat.ok().clone();
    assert!(vat["id"].as_str().unwrap().starts_with("txr_"));
    assert_eq!(vat["percentage"], json!(19));
    assert_eq!(vat["inclusive"], true);
    let sales = t
        .post(
            "/v1/tax_rates",
            &[
                ("display_name", "Sales tax"),
                ("percentage", "8.875"),
                ("inclusive", "false"),
            ],
        )
        .await;
    assert_eq!(sales.ok()["percentage"], json!(8.875));
    let inclusive = t.get("/v1/tax_rates?inclusive=true").await;
    assert_eq!(inclusive.ok()["data"].as_array().unwrap().len(), 1);
    assert_eq!(inclusive.ok()["data"][0]["id"], vat["id"]);

    let id = vat["id"].as_str().unwrap();
    let r = t
        .post(&format!("/v1/tax_rates/{id}"), &[("active", "false")])
        .await;
    assert_eq!(r.ok()["active"], false);
    let r = t
        .post(&format!("/v1/tax_rates/{id}"), &[("percentage", "20")])
        .await;
    assert_eq!(
        r.error(400, "invalid_request_error")["code"],
        "parameter_unknown"
    );
    for (pairs, param) in [
        (
            vec![("percentage", "5"), ("inclusive", "false")],
            "display_name",
        ),
        (
            vec![("display_name", "X"), ("inclusive", "false")],
            "percentage",
        ),
        (
            vec![
                ("display_name", "X"),
                ("percentage", "101"),
                ("inclusive", "false"),
            ],
            "percentage",
        ),
        (
            vec![("display_name", "X"), ("percentage", "5")],
            "inclusive",
        ),
        (
            vec![
                ("display_name", "X"),
                ("percentage", "5"),
                ("inclusive", "false"),
                ("country", "Germany"),
            ],
            "country",
        ),
    ] {
        let r = t.post("/v1/tax_rates", &pairs).await;
        assert_eq!(r.error(400, "invalid_request_error")["param"], param);
    }
    assert_eq!(t.events_of_type("tax_rate.created").await.len(), 2);
}
