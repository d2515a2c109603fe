//! `cashbox-bench bench-webhooks`: deliveries per second to a local receiver. Records `--events`
//! events (customers created through the application) with one endpoint registered, then
//! runs the webhook worker as `serve` runs it until the receiver has every event, and prints
//! the rate and the p50 / p99 of the attempts' round trips (signing and sending to the
//! answer). A fresh SQLite file, or `DATABASE_URL`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cashbox_app::webhooks::{WebhookWorker, webhook_client};
use cashbox_app::{App, RequestCtx, Settings};
use cashbox_core::crypto::KeyRing;
use cashbox_core::customer::CustomerCreateParams;
use cashbox_core::webhooks::EndpointCreateParams;

use crate::payments::{ms, percentile};

pub struct WebhookBenchOptions {
    pub events: usize,
    /// Events recorded side by side while setting up.
    pub writers: usize,
}

/// A receiver that answers 200 at once and counts.
async fn receiver() -> Result<(String, Arc<AtomicUsize>), String> {
    let count = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let count = Arc::clone(&count);
            move |_body: axum::body::Bytes| {
                let count = Arc::clone(&count);
                async move {
                    count.fetch_add(1, Ordering::Relaxed);
                    "ok"
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((format!("http://{addr}/hook"), count))
}

pub async fn run(opts: WebhookBenchOptions) -> Result<(), String> {
    let store = crate::payments::bench_store().await?;
    let backend = store.backend();
    let ring = KeyRing::parse(&KeyRing::generate_entry("bench")).map_err(|e| e.to_string())?;
    let app = App::new(store, ring, Settings::default());
    let (hook, received) = receiver().await?;
    let ctx = RequestCtx::default();
    app.webhook_endpoints()
        .create(
            &ctx,
            EndpointCreateParams {
                url: Some(hook),
                enabled_events: Some(vec!["customer.created".into()]),
                ..EndpointCreateParams::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;

    println!(
        "recording {} events ({backend}, {} writers)…",
        opts.events, opts.writers
    );
    let setup = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..opts.writers.max(1) {
        let (app, next, total) = (app.clone(), Arc::clone(&next), opts.events);
        writers.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                app.customers()
                    .create(&RequestCtx::default(), CustomerCreateParams::default(), &[])
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        });
    }
    while let Some(r) = writers.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    println!("recorded in {:.1} s", setup.elapsed().as_secs_f64());

    let client = webhook_client(&Settings::default().webhooks);
    let mut worker = WebhookWorker::new(app.clone(), client);
    let started = Instant::now();
    while received.load(Ordering::Relaxed) < opts.events {
        // As `serve`'s worker turns: take what is due into free slots, record what ended.
        let found = worker
            .turn(Duration::from_millis(100))
            .await
            .map_err(|e| e.to_string())?;
        if !found && worker.in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the deliveries did not finish in 10 minutes".into());
        }
    }
    let elapsed = started.elapsed();
    worker.drain().await.map_err(|e| e.to_string())?;
    let attempts = app
        .store()
        .webhook_attempts(None, None, None, opts.events as i64)
        .await
        .map_err(|e| e.to_string())?;
    let mut latencies: Vec<Duration> = attempts
        .iter()
        .map(|a| Duration::from_millis(u64::try_from(a.latency_ms).unwrap_or(0)))
        .collect();
    latencies.sort();
    let failed = attempts
        .iter()
        .filter(|a| !a.status_code.is_some_and(|s| (200..300).contains(&s)))
        .count();
    println!(
        "webhook deliveries: {} in {:.2} s = {:.0}/s (one worker, {backend}); failed attempts: {failed}",
        opts.events,
        elapsed.as_secs_f64(),
        opts.events as f64 / elapsed.as_secs_f64()
    );
    println!(
        "attempt round trip: p50 {}  p99 {}",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0))
    );
    Ok(())
}
