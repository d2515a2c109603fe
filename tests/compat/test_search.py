"""Search through Stripe's Python SDK: the query language, pages, and what encryption allows."""

import secrets

import pytest
import stripe


def test_customers_by_email_and_metadata_across_pages():
    tag = secrets.token_hex(6)
    made = [
        stripe.Customer.create(
            email=f"{tag}-{i}@example.com", metadata={"batch": tag, "even": str(i % 2 == 0)}
        )
        for i in range(7)
    ]
    evens = {c.id for i, c in enumerate(made) if i % 2 == 0}

    found = stripe.Customer.search(query=f"email:'{tag}-3@example.com'")
    assert [c.id for c in found.data] == [made[3].id]

    # Two a page, every page followed by the SDK: exactly the matching customers, once each.
    pages = stripe.Customer.search(
        query=f"metadata['batch']:'{tag}' AND metadata['even']:'True'", limit=2
    )
    seen = [c.id for c in pages.auto_paging_iter()]
    assert len(seen) == len(set(seen)) == len(evens)
    assert set(seen) == evens

    counted = stripe.Customer.search(
        query=f"metadata['batch']:'{tag}'", limit=1, expand=["total_count"]
    )
    assert counted.total_count == 7
    assert counted.has_more and counted.next_page


def test_a_substring_of_an_encrypted_field_is_refused():
    with pytest.raises(stripe.InvalidRequestError) as e:
        stripe.Customer.search(query="email~'example'")
    assert e.value.param == "query"
    assert "blind index" in e.value.user_message


def test_prices_by_active_and_lookup_key_and_subscriptions_by_status():
    tag = secrets.token_hex(6)
    product = stripe.Product.create(name=f"Search plan {tag}")
    prices = [
        stripe.Price.create(
            product=product.id,
            currency="usd",
            unit_amount=1000 + i,
            recurring={"interval": "month"},
            lookup_key=f"{tag}_{i}",
        )
        for i in range(3)
    ]
    stripe.Price.modify(prices[0].id, active=False)
    active = stripe.Price.search(query=f"product:'{product.id}' AND active:'true'", limit=1)
    assert {p.id for p in active.auto_paging_iter()} == {prices[1].id, prices[2].id}
    by_key = stripe.Price.search(query=f"lookup_key:'{tag}_2'")
    assert [p.id for p in by_key.data] == [prices[2].id]

    customer = stripe.Customer.create(email=f"{tag}@example.com", payment_method="pm_card_visa",
                                      invoice_settings={"default_payment_method": "pm_card_visa"})
    sub = stripe.Subscription.create(
        customer=customer.id, items=[{"price": prices[1].id}], metadata={"batch": tag}
    )
    assert sub.status == "active"
    found = stripe.Subscription.search(query=f"status:'active' AND metadata['batch']:'{tag}'")
    assert [s.id for s in found.data] == [sub.id]
    stripe.Subscription.cancel(sub.id)
    found = stripe.Subscription.search(query=f"status:'active' AND metadata['batch']:'{tag}'")
    assert found.data == []
