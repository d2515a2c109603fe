//! Object ids in Stripe's style: a prefix, an underscore and 22 base62 characters.
//!
//! The body encodes a UUIDv7, so ids sort by creation time both as bytes and in the database
//! (columns use a byte-order collation). Lists order by id and page with id cursors.

use uuid::Uuid;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^22 > 2^128, so every UUID fits in 22 characters.
pub const ID_BODY_LEN: usize = 22;
/// Longer bodies than this are never ours; they are rejected before any lookup.
pub const ID_BODY_CHARS_MAX: usize = 64;

/// A new time-ordered id such as `cus_0Q5k…`.
pub fn new_id(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1 + ID_BODY_LEN);
    out.push_str(prefix);
    out.push('_');
    let body = encode_base62(Uuid::now_v7().as_u128());
    out.push_str(std::str::from_utf8(&body).expect("base62 is ASCII"));
    out
}

/// 62^10, under 2^64: ten base62 digits in a `u64`.
const TEN_DIGITS: u128 = 62u128.pow(10);

/// `n` in 22 base62 digits, most significant first. Split into two ten-digit chunks and a
/// two-digit top (62^20 · 62^2 > 2^128) by two 128-bit divisions and remainders, where one
/// per digit did the whole job (a 128-bit division is a library call; 64-bit ones by 62
/// are multiplications).
fn encode_base62(n: u128) -> [u8; ID_BODY_LEN] {
    let mut buf = [b'0'; ID_BODY_LEN];
    let (rest, low) = (n / TEN_DIGITS, n % TEN_DIGITS);
    let (top, middle) = (rest / TEN_DIGITS, rest % TEN_DIGITS);
    let (top_slots, rest_slots) = buf.split_at_mut(2);
    let (middle_slots, low_slots) = rest_slots.split_at_mut(10);
    for (slots, chunk) in [(top_slots, top), (middle_slots, middle), (low_slots, low)] {
        let mut chunk = u64::try_from(chunk).expect("a chunk is under 62^10");
        for slot in slots.iter_mut().rev() {
            *slot = ALPHABET[(chunk % 62) as usize];
            chunk /= 62;
        }
    }
    buf
}

/// Whether `id` looks like an id with `prefix`: the prefix, `_`, then 1..=64 ASCII alphanumerics.
/// Lookups use this to answer "No such …" without touching the database.
pub fn has_prefix(id: &str, prefix: &str) -> bool {
    let Some(body) = id.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')) else {
        return false;
    };
    !body.is_empty()
        && body.len() <= ID_BODY_CHARS_MAX
        && body.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `id` was made by [`new_id`] after `other` was (in any process, to the
/// millisecond; in one process, exactly): their bodies are UUIDv7s in base62, which sort by
/// creation whatever the prefixes.
pub fn made_after(id: &str, other: &str) -> bool {
    fn body(s: &str) -> &str {
        s.rsplit_once('_').map_or(s, |(_, b)| b)
    }
    body(id) > body(other)
}

/// `len` random base62 characters from the operating system's generator, without modulo bias.
pub fn random_token(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).expect("the operating system's random generator failed");
        for &b in &buf {
            // 248 = 4 * 62: values at or above it would favour the first characters.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

/// Ids callers may choose themselves (products, coupons): up to this many characters.
pub const CUSTOM_ID_CHARS_MAX: usize = 255;

/// An id a caller chose: letters, digits, `_` and `-`, as Stripe allows for products and
/// coupons.
pub fn check_custom_id(param: &str, id: &str) -> Result<(), crate::ParamError> {
    if id.is_empty()
        || id.len() > CUSTOM_ID_CHARS_MAX
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(crate::ParamError::invalid(
            param,
            format!(
                "Invalid {param}: use up to {CUSTOM_ID_CHARS_MAX} letters, digits, underscores and hyphens"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_fixed_length() {
        let id = new_id("cus");
        assert!(id.starts_with("cus_"));
        assert_eq!(id.len(), 4 + ID_BODY_LEN);
        assert!(has_prefix(&id, "cus"));
        assert!(!has_prefix(&id, "cu"));
        assert!(!has_prefix(&id, "pi"));
    }

    #[test]
    fn ids_sort_by_creation() {
        let ids: Vec<String> = (0..2000).map(|_| new_id("evt")).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn made_after_compares_creation_across_prefixes() {
        let endpoint = new_id("we");
        let event = new_id("evt");
        assert!(made_after(&event, &endpoint));
        assert!(!made_after(&endpoint, &event));
        assert!(!made_after(&event, &event));
    }

    #[test]
    fn base62_extremes_are_fixed_width() {
        assert_eq!(encode_base62(0), [b'0'; ID_BODY_LEN]);
        let max = encode_base62(u128::MAX);
        assert_eq!(&max, b"7n42DGM5Tflk9n8mt7Fhc7");
        assert!(max > encode_base62(u128::MAX - 1));
    }

    /// One digit at a time, by 128-bit division: the definition the chunked encoding keeps.
    fn base62_digit_by_digit(mut n: u128) -> [u8; ID_BODY_LEN] {
        let mut buf = [b'0'; ID_BODY_LEN];
        for slot in buf.iter_mut().rev() {
            *slot = ALPHABET[(n % 62) as usize];
            n /= 62;
        }
        buf
    }

    proptest::proptest! {
        #[test]
        fn base62_in_chunks_is_base62_digit_by_digit(n: u128) {
            proptest::prop_assert_eq!(encode_base62(n), base62_digit_by_digit(n));
        }
    }

    #[test]
    fn rejects_malformed_ids() {
        assert!(!has_prefix("cus_", "cus"));
        assert!(!has_prefix("cus_abc'--", "cus"));
        assert!(!has_prefix(&format!("cus_{}", "a".repeat(65)), "cus"));
        assert!(has_prefix("cus_QXg1o8vcGmoR32", "cus"));
    }

    #[test]
    fn tokens_are_random_and_alphanumeric() {
        let a = random_token(32);
        let b = random_token(32);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
