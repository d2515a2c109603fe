//! `cashbox-bench`: the benchmark harness, a binary of its own so that none of it ships in
//! `cashbox`. Each subcommand runs the application in this process (or measures a running
//! server, for those that take `--url`) and prints its figures; see docs/performance.md.

/// The allocator `cashbox` runs with, so that the figures are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod billing;
mod clock;
mod pages;
mod payments;
mod search;
mod stripe;
mod usage;
mod webhooks;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cashbox-bench", about = "Cashbox's benchmarks", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Benchmark PaymentIntent create + confirm over HTTP and print throughput and latency.
    /// Starts its own server on a fresh SQLite file (or DATABASE_URL) unless --url is given.
    Bench {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 2)]
        warmup_seconds: u64,
        /// A running server to measure instead (with --key).
        #[arg(long, requires = "key")]
        url: Option<String>,
        #[arg(long)]
        key: Option<String>,
    },
    /// Benchmark a billing run: renew N subscriptions (invoice, sandbox charge, events) and
    /// print the time taken; `--phase report` prints a digest of the invoices made.
    BenchBilling {
        #[arg(long, default_value_t = 100_000)]
        subscriptions: usize,
        /// setup, run, report, or all of them in turn.
        #[arg(long, default_value = "all")]
        phase: String,
        /// Pieces of due work the worker takes at a time.
        #[arg(long, default_value_t = cashbox_app::billing::billing_run::BILLING_ROUND)]
        batch: i64,
    },
    /// Benchmark a test clock: N customers with a monthly subscription in a 7-day trial on one
    /// clock, advanced by D days in one call; prints the time the advance took and checks that
    /// every subscription is active with all its invoices paid.
    BenchClock {
        #[arg(long, default_value_t = 1_000)]
        subscriptions: usize,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Benchmark meter-event ingestion (single and batch) and the usage and entitlement
    /// checks over HTTP, printing throughput and p50 / p99 latency.
    BenchUsage {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 1)]
        warmup_seconds: u64,
        /// Customers the events and checks are spread over.
        #[arg(long, default_value_t = 50)]
        customers: usize,
        /// Run only these measurements (single, batch, usage, entitlements), comma-separated.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// A running server to measure instead (with --key).
        #[arg(long, requires = "key")]
        url: Option<String>,
        #[arg(long)]
        key: Option<String>,
    },
    /// Benchmark search over N customers: exact email through the blind index, metadata, and
    /// metadata with a negation; prints searches per second, p50 / p99, and the cost of one
    /// lookup without the index.
    BenchSearch {
        #[arg(long, default_value_t = 100_000)]
        customers: usize,
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
    },
    /// Benchmark the hosted pages' response time (checkout, portal) over loopback HTTP,
    /// printing p50 / p99 / max.
    BenchPages {
        #[arg(long, default_value_t = 500)]
        requests: usize,
    },
    /// What Cashbox adds to a payment on the Stripe processor: the same payment made straight
    /// to a Stripe stand-in (localstripe: `python tests/stripe/localstripe_server.py 8420`)
    /// and through Cashbox, in turns, printing both.
    BenchStripe {
        /// The stand-in's address.
        #[arg(long, default_value = "http://127.0.0.1:8420")]
        stand: String,
        #[arg(long, default_value_t = 300)]
        requests: usize,
    },
    /// Benchmark webhook deliveries per second to a local receiver.
    BenchWebhooks {
        #[arg(long, default_value_t = 20_000)]
        events: usize,
        #[arg(long, default_value_t = 16)]
        writers: usize,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // The HTTP clients (the load generators, the webhook worker) use rustls with ring.
    cashbox_app::webhooks::install_tls_provider();
    match run(Cli::parse().command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cashbox-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    let secs = std::time::Duration::from_secs;
    match command {
        Command::Bench {
            clients,
            seconds,
            warmup_seconds,
            url,
            key,
        } => {
            payments::run(payments::BenchOptions {
                clients,
                duration: secs(seconds),
                warmup: secs(warmup_seconds),
                target: url.zip(key),
            })
            .await
        }
        Command::BenchBilling {
            subscriptions,
            phase,
            batch,
        } => {
            billing::run(billing::BillingBenchOptions {
                subscriptions,
                phase,
                batch,
            })
            .await
        }
        Command::BenchClock {
            subscriptions,
            days,
        } => {
            clock::run(clock::ClockBenchOptions {
                subscriptions,
                days,
            })
            .await
        }
        Command::BenchUsage {
            clients,
            seconds,
            warmup_seconds,
            customers,
            only,
            url,
            key,
        } => {
            usage::run(usage::UsageBenchOptions {
                clients,
                duration: secs(seconds),
                warmup: secs(warmup_seconds),
                customers,
                only,
                target: url.zip(key),
            })
            .await
        }
        Command::BenchSearch { customers, queries } => {
            search::run(search::SearchBenchOptions { customers, queries }).await
        }
        Command::BenchPages { requests } => pages::run(pages::PagesBenchOptions { requests }).await,
        Command::BenchStripe { stand, requests } => stripe::run(&stand, requests).await,
        Command::BenchWebhooks { events, writers } => {
            webhooks::run(webhooks::WebhookBenchOptions { events, writers }).await
        }
    }
}
