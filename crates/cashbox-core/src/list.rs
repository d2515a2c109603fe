//! List parameters shared by every list endpoint: `limit`, the two cursors and range filters.

use serde::Deserialize;
use serde_json::Value;

use crate::ParamError;

pub const LIMIT_DEFAULT: u32 = 10;
pub const LIMIT_MAX: u32 = 100;

/// Which page of a newest-first list to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub cursor: Cursor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The newest objects.
    Start,
    /// Objects older than this id.
    After(String),
    /// Objects newer than this id (the page just before it).
    Before(String),
}

impl Page {
    pub fn parse(
        limit: Option<i64>,
        starting_after: Option<String>,
        ending_before: Option<String>,
    ) -> Result<Self, ParamError> {
        let limit = match limit {
            None => LIMIT_DEFAULT,
            Some(n) if (1..=i64::from(LIMIT_MAX)).contains(&n) => n as u32,
            Some(n) => {
                return Err(ParamError::invalid(
                    "limit",
                    format!("Invalid limit: must be between 1 and {LIMIT_MAX}, you passed {n}"),
                ));
            }
        };
        let cursor = match (starting_after, ending_before) {
            (Some(_), Some(_)) => {
                return Err(ParamError::invalid(
                    "ending_before",
                    "You may only specify one of these parameters: ending_before, starting_after.",
                ));
            }
            (Some(id), None) => Cursor::After(id),
            (None, Some(id)) => Cursor::Before(id),
            (None, None) => Cursor::Start,
        };
        Ok(Self { limit, cursor })
    }

    pub fn cursor_id(&self) -> Option<(&'static str, &str)> {
        match &self.cursor {
            Cursor::Start => None,
            Cursor::After(id) => Some(("starting_after", id)),
            Cursor::Before(id) => Some(("ending_before", id)),
        }
    }
}

/// `created=1700000000` or `created[gte]=…&created[lt]=…`, bounds inclusive as Stripe's are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    /// Smallest value included.
    pub min: Option<i64>,
    /// Largest value included.
    pub max: Option<i64>,
}

impl Range {
    pub fn contains(&self, v: i64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

impl<'de> Deserialize<'de> for Range {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        fn int<E: Error>(key: &str, v: &Value) -> Result<i64, E> {
            match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }
            .ok_or_else(|| E::custom(format!("Invalid integer for {key}")))
        }
        match Value::deserialize(d)? {
            Value::Object(map) => {
                let mut range = Range::default();
                for (k, v) in &map {
                    let n = int::<D::Error>(k, v)?;
                    match k.as_str() {
                        "gt" => range.min = Some(n.saturating_add(1)),
                        "gte" => range.min = Some(n),
                        "lt" => range.max = Some(n.saturating_sub(1)),
                        "lte" => range.max = Some(n),
                        other => {
                            return Err(D::Error::unknown_field(
                                other,
                                &["gt", "gte", "lt", "lte"],
                            ));
                        }
                    }
                }
                Ok(range)
            }
            v => {
                let n = int::<D::Error>("created", &v)?;
                Ok(Range {
                    min: Some(n),
                    max: Some(n),
                })
            }
        }
    }
}

/// Implements `page()` for a list-parameters struct with `limit` and the two cursors. Each list
/// endpoint spells those fields out: serde cannot both flatten and deny unknown fields.
#[macro_export]
macro_rules! impl_page {
    ($t:ty) => {
        impl $t {
            pub fn page(&self) -> Result<$crate::list::Page, $crate::ParamError> {
                $crate::list::Page::parse(
                    self.limit,
                    self.starting_after.clone(),
                    self.ending_before.clone(),
                )
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limit_bounds() {
        assert_eq!(Page::parse(None, None, None).unwrap().limit, 10);
        assert_eq!(Page::parse(Some(100), None, None).unwrap().limit, 100);
        assert_eq!(Page::parse(Some(0), None, None).unwrap_err().param, "limit");
        assert_eq!(
            Page::parse(Some(101), None, None).unwrap_err().param,
            "limit"
        );
    }

    #[test]
    fn one_cursor_only() {
        assert!(Page::parse(None, Some("a".into()), Some("b".into())).is_err());
        assert_eq!(
            Page::parse(None, None, Some("b".into())).unwrap().cursor,
            Cursor::Before("b".into())
        );
    }

    #[test]
    fn ranges_from_operators_or_exact_value() {
        let r: Range = serde_json::from_value(json!({"gt": "10", "lte": 20})).unwrap();
        assert_eq!(
            r,
            Range {
                min: Some(11),
                max: Some(20)
            }
        );
        assert!(r.contains(11) && r.contains(20) && !r.contains(10) && !r.contains(21));
        let exact: Range = serde_json::from_value(json!("5")).unwrap();
        assert!(exact.contains(5) && !exact.contains(6));
        assert!(serde_json::from_value::<Range>(json!({"between": 1})).is_err());
        assert!(serde_json::from_value::<Range>(json!({"gt": "x"})).is_err());
    }
}
