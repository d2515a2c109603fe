//! `cashbox-bench bench-pages`: the hosted pages' response time as a browser sees it on
//! loopback (server-side rendering plus one local round trip): the checkout page of a
//! subscription session with two lines, a tax and a promotion-code field, and the portal page
//! of a customer with a subscription, a card, invoices and a quota. Each page is fetched N
//! times, one at a time; prints p50 / p99 / max.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::payments::{ms, percentile, start_server};

pub struct PagesBenchOptions {
    pub requests: usize,
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    path: &str,
    body: &str,
) -> Result<Value, String> {
    let v: Value = client
        .post(format!("{base}{path}"))
        .bearer_auth(key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if v.get("error").is_some() {
        return Err(format!("{path}: {v}"));
    }
    Ok(v)
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

async fn measure(client: &reqwest::Client, label: &str, url: &str, n: usize) -> Result<(), String> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| e.to_string())?;
        times.push(started.elapsed());
        if !status.is_success() || body.len() < 500 {
            return Err(format!("{label}: {status} {body}"));
        }
    }
    times.sort();
    let max = times.last().copied().unwrap_or(Duration::ZERO);
    println!(
        "{label:<10} {n} requests: p50 {}, p99 {}, max {}",
        ms(percentile(&times, 50.0)),
        ms(percentile(&times, 99.0)),
        ms(max)
    );
    Ok(())
}

pub async fn run(opts: PagesBenchOptions) -> Result<(), String> {
    let (base, key, backend) = start_server().await?;
    println!("backend: {backend}");
    let c = reqwest::Client::new();
    let product = id(&post(&c, &base, &key, "/v1/products", "name=Pro").await?);
    let price = |amount: &str| {
        format!("product={product}&currency=usd&unit_amount={amount}&recurring[interval]=month")
    };
    let basic = id(&post(&c, &base, &key, "/v1/prices", &price("2000")).await?);
    let pro = id(&post(&c, &base, &key, "/v1/prices", &price("5000")).await?);
    let rate = id(&post(
        &c,
        &base,
        &key,
        "/v1/tax_rates",
        "display_name=VAT&percentage=20&inclusive=false",
    )
    .await?);
    let session = post(
        &c,
        &base,
        &key,
        "/v1/checkout/sessions",
        &format!(
            "mode=subscription&success_url=https://shop.example/done&line_items[0][price]={basic}&line_items[1][price]={pro}&line_items[1][quantity]=2&allow_promotion_codes=true&subscription_data[default_tax_rates][0]={rate}"
        ),
    )
    .await?;
    measure(
        &c,
        "checkout",
        session["url"].as_str().unwrap_or_default(),
        opts.requests,
    )
    .await?;

    let customer = id(&post(
        &c,
        &base,
        &key,
        "/v1/customers",
        "email=a@example.com&payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa",
    )
    .await?);
    post(
        &c,
        &base,
        &key,
        "/v1/subscriptions",
        &format!("customer={customer}&items[0][price]={basic}"),
    )
    .await?;
    let feature = id(&post(
        &c,
        &base,
        &key,
        "/v1/entitlements/features",
        "name=Sessions&lookup_key=sessions",
    )
    .await?);
    post(
        &c,
        &base,
        &key,
        &format!("/v1/products/{product}/features"),
        &format!("entitlement_feature={feature}"),
    )
    .await?;
    post(
        &c,
        &base,
        &key,
        "/v1/billing_portal/configurations",
        &format!(
            "features[subscription_update][enabled]=true&features[subscription_update][products][0][product]={product}&features[subscription_update][products][0][prices][0]={basic}&features[subscription_update][products][0][prices][1]={pro}"
        ),
    )
    .await?;
    let portal = post(
        &c,
        &base,
        &key,
        "/v1/billing_portal/sessions",
        &format!("customer={customer}&return_url=https://shop.example/account"),
    )
    .await?;
    measure(
        &c,
        "portal",
        portal["url"].as_str().unwrap_or_default(),
        opts.requests,
    )
    .await
}
