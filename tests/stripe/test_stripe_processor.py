"""Money through the Stripe processor: each test drives Cashbox with Stripe's SDK and checks
what Stripe's side (localstripe) holds afterwards."""

import time

import pytest
import stripe

# localstripe's test cards (see tests/stripe/README.md for how they differ from Stripe's).
VISA = "4242424242424242"
DECLINES_ON_CHARGE = "4000000000000341"
DECLINES_ON_ATTACH = "4000000000000002"


def stripe_pi(stand, cashbox_pi):
    """The Stripe PaymentIntent behind a Cashbox one, found by the attempt key Cashbox sent."""
    listed = stand.call("GET", "/v1/payment_intents", {"limit": "100"})["data"]
    mine = [
        p for p in listed
        if p.get("metadata", {}).get("cashbox_attempt", "").startswith(cashbox_pi + ":")
    ]
    return mine


def test_a_payment_goes_through_stripe_and_its_card_is_mirrored(stand):
    pm_id = stand.card(VISA)
    pi = stripe.PaymentIntent.create(
        amount=2599, currency="usd", payment_method=pm_id, confirm=True
    )
    assert pi.status == "succeeded"
    assert pi.amount_received == 2599
    # Cashbox's PaymentMethod is Stripe's, under the same id, with the card's details.
    assert pi.payment_method == pm_id
    pm = stripe.PaymentMethod.retrieve(pm_id)
    theirs = stand.call("GET", f"/v1/payment_methods/{pm_id}")
    for field in ("brand", "last4", "exp_month", "exp_year", "fingerprint", "country"):
        assert pm.card[field] == theirs["card"][field], field
    # Stripe made exactly one PaymentIntent for it, charged for the same amount.
    made = stripe_pi(stand, pi.id)
    assert len(made) == 1
    assert made[0]["status"] == "succeeded"
    assert (made[0]["amount"], made[0]["currency"]) == (2599, "usd")
    assert made[0]["payment_method"] == pm_id
    charge = stripe.Charge.retrieve(pi.latest_charge)
    assert charge.paid and charge.amount_captured == 2599
    assert charge.payment_method_details.card.last4 == "4242"


def test_stripe_test_ids_work_as_in_stripe(stand):
    pi = stripe.PaymentIntent.create(
        amount=500, currency="eur", payment_method="pm_card_visa", confirm=True
    )
    assert pi.status == "succeeded"
    # The test id became a PaymentMethod of Stripe's, mirrored under Stripe's id.
    assert pi.payment_method.startswith("pm_") and pi.payment_method != "pm_card_visa"
    assert stand.call("GET", f"/v1/payment_methods/{pi.payment_method}")["card"]["last4"] == "4242"


def test_a_saved_card_belongs_to_a_stripe_customer_carrying_only_id_and_email(stand):
    customer = stripe.Customer.create(
        email="ada@example.com", name="Ada Lovelace", phone="+441234567890"
    )
    pm_id = stand.card(VISA)
    stripe.PaymentMethod.attach(pm_id, customer=customer.id)
    theirs = stand.call("GET", f"/v1/payment_methods/{pm_id}")
    assert theirs["customer"].startswith("cus_")
    stripe_customer = stand.call("GET", f"/v1/customers/{theirs['customer']}")
    assert stripe_customer["metadata"] == {"cashbox_id": customer.id}
    assert stripe_customer["email"] == "ada@example.com"
    assert stripe_customer["name"] is None and stripe_customer["phone"] is None
    # A second card for the same customer goes to the same Stripe customer.
    second = stand.card(VISA)
    stripe.PaymentMethod.attach(second, customer=customer.id)
    assert stand.call("GET", f"/v1/payment_methods/{second}")["customer"] == theirs["customer"]
    # An off-session charge of the saved card names that Stripe customer.
    pi = stripe.PaymentIntent.create(
        amount=1200,
        currency="usd",
        customer=customer.id,
        payment_method=pm_id,
        off_session=True,
        confirm=True,
    )
    assert pi.status == "succeeded"
    [made] = stripe_pi(stand, pi.id)
    assert made["customer"] == theirs["customer"]


def test_a_card_declined_at_attach_is_refused_with_stripes_code(stand):
    customer = stripe.Customer.create(email="bob@example.com")
    pm_id = stand.card(DECLINES_ON_ATTACH)
    with pytest.raises(stripe.CardError) as e:
        stripe.PaymentMethod.attach(pm_id, customer=customer.id)
    assert e.value.code == "card_declined"
    assert stripe.PaymentMethod.retrieve(pm_id).customer is None


def test_a_decline_carries_stripes_codes_unchanged(stand):
    pm_id = stand.card(DECLINES_ON_CHARGE)
    with pytest.raises(stripe.CardError) as e:
        stripe.PaymentIntent.create(
            amount=900, currency="usd", payment_method=pm_id, confirm=True
        )
    assert e.value.code == "card_declined"
    # localstripe gives no decline_code, and Cashbox invents none.
    assert e.value.error.decline_code is None
    pi = stripe.PaymentIntent.retrieve(e.value.error.payment_intent.id)
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.code == "card_declined"
    # The customer tries again with a good card: it succeeds.
    pi = stripe.PaymentIntent.confirm(pi.id, payment_method=stand.card(VISA))
    assert pi.status == "succeeded"


def test_manual_capture_of_part_then_refunds(stand):
    pi = stripe.PaymentIntent.create(
        amount=3000,
        currency="usd",
        payment_method=stand.card(VISA),
        capture_method="manual",
        confirm=True,
    )
    assert pi.status == "requires_capture"
    [held] = stripe_pi(stand, pi.id)
    assert held["status"] == "requires_capture"
    pi = stripe.PaymentIntent.capture(pi.id, amount_to_capture=2500)
    assert (pi.status, pi.amount_received) == ("succeeded", 2500)
    theirs = stand.call("GET", f"/v1/payment_intents/{held['id']}")
    assert theirs["status"] == "succeeded"
    # localstripe records a partial capture as the rest refunded (Stripe's old style).
    assert theirs["latest_charge"]["amount"] - theirs["latest_charge"]["amount_refunded"] == 2500

    partial = stripe.Refund.create(payment_intent=pi.id, amount=1000)
    assert partial.status == "succeeded"
    rest = stripe.Refund.create(payment_intent=pi.id)
    assert (rest.status, rest.amount) == ("succeeded", 1500)
    refunds = stand.call("GET", "/v1/refunds", {"payment_intent": held["id"]})["data"]
    mine = sorted(r["amount"] for r in refunds if "cashbox_refund" in r.get("metadata", {}))
    assert mine == [1000, 1500]
    assert {r["metadata"]["cashbox_refund"] for r in refunds if r["metadata"]} == {
        partial.id,
        rest.id,
    }
    # Nothing is left to refund: Cashbox refuses before asking Stripe.
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Refund.create(payment_intent=pi.id, amount=1)
    charge = stripe.Charge.retrieve(pi.latest_charge)
    assert charge.refunded and charge.amount_refunded == 2500


def test_canceling_a_hold_cancels_it_on_stripe(stand):
    pi = stripe.PaymentIntent.create(
        amount=4000,
        currency="usd",
        payment_method=stand.card(VISA),
        capture_method="manual",
        confirm=True,
    )
    pi = stripe.PaymentIntent.cancel(pi.id)
    assert pi.status == "canceled"
    [theirs] = stripe_pi(stand, pi.id)
    assert theirs["status"] == "canceled"


def test_raw_card_numbers_are_refused_in_stripe_mode():
    with pytest.raises(stripe.StripeError) as e:
        stripe.PaymentMethod.create(
            type="card",
            card={"number": VISA, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        )
    assert "raw card numbers" in str(e.value)


def test_a_subscription_renews_on_a_test_clock_through_stripe(stand):
    now = int(time.time())
    clock = stripe.test_helpers.TestClock.create(frozen_time=now)
    customer = stripe.Customer.create(email="sub@example.com", test_clock=clock.id)
    pm_id = stand.card(VISA)
    stripe.PaymentMethod.attach(pm_id, customer=customer.id)
    stripe.Customer.modify(customer.id, invoice_settings={"default_payment_method": pm_id})
    product = stripe.Product.create(name="Pro")
    price = stripe.Price.create(
        product=product.id, unit_amount=1500, currency="usd", recurring={"interval": "month"}
    )
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": price.id}])
    assert sub.status == "active"
    stripe.test_helpers.TestClock.advance(clock.id, frozen_time=now + 32 * 86400)
    for _ in range(100):
        if stripe.test_helpers.TestClock.retrieve(clock.id).status == "ready":
            break
        time.sleep(0.1)
    invoices = stripe.Invoice.list(subscription=sub.id).data
    assert len(invoices) == 2
    assert all(inv.status == "paid" for inv in invoices)
    # Both were charged on Stripe, to the customer's saved card, off session the second time.
    stripe_customer = stand.call("GET", f"/v1/payment_methods/{pm_id}")["customer"]
    charged = [
        p for p in stand.call("GET", "/v1/payment_intents", {"limit": "100"})["data"]
        if p.get("customer") == stripe_customer
    ]
    assert sorted(p["amount"] for p in charged) == [1500, 1500]
    assert all(p["status"] == "succeeded" and p["payment_method"] == pm_id for p in charged)


# Stripe's webhooks coming in ------------------------------------------------------------------

import json  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

from conftest import WEBHOOK_SECRET  # noqa: E402


def deliver(cashbox, event: dict, secret: str = WEBHOOK_SECRET, timestamp=None):
    """Posts `event` to Cashbox's receiver, signed as Stripe signs it; returns (status, body)."""
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=timestamp or int(time.time())
    )
    req = urllib.request.Request(
        cashbox["base"] + "/webhooks/stripe",
        data=payload.encode(),
        method="POST",
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def event(kind: str, obj: dict, n: int) -> dict:
    return {
        "id": f"evt_{obj['id'].replace('_', '')}{n}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


def processor_event(event_id: str, settled=True):
    """Cashbox's log entry of an event, once applied."""
    for _ in range(100):
        logged = stripe.StripeClient(stripe.api_key, base_addresses={"api": stripe.api_base})
        entry = logged.raw_request("get", f"/v1/processor_events/{event_id}")
        entry = json.loads(entry.body)
        if not settled or entry["status"] != "pending":
            return entry
        time.sleep(0.1)
    raise AssertionError(f"{event_id} was never applied: {entry}")


def test_a_refund_made_on_stripe_arrives_once_however_often_and_in_whatever_order(
    stand, cashbox
):
    pi = stripe.PaymentIntent.create(
        amount=5000, currency="usd", payment_method=stand.card(VISA), confirm=True
    )
    [theirs] = stripe_pi(stand, pi.id)
    # In Stripe's dashboard: a refund Cashbox did not ask for.
    refund = stand.call(
        "POST", "/v1/refunds", {"payment_intent": theirs["id"], "amount": "2000"}
    )
    charge = stand.call("GET", f"/v1/payment_intents/{theirs['id']}")["latest_charge"]
    updated = event("refund.updated", refund, 1)
    refunded = event("charge.refunded", charge, 2)
    # The later event first, the earlier one three times, the later one again.
    answers = [deliver(cashbox, e) for e in (updated, refunded, refunded, refunded, updated)]
    assert [a[0] for a in answers] == [200] * 5
    assert [a[1]["duplicate"] for a in answers] == [False, False, True, True, True]
    first = processor_event(updated["id"])
    second = processor_event(refunded["id"])
    assert {first["status"], second["status"]} == {"applied", "ignored"}, (first, second)
    refunds = stripe.Refund.list(payment_intent=pi.id).data
    assert [(r.amount, r.status) for r in refunds] == [(2000, "succeeded")]
    cashbox_charge = stripe.Charge.retrieve(pi.latest_charge)
    assert (cashbox_charge.amount_refunded, cashbox_charge.refunded) == (2000, False)
    events = stripe.Event.list(type="charge.refunded").data
    assert len([e for e in events if e.data.object.id == pi.latest_charge]) == 1
    # The rest, refunded on Stripe too: the charge is refunded in full, once.
    stand.call("POST", "/v1/refunds", {"payment_intent": theirs["id"], "amount": "3000"})
    again = event("charge.refunded", stand.call(
        "GET", f"/v1/payment_intents/{theirs['id']}")["latest_charge"], 3)
    assert deliver(cashbox, again)[0] == 200
    assert processor_event(again["id"])["status"] == "applied"
    assert deliver(cashbox, again)[1]["duplicate"] is True
    cashbox_charge = stripe.Charge.retrieve(pi.latest_charge)
    assert (cashbox_charge.amount_refunded, cashbox_charge.refunded) == (5000, True)
    assert sorted(r.amount for r in stripe.Refund.list(payment_intent=pi.id).data) == [2000, 3000]


def test_unsigned_stale_or_foreign_deliveries_are_refused(cashbox):
    e = event("refund.updated", {"id": "re_forged", "object": "refund"}, 9)
    assert deliver(cashbox, e, secret="whsec_someone_else")[0] == 400
    assert deliver(cashbox, e, timestamp=int(time.time()) - 301)[0] == 400
    req = urllib.request.Request(
        cashbox["base"] + "/webhooks/stripe", data=json.dumps(e).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        urllib.request.urlopen(req, timeout=10)
    assert unsigned.value.code == 400
    # None of them was kept.
    client = stripe.StripeClient(stripe.api_key, base_addresses={"api": stripe.api_base})
    with pytest.raises(stripe.InvalidRequestError):
        client.raw_request("get", f"/v1/processor_events/{e['id']}")


def test_localstripes_own_signed_webhooks_are_received(stand, cashbox):
    stand.call(
        "POST",
        "/_config/webhooks/cashbox",
        {"url": cashbox["base"] + "/webhooks/stripe", "secret": WEBHOOK_SECRET},
    )
    pi = stripe.PaymentIntent.create(
        amount=700, currency="usd", payment_method=stand.card(VISA), confirm=True
    )
    [theirs] = stripe_pi(stand, pi.id)
    client = stripe.StripeClient(stripe.api_key, base_addresses={"api": stripe.api_base})
    for _ in range(100):
        listed = json.loads(
            client.raw_request("get", "/v1/processor_events", object=theirs["id"]).body
        )["data"]
        if listed and listed[0]["status"] != "pending":
            break
        time.sleep(0.1)
    kinds = {e["type"]: e for e in listed}
    assert "payment_intent.succeeded" in kinds, listed
    # Cashbox settled that payment itself: the event changes nothing.
    assert kinds["payment_intent.succeeded"]["status"] == "ignored"
    assert "settled already" in kinds["payment_intent.succeeded"]["outcome"]


def test_a_dispute_stripe_reports_is_kept_once_in_any_order(stand, cashbox):
    pi = stripe.PaymentIntent.create(
        amount=4200, currency="usd", payment_method=stand.card(VISA), confirm=True
    )
    [theirs] = stripe_pi(stand, pi.id)
    charge = stand.call("GET", f"/v1/payment_intents/{theirs['id']}")["latest_charge"]
    dispute = {
        "id": "dp_" + theirs["id"][3:],
        "object": "dispute",
        "amount": 4200,
        "currency": "usd",
        "charge": charge["id"],
        "payment_intent": theirs["id"],
        "reason": "fraudulent",
        "status": "needs_response",
        "balance_transactions": [{"amount": -4200, "fee": 1500}],
    }
    created = event("charge.dispute.created", dispute, 1)
    closed = event("charge.dispute.closed", {**dispute, "status": "won"}, 2)
    # The bank's decision arrives before the dispute itself, then both again.
    for e in (closed, created, closed, created):
        assert deliver(cashbox, e)[0] == 200
    # Applied in the background, in whichever order: the decision always changes something.
    assert processor_event(closed["id"])["status"] == "applied"
    assert processor_event(created["id"])["status"] in ("applied", "ignored")
    mine = stripe.Dispute.list(payment_intent=pi.id).data
    assert [(d.id, d.status, d.amount) for d in mine] == [(dispute["id"], "won", 4200)]
    assert stripe.Charge.retrieve(pi.latest_charge).disputed is True
    events = stripe.Event.list(type="charge.dispute.funds_reinstated").data
    assert [e.data.object.id for e in events].count(dispute["id"]) == 1


THREE_D_SECURE = "4000002760003184"


def authenticate_on_stripe(stand, stripe_pi: dict, success: bool):
    """What Stripe.js does when the cardholder passes (or fails) the bank's check."""
    stand.call(
        "POST",
        f"/v1/payment_intents/{stripe_pi['id']}/_authenticate",
        {
            "client_secret": stripe_pi["client_secret"],
            "success": "true" if success else "false",
            "key": "pk_test_localstripe",
        },
    )


def submit_authentication_page(cashbox_pi):
    """Cashbox's authentication page, once Stripe.js is done: it posts back and Cashbox asks
    Stripe how it went."""
    url = cashbox_pi.next_action.redirect_to_url.url
    page = urllib.parse.urlsplit(url)
    secret = urllib.parse.parse_qs(page.query)["client_secret"][0]
    req = urllib.request.Request(
        f"{page.scheme}://{page.netloc}{page.path}",
        data=urllib.parse.urlencode({"client_secret": secret, "result": "approve"}).encode(),
        method="POST",
    )
    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        with urllib.request.build_opener(Stay).open(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        # The page sends the browser back to the return URL.
        assert e.code == 303, e.read()
        return e.code


@pytest.mark.parametrize("passes", [True, False])
def test_three_d_secure_is_stripes_and_cashbox_reads_the_outcome(stand, passes):
    pi = stripe.PaymentIntent.create(
        amount=3100,
        currency="usd",
        payment_method=stand.card(THREE_D_SECURE),
        confirm=True,
        return_url="https://shop.example/back",
    )
    assert pi.status == "requires_action"
    assert pi.next_action.type == "redirect_to_url"
    [theirs] = stripe_pi(stand, pi.id)
    assert theirs["status"] == "requires_action"
    authenticate_on_stripe(stand, theirs, passes)
    submit_authentication_page(pi)
    pi = stripe.PaymentIntent.retrieve(pi.id)
    if passes:
        assert (pi.status, pi.amount_received) == ("succeeded", 3100)
    else:
        assert pi.status == "requires_payment_method"
        assert pi.last_payment_error.code == "payment_intent_authentication_failure"
    # One payment on Stripe: the one the cardholder authenticated, not a second.
    assert [p["id"] for p in stripe_pi(stand, pi.id)] == [theirs["id"]]


import urllib.parse  # noqa: E402


def test_a_card_saved_with_three_d_secure_is_authenticated_on_stripe(stand):
    customer = stripe.Customer.create(email="setup3ds@example.com")
    seti = stripe.SetupIntent.create(
        customer=customer.id,
        payment_method=stand.card(THREE_D_SECURE),
        confirm=True,
        usage="off_session",
        return_url="https://shop.example/saved",
    )
    assert seti.status == "requires_action"
    assert "/pages/authenticate/" in seti.next_action.redirect_to_url.url
    theirs = [
        s for s in stand.call("GET", "/v1/setup_intents", {"limit": "100"})["data"]
        if s["payment_method"] == seti.payment_method
    ]
    assert [s["status"] for s in theirs] == ["requires_action"]
    # What localstripe's Stripe.js does once the cardholder completes the check.
    stand.call(
        "POST",
        f"/v1/setup_intents/{theirs[0]['id']}/confirm",
        {"client_secret": theirs[0]["client_secret"], "key": "pk_test_localstripe",
         "use_stripe_sdk": "true"},
    )
    submit_authentication_page(seti)
    seti = stripe.SetupIntent.retrieve(seti.id)
    assert seti.status == "succeeded"
    assert stripe.PaymentMethod.retrieve(seti.payment_method).customer == customer.id
