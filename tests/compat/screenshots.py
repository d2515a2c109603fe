"""Saves a screenshot of every hosted page at 390 px (a phone) and 1280 px (a laptop) wide, to
look at before calling a page done:

    cargo build && .venv/bin/python tests/compat/screenshots.py [OUT_DIR]   (default: screenshots)

Starts its own `cashbox serve` on SQLite (as the compatibility suite does), makes the objects
each page shows through Stripe's Python SDK, and drives headless Chromium (Debian's
`chromium` and `chromium-driver`).
"""

import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import stripe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WIDTHS = (390, 1280)


def serve():
    binary = os.environ.get("CASHBOX_BIN", os.path.join(ROOT, "target", "debug", "cashbox"))
    key = "sk_test_" + secrets.token_hex(16)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CASHBOX_LISTEN": "127.0.0.1:0",
        "CASHBOX_DATA_DIR": tempfile.mkdtemp(prefix="cashbox-shots-"),
        "CASHBOX_SECRET_KEY": key,
        "CASHBOX_LOG": "warn",
        # A business profile, so the pages show where it goes.
        "CASHBOX_BUSINESS_NAME": "Acme Courses",
        "CASHBOX_BUSINESS_ADDRESS": "1 Main Street; 75001 Paris; France",
        "CASHBOX_BUSINESS_SUPPORT_EMAIL": "help@acme.example",
        "CASHBOX_BUSINESS_TAX_ID": "FR 12 345678901",
    }
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith("cashbox listening on "):
            return proc, line.split("cashbox listening on ", 1)[1].strip(), key
    proc.kill()
    sys.exit("cashbox did not start")


def browser():
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--hide-scrollbars"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def shoot(driver, out, name):
    """The page now shown, full height, at each width."""
    for width in WIDTHS:
        driver.set_window_size(width, 900)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, max(height + 160, 400))
        path = os.path.join(out, f"{name}-{width}.png")
        driver.save_screenshot(path)
        print(path)


def pay_form(driver, card):
    emails = driver.find_elements(By.CSS_SELECTOR, "input[autocomplete=email]")
    if emails:
        emails[0].send_keys("jenny@example.com")
    driver.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-name]").send_keys("Jenny Rosen")
    driver.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-number]").send_keys(card)
    driver.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-exp]").send_keys("12 / 34")
    driver.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-csc]").send_keys("123")
    driver.find_element(By.CSS_SELECTOR, "#pay-button").click()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "screenshots"
    os.makedirs(out, exist_ok=True)
    proc, base, key = serve()
    stripe.api_base, stripe.api_key = base, key
    driver = browser()
    try:
        success, cancel = "https://shop.example/done", "https://shop.example/cart"
        course = stripe.Product.create(name="Rust for web developers")
        price = stripe.Price.create(product=course.id, currency="usd", unit_amount=4900)
        s = stripe.checkout.Session.create(
            mode="payment", line_items=[{"price": price.id, "quantity": 1}],
            success_url=success, cancel_url=cancel,
        )
        driver.get(s.url)
        shoot(driver, out, "checkout-payment")
        pay_form(driver, "4000000000000002")
        shoot(driver, out, "checkout-declined")

        plan = stripe.Product.create(name="Pro plan")
        monthly = stripe.Price.create(
            product=plan.id, currency="usd", unit_amount=2000, recurring={"interval": "month"}
        )
        seats = stripe.Price.create(
            product=stripe.Product.create(name="Extra seats").id, currency="usd",
            unit_amount=500, recurring={"interval": "month"},
        )
        rate = stripe.TaxRate.create(display_name="VAT", percentage=20, inclusive=False)
        s = stripe.checkout.Session.create(
            mode="subscription",
            line_items=[
                {"price": monthly.id},
                {"price": seats.id, "quantity": 2,
                 "adjustable_quantity": {"enabled": True, "minimum": 1, "maximum": 10}},
            ],
            allow_promotion_codes=True, subscription_data={"default_tax_rates": [rate.id]},
            success_url=success, cancel_url=cancel,
        )
        driver.get(s.url)
        shoot(driver, out, "checkout-subscription")
        trial = stripe.checkout.Session.create(
            mode="subscription", line_items=[{"price": monthly.id}],
            subscription_data={"trial_period_days": 14}, success_url=success,
        )
        driver.get(trial.url)
        shoot(driver, out, "checkout-trial")
        setup = stripe.checkout.Session.create(mode="setup", currency="usd", success_url=success)
        driver.get(setup.url)
        shoot(driver, out, "checkout-setup")

        s = stripe.checkout.Session.create(
            mode="payment", line_items=[{"price": price.id}], success_url=success,
        )
        driver.get(s.url)
        pay_form(driver, "4000002760003184")
        time.sleep(0.5)
        shoot(driver, out, "authenticate")
        stripe.checkout.Session.expire(
            stripe.checkout.Session.create(
                mode="payment", line_items=[{"price": price.id}], success_url=success
            ).id
        )
        expired = stripe.checkout.Session.list(status="expired").data[0]
        driver.get(f"{base}/checkout/{expired.id}")
        shoot(driver, out, "checkout-expired")

        customer = stripe.Customer.create(email="jenny@example.com", name="Jenny Rosen")
        pi = stripe.PaymentIntent.create(
            amount=4900, currency="usd", customer=customer.id, payment_method="pm_card_visa",
            confirm=True, description="Rust for web developers",
        )
        charge = stripe.Charge.retrieve(pi.latest_charge)
        driver.get(charge.receipt_url)
        shoot(driver, out, "receipt")
        stripe.InvoiceItem.create(customer=customer.id, price=price.id)
        invoice = stripe.Invoice.create(customer=customer.id, pending_invoice_items_behavior="include")
        invoice = stripe.Invoice.finalize_invoice(invoice.id)
        driver.get(invoice.hosted_invoice_url)
        shoot(driver, out, "invoice")
        # The portal, with a plan to switch, cards, invoices and a quota.
        sub = stripe.Subscription.create(
            customer=customer.id, items=[{"price": monthly.id}], default_payment_method="pm_card_visa",
        )
        team = stripe.Price.create(
            product=plan.id, currency="usd", unit_amount=5000, recurring={"interval": "month"}
        )
        feature = stripe.entitlements.Feature.create(name="Sessions", lookup_key="sessions")
        stripe.Product.create_feature(plan.id, entitlement_feature=feature.id)
        config = stripe.billing_portal.Configuration.create(
            features={"subscription_update": {
                "enabled": True, "products": [{"product": plan.id, "prices": [monthly.id, team.id]}],
            }},
            business_profile={"headline": "Manage your Acme plan"},
        )
        portal = stripe.billing_portal.Session.create(
            customer=customer.id, configuration=config.id, return_url=success,
        )
        driver.get(portal.url)
        shoot(driver, out, "portal")
        driver.find_element(By.XPATH, "//button[starts-with(text(), 'Switch to')]").click()
        time.sleep(0.3)
        shoot(driver, out, "portal-switch")
        assert sub.id
        # The invoice PDF, saved as it is served.
        with urllib.request.urlopen(invoice.invoice_pdf) as r:
            with open(os.path.join(out, "invoice.pdf"), "wb") as f:
                f.write(r.read())
        print(os.path.join(out, "invoice.pdf"))
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
