//! Typed request parameters from the decoded tree, with Stripe's errors.
//!
//! Form values are all strings, so the deserializer is lenient the way Stripe is: `"42"` is an
//! integer where one is expected, `"true"` a boolean, and objects with keys `0`, `1`, … are
//! lists where a list is expected. Unknown parameters are refused with `parameter_unknown` and
//! the parameter's bracket path.

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

use cashbox_core::ParamError;

/// Deserializes `T` from request parameters.
pub fn parse<T: DeserializeOwned>(value: &Value) -> Result<T, ParamError> {
    serde_path_to_error::deserialize(Lenient(value)).map_err(|e| {
        let path = bracket_path(e.path());
        to_param_error(&path, &e.inner().to_string())
    })
}

fn bracket_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        let part = match seg {
            Segment::Map { key } => key.clone(),
            Segment::Seq { index } => index.to_string(),
            Segment::Enum { variant } => variant.clone(),
            Segment::Unknown => continue,
        };
        if out.is_empty() {
            out = part;
        } else {
            out.push('[');
            out.push_str(&part);
            out.push(']');
        }
    }
    out
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}[{field}]")
    }
}

fn between_backticks(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

fn to_param_error(path: &str, msg: &str) -> ParamError {
    if msg.starts_with("unknown field") {
        return ParamError::new(
            path,
            "parameter_unknown",
            format!("Received unknown parameter: {path}"),
        );
    }
    if msg.starts_with("missing field") {
        let param = join(path, between_backticks(msg).unwrap_or_default());
        return ParamError::new(
            param.clone(),
            "parameter_missing",
            format!("Missing required param: {param}."),
        );
    }
    if msg.starts_with("unknown variant") {
        let got = between_backticks(msg).unwrap_or_default();
        let expected = msg
            .split_once("expected ")
            .map_or("", |(_, e)| e)
            .replace('`', "");
        return ParamError::invalid(
            path,
            format!("Invalid {path}: must be {expected}; you passed {got}"),
        );
    }
    if let Some(rest) = msg.strip_prefix("Invalid integer") {
        return ParamError::new(
            path,
            "parameter_invalid_integer",
            format!("Invalid integer{rest}"),
        );
    }
    if let Some(rest) = msg.strip_prefix("Invalid boolean") {
        return ParamError::new(path, "parameter_invalid", format!("Invalid boolean{rest}"));
    }
    if msg.starts_with("invalid type") {
        let expected = msg
            .split_once("expected ")
            .map_or("a valid value", |(_, e)| e);
        let expected = match expected {
            e if e.contains("i64")
                || e.contains("u64")
                || e.contains("i32")
                || e.contains("u32") =>
            {
                "an integer"
            }
            e if e.contains("struct") || e.contains("map") => "an object (hash)",
            e if e.contains("sequence") => "an array",
            e if e.contains("string") => "a string",
            e if e.contains("bool") => "a boolean",
            e => e,
        };
        return ParamError::invalid(path, format!("Invalid {path}: must be {expected}"));
    }
    // Messages from our own types (metadata, ranges) are already sentences.
    ParamError::invalid(path, msg.to_string())
}

/// A deserializer over request parameters that accepts form strings for typed values.
struct Lenient<'a>(&'a Value);

type Error = serde_json::Error;

fn numeric_keys(map: &Map<String, Value>) -> Option<Vec<(usize, &Value)>> {
    let mut items: Vec<(usize, &Value)> = map
        .iter()
        .map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v)))
        .collect::<Option<_>>()?;
    items.sort_by_key(|(i, _)| *i);
    Some(items)
}

impl<'de> de::Deserializer<'de> for Lenient<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_u64() {
                    v.visit_u64(i)
                } else if let Some(i) = n.as_i64() {
                    v.visit_i64(i)
                } else {
                    v.visit_f64(n.as_f64().unwrap_or_default())
                }
            }
            Value::String(s) => v.visit_str(s),
            Value::Array(items) => v.visit_seq(Seq(items.iter())),
            Value::Object(map) => v.visit_map(Fields {
                iter: map.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Bool(b) => v.visit_bool(*b),
            Value::String(s) if s == "true" => v.visit_bool(true),
            Value::String(s) if s == "false" => v.visit_bool(false),
            other => Err(de::Error::custom(format!(
                "Invalid boolean: {}",
                show(other)
            ))),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Number(n) if n.is_i64() => v.visit_i64(n.as_i64().unwrap_or_default()),
            Value::String(s) => match s.parse::<i64>() {
                Ok(i) => v.visit_i64(i),
                Err(_) => Err(de::Error::custom(format!("Invalid integer: {s}"))),
            },
            other => Err(de::Error::custom(format!(
                "Invalid integer: {}",
                show(other)
            ))),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Number(n) if n.is_u64() => v.visit_u64(n.as_u64().unwrap_or_default()),
            Value::String(s) => match s.parse::<u64>() {
                Ok(i) => v.visit_u64(i),
                Err(_) => Err(de::Error::custom(format!("Invalid integer: {s}"))),
            },
            other => Err(de::Error::custom(format!(
                "Invalid integer: {}",
                show(other)
            ))),
        }
    }

    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_i64(v)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_u64(v)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_i64(v)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_u64(v)
    }
    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_i64(v)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_u64(v)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) => v.visit_str(s),
            Value::Number(n) => v.visit_string(n.to_string()),
            Value::Bool(b) => v.visit_string(b.to_string()),
            _ => self.deserialize_any(v),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => v.visit_seq(Seq(items.iter())),
            Value::Object(map) => match numeric_keys(map) {
                Some(items) => {
                    let values: Vec<&Value> = items.into_iter().map(|(_, v)| v).collect();
                    v.visit_seq(Seq(values.into_iter()))
                }
                None => self.deserialize_any(v),
            },
            _ => self.deserialize_any(v),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) => v.visit_enum(s.as_str().into_deserializer()),
            other => Err(de::Error::invalid_type(unexpected(other), &"a string")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        v.visit_unit()
    }

    forward_to_deserialize_any! {
        f32 f64 char bytes byte_buf unit unit_struct tuple tuple_struct map struct identifier
        i128 u128
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

struct Seq<'a, I: Iterator<Item = &'a Value>>(I);

impl<'de, 'a, I: Iterator<Item = &'a Value>> SeqAccess<'de> for Seq<'a, I> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.0.next() {
            Some(v) => seed.deserialize(Lenient(v)).map(Some),
            None => Ok(None),
        }
    }
}

struct Fields<'a> {
    iter: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let v = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("value before key"))?;
        seed.deserialize(Lenient(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::decode;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        line1: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct P {
        amount: Option<i64>,
        confirm: Option<bool>,
        name: Option<String>,
        address: Option<Inner>,
        expand: Option<Vec<String>>,
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Payment,
        Setup,
    }

    fn form(s: &str) -> Result<P, ParamError> {
        parse(&decode(s.as_bytes()).unwrap())
    }

    #[test]
    fn form_strings_become_typed_values() {
        let p =
            form("amount=2000&confirm=true&address[line1]=x&expand[1]=b&expand[0]=a&mode=setup")
                .unwrap();
        assert_eq!(p.amount, Some(2000));
        assert_eq!(p.confirm, Some(true));
        assert_eq!(
            p.address,
            Some(Inner {
                line1: Some("x".into())
            })
        );
        assert_eq!(p.expand, Some(vec!["a".into(), "b".into()]));
        assert_eq!(p.mode, Some(Mode::Setup));
    }

    #[test]
    fn json_values_work_too() {
        let v = serde_json::json!({"amount": 5, "name": 12, "expand": ["x"]});
        let p: P = parse(&v).unwrap();
        assert_eq!(p.amount, Some(5));
        assert_eq!(p.name.as_deref(), Some("12"));
    }

    #[test]
    fn unknown_parameters_name_their_bracket_path() {
        let e = form("bogus=1").unwrap_err();
        assert_eq!((e.param.as_str(), e.code), ("bogus", "parameter_unknown"));
        assert_eq!(e.message, "Received unknown parameter: bogus");
        let e = form("address[planet]=mars").unwrap_err();
        assert_eq!(e.param, "address[planet]");
        assert_eq!(e.code, "parameter_unknown");
    }

    #[test]
    fn bad_values_say_what_was_expected() {
        let e = form("amount=12.5").unwrap_err();
        assert_eq!(
            (e.param.as_str(), e.code),
            ("amount", "parameter_invalid_integer")
        );
        let e = form("confirm=yes").unwrap_err();
        assert_eq!(e.param, "confirm");
        let e = form("mode=subscription").unwrap_err();
        assert_eq!(e.param, "mode");
        assert!(e.message.contains("payment"), "{}", e.message);
        let e = form("address=flat").unwrap_err();
        assert_eq!(e.param, "address");
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Required {
        currency: String,
    }

    #[test]
    fn missing_required_params() {
        let e = parse::<Required>(&decode(b"").unwrap()).unwrap_err();
        assert_eq!(
            (e.param.as_str(), e.code),
            ("currency", "parameter_missing")
        );
        assert_eq!(e.message, "Missing required param: currency.");
    }
}
