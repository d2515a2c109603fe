//! Billing: what is sold ([`catalog`]), to whom and how often ([`subscription`]), what is
//! owed ([`invoice`], [`credit_note`]) and what is taken off ([`discounts`]). This module holds
//! the arithmetic they share: billing periods, what a price charges for a quantity, proration,
//! and an invoice's discounts, taxes and totals. Amounts are integer minor units; fractional
//! intermediate values (sub-cent prices, percentages, fractions of a period) are exact
//! decimals or integer ratios, rounded once per line by the rules written here.
//!
//! Rounding rules (pinned by the tests below):
//! - a line's amount (quantity × unit amount, tiers) is computed exactly and rounded to the
//!   nearest minor unit, halves away from zero;
//! - a proration is `amount × seconds_covered / seconds_in_period`, exactly, then rounded the
//!   same way; the credit for unused time is the negative of the same computation, so a credit
//!   and the debit it replaces cancel to the unit;
//! - a percentage discount is rounded per line; an amount discount is spread over the eligible
//!   lines in proportion to their amounts, remainders to the largest lines, so it sums exactly;
//! - an exclusive tax is `taxable × percentage`, rounded per line and rate; an inclusive tax is
//!   the part of the line above `taxable / (1 + percentage)`, rounded per line.

pub mod catalog;
pub mod credit_note;
pub mod discounts;
pub mod invoice;
pub mod invoice_payment;
pub mod subscription;

use chrono::{DateTime, Datelike, Months, TimeDelta, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::billing::catalog::{Amounts, Interval, Price, Round, TiersMode};
use crate::billing::discounts::{Coupon, TaxRate};
use crate::currency::Currency;
use crate::money::{Money, MoneyError};

/// Rounds to the nearest integer, halves away from zero.
fn round_half_away(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
}

fn to_minor(d: Decimal) -> Option<i64> {
    i64::try_from(round_half_away(d)).ok()
}

/// `amount × num / den` rounded half away from zero, exactly (i128 intermediate).
pub fn mul_div_round(amount: i64, num: i64, den: i64) -> Option<i64> {
    if den == 0 {
        return None;
    }
    let (n, d) = (i128::from(amount) * i128::from(num), i128::from(den));
    let (q, r) = (n / d, n % d);
    let twice = r.abs() * 2;
    let q = if twice >= d.abs() {
        q + if (n < 0) != (d < 0) { -1 } else { 1 }
    } else {
        q
    };
    i64::try_from(q).ok()
}

// ---------------------------------------------------------------------------------------------
// Periods

/// The boundary `n` intervals after `anchor`, counted from the anchor each time (so a period
/// anchored on the 31st ends on the 30th or 28th in shorter months and on the 31st again
/// after), in UTC.
pub fn boundary(anchor: i64, interval: Interval, count: u32, n: u32) -> Option<i64> {
    let start = DateTime::<Utc>::from_timestamp(anchor, 0)?;
    let steps = count.checked_mul(n)?;
    let t = match interval {
        Interval::Day => start.checked_add_signed(TimeDelta::try_days(i64::from(steps))?)?,
        Interval::Week => start.checked_add_signed(TimeDelta::try_weeks(i64::from(steps))?)?,
        Interval::Month => start.checked_add_months(Months::new(steps))?,
        Interval::Year => start.checked_add_months(Months::new(steps.checked_mul(12)?))?,
    };
    Some(t.timestamp())
}

/// `t` minus one billing period (`count` intervals), in UTC.
pub fn step_back(t: i64, interval: Interval, count: u32) -> Option<i64> {
    let at = DateTime::<Utc>::from_timestamp(t, 0)?;
    let back = match interval {
        Interval::Day => at.checked_sub_signed(TimeDelta::try_days(i64::from(count))?)?,
        Interval::Week => at.checked_sub_signed(TimeDelta::try_weeks(i64::from(count))?)?,
        Interval::Month => at.checked_sub_months(Months::new(count))?,
        Interval::Year => at.checked_sub_months(Months::new(count.checked_mul(12)?))?,
    };
    Some(back.timestamp())
}

/// The first boundary of the cycle anchored at `anchor` that is strictly after `t`.
pub fn next_boundary(anchor: i64, interval: Interval, count: u32, t: i64) -> Option<i64> {
    if anchor > t {
        return Some(anchor);
    }
    // A guess from the average length, then exact steps from there.
    let approx = match interval {
        Interval::Day => 86_400,
        Interval::Week => 604_800,
        Interval::Month => 2_629_746,
        Interval::Year => 31_556_952,
    } * i64::from(count.max(1));
    let mut n = u32::try_from(((t - anchor) / approx - 1).max(0)).ok()?;
    loop {
        let b = boundary(anchor, interval, count, n)?;
        if b > t {
            return Some(b);
        }
        n = n.checked_add(1)?;
    }
}

/// A readable date for line descriptions: `Jan 5, 2027`.
pub fn short_date(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| {
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            format!("{} {}, {}", MONTHS[d.month0() as usize], d.day(), d.year())
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Rating

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatingError {
    #[error("the price {0} has no amount in {1}")]
    NoCurrency(String, Currency),
    #[error("the price {0} has no fixed amount (its amount is chosen by the customer)")]
    CustomAmount(String),
    #[error("the amount for price {0} is too large: at most {max} in minor units", max = INVOICE_AMOUNT_MAX_MINOR)]
    Overflow(String),
}

/// The most an invoice line, and an invoice's total, may be (either sign), in minor units:
/// the most a PaymentIntent may charge (Stripe's eight digits), so that every invoice can be
/// paid, and every sum of an invoice's amounts is far inside `i64`.
pub const INVOICE_AMOUNT_MAX_MINOR: i64 = crate::money::CHARGE_AMOUNT_MAX_MINOR;

/// `amount`, if an invoice may carry it (either sign) ([`INVOICE_AMOUNT_MAX_MINOR`]).
pub fn within_invoice_max(amount: i64) -> Option<i64> {
    (amount.checked_abs()? <= INVOICE_AMOUNT_MAX_MINOR).then_some(amount)
}

/// The amounts of `price` in `currency`: its own, or one of its `currency_options`.
pub fn amounts_in(price: &Price, currency: Currency) -> Option<&Amounts> {
    if price.currency == currency {
        Some(&price.amounts)
    } else {
        price.currency_options.get(currency.as_str())
    }
}

/// What `quantity` units of `price` cost in `currency`, in minor units, rounded once.
pub fn price_amount(price: &Price, currency: Currency, quantity: u64) -> Result<i64, RatingError> {
    let overflow = || RatingError::Overflow(price.id.clone());
    let amounts = amounts_in(price, currency)
        .ok_or_else(|| RatingError::NoCurrency(price.id.clone(), currency))?;
    let exact = match price.tiers_mode {
        None => {
            let unit = amounts
                .unit_amount
                .as_ref()
                .ok_or_else(|| RatingError::CustomAmount(price.id.clone()))?
                .value();
            let units = match price.transform_quantity {
                Some(t) => {
                    let q = quantity / t.divide_by.max(1) as u64;
                    let rem = quantity % t.divide_by.max(1) as u64;
                    if t.round == Round::Up && rem > 0 {
                        q + 1
                    } else {
                        q
                    }
                }
                None => quantity,
            };
            unit.checked_mul(Decimal::from(units))
                .ok_or_else(overflow)?
        }
        Some(mode) => tiered_amount(amounts, mode, quantity).ok_or_else(overflow)?,
    };
    to_minor(exact)
        .and_then(within_invoice_max)
        .ok_or_else(overflow)
}

fn tiered_amount(amounts: &Amounts, mode: TiersMode, quantity: u64) -> Option<Decimal> {
    let value = |d: &Option<crate::billing::catalog::DecimalAmount>| {
        d.as_ref().map_or(Decimal::ZERO, |d| d.value())
    };
    let q = i64::try_from(quantity).ok()?;
    match mode {
        TiersMode::Volume => {
            let tier = amounts
                .tiers
                .iter()
                .find(|t| t.up_to.is_none_or(|u| q <= u))?;
            value(&tier.unit_amount)
                .checked_mul(Decimal::from(q))?
                .checked_add(value(&tier.flat_amount))
        }
        TiersMode::Graduated => {
            let mut total = Decimal::ZERO;
            let mut below = 0i64;
            for tier in &amounts.tiers {
                if q <= below {
                    break;
                }
                let top = tier.up_to.map_or(q, |u| u.min(q));
                let units = top - below;
                total = total
                    .checked_add(value(&tier.unit_amount).checked_mul(Decimal::from(units))?)?
                    .checked_add(value(&tier.flat_amount))?;
                below = top;
            }
            Some(total)
        }
    }
}

/// `quantity` units at a decimal unit amount, rounded once.
pub fn units_times(unit: Decimal, quantity: u64) -> Option<i64> {
    to_minor(unit.checked_mul(Decimal::from(quantity))?)
}

/// The part of `amount` (charged for `period`) that covers `[from, to)`, rounded half away
/// from zero. A credit for unused time is `-prorate(...)` of the same span.
pub fn prorate(amount: i64, period: (i64, i64), from: i64, to: i64) -> Option<i64> {
    let (start, end) = period;
    let from = from.clamp(start, end);
    let to = to.clamp(start, end);
    mul_div_round(amount, to - from, end - start)
}

// ---------------------------------------------------------------------------------------------
// Invoice totals

/// One line as the totals see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInput {
    pub amount: i64,
    pub discountable: bool,
    pub product: Option<String>,
    /// The line's own tax rates; when empty the invoice's default rates apply.
    pub tax_rates: Vec<TaxRate>,
    /// Credit (from credit grants) applied to the line after its discounts and before tax.
    pub credits: i64,
}

/// A discount as the totals see it: its id and coupon.
#[derive(Debug, Clone)]
pub struct DiscountInput<'a> {
    pub id: &'a str,
    pub coupon: &'a Coupon,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaxAmount {
    pub tax_rate: String,
    pub inclusive: bool,
    pub amount: i64,
    pub taxable_amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineTotals {
    /// (discount id, amount) per discount that applied.
    pub discounts: Vec<(String, i64)>,
    pub taxes: Vec<TaxAmount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Totals {
    pub lines: Vec<LineTotals>,
    pub subtotal: i64,
    pub subtotal_excluding_tax: i64,
    pub total_discounts: Vec<(String, i64)>,
    /// The credit applied to all lines, before tax.
    pub total_credits: i64,
    pub total_taxes: Vec<TaxAmount>,
    pub total: i64,
    pub total_excluding_tax: i64,
}

/// An invoice whose line, credit or total is beyond [`INVOICE_AMOUNT_MAX_MINOR`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the invoice's amounts are too large: each line and the total must be at most {max} in minor units", max = INVOICE_AMOUNT_MAX_MINOR)]
pub struct TotalsOverflow;

fn percent_of(amount: i64, pct: Decimal) -> Option<i64> {
    to_minor(
        Decimal::from(amount)
            .checked_mul(pct)?
            .checked_div(Decimal::from(100))?,
    )
}

/// Splits `total` over `weights` in proportion, remainders to the largest weights first, so
/// the parts sum to `total` exactly.
fn spread(total: i64, weights: &[i64]) -> Option<Vec<i64>> {
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if sum <= 0 {
        return Some(vec![0; weights.len()]);
    }
    let mut parts: Vec<i64> = weights
        .iter()
        .map(|w| i64::try_from(i128::from(total) * i128::from(*w) / sum).ok())
        .collect::<Option<_>>()?;
    let mut left = total - parts.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(weights[*i]));
    for i in order.iter().cycle().take(weights.len() * 2) {
        if left == 0 {
            break;
        }
        if weights[*i] > 0 {
            parts[*i] += 1;
            left -= 1;
        }
    }
    Some(parts)
}

/// What discount `d` takes off each line, given what earlier discounts left of each
/// (`remaining`): `None` for a line it does not apply to. A percentage comes off each line; an
/// amount off (in the invoice's currency) is spread over the lines in proportion to what
/// remains of them, and never takes more than that.
fn discount_parts(
    d: &DiscountInput<'_>,
    lines: &[LineInput],
    remaining: &[i64],
    currency: Currency,
) -> Result<Vec<Option<i64>>, TotalsOverflow> {
    let eligible: Vec<bool> = lines
        .iter()
        .map(|l| {
            l.discountable
                && match &d.coupon.applies_to_products {
                    Some(products) => l.product.as_ref().is_some_and(|p| products.contains(p)),
                    None => true,
                }
        })
        .collect();
    let parts: Vec<i64> = if let Some(pct) = d.coupon.percent_off {
        remaining
            .iter()
            .zip(&eligible)
            .map(|(r, e)| if *e { percent_of(*r, pct) } else { Some(0) })
            .collect::<Option<_>>()
            .ok_or(TotalsOverflow)?
    } else {
        let off = if d.coupon.currency.as_deref() == Some(currency.as_str()) {
            d.coupon.amount_off.unwrap_or(0)
        } else {
            d.coupon
                .currency_options
                .get(currency.as_str())
                .copied()
                .unwrap_or(0)
        };
        let weights: Vec<i64> = remaining
            .iter()
            .zip(&eligible)
            .map(|(r, e)| if *e { (*r).max(0) } else { 0 })
            .collect();
        let cap = weights
            .iter()
            .try_fold(0i64, |s, w| s.checked_add(*w))
            .ok_or(TotalsOverflow)?;
        spread(off.min(cap), &weights).ok_or(TotalsOverflow)?
    };
    Ok(parts
        .into_iter()
        .zip(eligible)
        .map(|(part, e)| e.then_some(part))
        .collect())
}

/// The taxes of one line on `taxable` (what discounts and credits left of it) at `rates`.
/// Exclusive taxes are added to it; inclusive ones are inside it: they are taken out of a
/// base found by dividing by their combined percentage, the largest inclusive rate taking the
/// rounding remainder (a 0% rate never takes a cent), so that base plus inclusive taxes is
/// exactly `taxable`.
fn line_taxes(taxable: i64, rates: &[TaxRate]) -> Result<Vec<TaxAmount>, TotalsOverflow> {
    let inclusive_pct: Decimal = rates
        .iter()
        .filter(|r| r.inclusive)
        .map(|r| r.percentage)
        .sum();
    let base = if inclusive_pct.is_zero() {
        taxable
    } else {
        to_minor(
            Decimal::from(taxable)
                .checked_mul(Decimal::from(100))
                .and_then(|v| v.checked_div(Decimal::from(100) + inclusive_pct))
                .ok_or(TotalsOverflow)?,
        )
        .ok_or(TotalsOverflow)?
    };
    // The inclusive rate that takes the remainder: the largest (the first of equals).
    let remainder_at = rates
        .iter()
        .enumerate()
        .filter(|(_, r)| r.inclusive)
        .fold(None, |best: Option<(usize, Decimal)>, (i, r)| match best {
            Some((_, p)) if p >= r.percentage => best,
            _ => Some((i, r.percentage)),
        })
        .map(|(i, _)| i);
    let mut amounts = Vec::with_capacity(rates.len());
    let mut inclusive_left = taxable.checked_sub(base).ok_or(TotalsOverflow)?;
    for (i, rate) in rates.iter().enumerate() {
        let amount = match (rate.inclusive, Some(i) == remainder_at) {
            (true, true) => 0, // set below, once the others are known
            (true, false) => {
                let a = percent_of(base, rate.percentage).ok_or(TotalsOverflow)?;
                inclusive_left = inclusive_left.checked_sub(a).ok_or(TotalsOverflow)?;
                a
            }
            (false, _) => percent_of(taxable, rate.percentage).ok_or(TotalsOverflow)?,
        };
        amounts.push(amount);
    }
    if let Some(i) = remainder_at {
        amounts[i] = inclusive_left;
    }
    let mut taxes = Vec::with_capacity(rates.len());
    for (rate, amount) in rates.iter().zip(amounts) {
        taxes.push(TaxAmount {
            tax_rate: rate.id.clone(),
            inclusive: rate.inclusive,
            amount,
            taxable_amount: if rate.inclusive { base } else { taxable },
        });
    }
    Ok(taxes)
}

/// An invoice's discounts, taxes and totals, in the order Stripe applies them: discounts on
/// line amounts (each in turn on what the previous left), then taxes on what remains.
pub fn totals(
    lines: &[LineInput],
    discounts: &[DiscountInput<'_>],
    default_tax_rates: &[TaxRate],
    currency: Currency,
) -> Result<Totals, TotalsOverflow> {
    for line in lines {
        within_invoice_max(line.amount).ok_or(TotalsOverflow)?;
        within_invoice_max(line.credits).ok_or(TotalsOverflow)?;
    }
    let mut out = Totals {
        lines: vec![LineTotals::default(); lines.len()],
        ..Totals::default()
    };
    let mut remaining: Vec<i64> = lines.iter().map(|l| l.amount).collect();
    for d in discounts {
        let parts = discount_parts(d, lines, &remaining, currency)?;
        let mut sum = 0i64;
        for (i, part) in parts.into_iter().enumerate() {
            if let Some(part) = part {
                out.lines[i].discounts.push((d.id.to_string(), part));
                remaining[i] = remaining[i].checked_sub(part).ok_or(TotalsOverflow)?;
                sum = sum.checked_add(part).ok_or(TotalsOverflow)?;
            }
        }
        out.total_discounts.push((d.id.to_string(), sum));
    }
    // Credits come after discounts and before tax, as Stripe applies credit grants.
    for (i, line) in lines.iter().enumerate() {
        remaining[i] = remaining[i]
            .checked_sub(line.credits)
            .ok_or(TotalsOverflow)?;
        out.total_credits = out
            .total_credits
            .checked_add(line.credits)
            .ok_or(TotalsOverflow)?;
    }
    let mut inclusive_tax = 0i64;
    let mut exclusive_tax = 0i64;
    for (i, line) in lines.iter().enumerate() {
        let rates = if line.tax_rates.is_empty() {
            default_tax_rates
        } else {
            &line.tax_rates
        };
        for t in line_taxes(remaining[i], rates)? {
            let sum = if t.inclusive {
                &mut inclusive_tax
            } else {
                &mut exclusive_tax
            };
            *sum = sum.checked_add(t.amount).ok_or(TotalsOverflow)?;
            match out
                .total_taxes
                .iter_mut()
                .find(|x| x.tax_rate == t.tax_rate)
            {
                Some(x) => {
                    x.amount = x.amount.checked_add(t.amount).ok_or(TotalsOverflow)?;
                    x.taxable_amount = x
                        .taxable_amount
                        .checked_add(t.taxable_amount)
                        .ok_or(TotalsOverflow)?;
                }
                None => out.total_taxes.push(t.clone()),
            }
            out.lines[i].taxes.push(t);
        }
    }
    let subtotal = lines
        .iter()
        .try_fold(0i64, |s, l| s.checked_add(l.amount))
        .ok_or(TotalsOverflow)?;
    let discounted = out
        .total_discounts
        .iter()
        .try_fold(0i64, |s, (_, a)| s.checked_add(*a))
        .ok_or(TotalsOverflow)?;
    out.subtotal = within_invoice_max(subtotal).ok_or(TotalsOverflow)?;
    out.subtotal_excluding_tax = subtotal.checked_sub(inclusive_tax).ok_or(TotalsOverflow)?;
    out.total = subtotal
        .checked_sub(discounted)
        .and_then(|v| v.checked_sub(out.total_credits))
        .and_then(|v| v.checked_add(exclusive_tax))
        .and_then(within_invoice_max)
        .ok_or(TotalsOverflow)?;
    out.total_excluding_tax = out
        .total
        .checked_sub(exclusive_tax)
        .and_then(|v| v.checked_sub(inclusive_tax))
        .ok_or(TotalsOverflow)?;
    Ok(out)
}

/// How a finalized invoice's total meets the customer's balance (negative is credit the
/// customer holds, positive is what they already owe): `(amount_due, ending_balance)`.
/// A negative total becomes credit; credit pays what it can; an amount owed is added.
/// An error if a sum overflows (neither is bounded here; the API bounds both far inside) or
/// the balance is in another currency than the invoice: it can pay nothing there.
pub fn apply_balance(total: Money, balance: Money) -> Result<(Money, Money), MoneyError> {
    let zero = Money::zero(total.currency());
    if total.amount_minor() < 0 {
        Ok((zero, balance.checked_add(total)?))
    } else if balance.is_positive() {
        Ok((total.checked_add(balance)?, balance.checked_sub(balance)?))
    } else {
        let applied = total.checked_min(balance.checked_neg()?)?;
        Ok((total.checked_sub(applied)?, balance.checked_add(applied)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::catalog::PriceCreateParams;
    use crate::billing::discounts::CouponCreateParams;
    use crate::currency::USD;
    use serde_json::json;

    fn price(v: serde_json::Value) -> Price {
        let p: PriceCreateParams = serde_json::from_value(v).unwrap();
        Price::new("price_x".into(), 0, "prod_x".into(), &p).unwrap()
    }

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn month_ends_follow_the_anchor_day() {
        let anchor = ts("2027-01-31T10:00:00Z");
        assert_eq!(
            boundary(anchor, Interval::Month, 1, 1),
            Some(ts("2027-02-28T10:00:00Z"))
        );
        assert_eq!(
            boundary(anchor, Interval::Month, 1, 2),
            Some(ts("2027-03-31T10:00:00Z"))
        );
        assert_eq!(
            boundary(anchor, Interval::Year, 1, 1),
            Some(ts("2028-01-31T10:00:00Z"))
        );
        assert_eq!(
            boundary(anchor, Interval::Week, 2, 1),
            Some(anchor + 14 * 86_400)
        );
        assert_eq!(
            next_boundary(anchor, Interval::Month, 1, ts("2027-03-31T10:00:00Z")),
            Some(ts("2027-04-30T10:00:00Z"))
        );
        assert_eq!(
            step_back(ts("2027-03-31T10:00:00Z"), Interval::Month, 1),
            Some(ts("2027-02-28T10:00:00Z"))
        );
        assert_eq!(short_date(anchor), "Jan 31, 2027");
        // From the anchor itself, the first boundary is one period on.
        assert_eq!(
            next_boundary(anchor, Interval::Month, 1, anchor),
            Some(ts("2027-02-28T10:00:00Z"))
        );
    }

    #[test]
    fn per_unit_prices_round_once_per_line() {
        let p = price(json!({"currency": "usd", "unit_amount_decimal": "0.05"}));
        assert_eq!(price_amount(&p, USD, 1_234).unwrap(), 62); // 61.7
        assert_eq!(price_amount(&p, USD, 10).unwrap(), 1); // 0.5 rounds away from zero
        let p = price(json!({"currency": "usd", "unit_amount": 19999}));
        assert_eq!(price_amount(&p, USD, 3).unwrap(), 59_997);
        assert!(matches!(
            price_amount(&p, Currency::parse("c", "eur").unwrap(), 1),
            Err(RatingError::NoCurrency(..))
        ));
        let p = price(json!({"currency": "usd", "unit_amount": 500,
            "transform_quantity": {"divide_by": 10, "round": "up"}}));
        assert_eq!(price_amount(&p, USD, 11).unwrap(), 1_000);
        assert_eq!(price_amount(&p, USD, 10).unwrap(), 500);
    }

    #[test]
    fn tiers_graduated_and_volume() {
        let tiers = json!([
            {"up_to": 5, "unit_amount": 1000, "flat_amount": 100},
            {"up_to": 10, "unit_amount": 800},
            {"up_to": "inf", "unit_amount_decimal": "500.5"}
        ]);
        let g = price(json!({"currency": "usd", "billing_scheme": "tiered",
            "tiers_mode": "graduated", "tiers": tiers}));
        // 5×1000 + 100 flat, 5×800, 2×500.5
        assert_eq!(price_amount(&g, USD, 12).unwrap(), 5_100 + 4_000 + 1_001);
        assert_eq!(price_amount(&g, USD, 0).unwrap(), 0);
        let v = price(json!({"currency": "usd", "billing_scheme": "tiered",
            "tiers_mode": "volume", "tiers": tiers}));
        assert_eq!(price_amount(&v, USD, 7).unwrap(), 5_600);
        assert_eq!(price_amount(&v, USD, 5).unwrap(), 5_100);
    }

    #[test]
    fn proration_golden_values() {
        // 10 → 20 USD at half the period: a credit of −500 and a debit of +1000.
        let period = (1_000, 3_000);
        assert_eq!(prorate(1_000, period, 2_000, 3_000).map(|v| -v), Some(-500));
        assert_eq!(prorate(2_000, period, 2_000, 3_000), Some(1_000));
        // A third of 1000 is 333.33…; two thirds 666.67; they still add up to the whole.
        let period = (0, 3);
        assert_eq!(prorate(1_000, period, 0, 1), Some(333));
        assert_eq!(prorate(1_000, period, 1, 3), Some(667));
        assert_eq!(mul_div_round(-5, 1, 2), Some(-3));
        assert_eq!(mul_div_round(5, 1, 2), Some(3));
    }

    fn coupon(v: serde_json::Value) -> Coupon {
        let p: CouponCreateParams = serde_json::from_value(v).unwrap();
        Coupon::new("co".into(), 0, &p).unwrap()
    }

    fn rate(id: &str, pct: i64, inclusive: bool) -> TaxRate {
        rate_of(id, Decimal::from(pct), inclusive)
    }

    /// A tax rate of `percentage`, for the tests here and the properties below.
    pub(super) fn rate_of(id: &str, percentage: Decimal, inclusive: bool) -> TaxRate {
        TaxRate {
            id: id.into(),
            created: 0,
            display_name: "Tax".into(),
            description: None,
            percentage,
            inclusive,
            active: true,
            country: None,
            state: None,
            jurisdiction: None,
            tax_type: None,
            metadata: Default::default(),
        }
    }

    /// Found by the totals property: with 21.5% and 0% inclusive, the 0% rate took the
    /// rounding remainder, -1 cent. The largest rate takes it, and no tax is negative.
    #[test]
    fn the_largest_inclusive_rate_takes_the_rounding_remainder() {
        let rates = [
            rate_of("txr_a", Decimal::new(215, 1), true),
            rate_of("txr_b", Decimal::new(55, 1), true),
            rate_of("txr_zero", Decimal::ZERO, true),
        ];
        for taxable in 0..20_000 {
            let taxes = line_taxes(taxable, &rates).unwrap();
            assert!(taxes.iter().all(|t| t.amount >= 0), "{taxable}: {taxes:?}");
            assert_eq!(taxes[2].amount, 0, "{taxable}");
            let base = taxes[0].taxable_amount;
            assert_eq!(taxes.iter().map(|t| t.amount).sum::<i64>(), taxable - base);
        }
    }

    fn line(amount: i64) -> LineInput {
        LineInput {
            amount,
            discountable: true,
            product: Some("prod_x".into()),
            tax_rates: vec![],
            credits: 0,
        }
    }

    #[test]
    fn credits_come_after_discounts_and_before_tax() {
        let c = coupon(json!({"percent_off": 20, "duration": "forever"}));
        let credited = LineInput {
            credits: 300,
            ..line(1_000)
        };
        let t = totals(
            &[credited, line(500)],
            &[DiscountInput {
                id: "di_1",
                coupon: &c,
            }],
            &[rate("txr_1", 10, false)],
            USD,
        )
        .unwrap();
        assert_eq!(t.subtotal, 1_500);
        assert_eq!(t.total_discounts, vec![("di_1".to_string(), 300)]);
        assert_eq!(t.total_credits, 300);
        // Taxed: 1,000 - 200 - 300 = 500 and 500 - 100 = 400.
        assert_eq!(t.lines[0].taxes[0].taxable_amount, 500);
        assert_eq!(t.total_taxes[0].amount, 90);
        assert_eq!(t.total, 1_500 - 300 - 300 + 90);
        assert_eq!(t.total_excluding_tax, 900);
    }

    #[test]
    fn twenty_percent_off_then_ten_percent_exclusive_tax() {
        let c = coupon(json!({"percent_off": 20, "duration": "forever"}));
        let t = totals(
            &[line(19_999)],
            &[DiscountInput {
                id: "di_1",
                coupon: &c,
            }],
            &[rate("txr_1", 10, false)],
            USD,
        )
        .unwrap();
        assert_eq!(t.subtotal, 19_999);
        assert_eq!(t.total_discounts, vec![("di_1".to_string(), 4_000)]);
        assert_eq!(t.total_taxes[0].amount, 1_600);
        assert_eq!(t.total_taxes[0].taxable_amount, 15_999);
        assert_eq!(t.total, 17_599);
        assert_eq!(t.total_excluding_tax, 15_999);
    }

    #[test]
    fn amount_off_spreads_exactly_and_inclusive_tax_is_inside() {
        let c = coupon(json!({"amount_off": 1_000, "currency": "usd", "duration": "once"}));
        let t = totals(
            &[line(3_333), line(6_667), line(-500)],
            &[DiscountInput {
                id: "di_1",
                coupon: &c,
            }],
            &[rate("txr_in", 20, true)],
            USD,
        )
        .unwrap();
        let parts: Vec<i64> = t.lines.iter().map(|l| l.discounts[0].1).collect();
        assert_eq!(parts, vec![333, 667, 0]);
        assert_eq!(t.total, 9_500 - 1_000);
        // 3000 taxable incl. 20% → 2500 + 500 tax.
        assert_eq!(t.lines[0].taxes[0].amount, 500);
        assert_eq!(t.total_excluding_tax + t.total_taxes[0].amount, t.total);
    }

    #[test]
    fn balances() {
        let m = |x| Money::new(x, USD);
        let ok =
            |t, b| apply_balance(m(t), m(b)).map(|(d, e)| (d.amount_minor(), e.amount_minor()));
        assert_eq!(ok(1_000, -300), Ok((700, 0)));
        assert_eq!(ok(1_000, -3_000), Ok((0, -2_000)));
        assert_eq!(ok(-400, -100), Ok((0, -500)));
        assert_eq!(ok(1_000, 250), Ok((1_250, 0)));
        assert_eq!(ok(1_000, i64::MAX), Err(MoneyError::Overflow));
        assert_eq!(ok(1_000, i64::MIN), Err(MoneyError::Overflow));
        assert_eq!(ok(-1, i64::MIN), Err(MoneyError::Overflow));
        // Credit in euros pays no dollars.
        let eur = Currency::parse("c", "eur").unwrap();
        assert!(matches!(
            apply_balance(m(1_000), Money::new(-300, eur)),
            Err(MoneyError::CurrencyMismatch(..))
        ));
    }
}

/// Properties of the arithmetic over random invoices: discounts (percent and amount off,
/// limited to products), inclusive and exclusive taxes, credits and the customer's balance,
/// and proration over random periods.
#[cfg(test)]
mod properties {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::*;
    use crate::billing::discounts::{Coupon, Duration, TaxRate};
    use crate::currency::USD;
    use crate::customer::CUSTOMER_BALANCE_MAX_MINOR;

    fn tax(i: usize, tenths_of_percent: u32, inclusive: bool) -> TaxRate {
        let percentage = Decimal::new(i64::from(tenths_of_percent), 1);
        super::tests::rate_of(&format!("txr_{i}"), percentage, inclusive)
    }

    fn coupon(i: usize, off: (bool, u32), product: Option<&str>) -> Coupon {
        let (percent, n) = off;
        Coupon {
            id: format!("co_{i}"),
            created: 0,
            name: None,
            percent_off: percent.then(|| Decimal::new(i64::from(n % 10_001), 2)),
            amount_off: (!percent).then_some(i64::from(n)),
            currency: (!percent).then(|| "usd".to_string()),
            currency_options: BTreeMap::new(),
            duration: Duration::Forever,
            duration_in_months: None,
            max_redemptions: None,
            redeem_by: None,
            times_redeemed: 0,
            applies_to_products: product.map(|p| vec![p.to_string()]),
            metadata: BTreeMap::new(),
        }
    }

    /// A line: amount, discountable, product a or b, its own taxes (or the defaults), and
    /// the share of the amount credited (percent).
    type LineSpec = (i64, bool, bool, Vec<(u32, bool)>, u8);

    fn line_spec() -> impl Strategy<Value = LineSpec> {
        (
            0i64..=2_000_000,
            any::<bool>(),
            any::<bool>(),
            prop::collection::vec((0u32..=300, any::<bool>()), 0..3),
            0u8..=50,
        )
    }

    fn lines_of(specs: &[LineSpec]) -> Vec<LineInput> {
        specs
            .iter()
            .enumerate()
            .map(|(i, (amount, discountable, a, taxes, credit))| LineInput {
                amount: *amount,
                discountable: *discountable,
                product: Some(if *a { "prod_a" } else { "prod_b" }.to_string()),
                tax_rates: taxes
                    .iter()
                    .enumerate()
                    .map(|(j, (pct, inc))| tax(100 * (i + 1) + j, *pct, *inc))
                    .collect(),
                credits: amount * i64::from(*credit) / 100,
            })
            .collect()
    }

    proptest! {
        #[test]
        fn totals_add_up(
            specs in prop::collection::vec(line_spec(), 1..8),
            offs in prop::collection::vec((any::<bool>(), 0u32..=3_000_000, any::<bool>()), 0..3),
            defaults in prop::collection::vec((0u32..=300, any::<bool>()), 0..3),
        ) {
            let lines = lines_of(&specs);
            let coupons: Vec<Coupon> = offs
                .iter()
                .enumerate()
                .map(|(i, (percent, n, only_a))| coupon(i, (*percent, *n), only_a.then_some("prod_a")))
                .collect();
            let discounts: Vec<DiscountInput> = coupons
                .iter()
                .map(|c| DiscountInput { id: &c.id, coupon: c })
                .collect();
            let default_rates: Vec<TaxRate> = defaults
                .iter()
                .enumerate()
                .map(|(j, (pct, inc))| tax(j, *pct, *inc))
                .collect();
            // Credits pay for what the discounts leave of a line (`Invoice::credit_room`): the
            // share asked for, of what the same invoice without credits leaves.
            let uncredited: Vec<LineInput> = lines
                .iter()
                .map(|l| LineInput { credits: 0, ..l.clone() })
                .collect();
            let before = totals(&uncredited, &discounts, &default_rates, USD).unwrap();
            let lines: Vec<LineInput> = lines
                .into_iter()
                .zip(&before.lines)
                .zip(&specs)
                .map(|((l, lt), spec)| {
                    let off: i64 = lt.discounts.iter().map(|(_, a)| a).sum();
                    LineInput { credits: (l.amount - off) * i64::from(spec.4) / 100, ..l }
                })
                .collect();
            // Eight lines of at most 20,000.00 stay under the invoice limit with any taxes.
            let t = totals(&lines, &discounts, &default_rates, USD).unwrap();

            let subtotal: i64 = lines.iter().map(|l| l.amount).sum();
            prop_assert_eq!(t.subtotal, subtotal);
            let mut all_discounts = 0;
            for (id, amount) in &t.total_discounts {
                let per_line: i64 = t
                    .lines
                    .iter()
                    .flat_map(|l| &l.discounts)
                    .filter(|(d, _)| d == id)
                    .map(|(_, a)| a)
                    .sum();
                prop_assert_eq!(per_line, *amount, "discount {}", id);
                all_discounts += amount;
            }
            for (line, lt) in lines.iter().zip(&t.lines) {
                let off: i64 = lt.discounts.iter().map(|(_, a)| a).sum();
                prop_assert!(lt.discounts.iter().all(|(_, a)| *a >= 0));
                prop_assert!(off <= line.amount, "a line is discounted at most to zero");
                prop_assert!(line.discountable || off == 0);
                prop_assert!(lt.taxes.iter().all(|x| x.amount >= 0));
            }
            let credits: i64 = lines.iter().map(|l| l.credits).sum();
            prop_assert_eq!(t.total_credits, credits);
            let (inclusive, exclusive): (Vec<&TaxAmount>, Vec<&TaxAmount>) =
                t.total_taxes.iter().partition(|x| x.inclusive);
            let inclusive: i64 = inclusive.iter().map(|x| x.amount).sum();
            let exclusive: i64 = exclusive.iter().map(|x| x.amount).sum();
            let per_line_taxes: i64 = t.lines.iter().flat_map(|l| &l.taxes).map(|x| x.amount).sum();
            prop_assert_eq!(per_line_taxes, inclusive + exclusive);
            prop_assert_eq!(t.total, subtotal - all_discounts - credits + exclusive);
            prop_assert_eq!(t.subtotal_excluding_tax, subtotal - inclusive);
            prop_assert_eq!(t.total_excluding_tax, t.total - exclusive - inclusive);
            prop_assert!(t.total >= 0 || credits > subtotal - all_discounts);
        }

        #[test]
        fn amounts_beyond_the_invoice_limit_are_refused(
            specs in prop::collection::vec(line_spec(), 0..4),
            excess in 1i64..=1_000_000,
            negative in any::<bool>(),
        ) {
            let mut lines = lines_of(&specs);
            let big = INVOICE_AMOUNT_MAX_MINOR + excess;
            lines.push(LineInput {
                amount: if negative { -big } else { big },
                discountable: true,
                product: None,
                tax_rates: vec![],
                credits: 0,
            });
            prop_assert_eq!(totals(&lines, &[], &[], USD), Err(TotalsOverflow));
        }

        #[test]
        fn a_balance_moves_what_is_due_and_nothing_is_lost(
            total in -INVOICE_AMOUNT_MAX_MINOR..=INVOICE_AMOUNT_MAX_MINOR,
            balance in -CUSTOMER_BALANCE_MAX_MINOR..=CUSTOMER_BALANCE_MAX_MINOR,
        ) {
            let (due, ending) = apply_balance(Money::new(total, USD), Money::new(balance, USD)).unwrap();
            let (due, ending) = (due.amount_minor(), ending.amount_minor());
            prop_assert!(due >= 0);
            prop_assert_eq!(due + ending, total + balance);
            // Credit is used only to pay, and a debt is collected with the invoice.
            prop_assert!(ending <= 0 || ending == balance + total.min(0));
            prop_assert!(due <= total.max(0) + balance.max(0));
        }

        #[test]
        fn proration_splits_a_period_without_losing_a_cent(
            amount in -INVOICE_AMOUNT_MAX_MINOR..=INVOICE_AMOUNT_MAX_MINOR,
            start in 0i64..=2_000_000_000,
            length in 1i64..=400 * 86_400,
            per_mille in 0i64..=1_000,
        ) {
            let end = start + length;
            let middle = start + length * per_mille / 1_000;
            prop_assert_eq!(prorate(amount, (start, end), start, end), Some(amount));
            let first = prorate(amount, (start, end), start, middle).unwrap();
            let rest = prorate(amount, (start, end), middle, end).unwrap();
            prop_assert!(first.abs() <= amount.abs() && rest.abs() <= amount.abs());
            prop_assert!((first + rest - amount).abs() <= 1, "{} + {} vs {}", first, rest, amount);
            // Outside the period nothing is charged.
            prop_assert_eq!(prorate(amount, (start, end), end, end + 86_400), Some(0));
        }
    }
}
