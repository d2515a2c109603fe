//! Stripe's test cards, as `shared/reference/peers.md` lists them, and raw-card checks.

use crate::{CardDetails, CardError};

/// How a test card behaves when charged or set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Succeeds,
    /// Declined on charge and on attach, with Stripe's error code and decline code.
    Declines {
        code: &'static str,
        decline_code: &'static str,
        message: &'static str,
    },
    /// Attaches fine; every charge is declined (dunning tests).
    AttachesThenDeclines,
    /// Needs authentication on session; off-session succeeds once the card was set up.
    AuthenticatesUnlessSetUp,
    /// Always needs authentication.
    AlwaysAuthenticates,
    /// Succeeds; then the cardholder's bank disputes the charge (an inquiry, or a chargeback
    /// for fraud).
    Disputed {
        inquiry: bool,
    },
}

/// `Debug` names the card, never its number.
pub struct TestCard {
    pub number: &'static str,
    /// The suffix of Stripe's test ids: `pm_card_<name>`, `tok_<name>`.
    pub name: &'static str,
    pub brand: &'static str,
    pub funding: &'static str,
    pub country: &'static str,
    pub behavior: Behavior,
}

impl std::fmt::Debug for TestCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestCard({})", self.name)
    }
}

const GENERIC: &str = "Your card was declined.";

const fn declines(
    code: &'static str,
    decline_code: &'static str,
    message: &'static str,
) -> Behavior {
    Behavior::Declines {
        code,
        decline_code,
        message,
    }
}

pub const TEST_CARDS: &[TestCard] = &[
    card(
        "4242424242424242",
        "visa",
        "visa",
        "credit",
        Behavior::Succeeds,
    ),
    card(
        "4000056655665556",
        "visa_debit",
        "visa",
        "debit",
        Behavior::Succeeds,
    ),
    card(
        "5555555555554444",
        "mastercard",
        "mastercard",
        "credit",
        Behavior::Succeeds,
    ),
    card(
        "378282246310005",
        "amex",
        "amex",
        "credit",
        Behavior::Succeeds,
    ),
    card(
        "6011111111111117",
        "discover",
        "discover",
        "credit",
        Behavior::Succeeds,
    ),
    card(
        "4000000000000077",
        "bypassPending",
        "visa",
        "credit",
        Behavior::Succeeds,
    ),
    card(
        "4000000000000002",
        "chargeDeclined",
        "visa",
        "credit",
        declines("card_declined", "generic_decline", GENERIC),
    ),
    card(
        "4000000000009995",
        "chargeDeclinedInsufficientFunds",
        "visa",
        "credit",
        declines(
            "card_declined",
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
    ),
    card(
        "4000000000009987",
        "chargeDeclinedLostCard",
        "visa",
        "credit",
        declines("card_declined", "lost_card", GENERIC),
    ),
    card(
        "4000000000009979",
        "chargeDeclinedStolenCard",
        "visa",
        "credit",
        declines("card_declined", "stolen_card", GENERIC),
    ),
    card(
        "4000000000000069",
        "chargeDeclinedExpiredCard",
        "visa",
        "credit",
        declines("expired_card", "expired_card", "Your card has expired."),
    ),
    card(
        "4000000000000127",
        "chargeDeclinedIncorrectCvc",
        "visa",
        "credit",
        declines(
            "incorrect_cvc",
            "incorrect_cvc",
            "Your card's security code is incorrect.",
        ),
    ),
    card(
        "4000000000000119",
        "chargeDeclinedProcessingError",
        "visa",
        "credit",
        declines(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ),
    card(
        "4000000000000341",
        "chargeCustomerFail",
        "visa",
        "credit",
        Behavior::AttachesThenDeclines,
    ),
    card(
        "4000002500003155",
        "authenticationRequiredOnSetup",
        "visa",
        "credit",
        Behavior::AuthenticatesUnlessSetUp,
    ),
    card(
        "4000002760003184",
        "authenticationRequired",
        "visa",
        "credit",
        Behavior::AlwaysAuthenticates,
    ),
    card(
        "4000000000000259",
        "createDispute",
        "visa",
        "credit",
        Behavior::Disputed { inquiry: false },
    ),
    card(
        "4000000000002685",
        "createDisputeInquiry",
        "visa",
        "credit",
        Behavior::Disputed { inquiry: true },
    ),
    card(
        "4000000000003220",
        "threeDSecure2Required",
        "visa",
        "credit",
        Behavior::AlwaysAuthenticates,
    ),
];

const fn card(
    number: &'static str,
    name: &'static str,
    brand: &'static str,
    funding: &'static str,
    behavior: Behavior,
) -> TestCard {
    TestCard {
        number,
        name,
        brand,
        funding,
        country: "US",
        behavior,
    }
}

/// Sandbox tokens name the test card: `sandbox_card_<name>`.
pub const TOKEN_PREFIX: &str = "sandbox_card_";

pub fn by_name(name: &str) -> Option<&'static TestCard> {
    TEST_CARDS.iter().find(|c| c.name == name)
}

pub fn by_token(token: &str) -> Option<&'static TestCard> {
    by_name(token.strip_prefix(TOKEN_PREFIX)?)
}

pub fn luhn_valid(number: &str) -> bool {
    if number.len() < 12 || number.len() > 19 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = number
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn card_error(code: &'static str, param: &'static str, message: &str) -> CardError {
    CardError {
        code,
        decline_code: None,
        param,
        message: message.to_string(),
    }
}

/// Validates a raw card the way Stripe's test mode does and finds its test card.
pub fn check_raw(
    number: &str,
    exp_month: i64,
    exp_year: i64,
    cvc: Option<&str>,
    today: (i64, i64),
) -> Result<(&'static TestCard, u32, u32), CardError> {
    let number: String = number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if !luhn_valid(&number) {
        return Err(card_error(
            "incorrect_number",
            "card[number]",
            "Your card number is incorrect.",
        ));
    }
    if !(1..=12).contains(&exp_month) {
        return Err(card_error(
            "invalid_expiry_month",
            "card[exp_month]",
            "Your card's expiration month is invalid.",
        ));
    }
    let year = if (0..100).contains(&exp_year) {
        2000 + exp_year
    } else {
        exp_year
    };
    let (this_year, this_month) = today;
    if year < this_year || year > this_year + 50 {
        return Err(card_error(
            "invalid_expiry_year",
            "card[exp_year]",
            "Your card's expiration year is invalid.",
        ));
    }
    if year == this_year && exp_month < this_month {
        return Err(card_error(
            "invalid_expiry_month",
            "card[exp_month]",
            "Your card's expiration date is in the past.",
        ));
    }
    let test = TEST_CARDS.iter().find(|c| c.number == number).ok_or_else(|| CardError {
        code: "card_declined",
        decline_code: Some("test_mode_live_card"),
        param: "card[number]",
        message: "Your card was declined. Your request was in test mode, but used a non test (live) card. For a list of valid test cards, see Stripe's testing documentation.".into(),
    })?;
    if let Some(cvc) = cvc {
        let len = if test.brand == "amex" { 4 } else { 3 };
        if cvc.len() != len || !cvc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(card_error(
                "invalid_cvc",
                "card[cvc]",
                "Your card's security code is invalid.",
            ));
        }
    }
    Ok((test, exp_month as u32, year as u32))
}

impl TestCard {
    pub fn details(&self, exp_month: u32, exp_year: u32, fingerprint: String) -> CardDetails {
        CardDetails {
            brand: self.brand.into(),
            last4: self.number[self.number.len() - 4..].into(),
            exp_month,
            exp_year,
            funding: self.funding.into(),
            country: self.country.into(),
            fingerprint,
            token: format!("{TOKEN_PREFIX}{}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_test_card_passes_luhn() {
        for c in TEST_CARDS {
            assert!(luhn_valid(c.number), "{}", c.number);
        }
        assert!(!luhn_valid("4242424242424241"));
        assert!(!luhn_valid("42424242424242a2"));
    }

    #[test]
    fn raw_checks_in_stripes_order() {
        let today = (2026, 11);
        assert_eq!(
            check_raw("4242424242424241", 12, 2030, None, today)
                .unwrap_err()
                .code,
            "incorrect_number"
        );
        assert_eq!(
            check_raw("4242424242424242", 13, 2030, None, today)
                .unwrap_err()
                .code,
            "invalid_expiry_month"
        );
        assert_eq!(
            check_raw("4242424242424242", 12, 2020, None, today)
                .unwrap_err()
                .code,
            "invalid_expiry_year"
        );
        assert_eq!(
            check_raw("4242424242424242", 10, 2026, None, today)
                .unwrap_err()
                .code,
            "invalid_expiry_month"
        );
        assert_eq!(
            check_raw("4242424242424242", 12, 30, Some("12"), today)
                .unwrap_err()
                .code,
            "invalid_cvc"
        );
        assert_eq!(
            check_raw("378282246310005", 12, 30, Some("123"), today)
                .unwrap_err()
                .code,
            "invalid_cvc"
        );
        let (card, m, y) = check_raw("4242 4242 4242 4242", 11, 26, Some("123"), today).unwrap();
        assert_eq!((card.name, m, y), ("visa", 11, 2026));
        let live = check_raw("4111111111111111", 12, 2030, None, today).unwrap_err();
        assert_eq!(live.decline_code, Some("test_mode_live_card"));
    }
}
