"""One-time payments through Stripe's official Python SDK, as issue 3's checklist states them."""

import urllib.parse
import urllib.request
import uuid

import pytest
import stripe


def customer():
    return stripe.Customer.create(email=f"{uuid.uuid4().hex[:10]}@example.com")


def test_a_customer_pays_with_4242():
    c = customer()
    pi = stripe.PaymentIntent.create(
        amount=2000, currency="usd", customer=c.id, payment_method="pm_card_visa", confirm=True
    )
    assert pi.status == "succeeded"
    charge = stripe.Charge.retrieve(pi.latest_charge)
    assert charge.paid and charge.amount_captured == 2000
    assert charge.outcome.type == "authorized"
    with urllib.request.urlopen(charge.receipt_url) as page:
        assert page.status == 200
        assert "4242" in page.read().decode()


@pytest.mark.parametrize(
    "card,decline_code",
    [("pm_card_chargeDeclined", "generic_decline"), ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")],
)
def test_declines_raise_card_errors_with_the_intent(card, decline_code):
    with pytest.raises(stripe.CardError) as err:
        stripe.PaymentIntent.create(amount=2000, currency="usd", payment_method=card, confirm=True)
    e = err.value
    assert e.http_status == 402
    assert e.code == "card_declined"
    assert e.error.decline_code == decline_code
    assert e.error.payment_intent.status == "requires_payment_method"


def test_raw_test_card_numbers_0002_and_9995_decline():
    for number, decline_code in [("4000000000000002", "generic_decline"), ("4000000000009995", "insufficient_funds")]:
        pm = stripe.PaymentMethod.create(
            type="card", card={"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"}
        )
        with pytest.raises(stripe.CardError) as err:
            stripe.PaymentIntent.create(amount=1500, currency="usd", payment_method=pm.id, confirm=True)
        assert err.value.error.decline_code == decline_code


def test_3184_requires_action_then_the_hosted_page_approves():
    pi = stripe.PaymentIntent.create(
        amount=3000,
        currency="usd",
        payment_method="pm_card_authenticationRequired",
        confirm=True,
        return_url="https://shop.example/return",
    )
    assert pi.status == "requires_action"
    url = pi.next_action.redirect_to_url.url
    with urllib.request.urlopen(url) as page:
        assert page.status == 200
    form = urllib.parse.urlencode({"client_secret": pi.client_secret, "result": "approve"}).encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(url.split("?")[0], data=form))
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 303
        assert "redirect_status=succeeded" in redirect.headers["Location"]
    assert stripe.PaymentIntent.retrieve(pi.id).status == "succeeded"


def test_3184_failed_authentication():
    pi = stripe.PaymentIntent.create(
        amount=3000, currency="usd", payment_method="pm_card_authenticationRequired", confirm=True
    )
    failed = stripe.PaymentIntent._static_request(
        "post", f"/v1/payment_intents/{pi.id}/_authenticate", params={"success": "false"}
    )
    assert failed.status == "requires_payment_method"
    assert failed.last_payment_error.code == "payment_intent_authentication_failure"


def test_partial_manual_capture():
    pi = stripe.PaymentIntent.create(
        amount=1000, currency="usd", payment_method="pm_card_visa", confirm=True, capture_method="manual"
    )
    assert pi.status == "requires_capture"
    captured = stripe.PaymentIntent.capture(pi.id, amount_to_capture=600)
    assert captured.status == "succeeded" and captured.amount_received == 600


def test_two_partial_refunds_then_an_over_refund_is_refused():
    pi = stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method="pm_card_visa", confirm=True)
    r1 = stripe.Refund.create(payment_intent=pi.id, amount=300)
    r2 = stripe.Refund.create(charge=pi.latest_charge, amount=300, reason="requested_by_customer")
    assert r1.status == r2.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Refund.create(payment_intent=pi.id, amount=500)
    assert err.value.code == "amount_too_large"
    assert stripe.Charge.retrieve(pi.latest_charge).amount_refunded == 600
    assert len(stripe.Refund.list(charge=pi.latest_charge).data) == 2


def test_a_card_saved_with_a_setup_intent_is_charged_off_session_later():
    c = customer()
    si = stripe.SetupIntent.create(customer=c.id, payment_method="pm_card_visa", confirm=True, usage="off_session")
    assert si.status == "succeeded"
    methods = stripe.Customer.list_payment_methods(c.id)
    assert [m.id for m in methods.data] == [si.payment_method]
    stripe.Customer.modify(c.id, invoice_settings={"default_payment_method": si.payment_method})
    later = stripe.PaymentIntent.create(
        amount=4500, currency="usd", customer=c.id, payment_method=si.payment_method, off_session=True, confirm=True
    )
    assert later.status == "succeeded"


def test_replayed_confirm_charges_once():
    pi = stripe.PaymentIntent.create(amount=1200, currency="usd", payment_method="pm_card_visa")
    key = str(uuid.uuid4())
    first = stripe.PaymentIntent.confirm(pi.id, idempotency_key=key)
    second = stripe.PaymentIntent.confirm(pi.id, idempotency_key=key)
    assert first.latest_charge == second.latest_charge
    assert len(stripe.Charge.list(payment_intent=pi.id).data) == 1


def test_stripe_client_style():
    client = stripe.StripeClient(stripe.api_key, base_addresses={"api": stripe.api_base})
    pi = client.v1.payment_intents.create(
        params={"amount": 900, "currency": "eur", "payment_method": "pm_card_mastercard", "confirm": True}
    )
    assert pi.status == "succeeded"
    refund = client.v1.refunds.create(params={"payment_intent": pi.id})
    assert refund.amount == 900


def test_payment_method_data_in_one_call():
    pi = stripe.PaymentIntent.create(
        amount=1500,
        currency="usd",
        payment_method_data={"type": "card", "card": {"token": "tok_visa"}},
        confirm=True,
    )
    assert pi.status == "succeeded"
    assert stripe.PaymentMethod.retrieve(pi.payment_method).card.last4 == "4242"
