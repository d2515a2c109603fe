//! The benchmark harness as a process: a billing run killed with SIGKILL and run again, and
//! the clock benchmark's own check. Uses PostgreSQL when `CASHBOX_TEST_DATABASE_URL` is set,
//! a SQLite file in a directory of the test's own otherwise.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use cashbox_core::id::random_token;
use cashbox_store::testing::{TEST_DATABASE_URL_VAR, fresh_database_url};

const BIN: &str = env!("CARGO_BIN_EXE_cashbox-bench");

/// A working directory, and the database the benchmark runs on.
struct Instance {
    dir: PathBuf,
    database_url: Option<String>,
}

impl Instance {
    async fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("cashbox-bench-{}", random_token(10)));
        std::fs::create_dir_all(&dir).unwrap();
        let database_url = match std::env::var(TEST_DATABASE_URL_VAR) {
            Ok(v) if !v.is_empty() => Some(fresh_database_url().await.unwrap()),
            _ => None,
        };
        Self { dir, database_url }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        cmd
    }

    /// Runs a command to completion: (success, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.command(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A billing run killed with SIGKILL partway and run again ends with exactly the invoices and
/// totals of a run that was not interrupted: no period billed twice, none missed, every
/// payment in flight finished with its own processor key.
#[tokio::test]
async fn a_billing_run_killed_halfway_ends_as_an_uninterrupted_one() {
    const N: &str = "600";
    let bench = |phase: &'static str| {
        [
            "bench-billing",
            "--subscriptions",
            N,
            "--phase",
            phase,
            "--batch",
            "20",
        ]
    };

    let whole = Instance::new().await;
    let (ok, out, err) = whole.run(&bench("setup"));
    assert!(ok, "{out}{err}");
    let (ok, out, err) = whole.run(&bench("run"));
    assert!(ok, "{out}{err}");
    let (ok, expected, err) = whole.run(&bench("report"));
    assert!(ok, "{err}");
    assert!(
        expected.contains("invoices: 1200\npaid: 1200\n"),
        "{expected}"
    );

    let killed = Instance::new().await;
    let (ok, out, err) = killed.run(&bench("setup"));
    assert!(ok, "{out}{err}");
    let mut child = killed
        .command(&bench("run"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines().map_while(Result::ok) {
        let done: usize = line
            .strip_prefix("progress: ")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if done >= 200 {
            child.kill().unwrap(); // SIGKILL
            break;
        }
    }
    child.wait().unwrap();
    let (_, partial, _) = killed.run(&bench("report"));
    assert_ne!(
        partial, expected,
        "the run was interrupted before it finished"
    );
    let (ok, out, err) = killed.run(&bench("run"));
    assert!(ok, "{out}{err}");
    let (ok, after, err) = killed.run(&bench("report"));
    assert!(ok, "{err}");
    assert_eq!(after, expected);
}

/// `bench-clock` advances one clock over its subscriptions and checks what the advance made:
/// 100 days from April 1 are the $0 trial invoice and four renewals (April 8 to July 8) each.
#[tokio::test]
async fn the_clock_benchmark_renews_every_subscription_it_advances() {
    let instance = Instance::new().await;
    let (ok, out, err) = instance.run(&["bench-clock", "--subscriptions", "30", "--days", "100"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("invoices:      150 (150 paid)\n"), "{out}");
    assert!(
        out.contains(&format!("amount paid:   {}\n", 30 * 4 * 19_999)),
        "{out}"
    );
}

/// The payments benchmark starts its own server and drives it over HTTP: a short run
/// confirms payments and takes no slow path.
#[tokio::test]
async fn the_payments_benchmark_confirms_payments() {
    let instance = Instance::new().await;
    let (ok, out, err) = instance.run(&[
        "bench",
        "--seconds",
        "1",
        "--warmup-seconds",
        "0",
        "--clients",
        "4",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(" (0 errors)"), "{out}");
    assert!(out.contains("fast paths:"), "{out}");
}
