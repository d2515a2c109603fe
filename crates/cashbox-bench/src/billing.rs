//! `cashbox-bench bench-billing`: a billing run that renews N subscriptions (an invoice, a charge on
//! the sandbox and their events each), timed; and a digest of the invoices it made, so a run
//! killed halfway and run again can be compared with one that was not.
//!
//! Phases, each its own process if asked: `setup` makes N customers with a card and a monthly
//! subscription in a one-day trial (their $0 invoices included); `run` moves the application's
//! clock past the trials and runs the billing worker until nothing is due, after finishing any
//! payment a killed run left in flight; `report` prints the digest. The database is
//! `bench-billing.db` in the working directory (or `DATABASE_URL`); its key ring and clock are
//! kept in `bench-billing.state` beside it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use cashbox_app::{App, RequestCtx, Settings};
use cashbox_core::billing::catalog::{PriceCreateParams, ProductCreateParams, RecurringParams};
use cashbox_core::billing::subscription::{ItemParams, SubscriptionCreateParams};
use cashbox_core::crypto::KeyRing;
use cashbox_core::customer::CustomerCreateParams;
use cashbox_store::Store;

/// The application's clock during the bench: fixed, so every run bills the same periods.
static NOW: AtomicI64 = AtomicI64::new(0);

fn bench_now() -> i64 {
    NOW.load(Ordering::Relaxed)
}

/// 2027-04-01T00:00:00Z: when the subscriptions start.
const START: i64 = 1_806_537_600;
const TRIAL_DAYS: i64 = 1;
const STATE_FILE: &str = "bench-billing.state";
const SETUP_CONCURRENCY: usize = 32;

pub struct BillingBenchOptions {
    pub subscriptions: usize,
    pub phase: String,
    pub batch: i64,
}

struct State {
    ring: String,
    runs: i64,
}

fn read_state() -> Option<State> {
    let text = std::fs::read_to_string(STATE_FILE).ok()?;
    let mut lines = text.lines();
    Some(State {
        ring: lines.next()?.to_string(),
        runs: lines.next()?.parse().ok()?,
    })
}

fn write_state(s: &State) -> Result<(), String> {
    std::fs::write(STATE_FILE, format!("{}\n{}\n", s.ring, s.runs)).map_err(|e| e.to_string())
}

async fn open(ring: &str) -> Result<App, String> {
    let url = match std::env::var("DATABASE_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => "sqlite://bench-billing.db".to_string(),
    };
    let connections = cashbox::config::db_max_connections_from_env()?;
    let store = Store::connect(&url, connections)
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let ring = KeyRing::parse(ring).map_err(|e| e.to_string())?;
    let settings = Settings {
        business: Default::default(),
        public_url: "http://127.0.0.1:4242".into(),
        clock: Some(bench_now),
        ..Settings::default()
    };
    Ok(App::new(store, ring, settings))
}

pub async fn run(opts: BillingBenchOptions) -> Result<(), String> {
    let phases: &[&str] = match opts.phase.as_str() {
        "all" => &["setup", "run", "report"],
        "setup" => &["setup"],
        "run" => &["run"],
        "report" => &["report"],
        other => {
            return Err(format!(
                "unknown phase {other}: use setup, run, report or all"
            ));
        }
    };
    for phase in phases {
        match *phase {
            "setup" => setup(opts.subscriptions).await?,
            "run" => run_billing(opts.batch).await?,
            _ => report().await?,
        }
    }
    Ok(())
}

async fn setup(n: usize) -> Result<(), String> {
    let state = State {
        ring: KeyRing::generate_entry("bench").as_str().to_string(),
        runs: 0,
    };
    write_state(&state)?;
    let app = open(&state.ring).await?;
    NOW.store(START, Ordering::Relaxed);
    let price = monthly_price(&app, 1_999).await?;
    let started = Instant::now();
    subscribe_many(&app, &price, n, None, TRIAL_DAYS).await?;
    println!(
        "setup: {n} subscriptions in a {TRIAL_DAYS}-day trial in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    app.store().close().await;
    Ok(())
}

/// A product with a monthly price of `unit_amount` (USD cents); the price's id.
pub(crate) async fn monthly_price(app: &App, unit_amount: i64) -> Result<String, String> {
    let ctx = RequestCtx::default();
    let err = |e: cashbox_app::AppError| e.to_string();
    let product = app
        .products()
        .create(
            &ctx,
            ProductCreateParams {
                name: Some("Monthly plan".into()),
                ..Default::default()
            },
            &[],
        )
        .await
        .map_err(err)?;
    let price = app
        .prices()
        .create(
            &ctx,
            PriceCreateParams {
                product: Some(id_of(&product)),
                currency: Some("usd".into()),
                unit_amount: Some(unit_amount),
                recurring: Some(RecurringParams {
                    interval: Some(cashbox_core::billing::catalog::Interval::Month),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &[],
        )
        .await
        .map_err(err)?;
    Ok(id_of(&price))
}

/// `n` customers subscribed by [`subscribe`], `SETUP_CONCURRENCY` at a time; the
/// subscriptions' ids.
pub(crate) async fn subscribe_many(
    app: &App,
    price: &str,
    n: usize,
    clock: Option<&str>,
    trial_days: i64,
) -> Result<Vec<String>, String> {
    let mut running = tokio::task::JoinSet::new();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        while running.len() >= SETUP_CONCURRENCY {
            if let Some(r) = running.join_next().await {
                ids.push(r.map_err(|e| e.to_string())??);
            }
        }
        let (app, price) = (app.clone(), price.to_string());
        let clock = clock.map(str::to_string);
        running
            .spawn(async move { subscribe(&app, &price, i, clock.as_deref(), trial_days).await });
    }
    while let Some(r) = running.join_next().await {
        ids.push(r.map_err(|e| e.to_string())??);
    }
    Ok(ids)
}

/// An object's id, as the API renders it.
pub(crate) fn id_of(v: &serde_json::Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

/// Customer `i`, with a Visa card (on the test clock `clock`, if given), subscribed to `price`
/// in a trial of `trial_days`; the subscription's id.
async fn subscribe(
    app: &App,
    price: &str,
    i: usize,
    clock: Option<&str>,
    trial_days: i64,
) -> Result<String, String> {
    let ctx = RequestCtx::default();
    let err = |e: cashbox_app::AppError| e.to_string();
    let customer = app
        .customers()
        .create(
            &ctx,
            CustomerCreateParams {
                email: Some(format!("bench{i}@example.com")),
                payment_method: Some("pm_card_visa".into()),
                test_clock: clock.map(str::to_string),
                ..Default::default()
            },
            &[],
        )
        .await
        .map_err(err)?;
    let sub = app
        .subscriptions()
        .create(
            &ctx,
            SubscriptionCreateParams {
                customer: Some(id_of(&customer)),
                items: Some(vec![ItemParams {
                    price: Some(price.to_string()),
                    ..Default::default()
                }]),
                trial_period_days: Some(trial_days),
                ..Default::default()
            },
            &[],
        )
        .await
        .map_err(err)?;
    Ok(id_of(&sub))
}

async fn run_billing(batch: i64) -> Result<(), String> {
    let mut state = read_state().ok_or("no bench state here: run the setup phase first")?;
    // Each run's clock is past the previous one's payment leases, so payments a killed run
    // left in flight are finished by the recovery sweep, with their original processor keys.
    let now = START
        + TRIAL_DAYS * 86_400
        + 1
        + state.runs * (cashbox_core::payments::PENDING_LEASE_SECS + 1);
    state.runs += 1;
    write_state(&state)?;
    let app = open(&state.ring).await?;
    NOW.store(now, Ordering::Relaxed);
    let err = |e: cashbox_app::AppError| e.to_string();
    let started = Instant::now();
    let mut recovered = 0;
    loop {
        let r = app.recover_interrupted().await.map_err(err)?;
        recovered += r.examined;
        if r.examined < cashbox_app::payments::recovery::RECOVERY_BATCH as usize {
            break;
        }
    }
    let mut done = 0usize;
    loop {
        let n = app.run_due_billing(batch).await.map_err(err)?;
        done += n;
        if n > 0 {
            println!("progress: {done} pieces of work run");
        }
        if (n as i64) < batch {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("cashbox-bench bench-billing: renewals (invoice + sandbox charge + events)");
    println!("  backend:      {}", app.store().backend());
    println!("  recovered:    {recovered} interrupted payments");
    println!("  work run:     {done}");
    let fast = cashbox_store::fast_path_stats();
    crate::payments::print_fast_paths(&fast);
    println!("  elapsed:      {secs:.1} s");
    println!(
        "  throughput:   {:.0} renewals/s",
        done as f64 / secs.max(1e-9)
    );
    app.store().close().await;
    crate::payments::check_fast_paths(&fast)
}

async fn report() -> Result<(), String> {
    let state = read_state().ok_or("no bench state here: run the setup phase first")?;
    let app = open(&state.ring).await?;
    let d = app.invoice_digest().await.map_err(|e| e.to_string())?;
    println!("invoices: {}", d.invoices);
    println!("paid: {}", d.paid);
    println!("total: {}", d.total);
    println!("amount_paid: {}", d.amount_paid);
    println!("digest: {:016x}", d.hash);
    app.store().close().await;
    Ok(())
}
