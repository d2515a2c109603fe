"""Cashbox on the Stripe processor, against localstripe (a stateful fake of Stripe's API).

Starts localstripe as its own process (it is GPL: never imported here, only run) with the
Python named by LOCALSTRIPE_PYTHON (default .venv-localstripe/bin/python), then `cashbox serve`
with CASHBOX_PROCESSOR=stripe pointed at it. CASHBOX_COMPAT_DATABASE_URL, if set, runs Cashbox
on that database (PostgreSQL in CI); otherwise SQLite in a temp dir.

Each test checks both sides: what Cashbox answers, and what Stripe (localstripe) holds.
"""

import json
import os
import secrets
import sys
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import stripe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The suites share tests/browser.py (headless Chromium).
sys.path.insert(0, os.path.join(ROOT, "tests"))
STRIPE_KEY = "sk_test_localstripe"
PUBLISHABLE_KEY = "pk_test_localstripe"
WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not start")


class Stand:
    """Direct calls to the stand-in, as Stripe.js or Stripe's dashboard would make them."""

    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, params=None):
        data = urllib.parse.urlencode(params or {}).encode() if method != "GET" else None
        url = self.base + path
        if method == "GET" and params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", "Bearer " + STRIPE_KEY)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: {e.code} {e.read()!r}") from None

    def card(self, number: str) -> str:
        """A PaymentMethod made on Stripe's side from a card number, as Stripe.js makes one:
        the number goes to Stripe, Cashbox only ever sees the pm_ id."""
        pm = self.call(
            "POST",
            "/v1/payment_methods",
            {
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
        )
        return pm["id"]


@pytest.fixture(scope="session")
def stand():
    port = free_port()
    python = os.environ.get(
        "LOCALSTRIPE_PYTHON", os.path.join(ROOT, ".venv-localstripe", "bin", "python")
    )
    proc = subprocess.Popen(
        [python, os.path.join(ROOT, "tests", "stripe", "localstripe_server.py"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(base + "/v1/customers", proc, "localstripe")
    yield Stand(base)
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def cashbox(stand):
    binary = os.environ.get("CASHBOX_BIN", os.path.join(ROOT, "target", "debug", "cashbox"))
    key = "sk_test_" + secrets.token_hex(16)
    data_dir = tempfile.mkdtemp(prefix="cashbox-stripe-")
    log_path = os.path.join(data_dir, "cashbox.log")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CASHBOX_LISTEN": "127.0.0.1:0",
        "CASHBOX_DATA_DIR": data_dir,
        "CASHBOX_SECRET_KEY": key,
        "CASHBOX_LOG": "info",
        "CASHBOX_PROCESSOR": "stripe",
        "CASHBOX_STRIPE_SECRET_KEY": STRIPE_KEY,
        "CASHBOX_STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
        "CASHBOX_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CASHBOX_STRIPE_API_BASE": stand.base,
        # localstripe serves a stand-in of Stripe.js for the hosted pages' card field.
        "CASHBOX_STRIPE_JS_URL": stand.base + "/js.stripe.com/v3/",
    }
    if os.environ.get("CASHBOX_COMPAT_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["CASHBOX_COMPAT_DATABASE_URL"]
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [binary, "serve"], env=env, stdout=subprocess.PIPE, stderr=log, text=True
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
        raise RuntimeError("cashbox did not start: " + open(log_path).read())
    yield {"base": base, "key": key, "env": env, "binary": binary, "log": log_path}
    proc.terminate()
    assert proc.wait(timeout=30) == 0, "cashbox should exit 0 on SIGTERM"
    log.close()
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
