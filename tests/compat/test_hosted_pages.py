"""Checkout Sessions and the customer portal through Stripe's Python SDK, and their hosted pages
in a real browser (headless Chromium driven by Selenium): what an app does to sell a plan or a
purchase, and what its customers do to manage them.

The browser tests need Debian's `chromium` and `chromium-driver` (`.ci/run` installs them);
without them they are skipped with the reason, unless CASHBOX_REQUIRE_BROWSER is set (CI).
"""

import secrets
import urllib.parse

import pytest
import stripe
from browser import click_and_wait, needs_browser, start_browser

SUCCESS = "https://shop.example/done?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "https://shop.example/cart"


def product_price(name, amount, recurring=False):
    product = stripe.Product.create(name=name)
    extra = {"recurring": {"interval": "month"}} if recurring else {}
    return product, stripe.Price.create(product=product.id, currency="usd", unit_amount=amount, **extra)


def test_sessions_through_the_sdk():
    _, price = product_price("Book", 1200)
    s = stripe.checkout.Session.create(
        mode="payment",
        line_items=[{"price": price.id, "quantity": 2}],
        success_url=SUCCESS,
        cancel_url=CANCEL,
        metadata={"cart": "c-1"},
    )
    assert s.object == "checkout.session"
    assert s.status == "open" and s.payment_status == "unpaid"
    assert s.amount_total == 2400 and s.currency == "usd"
    assert s.url.endswith("/checkout/" + s.id)
    got = stripe.checkout.Session.retrieve(s.id, expand=["line_items"])
    assert got.line_items.data[0].price.id == price.id
    assert got.line_items.data[0].quantity == 2
    items = stripe.checkout.Session.list_line_items(s.id)
    assert [i.amount_total for i in items.data] == [2400]
    updated = stripe.checkout.Session.modify(s.id, metadata={"cart": "c-2"})
    assert updated.metadata["cart"] == "c-2"
    listed = stripe.checkout.Session.list(status="open", limit=100)
    assert s.id in [x.id for x in listed.auto_paging_iter()]
    expired = stripe.checkout.Session.expire(s.id)
    assert expired.status == "expired" and expired.url is None
    with pytest.raises(stripe.InvalidRequestError) as e:
        stripe.checkout.Session.expire(s.id)
    assert e.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as e:
        stripe.checkout.Session.create(mode="payment", success_url=SUCCESS)
    assert e.value.param == "line_items"
    # Inline prices and products, as apps sell one-off amounts.
    inline = stripe.checkout.Session.create(
        mode="payment",
        line_items=[{
            "price_data": {"currency": "usd", "unit_amount": 500, "product_data": {"name": "Top-up"}},
            "quantity": 3,
        }],
        success_url=SUCCESS,
    )
    assert inline.amount_total == 1500


# ---------------------------------------------------------------------------------------------
# In a browser

@pytest.fixture(scope="module")
def browser():
    driver = start_browser()
    yield driver
    driver.quit()


def fill(browser, card, email="jenny@example.com", name="Jenny Rosen"):
    """Types the card form as a customer would and presses the pay button."""
    from selenium.webdriver.common.by import By

    emails = browser.find_elements(By.CSS_SELECTOR, "input[autocomplete=email]")
    if emails:
        emails[0].clear()
        emails[0].send_keys(email)
    browser.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-name]").send_keys(name)
    browser.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-number]").send_keys(card)
    browser.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-exp]").send_keys("12 / 34")
    browser.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-csc]").send_keys("123")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#pay-button"))


def landed_on_success(browser, session_id):
    """The browser was sent to the success URL (it does not exist: its address is enough),
    waiting up to 10 s for the redirects to land."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def there(d):
        url = urllib.parse.unquote(d.current_url)
        return url.startswith("https://shop.example/done") and session_id in url

    try:
        WebDriverWait(browser, 10).until(there)
        return True
    except TimeoutException:
        return False


@needs_browser
def test_browser_buys_a_subscription_with_a_trial_and_a_promotion_code(browser):
    from selenium.webdriver.common.by import By

    _, price = product_price("Pro plan", 2000, recurring=True)
    coupon = stripe.Coupon.create(percent_off=25, duration="forever")
    code = "SAVE" + secrets.token_hex(3).upper()
    stripe.PromotionCode.create(promotion={"type": "coupon", "coupon": coupon.id}, code=code)
    s = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": price.id}],
        allow_promotion_codes=True,
        subscription_data={"trial_period_days": 14},
        success_url=SUCCESS,
        cancel_url=CANCEL,
    )
    browser.get(s.url)
    assert "Subscribe to Pro plan" in browser.page_source
    assert "Free until" in browser.page_source
    browser.find_element(By.ID, "promo").send_keys(code.lower())
    click_and_wait(browser, browser.find_element(By.XPATH, "//button[text()='Apply code']"))
    assert "Promotion code applied." in browser.page_source
    assert "15.00 USD per month" in browser.page_source
    fill(browser, "4242 4242 4242 4242")
    assert landed_on_success(browser, s.id), browser.page_source
    done = stripe.checkout.Session.retrieve(s.id, expand=["subscription"])
    assert done.status == "complete"
    assert done.subscription.status == "trialing"
    assert len(done.subscription.discounts) == 1


@needs_browser
def test_browser_buys_a_course_that_grants_its_feature(browser, cashbox):
    product, price = product_price("Rust course", 4900)
    key = "course-" + secrets.token_hex(3)
    feature = stripe.entitlements.Feature.create(name="Course", lookup_key=key)
    stripe.Product.create_feature(product.id, entitlement_feature=feature.id)
    s = stripe.checkout.Session.create(
        mode="payment",
        customer_creation="always",
        line_items=[{"price": price.id}],
        success_url=SUCCESS,
        cancel_url=CANCEL,
    )
    browser.get(s.url)
    assert "Pay 49.00 USD" in browser.page_source
    fill(browser, "4242424242424242", email="learner@example.com")
    assert landed_on_success(browser, s.id), browser.current_url
    done = stripe.checkout.Session.retrieve(s.id)
    assert done.payment_status == "paid"
    ents = stripe.entitlements.ActiveEntitlement.list(customer=done.customer)
    assert [e.lookup_key for e in ents.data] == [key]


@needs_browser
def test_browser_declined_then_good_card(browser):
    from selenium.webdriver.common.by import By

    _, price = product_price("Credits", 1000)
    s = stripe.checkout.Session.create(
        mode="payment", line_items=[{"price": price.id}], success_url=SUCCESS, cancel_url=CANCEL,
    )
    browser.get(s.url)
    fill(browser, "4000 0000 0000 0002")
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert "declined" in alert
    assert stripe.checkout.Session.retrieve(s.id).status == "open"
    fill(browser, "4242 4242 4242 4242")
    assert landed_on_success(browser, s.id), browser.current_url
    assert stripe.checkout.Session.retrieve(s.id).status == "complete"


@needs_browser
def test_browser_three_d_secure(browser):
    from selenium.webdriver.common.by import By

    _, price = product_price("Therapy session", 8000)
    s = stripe.checkout.Session.create(
        mode="payment", line_items=[{"price": price.id}], success_url=SUCCESS, cancel_url=CANCEL,
    )
    browser.get(s.url)
    fill(browser, "4000 0027 6000 3184")
    assert "Authenticate this payment" in browser.page_source
    click_and_wait(
        browser, browser.find_element(By.XPATH, "//button[text()='Complete authentication']")
    )
    assert landed_on_success(browser, s.id), browser.current_url
    assert stripe.checkout.Session.retrieve(s.id).payment_status == "paid"


@needs_browser
def test_browser_expired_session_and_back_link(browser):
    from selenium.webdriver.common.by import By

    _, price = product_price("Ticket", 500)
    s = stripe.checkout.Session.create(
        mode="payment", line_items=[{"price": price.id}], success_url=SUCCESS, cancel_url=CANCEL,
    )
    browser.get(s.url)
    back = browser.find_element(By.PARTIAL_LINK_TEXT, "Back to")
    assert back.get_attribute("href") == CANCEL
    stripe.checkout.Session.expire(s.id)
    browser.get(s.url)
    assert "This checkout session has expired" in browser.page_source


@needs_browser
def test_browser_portal_switches_after_the_preview_cancels_undoes_and_adds_a_card(browser):
    from selenium.webdriver.common.by import By

    product = stripe.Product.create(name="Therapy plan")
    basic = stripe.Price.create(product=product.id, currency="usd", unit_amount=2000,
                                recurring={"interval": "month"})
    pro = stripe.Price.create(product=product.id, currency="usd", unit_amount=5000,
                              recurring={"interval": "month"})
    customer = stripe.Customer.create(
        email="client@example.com", payment_method="pm_card_visa",
        invoice_settings={"default_payment_method": "pm_card_visa"},
    )
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": basic.id}])
    config = stripe.billing_portal.Configuration.create(
        features={
            "subscription_update": {
                "enabled": True,
                "products": [{"product": product.id, "prices": [basic.id, pro.id]}],
                "default_allowed_updates": ["price"],
            },
            "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
            "payment_method_update": {"enabled": True},
            "invoice_history": {"enabled": True},
        },
        business_profile={"headline": "Manage your plan"},
    )
    session = stripe.billing_portal.Session.create(
        customer=customer.id, configuration=config.id, return_url="https://app.example/account",
    )
    browser.get(session.url)
    assert "Manage your plan" in browser.page_source
    click_and_wait(browser, browser.find_element(By.XPATH, "//button[starts-with(text(), 'Switch to')]"))
    assert "Confirm switch to" in browser.page_source
    assert stripe.Subscription.retrieve(sub.id)["items"]["data"][0]["price"]["id"] == basic.id
    click_and_wait(browser, browser.find_element(By.XPATH, "//button[starts-with(text(), 'Confirm switch')]"))
    assert "Your plan is changed." in browser.page_source
    assert stripe.Subscription.retrieve(sub.id)["items"]["data"][0]["price"]["id"] == pro.id

    click_and_wait(browser, browser.find_element(By.XPATH, "//button[starts-with(text(), 'Cancel plan')]"))
    assert "Cancels on" in browser.page_source
    assert stripe.Subscription.retrieve(sub.id).cancel_at_period_end is True
    click_and_wait(browser, browser.find_element(By.XPATH, "//button[text()=\"Don't cancel\"]"))
    assert stripe.Subscription.retrieve(sub.id).cancel_at_period_end is False

    form = browser.find_element(By.ID, "add-card")
    form.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-number]").send_keys("5555 5555 5555 4444")
    form.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-exp]").send_keys("12 / 34")
    form.find_element(By.CSS_SELECTOR, "input[autocomplete=cc-csc]").send_keys("123")
    click_and_wait(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert "Your card was added" in browser.page_source
    default = stripe.Customer.retrieve(customer.id).invoice_settings.default_payment_method
    assert stripe.PaymentMethod.retrieve(default).card.last4 == "4444"
    back = browser.find_element(By.PARTIAL_LINK_TEXT, "Return to")
    assert back.get_attribute("href") == "https://app.example/account"
