//! `cashbox-bench bench-usage`: meter-event ingestion (one event a request, and batches of 1,000)
//! and the check calls (usage check, entitlement check) over HTTP with concurrent clients,
//! printing throughput and p50 / p99 latency for each. With no `--url` it starts an
//! in-process server on a fresh SQLite file (or `DATABASE_URL`), with the rate limit off.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cashbox_core::id::random_token;
use serde_json::{Value, json};

use crate::payments::{ms, percentile, start_server};

pub struct UsageBenchOptions {
    pub clients: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub customers: usize,
    /// Which measurements to run: any of single, batch, usage, entitlements.
    pub only: Vec<String>,
    pub target: Option<(String, String)>,
}

impl UsageBenchOptions {
    fn runs(&self, what: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == what)
    }
}

struct Target {
    client: reqwest::Client,
    base: String,
    key: String,
    customers: Vec<String>,
    run: String,
    next: AtomicU64,
}

impl Target {
    async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Result<Value, String> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let ok = r.status().is_success();
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if ok { Ok(v) } else { Err(v.to_string()) }
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let ok = r.status().is_success();
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if ok { Ok(v) } else { Err(v.to_string()) }
    }

    fn identifier(&self) -> String {
        format!("{}-{}", self.run, self.next.fetch_add(1, Ordering::Relaxed))
    }

    fn customer(&self, i: u64) -> &str {
        &self.customers[(i as usize) % self.customers.len()]
    }
}

/// Customers on a plan with a metered price on the `tokens` meter, a spend limit each, and
/// a `sessions` feature with a large quota.
async fn setup(t: &mut Target, customers: usize) -> Result<(), String> {
    t.post(
        "/v1/billing/meters",
        &[
            ("display_name", "Tokens"),
            ("event_name", &format!("tokens-{}", t.run)),
            ("default_aggregation[formula]", "sum"),
        ],
    )
    .await?;
    let meter = t
        .get("/v1/billing/meters?limit=1")
        .await?
        .pointer("/data/0/id")
        .and_then(Value::as_str)
        .ok_or("no meter")?
        .to_string();
    let product = t.post("/v1/products", &[("name", "AI plan")]).await?["id"]
        .as_str()
        .ok_or("no product")?
        .to_string();
    let price = t
        .post(
            "/v1/prices",
            &[
                ("product", &product),
                ("currency", "usd"),
                ("unit_amount_decimal", "0.05"),
                ("recurring[interval]", "month"),
                ("recurring[usage_type]", "metered"),
                ("recurring[meter]", &meter),
            ],
        )
        .await?["id"]
        .as_str()
        .ok_or("no price")?
        .to_string();
    let feature = format!("sessions-{}", t.run);
    let f = t
        .post(
            "/v1/entitlements/features",
            &[("name", "Sessions"), ("lookup_key", &feature)],
        )
        .await?;
    t.post(
        &format!("/v1/products/{product}/features"),
        &[
            ("entitlement_feature", f["id"].as_str().ok_or("no feature")?),
            ("quota", "1000000000"),
        ],
    )
    .await?;
    for i in 0..customers {
        let c = t
            .post(
                "/v1/customers",
                &[
                    ("email", &format!("bench{i}@example.com")),
                    ("payment_method", "pm_card_visa"),
                ],
            )
            .await?["id"]
            .as_str()
            .ok_or("no customer")?
            .to_string();
        t.post(
            "/v1/subscriptions",
            &[("customer", &c), ("items[0][price]", &price)],
        )
        .await?;
        t.post(
            "/v1/billing/spend_limits",
            &[
                ("customer", &c),
                ("amount", "99999999"),
                ("currency", "usd"),
            ],
        )
        .await?;
        t.customers.push(c);
    }
    Ok(())
}

struct Measured {
    operations: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

/// Runs `op` from `clients` concurrent clients: a warm-up, then a measured window.
async fn drive<F, Fut>(t: &Arc<Target>, opts: &UsageBenchOptions, op: F) -> Measured
where
    F: Fn(Arc<Target>, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Result<u64, String>> + Send,
{
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..opts.clients {
        let (t, op) = (t.clone(), op.clone());
        let (measuring, stop) = (measuring.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut ops, mut errors, mut first_error) = (0u64, 0u64, None);
            let mut i = c as u64;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let r = op(t.clone(), i).await;
                i += 1;
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                match r {
                    Ok(n) => {
                        ops += n;
                        latencies.push(started.elapsed());
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (ops, errors, first_error, latencies)
        }));
    }
    tokio::time::sleep(opts.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(opts.duration).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut m = Measured {
        operations: 0,
        errors: 0,
        first_error: None,
        latencies: Vec::new(),
        elapsed,
    };
    for task in tasks {
        if let Ok((ops, errors, first, lat)) = task.await {
            m.operations += ops;
            m.errors += errors;
            if m.first_error.is_none() {
                m.first_error = first;
            }
            m.latencies.extend(lat);
        }
    }
    m.latencies.sort();
    m
}

fn report(name: &str, unit: &str, target: &str, m: &Measured) {
    println!("  {name}");
    println!(
        "    throughput:  {:.0} {unit}/s ({} in {:.1} s, {} errors)   target {target}",
        m.operations as f64 / m.elapsed.as_secs_f64(),
        m.operations,
        m.elapsed.as_secs_f64(),
        m.errors
    );
    println!(
        "    latency:     p50 {}  p99 {} (per request)",
        ms(percentile(&m.latencies, 50.0)),
        ms(percentile(&m.latencies, 99.0))
    );
    if let Some(e) = &m.first_error {
        println!(
            "    first error: {}",
            e.chars().take(200).collect::<String>()
        );
    }
}

pub async fn run(opts: UsageBenchOptions) -> Result<(), String> {
    let (base, key, backend) = match &opts.target {
        Some((url, key)) => (
            url.trim_end_matches('/').to_string(),
            key.clone(),
            "remote".to_string(),
        ),
        None => start_server().await?,
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.clients)
        .build()
        .map_err(|e| e.to_string())?;
    let mut t = Target {
        client,
        base,
        key,
        customers: Vec::new(),
        run: random_token(6),
        next: AtomicU64::new(0),
    };
    setup(&mut t, opts.customers.max(1)).await?;
    let event_name = format!("tokens-{}", t.run);
    let feature = format!("sessions-{}", t.run);
    let t = Arc::new(t);
    println!("cashbox-bench bench-usage: meter events and checks over HTTP");
    println!("  backend:      {backend}");
    println!(
        "  clients:      {} over {} customers; {:.0} s measured after {:.0} s warm-up each",
        opts.clients,
        t.customers.len(),
        opts.duration.as_secs_f64(),
        opts.warmup.as_secs_f64()
    );

    if opts.runs("single") {
        let name = event_name.clone();
        let single = drive(&t, &opts, move |t, i| {
            let name = name.clone();
            async move {
                let id = t.identifier();
                t.post(
                    "/v1/billing/meter_events",
                    &[
                        ("event_name", name.as_str()),
                        ("payload[stripe_customer_id]", t.customer(i)),
                        ("payload[value]", "7"),
                        ("identifier", &id),
                    ],
                )
                .await
                .map(|_| 1)
            }
        })
        .await;
        report(
            "meter events, one per request",
            "events",
            ">= 10,000/s",
            &single,
        );
    }
    if opts.runs("batch") {
        let name = event_name.clone();
        let batch = drive(&t, &opts, move |t, i| {
            let name = name.clone();
            async move {
                let events: Vec<Value> = (0..1_000)
                    .map(|k| {
                        json!({"event_name": name, "identifier": t.identifier(),
                           "payload": {"stripe_customer_id": t.customer(i + k), "value": "3"}})
                    })
                    .collect();
                let r = t
                    .client
                    .post(format!("{}/v1/billing/meter_events/batch", t.base))
                    .bearer_auth(&t.key)
                    .json(&json!({ "events": events }))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let v: Value = r.json().await.map_err(|e| e.to_string())?;
                match v["recorded"].as_u64() {
                    Some(n) if n == 1_000 => Ok(n),
                    _ => Err(v.to_string()),
                }
            }
        })
        .await;
        report(
            "meter events, batches of 1,000",
            "events",
            ">= 100,000/s",
            &batch,
        );
    }
    if opts.runs("usage") {
        let name = event_name.clone();
        let checks = drive(&t, &opts, move |t, i| {
            let name = name.clone();
            async move {
                let path = format!(
                    "/v1/billing/usage_check?customer={}&event_name={name}&quantity=100",
                    t.customer(i)
                );
                let v = t.get(&path).await?;
                if v["allowed"] == true {
                    Ok(1)
                } else {
                    Err(v.to_string())
                }
            }
        })
        .await;
        report(
            "usage checks",
            "checks",
            ">= 20,000/s, p99 <= 2 ms",
            &checks,
        );
    }
    if opts.runs("entitlements") {
        let ent = drive(&t, &opts, move |t, i| {
            let feature = feature.clone();
            async move {
                let path = format!(
                    "/v1/entitlements/check?customer={}&feature={feature}",
                    t.customer(i)
                );
                let v = t.get(&path).await?;
                if v["allowed"] == true {
                    Ok(1)
                } else {
                    Err(v.to_string())
                }
            }
        })
        .await;
        report(
            "entitlement checks",
            "checks",
            ">= 20,000/s, p99 <= 2 ms",
            &ent,
        );
    }
    Ok(())
}
