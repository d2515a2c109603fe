//! `cashbox-bench bench`: PaymentIntent create + confirm over HTTP with concurrent clients, printing
//! throughput and latency percentiles. With no `--url` it starts an in-process server on a
//! fresh SQLite file (or on `DATABASE_URL`), with the rate limit off.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cashbox_app::{App, Settings};
use cashbox_core::crypto::{KeyRing, hash_secret};
use cashbox_core::id::random_token;
use cashbox_http::HttpConfig;
use cashbox_store::Store;

pub struct BenchOptions {
    pub clients: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// A running server and its secret key; otherwise one is started in-process.
    pub target: Option<(String, String)>,
}

struct Sample {
    payment: Duration,
    create: Duration,
    confirm: Duration,
}

/// The store a benchmark runs on, migrated: `DATABASE_URL`, or else a fresh SQLite file in the
/// temporary directory; its pool as `CASHBOX_DB_MAX_CONNECTIONS` says.
pub(crate) async fn bench_store() -> Result<Store, String> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            let path = std::env::temp_dir().join(format!("cashbox-bench-{}.db", random_token(8)));
            format!("sqlite://{}", path.display())
        }
    };
    let connections = cashbox::config::db_max_connections_from_env()?;
    let store = Store::connect(&url, connections)
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    Ok(store)
}

pub(crate) async fn start_server() -> Result<(String, String, String), String> {
    start_server_on(None).await
}

/// [`start_server`] with `processor` instead of the sandbox.
pub(crate) async fn start_server_on(
    processor: Option<Box<dyn cashbox_processor::Processor>>,
) -> Result<(String, String, String), String> {
    let store = bench_store().await?;
    let backend = store.backend();
    let key = format!("sk_test_{}", random_token(24));
    let ring = KeyRing::parse(&KeyRing::generate_entry("bench")).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let settings = Settings {
        business: Default::default(),
        env_secret_key_hash: Some(hash_secret(&key)),
        public_url: format!("http://{addr}"),
        refund_window_days: None,
        clock: None,
        dunning: Default::default(),
        past_due_revokes_entitlements: false,
        webhooks: Default::default(),
        advance_answer_within: None,
        ordinary_transactions_only: false,
        processor_customer_share: Default::default(),
        stripe_js: None,
        inbound_secrets: Default::default(),
    };
    let app = match processor {
        Some(p) => App::with_processor(store, ring, settings, p),
        None => App::new(store, ring, settings),
    };
    let http = HttpConfig {
        rate_limit_per_second: None,
        ..HttpConfig::default()
    };
    let router = cashbox_http::router(app, &http);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((format!("http://{addr}"), key, backend.to_string()))
}

async fn one_payment(client: &reqwest::Client, base: &str, key: &str) -> Result<Sample, String> {
    let started = Instant::now();
    let created: serde_json::Value = client
        .post(format!("{base}/v1/payment_intents"))
        .bearer_auth(key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("amount=2000&currency=usd&payment_method=pm_card_visa")
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let create = started.elapsed();
    let id = created["id"]
        .as_str()
        .ok_or_else(|| format!("create failed: {created}"))?;
    let confirmed: serde_json::Value = client
        .post(format!("{base}/v1/payment_intents/{id}/confirm"))
        .bearer_auth(key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if confirmed["status"] != "succeeded" {
        return Err(format!("confirm did not succeed: {confirmed}"));
    }
    let payment = started.elapsed();
    Ok(Sample {
        payment,
        create,
        confirm: payment - create,
    })
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub async fn run(opts: BenchOptions) -> Result<(), String> {
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
    one_payment(&client, &base, &key).await?;

    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..opts.clients {
        let (client, base, key) = (client.clone(), base.clone(), key.clone());
        let (measuring, stop) = (measuring.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match one_payment(&client, &base, &key).await {
                    Ok(s) if measuring.load(Ordering::Relaxed) => samples.push(s),
                    Ok(_) => {}
                    Err(_) => errors += 1,
                }
            }
            (samples, errors)
        }));
    }
    tokio::time::sleep(opts.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(opts.duration).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);

    let mut samples = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (s, e) = t.await.map_err(|e| e.to_string())?;
        samples.extend(s);
        errors += e;
    }
    let mut payments: Vec<Duration> = samples.iter().map(|s| s.payment).collect();
    let mut requests: Vec<Duration> = samples.iter().flat_map(|s| [s.create, s.confirm]).collect();
    payments.sort();
    requests.sort();
    let per_second = samples.len() as f64 / elapsed.as_secs_f64();
    println!("cashbox-bench bench: PaymentIntent create + confirm over HTTP");
    println!("  backend:            {backend}");
    println!("  clients:            {}", opts.clients);
    println!(
        "  measured:           {:.1} s (after {:.1} s warm-up)",
        elapsed.as_secs_f64(),
        opts.warmup.as_secs_f64()
    );
    println!("  confirmed payments: {} ({errors} errors)", samples.len());
    println!(
        "  throughput:         {per_second:.0} confirmed payments/s ({:.0} requests/s)",
        per_second * 2.0
    );
    println!(
        "  payment latency:    p50 {}  p99 {}",
        ms(percentile(&payments, 50.0)),
        ms(percentile(&payments, 99.0))
    );
    println!(
        "  request latency:    p50 {}  p99 {}",
        ms(percentile(&requests, 50.0)),
        ms(percentile(&requests, 99.0))
    );
    if opts.target.is_some() {
        // The server is another process: its fast paths are in its /metrics.
        return Ok(());
    }
    let fast = cashbox_store::fast_path_stats();
    print_fast_paths(&fast);
    check_fast_paths(&fast)
}

/// At most this share of a benchmark's fast transactions (deferred on SQLite, buffered on
/// PostgreSQL) may fall back to an ordinary transaction (or [`FALLBACKS_FEW`], for small
/// runs): more means a fast path broke, and the figures measure the slow one.
pub(crate) const FALLBACKS_MAX_PERCENT: u64 = 2;
pub(crate) const FALLBACKS_FEW: u64 = 5;

pub(crate) fn print_fast_paths(fast: &cashbox_store::FastPathStats) {
    if fast.committed() + fast.fallbacks() > 0 {
        println!(
            "  fast paths:         {} committed, {} fell back ({} conflicts, {} failures rerun, {} not deferrable)",
            fast.committed(),
            fast.fallbacks(),
            fast.deferred_conflicts + fast.buffered_conflicts,
            fast.failures_rerun,
            fast.not_deferrable
        );
    }
}

/// Fails the benchmark if more than [`FALLBACKS_MAX_PERCENT`] of its fast transactions fell
/// back.
pub(crate) fn check_fast_paths(fast: &cashbox_store::FastPathStats) -> Result<(), String> {
    if fast.fallbacks_within(FALLBACKS_MAX_PERCENT, FALLBACKS_FEW) {
        Ok(())
    } else {
        Err(format!(
            "{} of {} fast transactions fell back to ordinary ones (at most {FALLBACKS_MAX_PERCENT}% may): a fast path is broken",
            fast.fallbacks(),
            fast.committed() + fast.fallbacks()
        ))
    }
}
