//! The `cashbox` binary as an operator runs it: zero-configuration start, production's
//! refusals, the keys commands, rotation, and shutdown on SIGTERM. Uses PostgreSQL when
//! `CASHBOX_TEST_DATABASE_URL` is set, SQLite in the data directory otherwise.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cashbox_core::id::random_token;
use cashbox_store::testing::{TEST_DATABASE_URL_VAR, fresh_database_url};

const BIN: &str = env!("CARGO_BIN_EXE_cashbox");

fn client() -> reqwest::Client {
    cashbox_app::webhooks::install_tls_provider();
    reqwest::Client::new()
}

struct Instance {
    dir: PathBuf,
    /// Set when testing on PostgreSQL; SQLite lives in the data directory otherwise.
    database_url: Option<String>,
}

impl Instance {
    async fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("cashbox-cli-{}", random_token(10)));
        std::fs::create_dir_all(&dir).unwrap();
        let database_url = match std::env::var(TEST_DATABASE_URL_VAR) {
            Ok(v) if !v.is_empty() => Some(fresh_database_url().await.unwrap()),
            _ => None,
        };
        Self { dir, database_url }
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CASHBOX_LISTEN", "127.0.0.1:0")
            .env("CASHBOX_LOG", "info");
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a command to completion: (success, stdout, stderr).
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
        let out = self.command(args, env).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Starts `serve` and waits until it listens, or returns its stderr if it exits.
    fn serve(&self, env: &[(&str, &str)]) -> Result<Server, String> {
        let mut child = self
            .command(&["serve"], env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("cashbox listening on ") {
                        let base = addr.to_string();
                        lines.push(line);
                        return Ok(Server { child, base, lines });
                    }
                    lines.push(line);
                }
                Err(_) => {
                    let out = child.wait_with_output().unwrap();
                    return Err(format!(
                        "{}{}",
                        lines.join("\n"),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Server {
    child: Child,
    base: String,
    lines: Vec<String>,
}

impl Server {
    fn printed_key(&self, label: &str) -> Option<String> {
        self.lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(label).map(|k| k.trim().to_string()))
    }

    async fn get(&self, path: &str, key: &str) -> (u16, serde_json::Value) {
        let r = client()
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    async fn post(&self, path: &str, key: &str, body: &str) -> (u16, serde_json::Value) {
        let r = client()
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// SIGTERM, then the exit status and what the server logged.
    fn terminate(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        let mut logs = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            use std::io::Read;
            let _ = stderr.read_to_string(&mut logs);
        }
        (status.success(), logs)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ring_entry(id: &str) -> String {
    let out = Command::new(BIN)
        .args(["keys", "generate-encryption-key", "--id", id])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn zero_configuration_is_a_working_development_instance() {
    let inst = Instance::new().await;
    let server = inst.serve(&[]).expect("serve starts with no configuration");
    let secret = server
        .printed_key("secret key:")
        .expect("a secret key is printed");
    let publishable = server
        .printed_key("publishable key:")
        .expect("a publishable key is printed");
    assert!(secret.starts_with("sk_test_") && publishable.starts_with("pk_test_"));
    assert!(
        server
            .lines
            .iter()
            .any(|l| l.contains("WARNING: generated a development encryption key"))
    );
    assert!(
        server
            .lines
            .iter()
            .any(|l| l.starts_with("environment: development"))
    );

    let keys_file = inst.dir.join("cashbox-data/encryption.keys");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file must be private");
    }

    let health = reqwest::get(format!("{}/health", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let (status, c) = server
        .post("/v1/customers", &secret, "email=dev%40example.com")
        .await;
    assert_eq!(status, 200, "{c}");
    let (status, _) = server.get("/v1/customers", &publishable).await;
    assert_eq!(status, 403);
    let card = "type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2030&card[cvc]=123";
    let (status, pm) = server.post("/v1/payment_methods", &publishable, card).await;
    assert_eq!(status, 200, "{pm}");
    let (status, _) = server
        .post(
            "/v1/payment_intents",
            &secret,
            &format!(
                "amount=500&currency=usd&confirm=true&payment_method={}",
                pm["id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(status, 200);
    let (exited_cleanly, logs) = server.terminate();
    assert!(exited_cleanly, "SIGTERM exits 0");
    assert!(
        logs.contains("\"request_id\""),
        "logs are JSON with request ids: {logs}"
    );
    for secret_text in ["4242424242424242", "dev@example.com", secret.as_str()] {
        assert!(
            !logs.contains(secret_text),
            "{secret_text} appears in the logs"
        );
    }

    // Second start: same keys, nothing printed again.
    let again = inst.serve(&[]).unwrap();
    assert!(again.printed_key("secret key:").is_none());
    let (status, list) = again.get("/v1/customers", &secret).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"][0]["email"], "dev@example.com");
    // The key itself is stored only as a hash.
    if inst.database_url.is_none() {
        let db = std::fs::read(inst.dir.join("cashbox-data/cashbox.db")).unwrap();
        assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}

#[tokio::test]
async fn production_refuses_development_defaults() {
    let inst = Instance::new().await;
    let ring = ring_entry("p1");
    let env_key = format!("sk_test_{}", random_token(24));

    let err = inst.serve(&[("CASHBOX_ENV", "production")]).err().unwrap();
    assert!(err.contains("CASHBOX_ENCRYPTION_KEYS"), "{err}");

    let err = inst
        .serve(&[
            ("CASHBOX_ENV", "production"),
            ("CASHBOX_ENCRYPTION_KEYS", &ring),
        ])
        .err()
        .unwrap();
    assert!(err.contains("needs an API key"), "{err}");

    let err = inst
        .serve(&[
            ("CASHBOX_ENV", "production"),
            ("CASHBOX_ENCRYPTION_KEYS", &ring),
            ("CASHBOX_SECRET_KEY", "sk_test_short"),
        ])
        .err()
        .unwrap();
    assert!(err.contains("CASHBOX_SECRET_KEY"), "{err}");

    let prod = [
        ("CASHBOX_ENV", "production"),
        ("CASHBOX_ENCRYPTION_KEYS", ring.as_str()),
        ("CASHBOX_SECRET_KEY", env_key.as_str()),
    ];
    let server = inst
        .serve(&prod)
        .expect("production starts with explicit keys");
    assert!(server.printed_key("secret key:").is_none());
    let (status, _) = server.post("/v1/customers", &env_key, "name=P").await;
    assert_eq!(status, 200);
    // Production sends webhooks to public addresses only: loopback and private URLs are
    // refused with an error that says why.
    for url in ["http://127.0.0.1:9000/hooks", "http://10.0.0.7/hooks"] {
        let body = format!("url={}&enabled_events[]=*", form_urlencoded_byte(url));
        let (status, err) = server.post("/v1/webhook_endpoints", &env_key, &body).await;
        assert_eq!(status, 400, "{url}: {err}");
        assert_eq!(err["error"]["code"], "url_invalid", "{url}");
        assert_eq!(err["error"]["param"], "url", "{url}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("private, loopback or link-local"),
            "{message}"
        );
    }
    drop(server);

    // Once a development start has generated keys, production refuses to run.
    let dev = inst.serve(&[("CASHBOX_ENCRYPTION_KEYS", &ring)]).unwrap();
    assert!(dev.printed_key("secret key:").is_some());
    drop(dev);
    let err = inst.serve(&prod).err().unwrap();
    assert!(err.contains("development-generated API keys"), "{err}");
}

#[tokio::test]
async fn keys_commands() {
    let inst = Instance::new().await;
    // Where nothing ran yet, an operator command refuses and says where it looked.
    let (ok, _, err) = inst.run(&["keys", "create", "--type", "secret"], &[]);
    assert!(!ok && err.contains("no Cashbox data here"), "{err}");
    assert!(err.contains("--data-dir"), "{err}");
    assert!(
        !inst
            .dir
            .join("cashbox-data")
            .join("encryption.keys")
            .exists(),
        "a refused command creates no key"
    );
    let (ok, _, err) = inst.run(&["migrate"], &[]);
    assert!(ok, "{err}");
    let (ok, _, err) = inst.run(&["keys", "create", "--type", "restricted"], &[]);
    assert!(!ok && err.contains("--permission"), "{err}");
    let (ok, _, err) = inst.run(
        &[
            "keys",
            "create",
            "--type",
            "restricted",
            "--permission",
            "nope:read",
        ],
        &[],
    );
    assert!(!ok && err.contains("unknown resource"), "{err}");
    let (ok, out, err) = inst.run(
        &[
            "keys",
            "create",
            "--type",
            "restricted",
            "--permission",
            "customers:read",
            "--note",
            "reporting",
        ],
        &[],
    );
    assert!(ok, "{err}");
    let key = out
        .lines()
        .find_map(|l| l.strip_prefix("key:"))
        .unwrap()
        .trim()
        .to_string();
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .unwrap()
        .trim()
        .to_string();
    assert!(key.starts_with("rk_test_"));

    let (ok, listed, _) = inst.run(&["keys", "list"], &[]);
    assert!(ok);
    assert!(
        listed.contains(&id) && listed.contains("customers:read") && listed.contains("reporting")
    );
    assert!(
        !listed.contains(&key),
        "keys list must never print a secret"
    );

    let server = inst.serve(&[]).unwrap();
    // The CLI key exists, so no development keys are generated.
    assert!(server.printed_key("secret key:").is_none());
    assert_eq!(server.get("/v1/customers", &key).await.0, 200);
    assert_eq!(server.post("/v1/customers", &key, "name=x").await.0, 403);
    drop(server);

    let (ok, out, _) = inst.run(&["keys", "revoke", &id], &[]);
    assert!(ok, "{out}");
    let (ok, _, err) = inst.run(&["keys", "revoke", &id], &[]);
    assert!(!ok && err.contains("no active API key"));
    let server = inst.serve(&[]).unwrap();
    assert_eq!(server.get("/v1/customers", &key).await.0, 401);
}

#[tokio::test]
async fn migrate_and_rotate_encryption_from_the_command_line() {
    let inst = Instance::new().await;
    let k1 = ring_entry("k1");
    let env_key = format!("sk_test_{}", random_token(24));
    let (ok, out, err) = inst.run(&["migrate"], &[("CASHBOX_ENCRYPTION_KEYS", &k1)]);
    assert!(ok && out.contains("up to date"), "{err}");
    let (ok, out, _) = inst.run(&["migrate"], &[("CASHBOX_ENCRYPTION_KEYS", &k1)]);
    assert!(
        ok && !out.contains("migrations applied"),
        "a second migrate applies nothing"
    );

    let server = inst
        .serve(&[
            ("CASHBOX_ENCRYPTION_KEYS", &k1),
            ("CASHBOX_SECRET_KEY", &env_key),
        ])
        .unwrap();
    let (_, c) = server
        .post("/v1/customers", &env_key, "email=rot%40example.com")
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    drop(server);

    let k2 = ring_entry("k2");
    let both = format!("{k2},{k1}");
    let (ok, out, err) = inst.run(
        &["keys", "rotate-encryption"],
        &[("CASHBOX_ENCRYPTION_KEYS", &both)],
    );
    assert!(ok, "{err}");
    assert!(out.contains("re-encrypted 2 of 2"), "{out}");

    let server = inst
        .serve(&[
            ("CASHBOX_ENCRYPTION_KEYS", &k2),
            ("CASHBOX_SECRET_KEY", &env_key),
        ])
        .unwrap();
    let (status, got) = server.get(&format!("/v1/customers/{id}"), &env_key).await;
    assert_eq!(
        (status, got["email"].as_str()),
        (200, Some("rot@example.com"))
    );
}

/// What a newcomer following the README meets first: `--data-dir`, the settings in `--help`,
/// a host name to listen on, a database that does not answer, and what `serve` says of keys.
#[tokio::test]
async fn the_first_hour_of_a_newcomer() {
    let inst = Instance::new().await;
    let (ok, out, _) = inst.run(&["--help"], &[]);
    assert!(ok);
    for name in cashbox::config::KNOWN_VARS
        .iter()
        .chain(&["CASHBOX_CONFIG", "CASHBOX_LOG"])
    {
        assert!(out.contains(name), "--help leaves out {name}:\n{out}");
    }

    // `ledger check` where there is no data: refused, naming where it looked.
    let (ok, out, err) = inst.run(&["ledger", "check"], &[]);
    assert!(!ok, "{out}");
    assert!(!out.contains("balanced"), "{out}");
    if inst.database_url.is_none() {
        assert!(err.contains("cashbox-data/cashbox.db"), "{err}");
        assert!(
            !inst.dir.join("cashbox-data").exists(),
            "nothing was created"
        );
    }

    // A server on a host name, with its data somewhere else, named by --data-dir.
    let elsewhere = inst.dir.join("elsewhere");
    let data_dir = elsewhere.to_str().unwrap();
    let mut child = inst
        .command(
            &["--data-dir", data_dir, "serve"],
            &[("CASHBOX_LISTEN", "localhost:0")],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut secret = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(k) = line.trim().strip_prefix("secret key:") {
            secret = Some(k.trim().to_string());
        }
        if let Some(addr) = line.strip_prefix("cashbox listening on http://") {
            assert!(
                addr.starts_with("127.0.0.1:") || addr.starts_with("[::1]:"),
                "localhost is a loopback address: {addr}"
            );
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(secret.is_some(), "development keys were printed");
    assert!(elsewhere.join("encryption.keys").exists());
    let (ok, out, err) = inst.run(&["--data-dir", data_dir, "ledger", "check"], &[]);
    assert!(ok && out.contains("ledger is balanced"), "{out}{err}");

    // With CASHBOX_SECRET_KEY, `serve` does not claim to use the development keys.
    let env_key = format!("sk_test_{}", random_token(24));
    let data = format!("CASHBOX_DATA_DIR={data_dir}");
    let (name, value) = data.split_once('=').unwrap();
    let server = inst
        .serve(&[(name, value), ("CASHBOX_SECRET_KEY", &env_key)])
        .unwrap();
    let said = server.lines.join("\n");
    assert!(said.contains("CASHBOX_SECRET_KEY"), "{said}");
    assert!(!said.contains("development keys"), "{said}");
    drop(server);

    // A PostgreSQL server that is not there: refused at once, saying where and why.
    let started = std::time::Instant::now();
    let (ok, _, err) = inst.run(
        &["migrate"],
        &[(
            "DATABASE_URL",
            "postgres://cashbox:hunter2@127.0.0.1:9/cashbox",
        )],
    );
    assert!(!ok);
    assert!(err.contains("127.0.0.1:9"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the password is not printed: {err}"
    );
    assert!(!err.contains("pool timed out"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bad_configuration_is_refused_with_the_setting_named() {
    let dir = std::env::temp_dir();
    let out = Command::new(BIN)
        .arg("serve")
        .current_dir(Path::new(&dir))
        .env_clear()
        .env("CASHBOX_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CASHBOX_LISTEN"));
}

/// A test clock's advance cut short by SIGKILL is finished when `serve` starts again: every
/// subscription ends with exactly one invoice per period, all paid.
#[tokio::test]
async fn a_clock_advance_killed_partway_is_finished_by_the_next_start() {
    const SUBS: usize = 40;
    const T0: i64 = 1_806_537_600; // 2027-04-01
    let inst = Instance::new().await;
    let server = inst.serve(&[]).expect("serve starts");
    let key = server.printed_key("secret key:").expect("a secret key");
    let (_, clock) = server
        .post(
            "/v1/test_helpers/test_clocks",
            &key,
            &format!("frozen_time={T0}"),
        )
        .await;
    let clock = clock["id"].as_str().unwrap().to_string();
    let (_, price) = server
        .post(
            "/v1/prices",
            &key,
            "currency=usd&unit_amount=900&recurring[interval]=month&product_data[name]=Plan",
        )
        .await;
    let price = price["id"].as_str().unwrap().to_string();
    let mut subs = Vec::new();
    for i in 0..SUBS {
        let (_, cus) = server
            .post(
                "/v1/customers",
                &key,
                &format!("email=c{i}%40example.com&test_clock={clock}&payment_method=pm_card_visa"),
            )
            .await;
        let (status, sub) = server
            .post(
                "/v1/subscriptions",
                &key,
                &format!(
                    "customer={}&items[0][price]={price}",
                    cus["id"].as_str().unwrap()
                ),
            )
            .await;
        assert_eq!(status, 200, "{sub}");
        subs.push(sub["id"].as_str().unwrap().to_string());
    }

    // A year on, in one request; killed once some renewals are paid.
    let year = T0 + 366 * 86_400 + 3_600; // past 2028-04-01 (2028 is a leap year)
    let advance = {
        let base = server.base.clone();
        let (key, clock) = (key.clone(), clock.clone());
        tokio::spawn(async move {
            client()
                .post(format!(
                    "{base}/v1/test_helpers/test_clocks/{clock}/advance"
                ))
                .bearer_auth(key)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("frozen_time={year}"))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    loop {
        let (_, paid) = server
            .get("/v1/events?type=invoice.paid&limit=100", &key)
            .await;
        if paid["data"]
            .as_array()
            .is_some_and(|d| d.len() >= SUBS + 20)
            || advance.is_finished()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !advance.is_finished(),
        "the advance was still running when it was killed"
    );
    drop(server); // SIGKILL
    assert!(
        advance.await.unwrap().is_err(),
        "the advance request was cut"
    );

    let server = inst.serve(&[]).expect("serve starts again");
    let mut status = String::new();
    for _ in 0..600 {
        let (_, c) = server
            .get(&format!("/v1/test_helpers/test_clocks/{clock}"), &key)
            .await;
        status = c["status"].as_str().unwrap_or_default().to_string();
        if status == "ready" {
            assert_eq!(c["frozen_time"], year);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "ready");
    for sub in &subs {
        let (_, list) = server
            .get(&format!("/v1/invoices?subscription={sub}&limit=100"), &key)
            .await;
        let invoices = list["data"].as_array().unwrap();
        assert_eq!(
            invoices.len(),
            13,
            "the first period and twelve renewals, once each"
        );
        // A payment the kill left in flight finishes through the recovery sweep, after its
        // lease; every invoice is paid or has that payment pending.
        assert!(
            invoices
                .iter()
                .all(|i| i["status"] == "paid" || i["status"] == "open")
        );
    }
}

/// A receiver that takes `delay` to answer 200; the event ids it answered, in order, and how
/// many requests reached it.
async fn slow_receiver(
    delay: Duration,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let answered = Arc::new(Mutex::new(Vec::new()));
    let reached = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let (answered, reached) = (Arc::clone(&answered), Arc::clone(&reached));
            move |body: String| {
                let (answered, reached) = (Arc::clone(&answered), Arc::clone(&reached));
                async move {
                    reached.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let event: serde_json::Value = serde_json::from_str(&body).unwrap();
                    answered
                        .lock()
                        .unwrap()
                        .push(event["id"].as_str().unwrap().to_string());
                    "ok"
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), answered, reached)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_pending_at_a_sigkill_are_all_delivered_after_a_restart() {
    use std::sync::atomic::Ordering;
    const CUSTOMERS: usize = 100;
    let (url, answered, reached) = slow_receiver(Duration::from_secs(3)).await;
    let inst = Instance::new().await;
    let env = [("CASHBOX_WEBHOOK_TIMEOUT_SECS", "5")];
    let server = inst.serve(&env).expect("serve starts");
    let key = server.printed_key("secret key:").unwrap();
    let body = format!(
        "url={}&enabled_events[]=customer.created",
        form_urlencoded_byte(&url)
    );
    let (status, endpoint) = server.post("/v1/webhook_endpoints", &key, &body).await;
    assert_eq!(status, 200, "{endpoint}");
    for i in 0..CUSTOMERS {
        let (status, _) = server
            .post("/v1/customers", &key, &format!("description=c{i}"))
            .await;
        assert_eq!(status, 200);
    }
    for _ in 0..200 {
        if reached.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(reached.load(Ordering::SeqCst) > 0, "deliveries had begun");
    drop(server); // SIGKILL, with deliveries in flight and more waiting
    let at_kill = answered.lock().unwrap().len();
    assert!(
        at_kill < CUSTOMERS,
        "{at_kill} were answered before the kill"
    );

    let server = inst.serve(&env).expect("serve starts again");
    let (_, events) = server
        .get("/v1/events?type=customer.created&limit=100", &key)
        .await;
    let mut expected: Vec<String> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert_eq!(expected.len(), CUSTOMERS);
    let mut got = Vec::new();
    for _ in 0..240 {
        got = answered.lock().unwrap().clone();
        got.sort();
        got.dedup();
        if got == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(got, expected, "every event delivered at least once");
    let (_, after) = server
        .get("/v1/events?type=customer.created&limit=100", &key)
        .await;
    for _ in 0..40 {
        let (_, now) = server
            .get("/v1/events?type=customer.created&limit=100", &key)
            .await;
        if now["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["pending_webhooks"] == 0)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("events still pending: {after}");
}

/// Percent-encodes a URL for a form body.
fn form_urlencoded_byte(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A stand-in for Stripe that accepts only `sk_test_good`; returns its address.
async fn key_checking_stand() -> String {
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new().route(
        "/v1/customers",
        axum::routing::get(|headers: HeaderMap| async move {
            let good = headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some("Bearer sk_test_good");
            if good {
                (StatusCode::OK, r#"{"object":"list","data":[]}"#)
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_****"}}"#,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// `serve` on the Stripe processor checks the key with Stripe before it listens: a key Stripe
/// rejects stops it with one line saying so; production refuses test keys unless told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stripe_key_is_checked_at_start_up() {
    let stand = key_checking_stand().await;
    let inst = Instance::new().await;
    let stripe = |key: &'static str| {
        vec![
            ("CASHBOX_PROCESSOR", "stripe"),
            ("CASHBOX_STRIPE_SECRET_KEY", key),
            ("CASHBOX_STRIPE_PUBLISHABLE_KEY", "pk_test_x"),
            ("CASHBOX_STRIPE_WEBHOOK_SECRET", "whsec_x"),
        ]
    };
    let mut refused = stripe("sk_test_bad");
    refused.push(("CASHBOX_STRIPE_API_BASE", &stand));
    let (ok, _, stderr) = inst.run(&["serve"], &refused);
    assert!(!ok);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("Stripe refused"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("CASHBOX_STRIPE_SECRET_KEY"), "{stderr}");
    assert!(
        lines[0].contains("Invalid API Key provided"),
        "Stripe's reason: {stderr}"
    );
    assert!(
        !stderr.contains("sk_test_bad"),
        "the key is never printed: {stderr}"
    );

    let mut accepted = stripe("sk_test_good");
    accepted.push(("CASHBOX_STRIPE_API_BASE", &stand));
    let server = inst
        .serve(&accepted)
        .expect("starts with a key Stripe accepts");
    drop(server);

    let mut production = stripe("sk_test_good");
    production.extend([
        ("CASHBOX_STRIPE_API_BASE", stand.as_str()),
        ("CASHBOX_ENV", "production"),
    ]);
    let (ok, _, stderr) = inst.run(&["serve"], &production);
    assert!(!ok);
    assert!(
        stderr.contains("production refuses Stripe test keys"),
        "{stderr}"
    );
}
