//! `cashbox-bench bench-clock`: one test clock with N customers, each with a card and a monthly
//! subscription in a 7-day trial, advanced by D days in one call; prints how long the advance
//! took and checks what it made. The claim: a year over 1,000 subscriptions in seconds.
//!
//! A fresh SQLite file, or `DATABASE_URL` (the clock and its customers are new; nothing else in
//! the database is read or changed).

use std::time::Instant;

use cashbox_app::{App, AppError, RequestCtx, Settings};
use cashbox_core::billing::invoice::InvoiceListParams;
use cashbox_core::clock::{TestClockAdvanceParams, TestClockCreateParams};
use cashbox_core::crypto::KeyRing;

use crate::billing::{id_of, monthly_price, subscribe_many};

/// 2027-04-01T00:00:00Z: the clock's time when the customers subscribe.
const START: i64 = 1_806_537_600;
const TRIAL_DAYS: i64 = 7;
const UNIT_AMOUNT: i64 = 19_999;

pub struct ClockBenchOptions {
    pub subscriptions: usize,
    pub days: i64,
}

fn err(e: AppError) -> String {
    e.to_string()
}

pub async fn run(opts: ClockBenchOptions) -> Result<(), String> {
    if opts.days < 1 {
        return Err("--days must be at least 1".into());
    }
    let store = crate::payments::bench_store().await?;
    let backend = store.backend();
    let ring = KeyRing::parse(&KeyRing::generate_entry("bench")).map_err(|e| e.to_string())?;
    let settings = Settings {
        business: Default::default(),
        // It times the whole advance: the call answers once the clock is ready.
        advance_answer_within: Some(std::time::Duration::from_secs(24 * 3_600)),
        ..Settings::default()
    };
    let app = App::new(store, ring, settings);
    let ctx = RequestCtx::default();

    let clock = app
        .test_clocks()
        .create(
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
    let subscriptions =
        subscribe_many(&app, &price, opts.subscriptions, Some(&clock), TRIAL_DAYS).await?;
    println!(
        "setup: {} subscriptions in a {TRIAL_DAYS}-day trial on {clock} in {:.1} s",
        subscriptions.len(),
        started.elapsed().as_secs_f64()
    );

    let until = START + opts.days * 86_400;
    let started = Instant::now();
    let advanced = app
        .test_clocks()
        .advance(
            &ctx,
            &clock,
            TestClockAdvanceParams {
                frozen_time: Some(until),
            },
        )
        .await
        .map_err(err)?;
    let secs = started.elapsed().as_secs_f64();
    if advanced["status"] != "ready" {
        return Err(format!("the clock ended {}, not ready", advanced["status"]));
    }

    let trial_end = START + TRIAL_DAYS * 86_400;
    let want_status = if until >= trial_end {
        "active"
    } else {
        "trialing"
    };
    let made = tally(&app, &subscriptions, want_status).await?;
    println!("cashbox-bench bench-clock: one advance of a test clock");
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
    let fast = cashbox_store::fast_path_stats();
    crate::payments::print_fast_paths(&fast);
    app.store().close().await;
    made.check(subscriptions.len(), until, want_status)?;
    crate::payments::check_fast_paths(&fast)
}

/// What the advance left: every subscription's invoices, counted, and its status.
#[derive(Default)]
struct Made {
    invoices: usize,
    paid: usize,
    amount_paid: i64,
    /// Invoices of the first subscription tallied; `uneven` counts those with another number.
    per_subscription: Option<usize>,
    uneven: usize,
    /// Subscriptions not in the status the clock's time gives them.
    other_status: usize,
}

impl Made {
    /// Each subscription with its $0 trial invoice and one paid renewal for every monthly
    /// boundary from the trial's end up to `until` (counted here by the calendar, not by the
    /// billing code), and in `want_status`: otherwise the advance skipped, repeated or failed
    /// work.
    fn check(&self, subscriptions: usize, until: i64, want_status: &str) -> Result<(), String> {
        let renewals = monthly_boundaries(START + TRIAL_DAYS * 86_400, until);
        let per = 1 + renewals;
        let want_paid = renewals as i64 * UNIT_AMOUNT * subscriptions as i64;
        let wrong = self.invoices != per * subscriptions
            || self.uneven > 0
            || self.paid != self.invoices
            || self.amount_paid != want_paid
            || self.other_status > 0;
        if wrong {
            return Err(format!(
                "expected {per} paid invoices per subscription and {want_paid} paid in all; \
                 found {} invoices ({} paid, {} subscriptions with a count unlike the first's), \
                 {} paid, {} subscriptions not {want_status}",
                self.invoices, self.paid, self.uneven, self.amount_paid, self.other_status
            ));
        }
        Ok(())
    }
}

/// How many of `first`, `first` + 1 month, `first` + 2 months, … are at or before `until`.
fn monthly_boundaries(first: i64, until: i64) -> usize {
    let Some(first) = chrono::DateTime::from_timestamp(first, 0) else {
        return 0;
    };
    (0u32..)
        .map_while(|k| first.checked_add_months(chrono::Months::new(k)))
        .take_while(|t| t.timestamp() <= until)
        .count()
}

/// `subscriptions`' invoices and statuses after the advance; `want_status` is theirs.
async fn tally(app: &App, subscriptions: &[String], want_status: &str) -> Result<Made, String> {
    let mut made = Made::default();
    for sub in subscriptions {
        let s = app.subscriptions().retrieve(sub, &[]).await.map_err(err)?;
        if s["status"] != want_status {
            made.other_status += 1;
        }
        let mut count = 0;
        let mut after = None;
        loop {
            let page = app
                .invoices()
                .list(
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

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn monthly_boundaries_follow_the_calendar() {
        let trial_end = START + TRIAL_DAYS * DAY; // 2027-04-08
        assert_eq!(monthly_boundaries(trial_end, trial_end - 1), 0);
        assert_eq!(monthly_boundaries(trial_end, trial_end), 1);
        // April has 30 days: May 8 is 30 days after April 8, not 31.
        assert_eq!(monthly_boundaries(trial_end, trial_end + 30 * DAY - 1), 1);
        assert_eq!(monthly_boundaries(trial_end, trial_end + 30 * DAY), 2);
        // A year from April 1, 2027 ends on March 31, 2028: April 8 to March 8.
        assert_eq!(monthly_boundaries(trial_end, START + 365 * DAY), 12);
    }

    #[test]
    fn the_check_refuses_a_missing_or_unpaid_invoice() {
        let until = START + 100 * DAY; // the trial invoice and four renewals each
        let whole = Made {
            invoices: 10,
            paid: 10,
            amount_paid: 2 * 4 * UNIT_AMOUNT,
            per_subscription: Some(5),
            uneven: 0,
            other_status: 0,
        };
        assert!(whole.check(2, until, "active").is_ok());
        let missing = Made {
            invoices: 9,
            paid: 9,
            amount_paid: 7 * UNIT_AMOUNT,
            uneven: 1,
            ..whole
        };
        assert!(missing.check(2, until, "active").is_err());
        let unpaid = Made {
            paid: 9,
            amount_paid: 7 * UNIT_AMOUNT,
            ..whole
        };
        assert!(unpaid.check(2, until, "active").is_err());
        let past_due = Made {
            other_status: 1,
            ..whole
        };
        assert!(past_due.check(2, until, "active").is_err());
    }
}
