//! Stripe's metadata rules: at most 50 keys, keys up to 40 characters without square brackets,
//! values up to 500 characters; an empty value deletes its key and an empty `metadata` clears all.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::ParamError;

pub const METADATA_KEYS_MAX: usize = 50;
pub const METADATA_KEY_CHARS_MAX: usize = 40;
pub const METADATA_VALUE_CHARS_MAX: usize = 500;

pub type Metadata = BTreeMap<String, String>;

/// `metadata` as a request sends it. Absent entirely is `None` at the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataParam {
    /// `metadata=` (form) or `"metadata": null` / `""` (JSON): remove every key.
    Clear,
    /// Keys to set (`Some`) or delete (`None`, from an empty value).
    Entries(BTreeMap<String, Option<String>>),
}

impl<'de> Deserialize<'de> for MetadataParam {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::Null => Ok(Self::Clear),
            Value::String(s) if s.is_empty() => Ok(Self::Clear),
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::Null => None,
                        Value::String(s) if s.is_empty() => None,
                        Value::String(s) => Some(s),
                        Value::Number(n) => Some(n.to_string()),
                        Value::Bool(b) => Some(b.to_string()),
                        _ => {
                            return Err(D::Error::custom(format!(
                                "Invalid value for metadata[{k}]: metadata values must be strings"
                            )));
                        }
                    };
                    Ok((k, v))
                })
                .collect::<Result<_, _>>()
                .map(Self::Entries),
            _ => Err(D::Error::custom(
                "Invalid metadata: must be an object of string keys and values",
            )),
        }
    }
}

/// For `#[serde(deserialize_with)]` on a `metadata` field: a present `metadata` is always a
/// request, and an empty one (`metadata=`, `null`) means "clear", not "absent".
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MetadataParam>, D::Error> {
    MetadataParam::deserialize(d).map(Some)
}

impl MetadataParam {
    /// Applies the request to `current`, all or nothing.
    pub fn apply(&self, current: &Metadata) -> Result<Metadata, ParamError> {
        let mut next = match self {
            Self::Clear => return Ok(Metadata::new()),
            Self::Entries(_) => current.clone(),
        };
        let Self::Entries(entries) = self else {
            unreachable!()
        };
        for (key, value) in entries {
            let param = format!("metadata[{key}]");
            if key.is_empty() {
                return Err(ParamError::new(
                    "metadata",
                    "parameter_invalid_empty",
                    "Invalid metadata: keys cannot be empty",
                ));
            }
            if key.chars().count() > METADATA_KEY_CHARS_MAX {
                return Err(ParamError::invalid(
                    param,
                    format!(
                        "Invalid metadata key {key:?}: keys must be at most {METADATA_KEY_CHARS_MAX} characters"
                    ),
                ));
            }
            if key.contains(['[', ']']) {
                return Err(ParamError::invalid(
                    param,
                    "Invalid metadata: keys cannot contain '[' or ']'",
                ));
            }
            match value {
                None => {
                    next.remove(key);
                }
                Some(v) => {
                    if v.chars().count() > METADATA_VALUE_CHARS_MAX {
                        return Err(ParamError::invalid(
                            param,
                            format!(
                                "Invalid metadata value for {key:?}: values must be at most {METADATA_VALUE_CHARS_MAX} characters"
                            ),
                        ));
                    }
                    next.insert(key.clone(), v.clone());
                }
            }
        }
        if next.len() > METADATA_KEYS_MAX {
            return Err(ParamError::invalid(
                "metadata",
                format!("Invalid metadata: an object can have at most {METADATA_KEYS_MAX} keys"),
            ));
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param(v: Value) -> MetadataParam {
        serde_json::from_value(v).unwrap()
    }

    fn md(pairs: &[(&str, &str)]) -> Metadata {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn merge_sets_and_empty_value_deletes() {
        let current = md(&[("a", "1"), ("b", "2")]);
        let next = param(json!({"a": "", "c": 3, "d": true}))
            .apply(&current)
            .unwrap();
        assert_eq!(next, md(&[("b", "2"), ("c", "3"), ("d", "true")]));
    }

    #[test]
    fn empty_metadata_clears_everything() {
        let current = md(&[("a", "1")]);
        assert!(param(json!("")).apply(&current).unwrap().is_empty());
        assert!(param(Value::Null).apply(&current).unwrap().is_empty());
    }

    #[test]
    fn limits_are_enforced() {
        let long_key = "k".repeat(41);
        let err = param(json!({ long_key.clone(): "v" }))
            .apply(&Metadata::new())
            .unwrap_err();
        assert_eq!(err.param, format!("metadata[{long_key}]"));

        let err = param(json!({"k": "v".repeat(501)}))
            .apply(&Metadata::new())
            .unwrap_err();
        assert_eq!(err.param, "metadata[k]");
        assert!(
            param(json!({"k": "v".repeat(500)}))
                .apply(&Metadata::new())
                .is_ok()
        );

        let current: Metadata = (0..50).map(|i| (format!("k{i}"), "v".into())).collect();
        let err = param(json!({"one_more": "v"})).apply(&current).unwrap_err();
        assert_eq!(err.param, "metadata");
        // Replacing a key at the limit is fine.
        assert!(param(json!({"k0": "w"})).apply(&current).is_ok());
    }

    #[test]
    fn nested_values_and_brackets_are_refused() {
        assert!(serde_json::from_value::<MetadataParam>(json!({"a": {"b": "c"}})).is_err());
        assert!(param(json!({"a[b]": "c"})).apply(&Metadata::new()).is_err());
    }
}
