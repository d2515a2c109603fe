"""Products and prices through Stripe's official Python SDK."""

import uuid
from decimal import Decimal

import pytest
import stripe


def test_product_with_default_price_and_lookup():
    key = f"plan_{uuid.uuid4().hex[:8]}"
    product = stripe.Product.create(
        name="Therapy plan",
        default_price_data={"currency": "usd", "unit_amount": 19999, "recurring": {"interval": "month"}},
        expand=["default_price"],
    )
    assert product.default_price.unit_amount == 19999
    assert product.default_price.recurring.interval == "month"

    price = stripe.Price.create(
        product=product.id,
        currency="usd",
        unit_amount=24999,
        recurring={"interval": "month", "trial_period_days": 7},
        lookup_key=key,
    )
    found = stripe.Price.list(lookup_keys=[key], expand=["data.product"])
    assert [p.id for p in found.data] == [price.id]
    assert found.data[0].product.name == "Therapy plan"

    moved = stripe.Price.create(
        product=product.id, currency="usd", unit_amount=29999,
        recurring={"interval": "month"}, lookup_key=key, transfer_lookup_key=True,
    )
    assert stripe.Price.retrieve(price.id).lookup_key is None
    assert stripe.Price.list(lookup_keys=[key]).data[0].id == moved.id

    updated = stripe.Product.modify(product.id, default_price=moved.id, metadata={"tier": "gold"})
    assert updated.default_price == moved.id and updated.metadata["tier"] == "gold"
    assert product.id in [p.id for p in stripe.Product.list(limit=100).auto_paging_iter()]


def test_tiered_and_decimal_prices():
    product = stripe.Product.create(name="AI assistant")
    tiered = stripe.Price.create(
        product=product.id,
        currency="usd",
        billing_scheme="tiered",
        tiers_mode="volume",
        tiers=[{"up_to": 100, "unit_amount": 10}, {"up_to": "inf", "unit_amount_decimal": "7.5"}],
        recurring={"interval": "month", "usage_type": "metered"},
    )
    got = stripe.Price.retrieve(tiered.id, expand=["tiers"])
    assert got.tiers[0].up_to == 100 and got.tiers[0].unit_amount == 10
    assert got.tiers[1].up_to is None and got.tiers[1].unit_amount_decimal == Decimal("7.5")

    per_token = stripe.Price.create(product=product.id, currency="usd", unit_amount_decimal="0.05")
    assert per_token.unit_amount is None and per_token.unit_amount_decimal == Decimal("0.05")


def test_price_errors_are_stripe_errors():
    product = stripe.Product.create(name="P")
    with pytest.raises(stripe.InvalidRequestError) as e:
        stripe.Price.create(product=product.id, currency="usd")
    assert e.value.param == "unit_amount"
    with pytest.raises(stripe.InvalidRequestError) as e:
        stripe.Price.create(product="prod_nope", currency="usd", unit_amount=5)
    assert e.value.param == "product"
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Product.delete(stripe.Price.create(product=product.id, currency="usd", unit_amount=5).product)
    empty = stripe.Product.create(name="Empty")
    assert stripe.Product.delete(empty.id).deleted is True


def test_coupons_promotion_codes_and_tax_rates():
    coupon = stripe.Coupon.create(percent_off=20, duration="forever", name="20% off")
    assert coupon.percent_off == 20 and coupon.valid is True
    code = f"SAVE{uuid.uuid4().hex[:6].upper()}"
    promo = stripe.PromotionCode.create(promotion={"type": "coupon", "coupon": coupon.id}, code=code)
    assert promo.promotion.coupon == coupon.id and promo.active is True
    assert [p.id for p in stripe.PromotionCode.list(code=code.lower()).data] == [promo.id]
    with pytest.raises(stripe.InvalidRequestError) as e:
        stripe.PromotionCode.create(promotion={"type": "coupon", "coupon": coupon.id}, code=code)
    assert e.value.param == "code"

    vat = stripe.TaxRate.create(display_name="VAT", percentage=10, inclusive=False, country="DE")
    assert vat.percentage == 10 and vat.inclusive is False
    assert stripe.TaxRate.modify(vat.id, active=False).active is False
    assert stripe.Coupon.delete(coupon.id).deleted is True


def test_test_clock_with_a_customer():
    clock = stripe.test_helpers.TestClock.create(frozen_time=1_700_000_000, name="compat")
    assert clock.status == "ready"
    customer = stripe.Customer.create(email="clock@example.com", test_clock=clock.id)
    assert customer.test_clock == clock.id
    advanced = stripe.test_helpers.TestClock.advance(clock.id, frozen_time=1_700_000_000 + 86_400 * 40)
    assert advanced.frozen_time == 1_700_000_000 + 86_400 * 40 and advanced.status == "ready"
    assert stripe.test_helpers.TestClock.delete(clock.id).deleted is True
    assert stripe.Customer.retrieve(customer.id).deleted is True
