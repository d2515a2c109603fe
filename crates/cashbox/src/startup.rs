//! Opening the database and the key ring, the development defaults, production's refusals,
//! and running the server until a signal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cashbox_app::billing::billing_run::BILLING_ROUND;
use cashbox_app::keys::SOURCE_GENERATED;
use cashbox_app::{App, Settings};
use cashbox_core::api_key::{self, KeyKind};
use cashbox_core::crypto::{KeyRing, hash_secret};
use cashbox_http::HttpConfig;
use cashbox_processor::Processor;
use cashbox_processor::stripe::StripeProcessor;
use cashbox_store::Store;

use crate::config::{Config, Env, ProcessorConfig, StripeConfig, redact_url};

/// How often expired idempotency keys are deleted.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(600);
/// How often interrupted payment operations are looked for and finished.
pub const RECOVERY_INTERVAL: Duration = Duration::from_secs(15);
/// How often the search indexer looks for objects written since it last looked.
pub const SEARCH_INDEX_INTERVAL: Duration = Duration::from_millis(250);
/// How often the billing worker looks for work due on the wall clock.
pub const BILLING_INTERVAL: Duration = Duration::from_secs(1);
pub const DEV_KEYS_FILE: &str = "encryption.keys";
pub const SQLITE_FILE: &str = "cashbox.db";

/// Why the database is opened: to serve (or migrate), which makes what is missing (the data
/// directory, the SQLite file, a development key), or for an operator command, which works
/// on existing data only and refuses, saying where it looked, when there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Serve,
    Operate,
}

/// An operator command's refusal when there is no data where it looked.
fn no_data(missing: &Path) -> String {
    format!(
        "no Cashbox data here: {} does not exist. Run this where `cashbox serve` ran, or say where the data is with --data-dir DIR (CASHBOX_DATA_DIR) and, for PostgreSQL, DATABASE_URL",
        missing.display()
    )
}

/// What start-up decided, to be said plainly to the operator.
pub struct Opened {
    pub app: App,
    pub notes: Vec<String>,
}

fn database_url(
    config: &Config,
    purpose: Purpose,
    notes: &mut Vec<String>,
) -> Result<String, String> {
    if let Some(url) = &config.database_url {
        notes.push(format!("database: {}", redact_url(url)));
        return Ok(url.clone());
    }
    let path = config.data_dir.join(SQLITE_FILE);
    if purpose == Purpose::Operate && !path.exists() {
        return Err(no_data(&path));
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        format!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        )
    })?;
    notes.push(format!(
        "database: SQLite at {} (default; set DATABASE_URL for PostgreSQL)",
        path.display()
    ));
    Ok(format!("sqlite://{}", path.display()))
}

fn load_ring(
    config: &Config,
    purpose: Purpose,
    notes: &mut Vec<String>,
) -> Result<KeyRing, String> {
    if let Some(spec) = &config.encryption_keys {
        let ring = KeyRing::parse(spec).map_err(|e| format!("CASHBOX_ENCRYPTION_KEYS: {e}"))?;
        notes.push(format!(
            "encryption: key ring from CASHBOX_ENCRYPTION_KEYS, primary key {:?}",
            ring.primary_id()
        ));
        return Ok(ring);
    }
    if let Some(path) = &config.encryption_keys_file {
        let ring = read_ring(path)?;
        notes.push(format!(
            "encryption: key ring from {}, primary key {:?}",
            path.display(),
            ring.primary_id()
        ));
        return Ok(ring);
    }
    if config.env == Env::Production {
        return Err("production needs an encryption key ring: set CASHBOX_ENCRYPTION_KEYS or CASHBOX_ENCRYPTION_KEYS_FILE (generate a key with `cashbox keys generate-encryption-key`)".into());
    }
    let path = config.data_dir.join(DEV_KEYS_FILE);
    if purpose == Purpose::Operate && !path.exists() {
        return Err(no_data(&path));
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        format!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        )
    })?;
    if !path.exists() {
        write_private(&path, &KeyRing::generate_entry("dev1"))?;
        notes.push(format!(
            "WARNING: generated a development encryption key in {}. Anyone with this file can read the customer data; production refuses to run on it.",
            path.display()
        ));
    } else {
        notes.push(format!(
            "encryption: development key ring in {}",
            path.display()
        ));
    }
    read_ring(&path)
}

fn read_ring(path: &Path) -> Result<KeyRing, String> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read encryption keys from {}: {e}", path.display()))?,
    );
    KeyRing::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_private(path: &PathBuf, contents: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Connects, migrates and builds the application. `public_url` is where browsers reach the
/// hosted pages (known once `serve` has bound its port).
pub async fn open(config: &Config, public_url: &str, purpose: Purpose) -> Result<Opened, String> {
    let mut notes = vec![format!(
        "environment: {}",
        match config.env {
            Env::Development => "development (set CASHBOX_ENV=production for production)",
            Env::Production => "production",
        }
    )];
    let url = database_url(config, purpose, &mut notes)?;
    let ring = load_ring(config, purpose, &mut notes)?;
    let store = Store::connect(&url, config.db_max_connections)
        .await
        .map_err(|e| format!("cannot open the database {}: {e}", redact_url(&url)))?;
    let applied = store
        .migrate()
        .await
        .map_err(|e| format!("migrations failed on {}: {e}", redact_url(&url)))?;
    if purpose == Purpose::Serve {
        store
            .check_writable()
            .await
            .map_err(|e| format!("cannot serve from {}: {e}", redact_url(&url)))?;
    }
    if !applied.is_empty() {
        notes.push(format!("migrations applied: {applied:?}"));
    }
    let env_secret_key_hash = match &config.secret_key {
        Some(k) if api_key::is_valid_env_secret(k) => {
            notes.push(format!(
                "api key: CASHBOX_SECRET_KEY ({})",
                api_key::redact(k)
            ));
            Some(hash_secret(k))
        }
        Some(_) => {
            return Err(format!(
                "CASHBOX_SECRET_KEY must start with sk_test_ or sk_live_ and be at least {} characters without spaces",
                api_key::ENV_SECRET_KEY_CHARS_MIN
            ));
        }
        None => None,
    };
    if let Some(days) = config.refund_window_days {
        notes.push(format!(
            "refunds: allowed within {days} days of the payment"
        ));
    }
    let settings = Settings {
        business: config.business.clone(),
        env_secret_key_hash,
        public_url: public_url.to_string(),
        refund_window_days: config.refund_window_days,
        clock: None,
        dunning: config.dunning.clone(),
        past_due_revokes_entitlements: config.past_due_revokes_entitlements,
        webhooks: config.webhooks.clone(),
        advance_answer_within: None,
        ordinary_transactions_only: false,
        processor_customer_share: config.processor_customer_share,
        inbound_secrets: match &config.processor {
            ProcessorConfig::Stripe(stripe) => {
                cashbox_app::inbound::InboundSecrets(stripe.webhook_secrets.clone())
            }
            ProcessorConfig::Sandbox => Default::default(),
        },
        stripe_js: match &config.processor {
            ProcessorConfig::Stripe(stripe) => Some(cashbox_app::StripeJs {
                publishable_key: stripe.publishable_key.clone(),
                js_url: stripe.js_url.clone(),
            }),
            ProcessorConfig::Sandbox => None,
        },
    };
    let app = match &config.processor {
        ProcessorConfig::Sandbox => {
            notes.push(
                "processor: the built-in sandbox (Stripe's test cards, no money moves)".into(),
            );
            App::new(store, ring, settings)
        }
        ProcessorConfig::Stripe(stripe) => {
            let processor = stripe_processor(stripe, purpose).await?;
            notes.push(format!(
                "processor: Stripe at {} ({} key)",
                stripe.api.api_base,
                if stripe.api.is_test_key() {
                    "test"
                } else {
                    "live"
                }
            ));
            App::with_processor(store, ring, settings, Box::new(processor))
        }
    };
    Ok(Opened { app, notes })
}

/// The Stripe processor; `serve` first checks that Stripe accepts the key.
async fn stripe_processor(
    stripe: &StripeConfig,
    purpose: Purpose,
) -> Result<StripeProcessor, String> {
    cashbox_app::webhooks::install_tls_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(5))
        .user_agent("Cashbox/1.0")
        .build()
        .map_err(|e| format!("cannot build the Stripe client: {e}"))?;
    let processor = StripeProcessor::new(&stripe.api, client)?;
    if purpose == Purpose::Serve {
        let base = &stripe.api.api_base;
        processor.check_credentials().await.map_err(|e| match e {
            cashbox_processor::ProcessorError::Rejected(why) => {
                format!("Stripe refused CASHBOX_STRIPE_SECRET_KEY at {base}: {why}")
            }
            other => {
                format!("cannot reach Stripe at {base} to check CASHBOX_STRIPE_SECRET_KEY: {other}")
            }
        })?;
    }
    Ok(processor)
}

/// Development: make sure there is a key to call the API with, printing new keys once.
/// Production: refuse generated keys, and refuse to run with no key at all.
async fn ensure_api_keys(config: &Config, opened: &mut Opened) -> Result<(), String> {
    let app = &opened.app;
    let err = |e: cashbox_app::AppError| format!("cannot read API keys: {e}");
    let generated = app.generated_keys_active().await.map_err(err)?;
    let keys = app.api_keys().list().await.map_err(err)?;
    let active = keys.iter().filter(|k| k.revoked_at.is_none()).count();
    if config.env == Env::Production {
        if generated > 0 {
            return Err("production refuses to start while development-generated API keys are active: revoke them with `cashbox keys revoke ID` (see `cashbox keys list`) and create keys with `cashbox keys create`".into());
        }
        if active == 0 && config.secret_key.is_none() {
            return Err("production needs an API key: create one with `cashbox keys create --type secret` or set CASHBOX_SECRET_KEY".into());
        }
        return Ok(());
    }
    if active == 0 && config.secret_key.is_none() {
        let secret = app
            .api_keys()
            .create(
                KeyKind::Secret,
                &[],
                SOURCE_GENERATED,
                Some("development default".into()),
            )
            .await
            .map_err(err)?;
        let publishable = app
            .api_keys()
            .create(
                KeyKind::Publishable,
                &[],
                SOURCE_GENERATED,
                Some("development default".into()),
            )
            .await
            .map_err(err)?;
        // Printed once, to the terminal only: never through the logs.
        println!(
            "Created development API keys. They are shown this once; only their hashes are kept."
        );
        println!("  secret key:      {}", secret.secret.as_str());
        println!("  publishable key: {}", publishable.secret.as_str());
    } else if generated > 0 && config.secret_key.is_none() {
        opened.notes.push("api keys: using the development keys printed at first start (lost them? `cashbox keys create --type secret`)".into());
    }
    Ok(())
}

/// Deletes expired idempotency keys, every [`PRUNE_INTERVAL`].
async fn prune_idempotency_keys(app: App) {
    let mut tick = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        tick.tick().await;
        match app.prune().await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "pruned expired idempotency keys"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning idempotency keys failed"),
        }
    }
}

/// The search index: objects written since, by this process or another, are indexed (a full
/// batch is followed at once by the next).
async fn index_for_search(app: App) {
    use cashbox_app::search::INDEX_BATCH;
    loop {
        match app.index_pending(INDEX_BATCH).await {
            Ok(n) if n as i64 == INDEX_BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "indexing for search failed; retrying"),
        }
        tokio::time::sleep(SEARCH_INDEX_INTERVAL).await;
    }
}

pub async fn serve(config: Config) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let mut opened = open(&config, &public_url, Purpose::Serve).await?;
    for note in opened.notes.drain(..) {
        println!("{note}");
    }
    ensure_api_keys(&config, &mut opened).await?;
    for note in &opened.notes {
        println!("{note}");
    }
    let http = HttpConfig {
        body_limit_bytes: config.body_limit_bytes,
        rate_limit_per_second: config.rate_limit_per_second,
        rate_limit_burst: config.rate_limit_burst,
    };
    let app = opened.app;
    let router = cashbox_http::router(app.clone(), &http);
    println!("cashbox listening on http://{addr}");
    tracing::info!(%addr, backend = app.store().backend(), "listening");

    let pruner = tokio::spawn(prune_idempotency_keys(app.clone()));

    let indexer = tokio::spawn(index_for_search(app.clone()));

    let recovery = tokio::spawn({
        let app = app.clone();
        async move {
            let mut tick = tokio::time::interval(RECOVERY_INTERVAL);
            loop {
                tick.tick().await;
                if let Err(e) = app.recover_interrupted().await {
                    tracing::warn!(error = %e, "the recovery sweep failed");
                }
                if let Err(e) = app.checkout_sessions().expire_due(1000).await {
                    tracing::warn!(error = %e, "expiring checkout sessions failed");
                }
                if let Err(e) = app.apply_inbound_events().await {
                    tracing::warn!(error = %e, "applying the processor's events failed");
                }
            }
        }
    });

    // Other processes' meter events, into this process's usage-check memory (PostgreSQL).
    let usage = tokio::spawn({
        let app = app.clone();
        async move {
            if app.store().backend() != "postgres" {
                return;
            }
            loop {
                if let Err(e) = app.follow_usage().await {
                    tracing::warn!(error = %e, "following other processes' usage failed; retrying");
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    });

    // Billing work on the wall clock (renewals, trial ends, retries): every second, in
    // batches until none is left.
    let billing = tokio::spawn({
        let app = app.clone();
        async move {
            // Test clock advances a stopped process left half done are finished first.
            match app.resume_clock_advances().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(clocks = n, "finished interrupted test clock advances"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not finish interrupted test clock advances")
                }
            }
            let mut tick = tokio::time::interval(BILLING_INTERVAL);
            loop {
                tick.tick().await;
                loop {
                    match app.run_due_billing(BILLING_ROUND).await {
                        Ok(n) if n as i64 == BILLING_ROUND => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "the billing worker failed");
                            break;
                        }
                    }
                }
            }
        }
    });

    // Webhook deliveries: fanned out from the event log, sent, retried (see `webhooks`).
    let webhooks = tokio::spawn(app.clone().run_webhook_worker());

    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    pruner.abort();
    recovery.abort();
    indexer.abort();
    billing.abort();
    usage.abort();
    webhooks.abort();
    app.store().close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT: the server stops accepting and lets requests in flight finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}
