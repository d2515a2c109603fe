use std::process::ExitCode;

/// mimalloc instead of the system allocator: a profile of the payments benchmark put a
/// seventh of all CPU in glibc's malloc and free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand, ValueEnum};

use cashbox::config::{Config, LogFormat};
use cashbox::startup::{self, Purpose};
use cashbox_app::keys::SOURCE_CLI;
use cashbox_core::api_key::{KeyKind, Permission};
use cashbox_core::crypto::KeyRing;

/// Cashbox: self-hosted billing and payments in Stripe's dialect.
#[derive(Parser)]
#[command(name = "cashbox", version)]
struct Cli {
    /// The data directory (SQLite database, development key): overrides CASHBOX_DATA_DIR.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// `--help`'s list of settings: every one `Config` reads, from the same list.
fn settings_help() -> String {
    let mut help = String::from(
        "Settings are environment variables (or KEY=value lines in a file named by CASHBOX_CONFIG; \
         CASHBOX_LOG filters the logs); the README's \"Running it for real\" says what each does:\n",
    );
    let mut names = cashbox::config::KNOWN_VARS.to_vec();
    names.extend(["CASHBOX_CONFIG", "CASHBOX_LOG"]);
    for chunk in names.chunks(3) {
        help.push_str("  ");
        help.push_str(&chunk.join(", "));
        help.push('\n');
    }
    help
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (migrates the database first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage API keys and encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the API's OpenAPI document (what `/v1/openapi.json` serves), to generate a
    /// client from.
    Openapi,
    /// The double-entry ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Prove every transaction balances per currency and balances match payments and refunds.
    Check,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyType {
    Secret,
    Restricted,
    Publishable,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key. It is printed once; only its hash is stored.
    Create {
        #[arg(long = "type", value_enum)]
        key_type: KeyType,
        /// For restricted keys: RESOURCE:read or RESOURCE:write (repeatable).
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// A note to recognise the key by in `keys list`.
        #[arg(long)]
        note: Option<String>,
    },
    /// List API keys (never their secrets).
    List,
    /// Revoke an API key by id.
    Revoke { id: String },
    /// Re-encrypt all stored data under the first key of the key ring.
    RotateEncryption,
    /// Print a new random encryption key entry (ID:BASE64) to add to CASHBOX_ENCRYPTION_KEYS.
    GenerateEncryptionKey {
        #[arg(long, default_value = "k1")]
        id: String,
    },
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CASHBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    cashbox_app::webhooks::install_tls_provider();
    let matches = <Cli as clap::CommandFactory>::command()
        .after_help(settings_help())
        .get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cashbox: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Command::Keys {
        command: KeysCommand::GenerateEncryptionKey { id },
    } = &cli.command
    {
        println!("{}", KeyRing::generate_entry(id).as_str());
        return Ok(());
    }
    if let Command::Openapi = cli.command {
        let doc = cashbox_http::openapi()
            .to_pretty_json()
            .map_err(|e| e.to_string())?;
        println!("{doc}");
        return Ok(());
    }
    let mut config = Config::load()?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    init_logs(config.log_format);
    match cli.command {
        Command::Serve => startup::serve(config).await,
        Command::Openapi => unreachable!("printed above: it needs no configuration"),
        Command::Ledger {
            command: LedgerCommand::Check,
        } => {
            let app = startup::open(&config, "", Purpose::Operate).await?.app;
            let report = app.check_ledger().await.map_err(|e| e.to_string())?;
            println!("{} transactions checked", report.transactions);
            for i in &report.imbalances {
                println!(
                    "UNBALANCED {} {}: lines sum to {}",
                    i.txn_id, i.currency, i.sum_minor
                );
            }
            for t in &report.empty_transactions {
                println!("EMPTY {t}: a transaction without lines");
            }
            for (account, currency, have, want) in &report.mismatches {
                println!(
                    "MISMATCH {account} {currency}: ledger {have}, payments and refunds say {want}"
                );
            }
            if report.is_sound() {
                println!("ledger is balanced and matches payments and refunds");
                Ok(())
            } else {
                Err("the ledger check failed".into())
            }
        }
        Command::Migrate => {
            let opened = startup::open(&config, "", Purpose::Serve).await?;
            for note in &opened.notes {
                println!("{note}");
            }
            println!("database is up to date");
            Ok(())
        }
        Command::Keys { command } => keys(&config, command).await,
    }
}

async fn keys(config: &Config, command: KeysCommand) -> Result<(), String> {
    let app = startup::open(config, "", Purpose::Operate).await?.app;
    let err = |e: cashbox_app::AppError| e.to_string();
    match command {
        KeysCommand::Create {
            key_type,
            permissions,
            note,
        } => {
            let kind = match key_type {
                KeyType::Secret => KeyKind::Secret,
                KeyType::Restricted => KeyKind::Restricted,
                KeyType::Publishable => KeyKind::Publishable,
            };
            let permissions = permissions
                .iter()
                .map(|p| Permission::parse(p))
                .collect::<Result<Vec<_>, _>>()?;
            if kind == KeyKind::Restricted && permissions.is_empty() {
                return Err(
                    "a restricted key needs at least one --permission RESOURCE:read|write".into(),
                );
            }
            if kind != KeyKind::Restricted && !permissions.is_empty() {
                return Err("--permission applies to restricted keys only".into());
            }
            let created = app
                .api_keys()
                .create(kind, &permissions, SOURCE_CLI, note)
                .await
                .map_err(err)?;
            println!("id:     {}", created.row.id);
            println!("type:   {}", created.row.kind);
            if !created.row.permissions.is_empty() {
                println!("grants: {}", created.row.permissions);
            }
            println!("key:    {}", created.secret.as_str());
            println!("Store the key now: it is not shown again.");
        }
        KeysCommand::List => {
            println!(
                "{:<30} {:<12} {:<22} {:<10} {:<10} PERMISSIONS / NOTE",
                "ID", "TYPE", "KEY", "SOURCE", "STATUS"
            );
            for k in app.api_keys().list().await.map_err(err)? {
                let status = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let extra = [
                    k.permissions.as_str(),
                    k.note.as_deref().unwrap_or_default(),
                ]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" / ");
                println!(
                    "{:<30} {:<12} {:<22} {:<10} {:<10} {extra}",
                    k.id, k.kind, k.redacted, k.source, status
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !app.api_keys().revoke(&id).await.map_err(err)? {
                return Err(format!("no active API key with id {id}"));
            }
            println!(
                "revoked {id}; running servers stop accepting it within {} seconds",
                cashbox_app::auth::AUTH_CACHE_TTL.as_secs()
            );
        }
        KeysCommand::RotateEncryption => {
            let report = app.rotate_encryption().await.map_err(err)?;
            println!(
                "re-encrypted {} of {} sealed values under the primary key",
                report.resealed, report.scanned
            );
            println!(
                "re-indexed {} searchable objects under the primary key",
                report.reindexed
            );
        }
        KeysCommand::GenerateEncryptionKey { .. } => unreachable!("handled before configuration"),
    }
    Ok(())
}
