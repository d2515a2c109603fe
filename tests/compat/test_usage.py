"""Usage-based billing, spend limits, purchase entitlements and quotas through Stripe's Python
SDK (and plain HTTP for Cashbox's own endpoints): the usage issue's "done when" list."""

import json
import secrets
import urllib.error
import urllib.parse
import urllib.request

import pytest
import stripe

T0 = 1_806_537_600  # 2027-04-01T00:00:00Z; April has 30 days
DAY = 86_400
MAY_1 = T0 + 30 * DAY
GRACE = 3_600


def http(method, path, params=None):
    """Cashbox's own endpoints, by plain HTTP with the SDK's key."""
    data = None
    url = stripe.api_base + path
    if params and method == "GET":
        url += "?" + urllib.parse.urlencode(params)
    elif params:
        data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", "Bearer " + stripe.api_key)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def customer_on_clock():
    clock = stripe.test_helpers.TestClock.create(frozen_time=T0)
    customer = stripe.Customer.create(
        email="usage@example.com",
        test_clock=clock.id,
        payment_method="pm_card_visa",
        invoice_settings={"default_payment_method": "pm_card_visa"},
    )
    return clock, customer


def advance(clock, to):
    assert stripe.test_helpers.TestClock.advance(clock.id, frozen_time=to).status == "ready"


def meter(name, formula="sum"):
    return stripe.billing.Meter.create(
        display_name=name,
        event_name=name,
        default_aggregation={"formula": formula},
    )


def metered(product, meter_id, **price):
    return stripe.Price.create(
        product=product.id,
        currency="usd",
        recurring={"interval": "month", "usage_type": "metered", "meter": meter_id},
        **price,
    )


def report(event_name, customer, value, ts, identifier=None):
    return stripe.billing.MeterEvent.create(
        event_name=event_name,
        payload={"stripe_customer_id": customer.id, "value": str(value)},
        timestamp=ts,
        identifier=identifier or secrets.token_hex(8),
    )


def renewal(sub):
    invoices = sorted(stripe.Invoice.list(subscription=sub.id).data, key=lambda i: i.created)
    return invoices[-1]


def line_for(invoice, price):
    for line in invoice.lines.data:
        d = line.to_dict()
        if (d.get("pricing") or {}).get("price_details", {}).get("price") == price.id:
            return line
    raise AssertionError(f"no line for {price.id}")


def test_usage_is_rated_exactly_and_counted_once():
    clock, customer = customer_on_clock()
    tokens = meter("sdk_tokens")
    minutes = meter("sdk_minutes")
    product = stripe.Product.create(name="AI assistant")
    base = stripe.Price.create(
        product=product.id, currency="usd", unit_amount=1_000, recurring={"interval": "month"}
    )
    per_token = metered(product, tokens.id, unit_amount_decimal="0.05")
    per_minute = metered(product, minutes.id, unit_amount=5)
    sub = stripe.Subscription.create(
        customer=customer.id,
        items=[{"price": base.id}, {"price": per_token.id}, {"price": per_minute.id}],
    )
    advance(clock, T0 + 2 * DAY)
    report("sdk_tokens", customer, 30_001, T0 + DAY, identifier="tok-1")
    with pytest.raises(stripe.InvalidRequestError) as dup:
        report("sdk_tokens", customer, 30_001, T0 + DAY, identifier="tok-1")
    assert dup.value.code == "meter_event_duplicate"
    report("sdk_tokens", customer, 9_999, T0 + DAY)
    report("sdk_minutes", customer, 42, T0 + DAY)
    summaries = stripe.billing.Meter.list_event_summaries(
        tokens.id, customer=customer.id, start_time=T0, end_time=T0 + 2 * DAY
    )
    assert summaries.data[0].aggregated_value == 40_000

    advance(clock, MAY_1 + GRACE + 60)
    inv = renewal(sub)
    assert inv.billing_reason == "subscription_cycle"
    assert inv.status == "paid"
    # 40,000 tokens x 0.05 = 2,000; 42 minutes x 5 = 210; plus the plan's 1,000.
    assert line_for(inv, per_token).amount == 2_000
    assert line_for(inv, per_minute).amount == 210
    assert inv.total == 3_210


def test_tiered_usage_prices():
    clock, customer = customer_on_clock()
    calls = meter("sdk_calls", "count")
    product = stripe.Product.create(name="API")
    graduated = metered(
        product,
        calls.id,
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[{"up_to": 10, "unit_amount": 0}, {"up_to": "inf", "unit_amount": 2}],
    )
    calls2 = meter("sdk_calls_volume", "count")
    volume = metered(
        product,
        calls2.id,
        billing_scheme="tiered",
        tiers_mode="volume",
        tiers=[{"up_to": 10, "unit_amount": 5}, {"up_to": "inf", "unit_amount": 3}],
    )
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": graduated.id}, {"price": volume.id}]
    )
    advance(clock, T0 + DAY)
    for i in range(25):
        report("sdk_calls", customer, 1, T0 + DAY)
        report("sdk_calls_volume", customer, 1, T0 + DAY)
    advance(clock, MAY_1 + GRACE + 60)
    inv = renewal(sub)
    # Graduated: 10 free, 15 x 2 = 30. Volume: all 25 at the second tier, 25 x 3 = 75.
    assert line_for(inv, graduated).amount == 30
    assert line_for(inv, volume).amount == 75
    assert inv.total == 105


def test_a_spend_limit_blocks_and_a_paid_top_up_unblocks_at_once():
    clock, customer = customer_on_clock()
    minutes = meter("sdk_limit_minutes")
    product = stripe.Product.create(name="Assistant")
    per_minute = metered(product, minutes.id, unit_amount=5)
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": per_minute.id}])
    status, limit = http(
        "POST",
        "/v1/billing/spend_limits",
        {"customer": customer.id, "amount": 1000, "currency": "usd", "behavior": "block"},
    )
    assert status == 200, limit

    def check(quantity):
        status, body = http(
            "GET",
            "/v1/billing/usage_check",
            {"customer": customer.id, "event_name": "sdk_limit_minutes", "quantity": quantity},
        )
        assert status == 200, body
        return body

    advance(clock, T0 + DAY)
    assert check(200)["allowed"] is True
    report("sdk_limit_minutes", customer, 200, T0 + DAY)
    blocked = check(1)
    assert blocked["allowed"] is False
    assert blocked["reason"] == "limit_reached"
    assert blocked["used"] == 1_000 and blocked["remaining"] == 0

    top_up = stripe.PaymentIntent.create(
        customer=customer.id,
        amount=500,
        currency="usd",
        payment_method="pm_card_visa",
        confirm=True,
        metadata={"cashbox_top_up": "true"},
    )
    assert top_up.status == "succeeded"
    after = check(100)
    assert after["allowed"] is True
    assert after["credit_balance"] == 500 and after["remaining"] == 500
    summary = stripe.billing.CreditBalanceSummary.retrieve(
        customer=customer.id,
        filter={"type": "applicability_scope", "applicability_scope": {"price_type": "metered"}},
    )
    assert summary.balances[0].available_balance.monetary.value == 500

    # The renewal bills 300 minutes (1,500) and the top-up pays 500 of it before tax.
    report("sdk_limit_minutes", customer, 100, T0 + DAY)
    advance(clock, MAY_1 + GRACE + 60)
    inv = renewal(sub)
    line = line_for(inv, per_minute)
    assert line.amount == 1_500
    credit = line.pretax_credit_amounts[0]
    assert credit.type == "credit_balance_transaction" and credit.amount == 500
    assert credit.credit_balance_transaction.startswith("cbtxn_")
    assert inv.total_pretax_credit_amounts[0].amount == 500
    assert inv.subtotal == 1_500 and inv.total == 1_000 and inv.status == "paid"


def test_a_course_purchase_grants_a_year_and_its_refund_revokes_it():
    clock, customer = customer_on_clock()
    feature = stripe.entitlements.Feature.create(name="Rust course", lookup_key="sdk-course")
    product = stripe.Product.create(name="Rust course")
    status, body = http(
        "POST",
        f"/v1/products/{product.id}/features",
        {"entitlement_feature": feature.id, "grant_days": 365},
    )
    assert status == 200, body
    price = stripe.Price.create(product=product.id, currency="usd", unit_amount=4_900)

    def keys():
        found = stripe.entitlements.ActiveEntitlement.list(customer=customer.id)
        return [e.lookup_key for e in found.data]

    def buy():
        inv = stripe.Invoice.create(customer=customer.id)
        stripe.InvoiceItem.create(customer=customer.id, invoice=inv.id, price=price.id)
        return stripe.Invoice.pay(inv.id)

    paid = buy()
    assert paid.status == "paid"
    assert keys() == ["sdk-course"]
    advance(clock, T0 + 364 * DAY)
    assert keys() == ["sdk-course"]
    advance(clock, T0 + 365 * DAY + 1)
    assert keys() == []

    again = buy()
    assert keys() == ["sdk-course"]
    stripe.Refund.create(payment_intent=again.payment_intent)
    assert keys() == []


def test_eight_sessions_a_month():
    clock, customer = customer_on_clock()
    feature = stripe.entitlements.Feature.create(name="Sessions", lookup_key="sdk-sessions")
    product = stripe.Product.create(name="Therapy plan")
    status, body = http(
        "POST",
        f"/v1/products/{product.id}/features",
        {"entitlement_feature": feature.id, "quota": 8},
    )
    assert status == 200, body
    assert stripe.Product.list_features(product.id).data[0].entitlement_feature.id == feature.id
    price = stripe.Price.create(
        product=product.id, currency="usd", unit_amount=19_999, recurring={"interval": "month"}
    )
    stripe.Subscription.create(customer=customer.id, items=[{"price": price.id}])

    def consume(key):
        return http(
            "POST",
            "/v1/entitlements/consume",
            {"customer": customer.id, "feature": "sdk-sessions", "key": key},
        )

    for i in range(8):
        status, body = consume(f"april-{i}")
        assert status == 200, body
    status, body = consume("april-8")
    assert status == 400 and body["error"]["code"] == "quota_exceeded"

    advance(clock, MAY_1 + 60)
    status, body = consume("may-0")
    assert status == 200 and body["used"] == 1 and body["remaining"] == 7
