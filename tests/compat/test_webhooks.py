"""Webhook deliveries from a running `cashbox serve`, verified as the host app verifies them:
with Stripe's `stripe.Webhook.construct_event` and, for the other scheme, `standardwebhooks`."""

import http.server
import json
import threading
import time

import pytest
import standardwebhooks
import stripe


class Receiver:
    """A local HTTP server that keeps every request and answers 200."""

    def __init__(self):
        self.requests = []
        lock = threading.Lock()
        received = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                # Header names are case-insensitive, as in every web framework.
                with lock:
                    received.append((self.headers, body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, wanted, timeout=20):
        """Waits until events of each (type, object id) in `wanted` have arrived."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            seen = set()
            for _, body in list(self.requests):
                event = json.loads(body)
                seen.add((event["type"], event["data"]["object"]["id"]))
            if set(wanted) <= seen:
                return list(self.requests)
            time.sleep(0.1)
        raise AssertionError(f"wanted {wanted}, got {sorted(seen)}")

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_deliveries_verify_with_stripes_construct_event(receiver):
    types = ["customer.created", "payment_intent.succeeded", "invoice.paid"]
    endpoint = stripe.WebhookEndpoint.create(url=receiver.url, enabled_events=types)
    secret = endpoint.secret
    assert secret.startswith("whsec_")
    try:
        customer = stripe.Customer.create(email="hooks@example.com", payment_method="pm_card_visa")
        pi = stripe.PaymentIntent.create(
            amount=1_500,
            currency="usd",
            customer=customer.id,
            payment_method="pm_card_visa",
            confirm=True,
        )
        assert pi.status == "succeeded"
        inv = stripe.Invoice.create(customer=customer.id)
        stripe.InvoiceItem.create(customer=customer.id, invoice=inv.id, amount=700, currency="usd")
        paid = stripe.Invoice.pay(inv.id, payment_method="pm_card_visa")
        assert paid.status == "paid"

        wanted = [
            ("customer.created", customer.id),
            ("payment_intent.succeeded", pi.id),
            ("invoice.paid", inv.id),
        ]
        requests = receiver.wait_for(wanted)
        verified = []
        for headers, body in requests:
            event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], secret)
            assert event.type in types
            verified.append(event)
        assert set(wanted) <= {(e.type, e.data.object.id) for e in verified}
        created = next(
            e for e in verified if e.type == "customer.created" and e.data.object.id == customer.id
        )

        # A changed body or another secret does not verify.
        headers, body = requests[0]
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body + b" ", headers["Stripe-Signature"], secret)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_other")

        # Acknowledged: nothing pending on the event once the answer is recorded.
        deadline = time.time() + 10
        while stripe.Event.retrieve(created.id).pending_webhooks != 0:
            assert time.time() < deadline, "the delivery stayed pending"
            time.sleep(0.1)
    finally:
        stripe.WebhookEndpoint.delete(endpoint.id)


def test_standard_webhooks_deliveries_verify_with_standardwebhooks(receiver):
    endpoint = stripe.WebhookEndpoint.create(
        url=receiver.url,
        enabled_events=["customer.created"],
        signature_scheme="standard_webhooks",
    )
    try:
        customer = stripe.Customer.create(email="standard@example.com")
        requests = receiver.wait_for([("customer.created", customer.id)])
        wh = standardwebhooks.Webhook(endpoint.secret)
        mine = []
        for headers, body in requests:
            payload = wh.verify(body, {k.lower(): v for k, v in headers.items()})
            mine.append(payload["data"]["object"]["id"])
        assert customer.id in mine
        headers, body = requests[0]
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            standardwebhooks.Webhook("whsec_" + "A" * 32).verify(
                body, {k.lower(): v for k, v in headers.items()}
            )
    finally:
        stripe.WebhookEndpoint.delete(endpoint.id)


def test_endpoints_are_listed_updated_and_a_bad_url_is_refused():
    endpoint = stripe.WebhookEndpoint.create(
        url="https://example.com/hooks", enabled_events=["*"], description="all"
    )
    try:
        updated = stripe.WebhookEndpoint.modify(endpoint.id, enabled_events=["invoice.paid"], disabled=True)
        assert updated.status == "disabled" and updated.enabled_events == ["invoice.paid"]
        assert endpoint.id in [e.id for e in stripe.WebhookEndpoint.list().data]
        with pytest.raises(stripe.InvalidRequestError) as err:
            stripe.WebhookEndpoint.create(url="http://10.0.0.7/hooks", enabled_events=["*"])
        assert err.value.code == "url_invalid" and "private" in err.value.user_message
    finally:
        stripe.WebhookEndpoint.delete(endpoint.id)
