//! Stripe's bracket notation (`metadata[order]=42`, `items[0][price]=p`, `expand[]=customer`)
//! decoded into a JSON tree of strings, so form and JSON bodies take one path from here on.
//!
//! Rules: an empty value becomes `null` (Stripe's "unset"); `a[]` appends; numeric keys stay
//! object keys (`{"0": …}`) and become a list only where a parameter expects one, so
//! `metadata[0]=x` remains a metadata key; a repeated scalar keeps its last value.

use serde_json::{Map, Value};

use cashbox_core::ParamError;

/// Key-value pairs in one request.
pub const FORM_PAIRS_MAX: usize = 2_000;
/// Levels of brackets in one key.
pub const FORM_DEPTH_MAX: usize = 8;

pub fn decode(input: &[u8]) -> Result<Value, ParamError> {
    let mut root = Map::new();
    let pairs = input.split(|b| *b == b'&').filter(|pair| !pair.is_empty());
    for (n, pair) in pairs.enumerate() {
        if n >= FORM_PAIRS_MAX {
            return Err(ParamError::invalid(
                "",
                format!("Too many parameters: at most {FORM_PAIRS_MAX}"),
            ));
        }
        let (key, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let key = text(key, None)?;
        let value = text(value, Some(&key))?;
        let path = split_key(&key)?;
        let value = if value.is_empty() {
            Value::Null
        } else {
            Value::String(value)
        };
        insert(&mut root, &key, &path, value)?;
    }
    Ok(Value::Object(root))
}

/// One percent-encoded key or value (`+` for a space) as text: UTF-8, without NUL, which no
/// parameter takes (PostgreSQL refuses it in text, and nothing should be stored with the
/// replacement characters of invalid UTF-8). `key`: the parameter a value belongs to.
fn text(encoded: &[u8], key: Option<&str>) -> Result<String, ParamError> {
    let plus_as_space: Vec<u8> = encoded
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    let param = key.unwrap_or_default();
    let what = || match key {
        Some(k) => format!("Invalid value for {k}"),
        None => "Invalid parameter name".to_string(),
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| ParamError::invalid(param, format!("{}: not valid UTF-8.", what())))?;
    refuse_nul(param, &text)?;
    Ok(text)
}

/// Refuses text holding a NUL character (`param`: the parameter it was given for).
pub fn refuse_nul(param: &str, text: &str) -> Result<(), ParamError> {
    if text.contains('\0') {
        let what = if param.is_empty() {
            "A parameter name".to_string()
        } else {
            format!("The value of {param}")
        };
        return Err(ParamError::invalid(
            param,
            format!("{what} contains a NUL character, which is not allowed."),
        ));
    }
    Ok(())
}

/// Refuses a JSON body holding a NUL character in any key or string (JSON can carry one as
/// `\u0000`), naming the top-level parameter.
pub fn refuse_nul_in(value: &Value, param: &str) -> Result<(), ParamError> {
    match value {
        Value::String(s) => refuse_nul(param, s),
        Value::Array(items) => items.iter().try_for_each(|v| refuse_nul_in(v, param)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let param = if param.is_empty() { k.as_str() } else { param };
            refuse_nul(param, k)?;
            refuse_nul_in(v, param)
        }),
        _ => Ok(()),
    }
}

/// `a[b][]` → `["a", "b", ""]`.
fn split_key(key: &str) -> Result<Vec<&str>, ParamError> {
    let bad = || ParamError::invalid(key, format!("Invalid parameter name: {key}"));
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(bad());
    }
    let mut parts = vec![head];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(bad)?;
        let close = inner.find(']').ok_or_else(bad)?;
        let part = &inner[..close];
        if part.contains('[') {
            return Err(bad());
        }
        parts.push(part);
        rest = &inner[close + 1..];
        if parts.len() > FORM_DEPTH_MAX {
            return Err(ParamError::invalid(
                key,
                format!("Parameter {key} is nested too deeply"),
            ));
        }
    }
    Ok(parts)
}

fn insert(
    map: &mut Map<String, Value>,
    key: &str,
    path: &[&str],
    value: Value,
) -> Result<(), ParamError> {
    let conflict = || {
        ParamError::invalid(
            key,
            format!("Invalid value for {key}: conflicting parameter structure"),
        )
    };
    let (first, rest) = path
        .split_first()
        .expect("split_key returns at least one part");
    // `a[]` appends: its index is the number of elements so far.
    let name = if first.is_empty() {
        map.len().to_string()
    } else {
        (*first).to_string()
    };
    if rest.is_empty() {
        if matches!(map.get(&name), Some(Value::Object(_))) {
            return Err(conflict());
        }
        map.insert(name, value);
        return Ok(());
    }
    let child = map.entry(name).or_insert_with(|| Value::Object(Map::new()));
    match child {
        Value::Object(inner) => insert(inner, key, rest, value),
        _ => Err(conflict()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> Value {
        decode(s.as_bytes()).unwrap()
    }

    #[test]
    fn nested_brackets() {
        assert_eq!(
            d("metadata[order]=42&address[line1]=1%20Main%20St&name=Jenny+R"),
            json!({"metadata": {"order": "42"}, "address": {"line1": "1 Main St"}, "name": "Jenny R"})
        );
        assert_eq!(
            d("items[0][price]=p1&items[1][price]=p2&items[1][quantity]=3"),
            json!({"items": {"0": {"price": "p1"}, "1": {"price": "p2", "quantity": "3"}}})
        );
    }

    #[test]
    fn appends_and_empty_values() {
        assert_eq!(
            d("expand[]=customer&expand[]=latest_invoice&description="),
            json!({"expand": {"0": "customer", "1": "latest_invoice"}, "description": null})
        );
        assert_eq!(d("metadata[k]="), json!({"metadata": {"k": null}}));
    }

    #[test]
    fn text_is_utf8_without_nul() {
        assert_eq!(d("name=J%C3%A9r%C3%B4me+R"), json!({"name": "Jérôme R"}));
        assert_eq!(d("a=1&&b=%3D&c"), json!({"a": "1", "b": "=", "c": null}));
        for bad in [
            "name=a%00b",
            "email=a%00b%40example.com",
            "a%00=1",
            "metadata[k%00]=v",
        ] {
            let e = decode(bad.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("NUL"), "{bad}: {e}");
        }
        let e = decode(b"name=%FF%FE").unwrap_err();
        assert!(e.to_string().contains("UTF-8"), "{e}");
        assert_eq!(e.param, "name");
        assert!(decode(b"name=\xff").is_err(), "raw bytes are checked too");
        let body: Value = serde_json::from_str(r#"{"metadata": {"k": "a\u0000"}}"#).unwrap();
        let e = refuse_nul_in(&body, "").unwrap_err();
        assert_eq!(e.param, "metadata");
        assert!(refuse_nul_in(&json!({"a": ["x", {"b": "y"}]}), "").is_ok());
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(decode(b"a[b=1").is_err());
        assert!(decode(b"[a]=1").is_err());

        assert!(decode(b"a=1&a[b]=2").is_err());
        assert!(decode(b"a[b]=2&a=1").is_err());
        assert!(decode(b"a[b][c][d][e][f][g][h][i]=1").is_err());
    }

    #[test]
    fn last_scalar_wins() {
        assert_eq!(d("a=1&a=2"), json!({"a": "2"}));
    }
}
