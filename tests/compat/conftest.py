"""Starts a real `cashbox serve` for the compatibility suite and points Stripe's SDK at it.

CASHBOX_BIN names the binary (default: target/debug/cashbox). CASHBOX_COMPAT_DATABASE_URL, if
set, runs the server on that database (PostgreSQL in CI); otherwise SQLite in a temp dir.
"""

import os
import secrets
import sys
import subprocess
import tempfile
import time

import pytest
import stripe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The suites share tests/browser.py (headless Chromium).
sys.path.insert(0, os.path.join(ROOT, "tests"))


@pytest.fixture(scope="session")
def cashbox():
    binary = os.environ.get("CASHBOX_BIN", os.path.join(ROOT, "target", "debug", "cashbox"))
    key = "sk_test_" + secrets.token_hex(16)
    data_dir = tempfile.mkdtemp(prefix="cashbox-compat-")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CASHBOX_LISTEN": "127.0.0.1:0",
        "CASHBOX_DATA_DIR": data_dir,
        "CASHBOX_SECRET_KEY": key,
        "CASHBOX_LOG": "warn",
    }
    if os.environ.get("CASHBOX_COMPAT_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["CASHBOX_COMPAT_DATABASE_URL"]
    proc = subprocess.Popen(
        [binary, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    base = None
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("cashbox listening on "):
            base = line.split("cashbox listening on ", 1)[1].strip()
            break
    if base is None:
        proc.kill()
        raise RuntimeError("cashbox did not start: " + proc.stderr.read())
    # A publishable key, for what a browser does with Stripe.js (confirming with a secret).
    made = subprocess.run(
        [binary, "keys", "create", "--type", "publishable", "--note", "compat"],
        env=env, capture_output=True, text=True, check=True,
    )
    publishable = next(
        line.split()[-1] for line in made.stdout.splitlines() if line.startswith("key:")
    )
    yield {"base": base, "key": key, "publishable": publishable}
    proc.terminate()
    assert proc.wait(timeout=30) == 0, "cashbox should exit 0 on SIGTERM"
    # After the whole suite, the ledger must balance and match every payment and refund.
    check = subprocess.run([binary, "ledger", "check"], env=env, capture_output=True, text=True)
    print(check.stdout)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ledger is balanced" in check.stdout


@pytest.fixture(autouse=True)
def sdk(cashbox):
    stripe.api_base = cashbox["base"]
    stripe.api_key = cashbox["key"]
    stripe.max_network_retries = 0
    yield
