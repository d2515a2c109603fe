//! Configuration: defaults, then an optional file (`CASHBOX_CONFIG=path`, `KEY=value` lines),
//! then the environment. Parsed and validated once at start-up.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;

use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Env {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

pub struct Config {
    pub env: Env,
    /// `CASHBOX_BUSINESS_*`: who the hosted pages and invoices speak for.
    pub business: cashbox_app::BusinessProfile,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub db_max_connections: u32,
    pub secret_key: Option<Zeroizing<String>>,
    pub encryption_keys: Option<Zeroizing<String>>,
    pub encryption_keys_file: Option<PathBuf>,
    pub body_limit_bytes: usize,
    pub rate_limit_per_second: Option<NonZeroU32>,
    pub rate_limit_burst: NonZeroU32,
    pub log_format: LogFormat,
    /// Where browsers reach this server (hosted pages, receipts); default: the listen address.
    pub public_url: Option<String>,
    /// Refunds are refused this many days after the payment; unset allows refunds at any time.
    pub refund_window_days: Option<u32>,
    /// Failed invoice payments are retried this many days after the previous attempt, in turn.
    pub dunning: cashbox_app::Dunning,
    /// Whether a past_due subscription stops entitling its customer.
    pub past_due_revokes_entitlements: bool,
    /// Where webhooks may be sent (loopback: development only, unless set) and their timeout.
    pub webhooks: cashbox_app::WebhookSettings,
    /// `CASHBOX_PROCESSOR`: who moves the money.
    pub processor: ProcessorConfig,
    /// `CASHBOX_PROCESSOR_CUSTOMER_FIELDS`: what a processor's customer carries besides
    /// Cashbox's id (`email` by default; `email,name`, or `none`).
    pub processor_customer_share: cashbox_app::CustomerShare,
}

/// The processor money moves through.
#[derive(Debug)]
pub enum ProcessorConfig {
    /// The built-in sandbox: Stripe's test cards, no network.
    Sandbox,
    Stripe(StripeConfig),
}

/// `CASHBOX_STRIPE_*`.
#[derive(Debug)]
pub struct StripeConfig {
    pub api: cashbox_processor::stripe::StripeSettings,
    /// `pk_…`, for Stripe.js on the hosted pages.
    pub publishable_key: String,
    /// `whsec_…`: Stripe's webhooks to `/webhooks/stripe` are signed with it (several,
    /// comma-separated, while one is rotated out).
    pub webhook_secrets: Vec<Zeroizing<String>>,
    /// `CASHBOX_STRIPE_JS_URL`: where the hosted pages load Stripe.js from.
    pub js_url: String,
}

/// Stripe.js, as Stripe requires it be loaded: from Stripe, never bundled.
pub const STRIPE_JS_URL: &str = "https://js.stripe.com/v3/";

/// Reads `CASHBOX_PROCESSOR` and, for `stripe`, its settings.
fn parse_processor(
    get: impl Fn(&str) -> Option<String>,
    env: Env,
) -> Result<ProcessorConfig, String> {
    match get("CASHBOX_PROCESSOR").as_deref() {
        None | Some("sandbox") => return Ok(ProcessorConfig::Sandbox),
        Some("stripe") => {}
        Some(other) => {
            return Err(format!(
                "CASHBOX_PROCESSOR must be sandbox or stripe, not {other:?}"
            ));
        }
    }
    let need = |k: &str, prefixes: &[&str]| -> Result<String, String> {
        let v = get(k).ok_or_else(|| format!("CASHBOX_PROCESSOR=stripe needs {k}"))?;
        if prefixes.iter().any(|p| v.starts_with(p)) && !v.contains(char::is_whitespace) {
            Ok(v)
        } else {
            Err(format!("{k} must start with {}", prefixes.join(" or ")))
        }
    };
    let secret_key = Zeroizing::new(need(
        "CASHBOX_STRIPE_SECRET_KEY",
        &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
    )?);
    let publishable_key = need("CASHBOX_STRIPE_PUBLISHABLE_KEY", &["pk_live_", "pk_test_"])?;
    let webhook_secrets = need("CASHBOX_STRIPE_WEBHOOK_SECRET", &["whsec_"])?
        .split(',')
        .map(|s| Zeroizing::new(s.trim().to_string()))
        .collect::<Vec<_>>();
    if webhook_secrets.iter().any(|s| !s.starts_with("whsec_")) {
        return Err(
            "CASHBOX_STRIPE_WEBHOOK_SECRET must be whsec_ secrets separated by commas".into(),
        );
    }
    let api_base = get("CASHBOX_STRIPE_API_BASE")
        .unwrap_or_else(|| cashbox_processor::stripe::DEFAULT_API_BASE.to_string());
    if !(api_base.starts_with("https://")
        || api_base.starts_with("http://127.0.0.1:")
        || api_base.starts_with("http://localhost:"))
    {
        return Err(
            "CASHBOX_STRIPE_API_BASE must be an https URL (or http on 127.0.0.1 or localhost, for a stand-in)"
                .into(),
        );
    }
    let api = cashbox_processor::stripe::StripeSettings {
        secret_key,
        api_base,
        timeout: std::time::Duration::from_secs(30),
    };
    let live = publishable_key.starts_with("pk_live_");
    if live == api.is_test_key() {
        return Err(
            "CASHBOX_STRIPE_SECRET_KEY and CASHBOX_STRIPE_PUBLISHABLE_KEY must both be live or both be test keys"
                .into(),
        );
    }
    let allow_test = match get("CASHBOX_STRIPE_ALLOW_TEST_KEYS").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(format!(
                "CASHBOX_STRIPE_ALLOW_TEST_KEYS must be true or false, not {v:?}"
            ));
        }
    };
    if env == Env::Production && api.is_test_key() && !allow_test {
        return Err("production refuses Stripe test keys (sk_test_): use live keys, or set CASHBOX_STRIPE_ALLOW_TEST_KEYS=true for a staging deployment".into());
    }
    let js_url = get("CASHBOX_STRIPE_JS_URL").unwrap_or_else(|| STRIPE_JS_URL.to_string());
    if !(js_url.starts_with("https://") || js_url.starts_with("http://127.0.0.1:")) {
        return Err(
            "CASHBOX_STRIPE_JS_URL must be an https URL (or http on 127.0.0.1, for a stand-in)"
                .into(),
        );
    }
    Ok(ProcessorConfig::Stripe(StripeConfig {
        api,
        publishable_key,
        webhook_secrets,
        js_url,
    }))
}

/// `CASHBOX_PROCESSOR_CUSTOMER_FIELDS`: `email` (default), `email,name`, `name` or `none`.
fn parse_customer_share(value: Option<&str>) -> Result<cashbox_app::CustomerShare, String> {
    let Some(value) = value else {
        return Ok(cashbox_app::CustomerShare::default());
    };
    let mut share = cashbox_app::CustomerShare {
        email: false,
        name: false,
    };
    for field in value.split(',').map(str::trim) {
        match field {
            "email" => share.email = true,
            "name" => share.name = true,
            "none" => {}
            other => {
                return Err(format!(
                    "CASHBOX_PROCESSOR_CUSTOMER_FIELDS lists email, name or none, not {other:?}"
                ));
            }
        }
    }
    Ok(share)
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("env", &self.env)
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database", &self.database_url.as_deref().map(redact_url))
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "encryption_keys",
                &self.encryption_keys.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{user}:****{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_string(),
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4242";
pub const DEFAULT_DATA_DIR: &str = "./cashbox-data";

/// Every setting this binary reads, for `--help` and for rejecting typos in the config file.
pub const KNOWN_VARS: &[&str] = &[
    "CASHBOX_ENV",
    "CASHBOX_LISTEN",
    "CASHBOX_DATA_DIR",
    "DATABASE_URL",
    "CASHBOX_DB_MAX_CONNECTIONS",
    "CASHBOX_SECRET_KEY",
    "CASHBOX_ENCRYPTION_KEYS",
    "CASHBOX_ENCRYPTION_KEYS_FILE",
    "CASHBOX_BODY_LIMIT_BYTES",
    "CASHBOX_RATE_LIMIT_PER_SECOND",
    "CASHBOX_RATE_LIMIT_BURST",
    "CASHBOX_LOG_FORMAT",
    "CASHBOX_PUBLIC_URL",
    "CASHBOX_REFUND_WINDOW_DAYS",
    "CASHBOX_DUNNING_RETRY_DAYS",
    "CASHBOX_DUNNING_AFTER_LAST_RETRY",
    "CASHBOX_PAST_DUE_REVOKES_ENTITLEMENTS",
    "CASHBOX_WEBHOOK_ALLOW_LOOPBACK",
    "CASHBOX_WEBHOOK_ALLOW_PRIVATE",
    "CASHBOX_WEBHOOK_TIMEOUT_SECS",
    "CASHBOX_BUSINESS_NAME",
    "CASHBOX_BUSINESS_ADDRESS",
    "CASHBOX_BUSINESS_SUPPORT_EMAIL",
    "CASHBOX_BUSINESS_LOGO_URL",
    "CASHBOX_BUSINESS_TAX_ID",
    "CASHBOX_PROCESSOR",
    "CASHBOX_PROCESSOR_CUSTOMER_FIELDS",
    "CASHBOX_STRIPE_SECRET_KEY",
    "CASHBOX_STRIPE_PUBLISHABLE_KEY",
    "CASHBOX_STRIPE_WEBHOOK_SECRET",
    "CASHBOX_STRIPE_API_BASE",
    "CASHBOX_STRIPE_ALLOW_TEST_KEYS",
    "CASHBOX_STRIPE_JS_URL",
];

/// The business profile from `CASHBOX_BUSINESS_*` (address lines separated by `;`).
fn parse_business(
    get: impl Fn(&str) -> Option<String>,
) -> Result<cashbox_app::BusinessProfile, String> {
    let text = |k: &str, max: usize| -> Result<Option<String>, String> {
        match get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
        {
            Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => Err(format!(
                "{k} must be at most {max} characters without control characters"
            )),
            other => Ok(other),
        }
    };
    let mut b = cashbox_app::BusinessProfile::default();
    if let Some(name) = text("CASHBOX_BUSINESS_NAME", 100)? {
        b.name = name;
    }
    if let Some(address) = text("CASHBOX_BUSINESS_ADDRESS", 300)? {
        b.address = address
            .split(';')
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
    }
    b.support_email = text("CASHBOX_BUSINESS_SUPPORT_EMAIL", 254)?;
    if let Some(e) = &b.support_email
        && (!e.contains('@') || e.contains(char::is_whitespace))
    {
        return Err(format!(
            "CASHBOX_BUSINESS_SUPPORT_EMAIL must be an email address, not {e:?}"
        ));
    }
    b.logo_url = text("CASHBOX_BUSINESS_LOGO_URL", 2000)?;
    if let Some(u) = &b.logo_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(format!(
            "CASHBOX_BUSINESS_LOGO_URL must be an http(s) URL, not {u:?}"
        ));
    }
    b.tax_id = text("CASHBOX_BUSINESS_TAX_ID", 50)?;
    Ok(b)
}

const DB_MAX_CONNECTIONS: &str = "CASHBOX_DB_MAX_CONNECTIONS";
/// The longest a webhook delivery may wait for the endpoint's answer.
pub const WEBHOOK_TIMEOUT_MAX_SECS: u64 = 60;

/// `CASHBOX_LISTEN`: `HOST:PORT` with an IP address or a host name (`localhost:4242`, the
/// first address it resolves to), or `:PORT` for every interface.
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let bad = |why: String| {
        format!(
            "CASHBOX_LISTEN must be HOST:PORT (127.0.0.1:4242, localhost:4242) or :PORT, not {value:?}: {why}"
        )
    };
    let with_host = match value.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => value.to_string(),
    };
    if let Ok(addr) = with_host.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (_, port) = with_host
        .rsplit_once(':')
        .ok_or_else(|| bad("no port".into()))?;
    port.parse::<u16>()
        .map_err(|_| bad(format!("{port:?} is not a port number")))?;
    with_host
        .to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("the host name resolves to no address".into()))
}

/// The connection pool's size from `CASHBOX_DB_MAX_CONNECTIONS`: 16 if unset, at least 1.
fn db_max_connections(value: Option<&str>) -> Result<u32, String> {
    value.map_or(Ok(16), |v| {
        v.parse::<u32>().map(|n| n.max(1)).map_err(|_| {
            format!("{DB_MAX_CONNECTIONS} must be a whole number up to 4294967295, not {v:?}")
        })
    })
}

/// [`Config::db_max_connections`] read from the process environment alone, as the
/// benchmarks take it.
pub fn db_max_connections_from_env() -> Result<u32, String> {
    db_max_connections(
        std::env::var(DB_MAX_CONNECTIONS)
            .ok()
            .as_deref()
            .filter(|v| !v.is_empty()),
    )
}

impl Config {
    /// Reads the file named by `CASHBOX_CONFIG` (if any) and the process environment.
    pub fn load() -> Result<Self, String> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let mut vars = HashMap::new();
        if let Some(path) = env.get("CASHBOX_CONFIG").filter(|p| !p.is_empty()) {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read CASHBOX_CONFIG file {path}: {e}"))?;
            vars.extend(parse_file(&text)?);
        }
        for name in KNOWN_VARS {
            if let Some(v) = env.get(*name) {
                vars.insert((*name).to_string(), v.clone());
            }
        }
        Self::from_vars(&vars)
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, String> {
        let get = |k: &str| vars.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let env = match get("CASHBOX_ENV") {
            None | Some("development") => Env::Development,
            Some("production") => Env::Production,
            Some(other) => {
                return Err(format!(
                    "CASHBOX_ENV must be development or production, not {other:?}"
                ));
            }
        };
        let listen = parse_listen(get("CASHBOX_LISTEN").unwrap_or(DEFAULT_LISTEN))?;
        let number = |k: &str, default: u64| -> Result<u64, String> {
            get(k).map_or(Ok(default), |v| {
                v.parse()
                    .map_err(|_| format!("{k} must be a whole number, not {v:?}"))
            })
        };
        let rate = number("CASHBOX_RATE_LIMIT_PER_SECOND", 10_000)?;
        let burst = number("CASHBOX_RATE_LIMIT_BURST", (rate * 2).max(1))?;
        let log_format = match get("CASHBOX_LOG_FORMAT") {
            None | Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                return Err(format!(
                    "CASHBOX_LOG_FORMAT must be json or text, not {other:?}"
                ));
            }
        };
        let flag = |k: &str, default: bool| -> Result<bool, String> {
            match get(k) {
                None => Ok(default),
                Some("true") => Ok(true),
                Some("false") => Ok(false),
                Some(v) => Err(format!("{k} must be true or false, not {v:?}")),
            }
        };
        let webhooks = cashbox_app::WebhookSettings {
            allow_loopback: flag("CASHBOX_WEBHOOK_ALLOW_LOOPBACK", env == Env::Development)?,
            allow_private: flag("CASHBOX_WEBHOOK_ALLOW_PRIVATE", false)?,
            timeout: std::time::Duration::from_secs(
                match number("CASHBOX_WEBHOOK_TIMEOUT_SECS", 10)? {
                    s @ 1..=WEBHOOK_TIMEOUT_MAX_SECS => s,
                    s => {
                        return Err(format!(
                            "CASHBOX_WEBHOOK_TIMEOUT_SECS must be between 1 and {WEBHOOK_TIMEOUT_MAX_SECS} seconds, not {s}"
                        ));
                    }
                },
            ),
        };
        Ok(Self {
            business: parse_business(|k| get(k).map(str::to_string))?,
            processor: parse_processor(|k| get(k).map(str::to_string), env)?,
            processor_customer_share: parse_customer_share(get(
                "CASHBOX_PROCESSOR_CUSTOMER_FIELDS",
            ))?,
            webhooks,
            env,
            listen,
            data_dir: PathBuf::from(get("CASHBOX_DATA_DIR").unwrap_or(DEFAULT_DATA_DIR)),
            database_url: get("DATABASE_URL").map(str::to_string),
            db_max_connections: db_max_connections(get(DB_MAX_CONNECTIONS))?,
            secret_key: get("CASHBOX_SECRET_KEY").map(|s| Zeroizing::new(s.to_string())),
            encryption_keys: get("CASHBOX_ENCRYPTION_KEYS").map(|s| Zeroizing::new(s.to_string())),
            encryption_keys_file: get("CASHBOX_ENCRYPTION_KEYS_FILE").map(PathBuf::from),
            body_limit_bytes: usize::try_from(number("CASHBOX_BODY_LIMIT_BYTES", 1024 * 1024)?)
                .map_err(|_| "CASHBOX_BODY_LIMIT_BYTES is too large".to_string())?,
            rate_limit_per_second: u32::try_from(rate).ok().and_then(NonZeroU32::new),
            rate_limit_burst: u32::try_from(burst)
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or("CASHBOX_RATE_LIMIT_BURST must be between 1 and 4294967295")?,
            log_format,
            public_url: match get("CASHBOX_PUBLIC_URL") {
                Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                    Some(u.trim_end_matches('/').to_string())
                }
                Some(u) => {
                    return Err(format!(
                        "CASHBOX_PUBLIC_URL must be an http(s) URL, not {u:?}"
                    ));
                }
                None => None,
            },
            refund_window_days: match get("CASHBOX_REFUND_WINDOW_DAYS") {
                Some(v) => Some(v.parse().ok().filter(|d| *d > 0).ok_or_else(|| {
                    format!(
                        "CASHBOX_REFUND_WINDOW_DAYS must be a positive number of days, not {v:?}"
                    )
                })?),
                None => None,
            },
            dunning: parse_dunning(
                get("CASHBOX_DUNNING_RETRY_DAYS"),
                get("CASHBOX_DUNNING_AFTER_LAST_RETRY"),
            )?,
            past_due_revokes_entitlements: match get("CASHBOX_PAST_DUE_REVOKES_ENTITLEMENTS") {
                None | Some("false") => false,
                Some("true") => true,
                Some(v) => {
                    return Err(format!(
                        "CASHBOX_PAST_DUE_REVOKES_ENTITLEMENTS must be true or false, not {v:?}"
                    ));
                }
            },
        })
    }
}

/// `CASHBOX_DUNNING_RETRY_DAYS=3,5,7` and `CASHBOX_DUNNING_AFTER_LAST_RETRY=cancel|unpaid|past_due`.
fn parse_dunning(days: Option<&str>, after: Option<&str>) -> Result<cashbox_app::Dunning, String> {
    let mut d = cashbox_app::Dunning::default();
    if let Some(days) = days {
        d.retry_days = if days.trim().is_empty() {
            Vec::new()
        } else {
            days.split(',')
                .map(|x| x.trim().parse::<i64>().ok().filter(|n| (1..=60).contains(n)))
                .collect::<Option<Vec<_>>>()
                .filter(|v| v.len() <= 8)
                .ok_or_else(|| {
                    format!("CASHBOX_DUNNING_RETRY_DAYS must be up to 8 comma-separated days between 1 and 60, not {days:?}")
                })?
        };
    }
    if let Some(after) = after {
        d.after_last_retry = match after {
            "cancel" => cashbox_app::DunningFinal::Cancel,
            "unpaid" => cashbox_app::DunningFinal::Unpaid,
            "past_due" => cashbox_app::DunningFinal::PastDue,
            _ => {
                return Err(format!(
                    "CASHBOX_DUNNING_AFTER_LAST_RETRY must be cancel, unpaid or past_due, not {after:?}"
                ));
            }
        };
    }
    Ok(d)
}

fn parse_file(text: &str) -> Result<HashMap<String, String>, String> {
    let mut vars = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("config file line {}: expected KEY=value", n + 1))?;
        let k = k.trim();
        if !KNOWN_VARS.contains(&k) {
            return Err(format!("config file line {}: unknown setting {k}", n + 1));
        }
        let v = v.trim().trim_matches('"');
        vars.insert(k.to_string(), v.to_string());
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_pool_size_defaults_to_16_is_at_least_1_and_refuses_words() {
        let size = |v: &str| {
            Config::from_vars(&vars(&[(DB_MAX_CONNECTIONS, v)])).map(|c| c.db_max_connections)
        };
        assert_eq!(
            Config::from_vars(&HashMap::new())
                .unwrap()
                .db_max_connections,
            16
        );
        assert_eq!(size("32"), Ok(32));
        assert_eq!(size("0"), Ok(1));
        assert!(size("many").unwrap_err().contains(DB_MAX_CONNECTIONS));
        assert!(size("4294967296").is_err());
    }

    #[test]
    fn dunning_settings() {
        let c = Config::from_vars(&HashMap::new()).unwrap();
        assert_eq!(c.dunning, cashbox_app::Dunning::default());
        assert_eq!(c.dunning.retry_days, vec![3, 5, 7]);
        let c = Config::from_vars(&vars(&[
            ("CASHBOX_DUNNING_RETRY_DAYS", "1, 2"),
            ("CASHBOX_DUNNING_AFTER_LAST_RETRY", "unpaid"),
        ]))
        .unwrap();
        assert_eq!(c.dunning.retry_days, vec![1, 2]);
        assert_eq!(
            c.dunning.after_last_retry,
            cashbox_app::DunningFinal::Unpaid
        );
        for (k, v) in [
            ("CASHBOX_DUNNING_RETRY_DAYS", "3,x"),
            ("CASHBOX_DUNNING_RETRY_DAYS", "0"),
            ("CASHBOX_DUNNING_AFTER_LAST_RETRY", "never"),
        ] {
            let e = Config::from_vars(&vars(&[(k, v)])).unwrap_err();
            assert!(e.contains(k), "{e}");
        }
    }

    #[test]
    fn past_due_entitlements_setting() {
        let c = Config::from_vars(&HashMap::new()).unwrap();
        assert!(!c.past_due_revokes_entitlements);
        let c =
            Config::from_vars(&vars(&[("CASHBOX_PAST_DUE_REVOKES_ENTITLEMENTS", "true")])).unwrap();
        assert!(c.past_due_revokes_entitlements);
        let e = Config::from_vars(&vars(&[("CASHBOX_PAST_DUE_REVOKES_ENTITLEMENTS", "yes")]))
            .unwrap_err();
        assert!(e.contains("CASHBOX_PAST_DUE_REVOKES_ENTITLEMENTS"), "{e}");
    }

    #[test]
    fn defaults() {
        let c = Config::from_vars(&HashMap::new()).unwrap();
        assert_eq!(c.env, Env::Development);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.rate_limit_per_second.unwrap().get(), 10_000);
        assert_eq!(c.rate_limit_burst.get(), 20_000);
    }

    #[test]
    fn bad_values_are_refused_with_the_setting_named() {
        let e = Config::from_vars(&vars(&[("CASHBOX_ENV", "prod")])).unwrap_err();
        assert!(e.contains("CASHBOX_ENV"));
        let e = Config::from_vars(&vars(&[("CASHBOX_LISTEN", "nope")])).unwrap_err();
        assert!(e.contains("CASHBOX_LISTEN"));
        let e = Config::from_vars(&vars(&[("CASHBOX_RATE_LIMIT_PER_SECOND", "x")])).unwrap_err();
        assert!(e.contains("CASHBOX_RATE_LIMIT_PER_SECOND"));
    }

    #[test]
    fn listen_takes_host_names_and_a_bare_port() {
        let at = |v: &str| Config::from_vars(&vars(&[("CASHBOX_LISTEN", v)])).map(|c| c.listen);
        assert_eq!(at("localhost:4242").unwrap().port(), 4242);
        assert!(at("localhost:4242").unwrap().ip().is_loopback());
        assert_eq!(at(":4343").unwrap().to_string(), "0.0.0.0:4343");
        assert_eq!(at("[::1]:80").unwrap().to_string(), "[::1]:80");
        for bad in ["localhost", "localhost:http", ":", "host.invalid.:4242x"] {
            let e = at(bad).unwrap_err();
            assert!(
                e.contains("CASHBOX_LISTEN") && e.contains(bad),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn a_webhook_timeout_out_of_range_is_refused_not_clamped() {
        for bad in ["0", "61"] {
            let e = Config::from_vars(&vars(&[("CASHBOX_WEBHOOK_TIMEOUT_SECS", bad)])).unwrap_err();
            assert!(e.contains("between 1 and 60"), "{e}");
        }
        let c = Config::from_vars(&vars(&[("CASHBOX_WEBHOOK_TIMEOUT_SECS", "60")])).unwrap();
        assert_eq!(c.webhooks.timeout.as_secs(), 60);
    }

    #[test]
    fn the_business_profile_is_read_and_checked() {
        let c = Config::from_vars(&HashMap::new()).unwrap();
        assert_eq!(c.business.name, "Cashbox");
        let c = Config::from_vars(&vars(&[
            ("CASHBOX_BUSINESS_NAME", "Acme Courses"),
            (
                "CASHBOX_BUSINESS_ADDRESS",
                "1 Main St; 75001 Paris ; France",
            ),
            ("CASHBOX_BUSINESS_SUPPORT_EMAIL", "help@acme.example"),
            ("CASHBOX_BUSINESS_LOGO_URL", "https://acme.example/logo.png"),
            ("CASHBOX_BUSINESS_TAX_ID", "FR123"),
        ]))
        .unwrap();
        assert_eq!(c.business.name, "Acme Courses");
        assert_eq!(c.business.address, ["1 Main St", "75001 Paris", "France"]);
        assert_eq!(c.business.tax_id.as_deref(), Some("FR123"));
        for (k, bad) in [
            ("CASHBOX_BUSINESS_SUPPORT_EMAIL", "not an email"),
            ("CASHBOX_BUSINESS_LOGO_URL", "javascript:alert(1)"),
            ("CASHBOX_BUSINESS_NAME", &"x".repeat(101)),
        ] {
            let e = Config::from_vars(&vars(&[(k, bad)])).unwrap_err();
            assert!(e.contains(k), "{e}");
        }
    }

    #[test]
    fn zero_rate_turns_the_limit_off() {
        let c = Config::from_vars(&vars(&[("CASHBOX_RATE_LIMIT_PER_SECOND", "0")])).unwrap();
        assert!(c.rate_limit_per_second.is_none());
    }

    #[test]
    fn file_rejects_unknown_settings() {
        assert!(parse_file("CASHBOX_LISTEN=1.2.3.4:5\n# comment\n").is_ok());
        assert!(
            parse_file("CASHBOX_LISTN=1")
                .unwrap_err()
                .contains("unknown setting")
        );
    }

    #[test]
    fn debug_and_urls_hide_secrets() {
        let c = Config::from_vars(&vars(&[
            ("CASHBOX_SECRET_KEY", "sk_test_supersecretvalue123"),
            ("DATABASE_URL", "postgres://app:hunter2@db/cashbox"),
        ]))
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("supersecret"));
        assert!(!printed.contains("hunter2"));
        assert_eq!(
            redact_url("postgres://app:hunter2@db/x"),
            "postgres://app:****@db/x"
        );
    }
}
