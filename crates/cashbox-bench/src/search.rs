//! `cashbox-bench bench-search`: N customers (email, name, `metadata[plan]`, `metadata[team]`),
//! then searches by exact email, by metadata and by metadata with a negation, each repeated;
//! prints queries per second and p50 / p99 latency, and for comparison the time to find one
//! customer without the index: paging through all of them, decrypting each, as an app would.
//!
//! A fresh SQLite file, or `DATABASE_URL`. After the load the planner's statistics are
//! refreshed (`ANALYZE`), as PostgreSQL's autovacuum does on its own within a minute.

use std::time::{Duration, Instant};

use cashbox_app::{App, AppError, RequestCtx, Settings};
use cashbox_core::crypto::KeyRing;
use cashbox_core::customer::{CustomerCreateParams, CustomerListParams};
use cashbox_core::search::SearchParams;

use crate::billing::id_of;

const SETUP_CONCURRENCY: usize = 16;
const PLANS: [&str; 4] = ["free", "pro", "team", "enterprise"];

pub struct SearchBenchOptions {
    pub customers: usize,
    pub queries: usize,
}

fn err(e: AppError) -> String {
    e.to_string()
}

fn email(i: usize) -> String {
    format!("customer{i}@example.com")
}

async fn create(app: &App, i: usize) -> Result<String, String> {
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("plan".to_string(), PLANS[i % PLANS.len()].to_string());
    metadata.insert("team".to_string(), format!("t{}", i % 1_000));
    let params: CustomerCreateParams = serde_json::from_value(serde_json::json!({
        "email": email(i),
        "name": format!("Customer {i}"),
        "metadata": metadata,
    }))
    .map_err(|e| e.to_string())?;
    let c = app
        .customers()
        .create(&RequestCtx::default(), params, &[])
        .await
        .map_err(err)?;
    Ok(id_of(&c))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1_000.0
}

/// Runs `query(i)` `n` times, checks each finds `expect(i)` results, and prints the figures.
async fn measure(
    app: &App,
    label: &str,
    n: usize,
    query: impl Fn(usize) -> String,
    expect: impl Fn(usize) -> usize,
) -> Result<(), String> {
    let mut took = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let p = SearchParams {
            query: Some(query(i)),
            limit: Some(10),
            page: None,
        };
        let t = Instant::now();
        let found = app.customers().search(&p, &[]).await.map_err(err)?;
        took.push(t.elapsed());
        let want = expect(i);
        if found.data.len() != want.min(10) {
            return Err(format!(
                "{label}: {} found {} results, expected {want}",
                query(i),
                found.data.len()
            ));
        }
    }
    let total = started.elapsed().as_secs_f64();
    took.sort();
    println!(
        "{label:<40} {:>8.0} searches/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        n as f64 / total,
        percentile(&took, 0.5),
        percentile(&took, 0.99)
    );
    Ok(())
}

pub async fn run(opts: SearchBenchOptions) -> Result<(), String> {
    if opts.customers < 1_000 {
        return Err("--customers must be at least 1000".into());
    }
    let store = crate::payments::bench_store().await?;
    let backend = store.backend();
    let ring = KeyRing::parse(&KeyRing::generate_entry("bench")).map_err(|e| e.to_string())?;
    let app = App::new(store, ring, Settings::default());

    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for i in 0..opts.customers {
        while running.len() >= SETUP_CONCURRENCY {
            if let Some(r) = running.join_next().await {
                r.map_err(|e| e.to_string())??;
            }
        }
        let app = app.clone();
        running.spawn(async move { create(&app, i).await });
    }
    while let Some(r) = running.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    println!(
        "setup: {} customers on {backend:?} in {:.1} s",
        opts.customers,
        started.elapsed().as_secs_f64()
    );
    // What `serve`'s indexer does in the background as the customers are written.
    let started = Instant::now();
    let indexed = app.index_all_pending().await.map_err(err)?;
    println!(
        "indexing: {indexed} customers in {:.1} s ({:.0}/s)",
        started.elapsed().as_secs_f64(),
        indexed as f64 / started.elapsed().as_secs_f64()
    );
    // The planner's statistics, as autovacuum would have them a minute after such a load.
    app.store().analyze().await.map_err(|e| e.to_string())?;

    let n = opts.customers;
    let step = 7_919; // a prime: the searched customers spread over the whole table
    measure(
        &app,
        "email:'…' (exact, blind index)",
        opts.queries,
        |i| format!("email:'{}'", email((i * step) % n)),
        |_| 1,
    )
    .await?;
    let per_team = |t: usize| (0..n).filter(|i| i % 1_000 == t).count();
    measure(
        &app,
        "metadata['team']:'…'",
        opts.queries,
        |i| format!("metadata['team']:'t{}'", i % 1_000),
        |i| per_team(i % 1_000),
    )
    .await?;
    measure(
        &app,
        "metadata['team']:'…' AND -metadata['plan']",
        opts.queries,
        |i| {
            format!(
                "metadata['team']:'t{}' AND -metadata['plan']:'free'",
                i % 1_000
            )
        },
        |i| {
            (0..n)
                .filter(|c| c % 1_000 == i % 1_000 && c % PLANS.len() != 0)
                .count()
        },
    )
    .await?;

    // Without the index: read every customer, 100 a page, and compare the decrypted email.
    let wanted = email(n / 2);
    let started = Instant::now();
    let mut after: Option<String> = None;
    let mut scanned = 0usize;
    let mut found = false;
    loop {
        let params: CustomerListParams = serde_json::from_value(serde_json::json!({
            "limit": 100,
            "starting_after": after,
        }))
        .map_err(|e| e.to_string())?;
        let page = app.customers().list(&params, &[]).await.map_err(err)?;
        scanned += page.data.len();
        found |= page.data.iter().any(|c| c["email"] == wanted.as_str());
        match (page.has_more, page.data.last()) {
            (true, Some(last)) => after = Some(id_of(last)),
            _ => break,
        }
    }
    if !found {
        return Err(format!("the scan did not find {wanted}"));
    }
    println!(
        "{:<40} {:>8.2} s for one lookup ({scanned} customers decrypted)",
        "without the index: list all and compare",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
