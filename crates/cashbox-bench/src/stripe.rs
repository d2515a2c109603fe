//! `cashbox-bench bench-stripe`: what Cashbox adds to a card payment on the Stripe processor.
//! The same payment (a saved card, charged and captured at once) is made straight to a Stripe
//! stand-in and through an in-process Cashbox on the Stripe processor pointed at it, one of
//! each in turn so that the machine's swings touch both alike; both are printed.

use std::time::{Duration, Instant};

use cashbox_processor::stripe::{StripeProcessor, StripeSettings};
use serde_json::Value;

use crate::payments::{ms, percentile, start_server_on};

const STAND_KEY: &str = "sk_test_bench";

async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    idempotency: Option<&str>,
    form: &[(&str, &str)],
) -> Result<Value, String> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = client
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(k) = idempotency {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let v: Value = resp.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{url}: {status} {v}"));
    }
    Ok(v)
}

/// A card made on the stand-in as Stripe.js makes one.
async fn card(client: &reqwest::Client, stand: &str) -> Result<String, String> {
    let pm = post(
        client,
        &format!("{stand}/v1/payment_methods"),
        STAND_KEY,
        None,
        &[
            ("type", "card"),
            ("card[number]", "4242424242424242"),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2034"),
            ("card[cvc]", "123"),
        ],
    )
    .await?;
    Ok(pm["id"].as_str().unwrap_or_default().to_string())
}

/// Straight to Stripe: a customer with a saved card; (customer, card).
async fn saved_card_on_stand(
    client: &reqwest::Client,
    stand: &str,
) -> Result<(String, String), String> {
    let card = card(client, stand).await?;
    let customer = post(
        client,
        &format!("{stand}/v1/customers"),
        STAND_KEY,
        None,
        &[],
    )
    .await?;
    let customer = customer["id"].as_str().unwrap_or_default().to_string();
    post(
        client,
        &format!("{stand}/v1/payment_methods/{card}/attach"),
        STAND_KEY,
        None,
        &[("customer", &customer)],
    )
    .await?;
    Ok((customer, card))
}

pub async fn run(stand: &str, requests: usize) -> Result<(), String> {
    let stand = stand.trim_end_matches('/');
    let client = reqwest::Client::new();
    let (customer, direct_card) = saved_card_on_stand(&client, stand).await?;
    // Through Cashbox: the same, Cashbox making the Stripe customer.
    let settings = StripeSettings {
        secret_key: zeroize::Zeroizing::new(STAND_KEY.into()),
        api_base: stand.to_string(),
        timeout: Duration::from_secs(30),
    };
    let processor = StripeProcessor::new(&settings, reqwest::Client::new())?;
    let (base, key, backend) = start_server_on(Some(Box::new(processor))).await?;
    let via_card = card(&client, stand).await?;
    let cashbox_customer = post(&client, &format!("{base}/v1/customers"), &key, None, &[]).await?;
    let cashbox_customer = cashbox_customer["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    post(
        &client,
        &format!("{base}/v1/payment_methods/{via_card}/attach"),
        &key,
        None,
        &[("customer", &cashbox_customer)],
    )
    .await?;

    let direct = |n: usize| {
        let (client, customer, card) = (&client, &customer, &direct_card);
        async move {
            let key = format!("bench-direct-{n}-{}", cashbox_core::id::random_token(8));
            let started = Instant::now();
            let pi = post(
                client,
                &format!("{stand}/v1/payment_intents"),
                STAND_KEY,
                Some(&key),
                &[
                    ("amount", "2000"),
                    ("currency", "usd"),
                    ("customer", customer),
                    ("payment_method", card),
                    ("payment_method_types[]", "card"),
                    ("capture_method", "automatic"),
                    ("confirm", "true"),
                    ("off_session", "true"),
                ],
            )
            .await?;
            check(&pi)?;
            Ok::<_, String>(started.elapsed())
        }
    };
    let via = |_: usize| {
        let (client, base, key, customer, card) =
            (&client, &base, &key, &cashbox_customer, &via_card);
        async move {
            let started = Instant::now();
            let pi = post(
                client,
                &format!("{base}/v1/payment_intents"),
                key,
                None,
                &[
                    ("amount", "2000"),
                    ("currency", "usd"),
                    ("customer", customer),
                    ("payment_method", card),
                    ("confirm", "true"),
                    ("off_session", "true"),
                ],
            )
            .await?;
            check(&pi)?;
            Ok::<_, String>(started.elapsed())
        }
    };
    for n in 0..20 {
        direct(n).await?;
        via(n).await?;
    }
    let (mut a, mut b) = (Vec::with_capacity(requests), Vec::with_capacity(requests));
    for n in 0..requests {
        a.push(direct(n).await?);
        b.push(via(n).await?);
    }
    print_figures(requests, &backend, a, b);
    Ok(())
}

/// Both ways' percentiles, and what Cashbox adds at each.
fn print_figures(requests: usize, backend: &str, mut a: Vec<Duration>, mut b: Vec<Duration>) {
    a.sort();
    b.sort();
    println!("bench-stripe: {requests} payments each way, in turns, Cashbox on {backend}");
    for (name, d) in [("straight to the stand-in", &a), ("through Cashbox", &b)] {
        println!(
            "  {name:<26} p50 {}  p90 {}  p99 {}",
            ms(percentile(d, 50.0)),
            ms(percentile(d, 90.0)),
            ms(percentile(d, 99.0))
        );
    }
    let added = |p| percentile(&b, p).saturating_sub(percentile(&a, p));
    println!(
        "  Cashbox adds              p50 {}  p90 {}  p99 {}",
        ms(added(50.0)),
        ms(added(90.0)),
        ms(added(99.0))
    );
}

fn check(pi: &Value) -> Result<(), String> {
    if pi["status"] == "succeeded" {
        Ok(())
    } else {
        Err(format!("the payment did not succeed: {pi}"))
    }
}
