//! ISO 4217 currencies, lower-case as Stripe writes them, with their minor-unit exponent.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ParamError;

/// A currency Stripe can charge in: its lower-case code and its minor-unit exponent, both
/// copied in, so a currency is as cheap to pass as an integer. Serialized as its code (`usd`);
/// reading a stored code checks it again.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

/// US dollars: the sandbox's and the tests' usual currency.
pub const USD: Currency = Currency {
    code: *b"usd",
    exponent: 2,
};

impl Currency {
    /// Parses `usd`, `JPY`, … Funds codes and the like that have no minor unit are refused.
    pub fn parse(param: &str, code: &str) -> Result<Self, ParamError> {
        Self::from_code(code).ok_or_else(|| {
            ParamError::invalid(param, format!("Invalid currency: {}", code.to_lowercase()))
        })
    }

    fn from_code(code: &str) -> Option<Self> {
        let iso = iso_currency::Currency::from_code(&code.to_ascii_uppercase())?;
        let exponent = u8::try_from(iso.exponent()?).ok()?;
        let lower = iso.code().to_ascii_lowercase();
        let code: [u8; 3] = lower.as_bytes().try_into().ok()?;
        Some(Currency { code, exponent })
    }

    /// Lower-case code, e.g. `usd`.
    pub fn as_str(&self) -> &str {
        // Built from an ISO 4217 code: three ASCII letters.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Lower-case code, e.g. `usd`, owned.
    pub fn code(self) -> String {
        self.as_str().to_string()
    }

    /// Digits after the decimal point: 2 for usd, 0 for jpy, 3 for kwd.
    pub fn exponent(self) -> u16 {
        u16::from(self.exponent)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Currency {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Currency {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid currency: {code}")))
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
    fn stored_as_its_code_and_checked_when_read() {
        let usd = Currency::parse("c", "USD").unwrap();
        assert_eq!(serde_json::to_value(usd).unwrap(), serde_json::json!("usd"));
        assert_eq!(serde_json::from_str::<Currency>("\"usd\"").unwrap(), usd);
        assert!(serde_json::from_str::<Currency>("\"xyz\"").is_err());
        assert!(serde_json::from_str::<Currency>("\"\"").is_err());
        assert_eq!(usd, "usd");
        assert_eq!(usd, USD);
    }

    #[test]
    fn unknown_codes_are_refused_with_the_param() {
        let err = Currency::parse("currency", "xyz").unwrap_err();
        assert_eq!(err.param, "currency");
        assert!(err.message.contains("xyz"));
    }
}
