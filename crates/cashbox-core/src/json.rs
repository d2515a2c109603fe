//! Reading JSON that Cashbox wrote itself (opened sealed values).

use serde::de::{DeserializeOwned, Error as _};

/// `bytes` parsed as `T`, the UTF-8 checked once for the whole text. (`serde_json::from_slice`
/// checks each string on its own, a call per string: about a fifth of the instructions spent
/// parsing our documents, which are mostly short strings.)
pub fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    let text = std::str::from_utf8(bytes).map_err(serde_json::Error::custom)?;
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_serde_json_parses_and_refuses_what_is_not_utf8() {
        let v: serde_json::Value = from_bytes(br#"{"a":"\u00e9t\u00e9","b":[1,2]}"#).unwrap();
        assert_eq!(v["a"], "été");
        assert_eq!(v["b"][1], 2);
        let e = from_bytes::<serde_json::Value>(b"{\"a\":\"\xff\"}").unwrap_err();
        assert!(e.to_string().contains("utf-8"), "{e}");
        assert!(from_bytes::<serde_json::Value>(b"{\"a\":").is_err());
    }
}
