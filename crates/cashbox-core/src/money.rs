//! Money: integer minor units and a currency, with checked arithmetic and Stripe's charge limits.

use std::fmt;

use crate::ParamError;
use crate::currency::Currency;

/// Stripe's largest charge: eight digits of minor units ($999,999.99).
pub const CHARGE_AMOUNT_MAX_MINOR: i64 = 99_999_999;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflows")]
    Overflow,
    /// An amount outside what the rule it meets allows (a negative refund, more than was
    /// reserved): a bug in the caller, never the client's doing.
    #[error("amount out of range")]
    OutOfRange,
}

/// An amount in a currency's minor unit. There is no `Default` and no adding two currencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    pub fn amount_minor(self) -> i64 {
        self.amount_minor
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.amount_minor
            .checked_add(other.amount_minor)
            .map(|a| Money::new(a, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// Nothing, in `currency`.
    pub fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    pub fn is_zero(self) -> bool {
        self.amount_minor == 0
    }

    pub fn is_positive(self) -> bool {
        self.amount_minor > 0
    }

    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        self.amount_minor
            .checked_neg()
            .map(|a| Money::new(a, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// The smaller of two amounts in one currency.
    pub fn checked_min(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(Money::new(
            self.amount_minor.min(other.amount_minor),
            self.currency,
        ))
    }

    /// Compares two amounts in one currency.
    pub fn checked_cmp(self, other: Money) -> Result<std::cmp::Ordering, MoneyError> {
        self.same_currency(other)?;
        Ok(self.amount_minor.cmp(&other.amount_minor))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.amount_minor
            .checked_sub(other.amount_minor)
            .map(|a| Money::new(a, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        Ok(())
    }
}

impl fmt::Display for Money {
    /// `12.34 usd`, `500 jpy`, `1.250 kwd`: exact, from integers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = u32::from(self.currency.exponent());
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        if exp == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let unit = 10u64.pow(exp);
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / unit,
            abs % unit,
            self.currency,
            width = exp as usize
        )
    }
}

/// Stripe's minimum charge per currency, in minor units; others use the equivalent of 50 of
/// the currency's minor units scaled to its exponent (0.50 for two decimals).
fn charge_minimum_minor(currency: Currency) -> i64 {
    match currency.code().as_str() {
        "usd" | "aud" | "brl" | "cad" | "chf" | "eur" | "inr" | "nzd" | "sgd" => 50,
        "gbp" => 30,
        "aed" | "myr" | "pln" | "ron" => 200,
        "bgn" => 100,
        "czk" => 1500,
        "dkk" => 250,
        "hkd" => 400,
        "huf" => 17500,
        "mxn" | "thb" => 1000,
        "nok" | "sek" => 300,
        "jpy" => 50,
        _ => match currency.exponent() {
            0 => 50,
            3 => 500,
            _ => 50,
        },
    }
}

/// Checks an amount to charge: positive, at least Stripe's minimum for the currency, at most
/// eight digits, and for three-decimal currencies a multiple of 10 (Stripe's rule).
pub fn check_charge_amount(
    param: &str,
    amount_minor: i64,
    currency: Currency,
) -> Result<(), ParamError> {
    let min = charge_minimum_minor(currency);
    if amount_minor < min {
        return Err(ParamError::new(
            param,
            "amount_too_small",
            format!("Amount must be at least {}", Money::new(min, currency)),
        ));
    }
    if amount_minor > CHARGE_AMOUNT_MAX_MINOR {
        return Err(ParamError::new(
            param,
            "amount_too_large",
            format!(
                "Amount must be no more than {}",
                Money::new(CHARGE_AMOUNT_MAX_MINOR, currency)
            ),
        ));
    }
    if currency.exponent() == 3 && amount_minor % 10 != 0 {
        return Err(ParamError::invalid(
            param,
            format!("Amounts in {currency} must be a multiple of 10 (the last digit must be 0)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cur(c: &str) -> Currency {
        Currency::parse("currency", c).unwrap()
    }

    #[test]
    fn display_is_exact_per_exponent() {
        assert_eq!(Money::new(1234, cur("usd")).to_string(), "12.34 usd");
        assert_eq!(Money::new(-5, cur("usd")).to_string(), "-0.05 usd");
        assert_eq!(Money::new(500, cur("jpy")).to_string(), "500 jpy");
        assert_eq!(Money::new(1250, cur("kwd")).to_string(), "1.250 kwd");
    }

    #[test]
    fn charge_limits() {
        assert!(check_charge_amount("amount", 50, cur("usd")).is_ok());
        let e = check_charge_amount("amount", 49, cur("usd")).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("amount_too_small", "Amount must be at least 0.50 usd")
        );
        assert_eq!(
            check_charge_amount("amount", 29, cur("gbp"))
                .unwrap_err()
                .code,
            "amount_too_small"
        );
        assert!(check_charge_amount("amount", 50, cur("jpy")).is_ok());
        assert_eq!(
            check_charge_amount("amount", 100_000_000, cur("usd"))
                .unwrap_err()
                .code,
            "amount_too_large"
        );
        assert!(check_charge_amount("amount", 1005, cur("kwd")).is_err());
        assert!(check_charge_amount("amount", 1000, cur("kwd")).is_ok());
    }

    #[test]
    fn currencies_do_not_mix() {
        let a = Money::new(1, cur("usd"));
        let b = Money::new(1, cur("eur"));
        assert!(matches!(
            a.checked_add(b),
            Err(MoneyError::CurrencyMismatch(_, _))
        ));
        assert_eq!(
            Money::new(i64::MAX, cur("usd")).checked_add(a),
            Err(MoneyError::Overflow)
        );
    }

    proptest! {
        #[test]
        fn add_then_sub_round_trips(x in -1_000_000_000i64..1_000_000_000, y in -1_000_000_000i64..1_000_000_000) {
            let usd = cur("usd");
            let sum = Money::new(x, usd).checked_add(Money::new(y, usd)).unwrap();
            prop_assert_eq!(sum.checked_sub(Money::new(y, usd)).unwrap(), Money::new(x, usd));
        }

        #[test]
        fn overflow_is_an_error_never_a_wrap(x in any::<i64>(), y in any::<i64>()) {
            let usd = cur("usd");
            let r = Money::new(x, usd).checked_add(Money::new(y, usd));
            match x.checked_add(y) {
                Some(s) => prop_assert_eq!(r.unwrap().amount_minor(), s),
                None => prop_assert_eq!(r, Err(MoneyError::Overflow)),
            }
        }
    }
}
