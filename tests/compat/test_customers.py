"""Customers, idempotency and errors through Stripe's official Python SDK."""

import uuid

import pytest
import stripe


def unique_email():
    return f"{uuid.uuid4().hex[:12]}@example.com"


def test_create_retrieve_modify_list_delete():
    email = unique_email()
    c = stripe.Customer.create(
        email=email,
        name="Jenny Rosen",
        address={"line1": "1 Main St", "country": "US"},
        metadata={"plan": "pro", "seats": 3},
    )
    assert c.id.startswith("cus_")
    assert c.object == "customer"
    assert c.email == email
    assert c.address.line1 == "1 Main St"
    assert c.metadata.to_dict() == {"plan": "pro", "seats": "3"}
    assert c.invoice_settings.default_payment_method is None

    got = stripe.Customer.retrieve(c.id)
    assert got.id == c.id and got.name == "Jenny Rosen"

    changed = stripe.Customer.modify(c.id, name="Jenny R.", metadata={"seats": ""})
    assert changed.name == "Jenny R."
    assert changed.metadata.to_dict() == {"plan": "pro"}

    listed = stripe.Customer.list(email=email)
    assert [x.id for x in listed.data] == [c.id]

    deleted = stripe.Customer.delete(c.id)
    assert deleted.deleted is True and deleted.id == c.id
    assert stripe.Customer.retrieve(c.id).deleted is True
    assert stripe.Customer.list(email=email).data == []


def test_auto_paging_walks_every_page():
    tag = uuid.uuid4().hex[:8]
    ids = {stripe.Customer.create(name=f"page-{tag}-{i}").id for i in range(23)}
    seen = [c.id for c in stripe.Customer.list(limit=5).auto_paging_iter() if c.id in ids]
    assert len(seen) == 23 and set(seen) == ids
    assert seen == sorted(seen, reverse=True), "newest first"


def test_same_idempotency_key_replays_and_other_params_fail():
    key = str(uuid.uuid4())
    email = unique_email()
    first = stripe.Customer.create(email=email, idempotency_key=key)
    second = stripe.Customer.create(email=email, idempotency_key=key)
    assert first.id == second.id
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len(stripe.Customer.list(email=email).data) == 1
    with pytest.raises(stripe.IdempotencyError) as err:
        stripe.Customer.create(email=unique_email(), idempotency_key=key)
    assert err.value.http_status == 400


def test_wrong_key_is_an_authentication_error():
    with pytest.raises(stripe.AuthenticationError) as err:
        stripe.Customer.list(api_key="sk_test_not_a_real_key_123456")
    assert err.value.http_status == 401


def test_unknown_parameter_names_the_param():
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Customer.create(email=unique_email(), favourite_colour="blue")
    assert err.value.http_status == 400
    assert err.value.param == "favourite_colour"
    assert err.value.code == "parameter_unknown"


def test_invalid_values_and_missing_objects():
    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Customer.create(email="not-an-email")
    assert err.value.param == "email" and err.value.code == "email_invalid"

    with pytest.raises(stripe.InvalidRequestError) as err:
        stripe.Customer.retrieve("cus_doesnotexist")
    assert err.value.http_status == 404
    assert err.value.code == "resource_missing"


def test_events_are_listed_with_stripe_types():
    c = stripe.Customer.create(email=unique_email())
    stripe.Customer.modify(c.id, name="Changed")
    events = stripe.Event.list(type="customer.updated", limit=100)
    mine = [e for e in events.data if e.data.object.id == c.id]
    assert len(mine) == 1
    assert mine[0].data.previous_attributes.to_dict() == {"name": None}
    assert stripe.Event.retrieve(mine[0].id).type == "customer.updated"


def test_stripe_client_with_base_address(cashbox):
    client = stripe.StripeClient(cashbox["key"], base_addresses={"api": cashbox["base"]})
    c = client.v1.customers.create(params={"email": unique_email(), "metadata": {"k": "v"}})
    assert client.v1.customers.retrieve(c.id).metadata["k"] == "v"
    client.v1.customers.delete(c.id)
