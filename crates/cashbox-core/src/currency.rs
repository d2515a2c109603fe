//! ISO 4217 currencies, lower-case as Stripe writes them, with their minor-unit exponent.

use std::fmt;

use crate::ParamError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parses `usd`, `JPY`, … Funds codes and the like that have no minor unit are refused.
    pub fn parse(param: &str, code: &str) -> Result<Self, ParamError> {
        iso_currency::Currency::from_code(&code.to_ascii_uppercase())
            .filter(|c| c.exponent().is_some())
            .map(Currency)
            .ok_or_else(|| {
                ParamError::invalid(param, format!("Invalid currency: {}", code.to_lowercase()))
            })
    }

    /// Lower-case code, e.g. `usd`.
    pub fn code(self) -> String {
        self.0.code().to_ascii_lowercase()
    }

    /// Digits after the decimal point: 2 for usd, 0 for jpy, 3 for kwd.
    pub fn exponent(self) -> u16 {
        self.0.exponent().unwrap_or(0)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(Currency::parse("c", "usd").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("c", "JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("c", "krw").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("c", "kwd").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("c", "bhd").unwrap().code(), "bhd");
    }

    #[test]
    fn unknown_codes_are_refused_with_the_param() {
        let err = Currency::parse("currency", "xyz").unwrap_err();
        assert_eq!(err.param, "currency");
        assert!(err.message.contains("xyz"));
    }
}
