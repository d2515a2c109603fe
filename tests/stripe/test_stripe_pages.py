"""The hosted pages on the Stripe processor, in headless Chromium: the card field is Stripe.js's
(localstripe's stand-in of it), the number goes from the browser to Stripe, and Cashbox receives
only a PaymentMethod id. Afterwards no card number is in Cashbox's database or its log."""

import glob
import os
import subprocess
import urllib.parse

import pytest
import stripe
from browser import needs_browser, start_browser

VISA = "4242424242424242"

# localstripe's Stripe.js stand-in has no `createPaymentMethod` (Stripe.js's own since 2019),
# which Cashbox's pages call, and its API refuses that call from a browser (no publishable-key
# access, no CORS for it). The test stands in for that one call the way Stripe.js makes it: the
# page hands the card to "Stripe" (here the test, which posts it to localstripe, never to
# Cashbox) and gets the PaymentMethod's id back.
STRIPE_JS_GAP = """
(function () {
  var made;
  Object.defineProperty(window, 'Stripe', {
    configurable: true,
    get: function () { return made; },
    set: function (factory) {
      made = function (key) {
        var stripe = factory(key);
        stripe.createPaymentMethod = function (data) {
          return new Promise(function (resolve) {
            window.__cardForStripe = data.card.value.card;
            window.__stripeAnswered = resolve;
          });
        };
        return stripe;
      };
    }
  });
})();
"""


def answer_as_stripe(browser, stand):
    """Takes the card the page handed to Stripe.js, makes the PaymentMethod on localstripe, and
    answers the page with it, as Stripe.js would."""
    from selenium.webdriver.support.ui import WebDriverWait

    card = WebDriverWait(browser, 10).until(lambda d: d.execute_script("return window.__cardForStripe"))
    pm = stand.call(
        "POST",
        "/v1/payment_methods",
        {
            "type": "card",
            "card[number]": card["number"],
            "card[exp_month]": card["exp_month"],
            "card[exp_year]": card["exp_year"],
            "card[cvc]": card["cvc"],
        },
    )
    browser.execute_script(
        "window.__cardForStripe = null; window.__stripeAnswered({paymentMethod: arguments[0]});",
        {"id": pm["id"], "object": "payment_method"},
    )
    return pm["id"]


@pytest.fixture(scope="module")
def browser():
    driver = start_browser()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": STRIPE_JS_GAP})
    yield driver
    driver.quit()


def type_card(browser, number):
    """Types into Stripe.js's card Element (the stand-in's fields) as a customer would."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#card-element input")
    )
    fields = {
        f.get_attribute("placeholder"): f
        for f in browser.find_elements(By.CSS_SELECTOR, "#card-element input")
    }
    fields["number"].send_keys(number)
    fields["exp_month"].send_keys("12")
    fields["exp_year"].send_keys("34")
    fields["cvc"].send_keys("123")
    fields["postal_code"].send_keys("10001")


@needs_browser
def test_a_checkout_paid_through_stripe_js_never_shows_cashbox_the_number(
    browser, stand, cashbox
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    product = stripe.Product.create(name="Rust course")
    price = stripe.Price.create(product=product.id, currency="usd", unit_amount=4900)
    session = stripe.checkout.Session.create(
        mode="payment",
        line_items=[{"price": price.id, "quantity": 1}],
        success_url="https://shop.example/done?session_id={CHECKOUT_SESSION_ID}",
        customer_creation="always",
    )
    browser.get(session.url)
    # Cashbox's own number field is not on the page: Stripe.js's is.
    assert not browser.find_elements(By.CSS_SELECTOR, "input[autocomplete=cc-number]")
    browser.find_element(By.CSS_SELECTOR, "input[autocomplete=email]").send_keys(
        "jenny@example.com"
    )
    browser.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-name]").send_keys("Jenny Rosen")
    type_card(browser, VISA)
    browser.find_element(By.CSS_SELECTOR, "#pay-button").click()
    made = answer_as_stripe(browser, stand)
    WebDriverWait(browser, 15).until(
        lambda d: urllib.parse.unquote(d.current_url).startswith("https://shop.example/done")
    )
    paid = stripe.checkout.Session.retrieve(session.id, expand=["payment_intent"])
    assert paid.status == "complete" and paid.payment_status == "paid"
    pm = paid.payment_intent.payment_method
    assert pm == made
    # The PaymentMethod is Stripe's, made in the browser, mirrored under Stripe's id.
    theirs = stand.call("GET", f"/v1/payment_methods/{pm}")
    assert theirs["card"]["last4"] == "4242"
    assert stripe.PaymentMethod.retrieve(pm).card.last4 == "4242"
    # Stripe charged it, once.
    charged = [
        p for p in stand.call("GET", "/v1/payment_intents", {"limit": "100"})["data"]
        if p["payment_method"] == pm
    ]
    assert [(p["amount"], p["status"]) for p in charged] == [(4900, "succeeded")]
    # The paying customer got a Stripe customer, carrying Cashbox's id and the email only.
    theirs_customer = stand.call("GET", f"/v1/customers/{charged[0]['customer']}")
    assert theirs_customer["metadata"] == {"cashbox_id": paid.customer}
    assert theirs_customer["email"] == "jenny@example.com"
    assert theirs_customer["name"] is None
    # No card number anywhere Cashbox keeps things: its files (SQLite database, keys, log)
    # or, on PostgreSQL, a dump of its database.
    kept = []
    for path in glob.glob(os.path.join(cashbox["env"]["CASHBOX_DATA_DIR"], "**"), recursive=True):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                kept.append(f.read())
    if cashbox["env"].get("DATABASE_URL"):
        dump = subprocess.run(
            ["pg_dump", "--data-only", cashbox["env"]["DATABASE_URL"]],
            capture_output=True,
            check=True,
        )
        kept.append(dump.stdout)
    assert kept, "nothing to search"
    for blob in kept:
        assert VISA.encode() not in blob
        assert b"4242 4242" not in blob


@needs_browser
def test_the_portal_adds_a_card_through_stripe_js(browser, stand):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    customer = stripe.Customer.create(email="port@example.com")
    portal = stripe.billing_portal.Session.create(
        customer=customer.id, return_url="https://shop.example/account"
    )
    browser.get(portal.url)
    assert not browser.find_elements(By.CSS_SELECTOR, "input[autocomplete=cc-number]")
    browser.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-name]").send_keys("Port")
    type_card(browser, VISA)
    browser.find_element(By.CSS_SELECTOR, "button[value=add_card]").click()
    made = answer_as_stripe(browser, stand)
    WebDriverWait(browser, 10).until(
        lambda d: stripe.PaymentMethod.list(customer=customer.id, type="card").data
    )
    cards = stripe.PaymentMethod.list(customer=customer.id, type="card").data
    assert [(c.id, c.card.last4) for c in cards] == [(made, "4242")]
    assert stripe.Customer.retrieve(customer.id).invoice_settings.default_payment_method == cards[0].id
    # Saved to the customer on Stripe's side too.
    assert stand.call("GET", f"/v1/payment_methods/{cards[0].id}")["customer"].startswith("cus_")


@needs_browser
def test_three_d_secure_on_the_checkout_page_is_stripe_js(browser, stand):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    product = stripe.Product.create(name="Secure course")
    price = stripe.Price.create(product=product.id, currency="usd", unit_amount=2900)
    session = stripe.checkout.Session.create(
        mode="payment",
        line_items=[{"price": price.id, "quantity": 1}],
        success_url="https://shop.example/done?session_id={CHECKOUT_SESSION_ID}",
    )
    browser.get(session.url)
    browser.find_element(By.CSS_SELECTOR, "input[autocomplete=email]").send_keys("sec@example.com")
    type_card(browser, "4000002760003184")
    browser.find_element(By.CSS_SELECTOR, "#pay-button").click()
    answer_as_stripe(browser, stand)
    # Cashbox's authentication page runs Stripe.js's 3-D Secure (the stand-in's dialog).
    button = WebDriverWait(browser, 15).until(
        lambda d: next(
            (b for b in d.find_elements(By.TAG_NAME, "button")
             if b.text == "Complete authentication"),
            None,
        )
    )
    assert "/pages/authenticate/" in browser.current_url
    button.click()
    WebDriverWait(browser, 15).until(
        lambda d: urllib.parse.unquote(d.current_url).startswith("https://shop.example/done")
    )
    paid = stripe.checkout.Session.retrieve(session.id, expand=["payment_intent"])
    assert paid.status == "complete"
    assert paid.payment_intent.status == "succeeded"


@needs_browser
def test_an_invoice_is_paid_on_its_page_through_stripe_js(browser, stand):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    customer = stripe.Customer.create(email="inv@example.com")
    invoice = stripe.Invoice.create(
        customer=customer.id, collection_method="send_invoice", days_until_due=7
    )
    stripe.InvoiceItem.create(
        customer=customer.id, invoice=invoice.id, amount=1800, currency="usd", description="Setup"
    )
    invoice = stripe.Invoice.finalize_invoice(invoice.id)
    browser.get(invoice.hosted_invoice_url)
    assert not browser.find_elements(By.CSS_SELECTOR, "select[name=payment_method]")
    type_card(browser, VISA)
    browser.find_element(By.CSS_SELECTOR, "button.approve").click()
    made = answer_as_stripe(browser, stand)
    WebDriverWait(browser, 15).until(lambda d: "paid" in d.page_source)
    paid = stripe.Invoice.retrieve(invoice.id, expand=["payments"])
    assert (paid.status, paid.amount_paid) == ("paid", 1800)
    charged = [
        p for p in stand.call("GET", "/v1/payment_intents", {"limit": "100"})["data"]
        if p["payment_method"] == made
    ]
    assert [(p["amount"], p["status"]) for p in charged] == [(1800, "succeeded")]
