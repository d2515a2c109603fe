"""Subscriptions and invoices through Stripe's Python SDK, on test clocks: the billing issue's
"done when" list."""

import urllib.request

import stripe

T0 = 1_806_537_600  # 2027-04-01T00:00:00Z; April has 30 days
DAY = 86_400
MAY_1 = 1_809_129_600


def setup(card="pm_card_visa", frozen=T0):
    clock = stripe.test_helpers.TestClock.create(frozen_time=frozen, name="billing")
    customer = stripe.Customer.create(
        email="plan@example.com",
        test_clock=clock.id,
        payment_method=card,
        invoice_settings={"default_payment_method": card},
    )
    return clock, customer


def plan(amount, name="Therapy plan"):
    product = stripe.Product.create(name=name)
    return stripe.Price.create(
        product=product.id, currency="usd", unit_amount=amount, recurring={"interval": "month"}
    )


def advance(clock, to):
    clock = stripe.test_helpers.TestClock.advance(clock.id, frozen_time=to)
    assert clock.status == "ready"
    return clock


def invoices(sub):
    found = stripe.Invoice.list(subscription=sub.id, limit=100).data
    return sorted(found, key=lambda i: i.created)


def test_a_monthly_plan_with_a_trial_renews_and_is_paid():
    clock, customer = setup()
    price = plan(19_999)
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": price.id}], trial_period_days=7
    )
    assert sub.status == "trialing"
    assert sub.trial_end == T0 + 7 * DAY

    advance(clock, T0 + 8 * DAY)
    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "active"
    paid = [i for i in invoices(sub) if i.amount_paid > 0]
    assert [i.amount_paid for i in paid] == [19_999]
    assert paid[0].status == "paid"

    advance(clock, sub.current_period_end + 60)
    paid = [i for i in invoices(sub) if i.amount_paid > 0]
    assert [i.amount_paid for i in paid] == [19_999, 19_999]
    assert all(i.status == "paid" for i in paid)


def test_an_upgrade_prorates_on_the_next_invoice_or_at_once():
    clock, customer = setup()
    basic, pro = plan(1_000, "Basic"), plan(2_000, "Pro")
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": basic.id}])
    assert sub.status == "active"
    advance(clock, T0 + 15 * DAY)
    sub = stripe.Subscription.modify(
        sub.id,
        items=[{"id": sub["items"].data[0].id, "price": pro.id}],
        proration_behavior="create_prorations",
    )
    preview = stripe.Invoice.create_preview(subscription=sub.id)
    advance(clock, MAY_1 + 60)
    renewal = invoices(sub)[-1]
    lines = [(line.amount, line.proration) for line in renewal.lines.data]
    assert lines == [(-500, True), (1_000, True), (2_000, False)]
    assert renewal.amount_paid == 2_500
    # The preview made before the renewal matches the invoice it made.
    assert [line.amount for line in preview.lines.data] == [-500, 1_000, 2_000]
    assert preview.total == renewal.total

    # always_invoice bills a change at once.
    clock2, customer2 = setup()
    sub2 = stripe.Subscription.create(customer=customer2.id, items=[{"price": basic.id}])
    advance(clock2, T0 + 15 * DAY)
    sub2 = stripe.Subscription.modify(
        sub2.id,
        items=[{"id": sub2["items"].data[0].id, "price": pro.id}],
        proration_behavior="always_invoice",
    )
    now = stripe.Invoice.retrieve(sub2.latest_invoice)
    assert now.billing_reason == "subscription_update"
    assert [line.amount for line in now.lines.data] == [-500, 1_000]
    assert now.status == "paid" and now.amount_paid == 500


def test_cancel_at_period_end_cancels_at_the_end_and_not_before():
    clock, customer = setup()
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": plan(1_500).id}])
    sub = stripe.Subscription.modify(sub.id, cancel_at_period_end=True)
    assert sub.status == "active" and sub.cancel_at_period_end
    advance(clock, sub.current_period_end - 60)
    assert stripe.Subscription.retrieve(sub.id).status == "active"
    advance(clock, sub.current_period_end + 60)
    ended = stripe.Subscription.retrieve(sub.id)
    assert ended.status == "canceled"
    assert ended.ended_at == sub.current_period_end
    assert len(invoices(sub)) == 1


def test_a_card_that_fails_on_renewal_is_retried_then_canceled():
    clock, customer = setup(card="pm_card_chargeCustomerFail")
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": plan(2_500).id}], trial_period_days=7
    )
    trial_end = sub.trial_end
    advance(clock, trial_end + 60)
    assert stripe.Subscription.retrieve(sub.id).status == "past_due"
    attempts = []
    for day in (3, 8, 15):
        invoice = invoices(sub)[-1]
        assert invoice.next_payment_attempt == trial_end + day * DAY
        attempts.append(invoice.attempt_count)
        advance(clock, trial_end + day * DAY + 60)
    invoice = invoices(sub)[-1]
    assert attempts == [1, 2, 3] and invoice.attempt_count == 4
    assert invoice.status == "open" and invoice.next_payment_attempt is None
    assert stripe.Subscription.retrieve(sub.id).status == "canceled"


def test_a_forever_coupon_and_an_exclusive_tax_rate():
    _, customer = setup()
    coupon = stripe.Coupon.create(percent_off=20, duration="forever")
    rate = stripe.TaxRate.create(display_name="VAT", percentage=10, inclusive=False)
    sub = stripe.Subscription.create(
        customer=customer.id,
        items=[{"price": plan(19_999).id}],
        discounts=[{"coupon": coupon.id}],
        default_tax_rates=[rate.id],
    )
    invoice = stripe.Invoice.retrieve(sub.latest_invoice)
    assert invoice.subtotal == 19_999
    assert invoice.total_discount_amounts[0].amount == 4_000
    assert invoice.total_taxes[0].amount == 1_600
    assert invoice.total == 17_599
    assert invoice.amount_paid == 17_599


def test_the_hosted_invoice_page_and_pdf_open():
    _, customer = setup()
    stripe.InvoiceItem.create(customer=customer.id, amount=4_200, currency="usd", description="Session")
    invoice = stripe.Invoice.create(customer=customer.id, pending_invoice_items_behavior="include")
    invoice = stripe.Invoice.finalize_invoice(invoice.id)
    assert invoice.status == "open"
    with urllib.request.urlopen(invoice.hosted_invoice_url) as page:
        html = page.read().decode()
        assert page.status == 200
        assert invoice.number in html and "42.00 USD" in html
    with urllib.request.urlopen(invoice.invoice_pdf) as pdf:
        body = pdf.read()
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert body.startswith(b"%PDF-") and len(body) > 500
    paid = stripe.Invoice.pay(invoice.id)
    assert paid.status == "paid"


def test_seats_change_through_subscription_items():
    clock, customer = setup()
    seat = plan(1_000, "Seat")
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": seat.id, "quantity": 2}])
    advance(clock, T0 + 15 * DAY)
    item = stripe.SubscriptionItem.modify(sub["items"].data[0].id, quantity=3)
    assert item.quantity == 3
    items = stripe.SubscriptionItem.list(subscription=sub.id)
    assert [i.quantity for i in items.data] == [3]
    preview = stripe.Invoice.create_preview(subscription=sub.id)
    assert sorted(line.amount for line in preview.lines.data) == [-1_000, 1_500, 3_000]


def test_default_incomplete_is_confirmed_by_the_browser_and_saves_the_card(cashbox):
    """Stripe's documented subscription integration, step by step."""
    customer = stripe.Customer.create(email="browser@example.com")
    price = plan(2_500, name="Browser plan")
    sub = stripe.Subscription.create(
        customer=customer.id,
        items=[{"price": price.id}],
        payment_behavior="default_incomplete",
        payment_settings={"save_default_payment_method": "on_subscription"},
        expand=["latest_invoice.confirmation_secret"],
    )
    assert sub.status == "incomplete"
    secret = sub.latest_invoice.confirmation_secret.client_secret
    assert sub.latest_invoice.confirmation_secret.type == "payment_intent"
    pi_id = secret.split("_secret_")[0]

    # What Stripe.js does in the browser, with the publishable key only.
    pk = cashbox["publishable"]
    card = stripe.PaymentMethod.create(
        type="card",
        card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"},
        api_key=pk,
    )
    confirmed = stripe.PaymentIntent.confirm(
        pi_id, payment_method=card.id, client_secret=secret, api_key=pk
    )
    assert confirmed.status == "succeeded"

    sub = stripe.Subscription.retrieve(sub.id)
    assert sub.status == "active"
    assert sub.default_payment_method == card.id
    invoice = stripe.Invoice.retrieve(sub.latest_invoice, expand=["payments"])
    assert invoice.status == "paid"
    assert invoice.parent.subscription_details.subscription == sub.id
    [payment] = invoice.payments.data
    assert (payment.status, payment.amount_paid) == ("paid", 2_500)
    assert payment.payment.payment_intent == pi_id
    again = stripe.InvoicePayment.retrieve(payment.id)
    assert again.invoice == invoice.id
    listed = stripe.InvoicePayment.list(invoice=invoice.id)
    assert [p.id for p in listed.data] == [payment.id]
