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
    for (n, (key, value)) in form_urlencoded::parse(input).enumerate() {
        if n >= FORM_PAIRS_MAX {
            return Err(ParamError::invalid(
                "",
                format!("Too many parameters: at most {FORM_PAIRS_MAX}"),
            ));
        }
        let path = split_key(&key)?;
        let value = if value.is_empty() {
            Value::Null
        } else {
            Value::String(value.into_owned())
        };
        insert(&mut root, &key, &path, value)?;
    }
    Ok(Value::Object(root))
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
