//! `cashbox bench-clock`: one test clock with N customers, each with a card and a monthly
//! subscription in a 7-day trial, advanced by D days in one call; prints how long the advance
//! took and checks what it made. The claim: a year over 1,000 subscriptions in seconds.
//!
//! A fresh SQLite file, or `DATABASE_URL` (the clock and its customers are new; nothing else in
//! the database is read or changed).

use std::time::Instant;

use cashbox_app::{App, AppError, RequestCtx, Settings};
use cashbox_core::clock::{TestClockAdvanceParams, TestClockCreateParams};
use cashbox_core::crypto::KeyRing;
use cashbox_core::invoice::InvoiceListParams;
use serde_json::Value;

use crate::bench_billing::{monthly_price, subscribe};

/// 2027-04-01T00:00:00Z: the clock's time when the customers subscribe.
const START: i64 = 1_806_537_600;
const TRIAL_DAYS: i64 = 7;
const UNIT_AMOUNT: i64 = 19_999;
const SETUP_CONCURRENCY: usize = 32;

pub struct ClockBenchOptions {
    pub subscriptions: usize,
    pub days: i64,
}

fn err(e: AppError) -> String {
    e.to_string()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

pub async fn run(opts: ClockBenchOptions) -> Result<(), String> {
    if opts.days < 1 {
        return Err("--days must be at least 1".into());
    }
    let store = crate::bench::bench_store().await?;
    let backend = store.backend();
    let ring = KeyRing::parse(&KeyRing::generate_entry("bench")).map_err(|e| e.to_string())?;
    let app = App::new(store, ring, Settings::default());
    let ctx = RequestCtx::default();

    let clock = app
        .create_test_clock(
            &ctx,
            TestClockCreateParams {
                frozen_time: Some(START),
                name: Some("bench-clock".into()),
            },
        )
        .await
        .map_err(err)?;
    let clock = id_of(&clock);
    let price = monthly_price(&app, UNIT_AMOUNT).await?;
    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    let mut subscriptions = Vec::with_capacity(opts.subscriptions);
    for i in 0..opts.subscriptions {
        while running.len() >= SETUP_CONCURRENCY {
            if let Some(r) = running.join_next().await {
                subscriptions.push(r.map_err(|e| e.to_string())??);
            }
        }
        let (app, price, clock) = (app.clone(), price.clone(), clock.clone());
        running.spawn(async move { subscribe(&app, &price, i, Some(&clock), TRIAL_DAYS).await });
    }
    while let Some(r) = running.join_next().await {
        subscriptions.push(r.map_err(|e| e.to_string())??);
    }
    println!(
        "setup: {} subscriptions in a {TRIAL_DAYS}-day trial on {clock} in {:.1} s",
        subscriptions.len(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let advanced = app
        .advance_test_clock(
            &ctx,
            &clock,
            TestClockAdvanceParams {
                frozen_time: Some(START + opts.days * 86_400),
            },
        )
        .await
        .map_err(err)?;
    let secs = started.elapsed().as_secs_f64();
    if advanced["status"] != "ready" {
        return Err(format!("the clock ended {}, not ready", advanced["status"]));
    }

    let made = tally(&app, &subscriptions).await?;
    println!("cashbox bench-clock: one advance of a test clock");
    println!("  backend:       {backend}");
    println!(
        "  advanced:      {} days over {} subscriptions",
        opts.days,
        subscriptions.len()
    );
    println!("  invoices:      {} ({} paid)", made.invoices, made.paid);
    println!("  amount paid:   {}", made.amount_paid);
    println!("  elapsed:       {secs:.1} s");
    println!(
        "  throughput:    {:.0} invoices/s",
        made.invoices as f64 / secs.max(1e-9)
    );
    app.store().close().await;
    made.check(subscriptions.len())
}

/// What the advance left: every subscription's invoices, counted, and its status.
#[derive(Default)]
struct Made {
    invoices: usize,
    paid: usize,
    amount_paid: i64,
    /// Invoices per subscription, from the first one tallied; `uneven` if another differs.
    per_subscription: Option<usize>,
    uneven: usize,
    not_active: usize,
}

impl Made {
    /// Every subscription active with the same number of invoices, more than its trial's one,
    /// and every invoice paid: otherwise the advance skipped or failed work.
    fn check(&self, subscriptions: usize) -> Result<(), String> {
        let per = self.per_subscription.unwrap_or(0);
        if subscriptions > 0 && per < 2 {
            return Err(format!(
                "{per} invoices per subscription: nothing was renewed"
            ));
        }
        if self.uneven > 0 || self.not_active > 0 || self.paid != self.invoices {
            return Err(format!(
                "{} subscriptions with another number of invoices than {per}, {} not active, \
                 {} of {} invoices unpaid",
                self.uneven,
                self.not_active,
                self.invoices - self.paid,
                self.invoices
            ));
        }
        Ok(())
    }
}

async fn tally(app: &App, subscriptions: &[String]) -> Result<Made, String> {
    let mut made = Made::default();
    for sub in subscriptions {
        let s = app.retrieve_subscription(sub, &[]).await.map_err(err)?;
        if s["status"] != "active" {
            made.not_active += 1;
        }
        let mut count = 0;
        let mut after = None;
        loop {
            let page = app
                .list_invoices(
                    &InvoiceListParams {
                        subscription: Some(sub.clone()),
                        limit: Some(100),
                        starting_after: after.take(),
                        ..Default::default()
                    },
                    &[],
                )
                .await
                .map_err(err)?;
            for inv in &page.data {
                count += 1;
                if inv["status"] == "paid" {
                    made.paid += 1;
                }
                made.amount_paid += inv["amount_paid"].as_i64().unwrap_or(0);
            }
            match page.data.last() {
                Some(last) if page.has_more => after = Some(id_of(last)),
                _ => break,
            }
        }
        made.invoices += count;
        match made.per_subscription {
            None => made.per_subscription = Some(count),
            Some(per) if per != count => made.uneven += 1,
            Some(_) => {}
        }
    }
    Ok(made)
}
