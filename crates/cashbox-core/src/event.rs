//! Events in Stripe's shape. Every state change records one in the same transaction.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The API version events are rendered in; Stripe's SDKs send theirs and we accept any.
pub const API_VERSION: &str = "2026-10-28.endive";

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventObject {
    pub id: String,
    /// Always `event`.
    pub object: &'static str,
    pub api_version: &'static str,
    pub created: i64,
    pub data: EventData,
    pub livemode: bool,
    /// Webhook endpoints that have not yet acknowledged this event.
    pub pending_webhooks: i64,
    pub request: EventRequest,
    #[serde(rename = "type")]
    pub event_type: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventData {
    /// The object as it is after the change.
    #[schema(value_type = Object)]
    pub object: Value,
    /// On `*.updated` events: the changed attributes' values before the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub previous_attributes: Option<Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventRequest {
    pub id: Option<String>,
    pub idempotency_key: Option<String>,
}

/// What changed between two renderings of an object, in Stripe's `previous_attributes` form:
/// top-level fields that differ, with their old values; for `metadata`, only the keys that
/// changed (a key that did not exist before is `null`, as Stripe sends it).
pub fn previous_attributes(before: &Value, after: &Value) -> Option<Value> {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return None;
    };
    let mut changed = Map::new();
    for (key, old) in before {
        let new = after.get(key).unwrap_or(&Value::Null);
        if old == new {
            continue;
        }
        if key == "metadata"
            && let (Value::Object(old_md), Value::Object(new_md)) = (old, new)
        {
            let mut diff = Map::new();
            for (k, v) in old_md {
                if new_md.get(k) != Some(v) {
                    diff.insert(k.clone(), v.clone());
                }
            }
            for k in new_md.keys() {
                if !old_md.contains_key(k) {
                    diff.insert(k.clone(), Value::Null);
                }
            }
            changed.insert(key.clone(), Value::Object(diff));
            continue;
        }
        changed.insert(key.clone(), old.clone());
    }
    (!changed.is_empty()).then_some(Value::Object(changed))
}

fn valid_word(w: &str) -> bool {
    !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
}

/// Whether `t` has an event type's form: dotted lower-case words (`invoice.paid`).
pub fn valid_event_type(t: &str) -> bool {
    t.split('.').all(valid_word)
}

/// Event types are dotted lower-case words; `*` as the last part matches a family.
pub const EVENT_TYPES_FILTER_MAX: usize = 20;

/// `GET /v1/events`.
#[derive(Debug, Default, serde::Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventListParams {
    /// 1 to 100, default 10.
    pub limit: Option<i64>,
    /// An object id: return the objects created before it.
    pub starting_after: Option<String>,
    /// An object id: return the objects created after it.
    pub ending_before: Option<String>,
    /// Unix seconds, or `created[gte]`, `created[lt]`…
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    /// One type, or a family such as `customer.*`.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Up to 20 types; only one of `type` and `types`.
    pub types: Option<Vec<String>>,
}

/// Exact types and type prefixes to filter by.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TypeFilter {
    pub exact: Vec<String>,
    pub prefixes: Vec<String>,
}

impl EventListParams {
    pub fn type_filter(&self) -> Result<TypeFilter, crate::ParamError> {
        use crate::ParamError;
        let (param, types): (&str, Vec<String>) = match (&self.event_type, &self.types) {
            (Some(_), Some(_)) => {
                return Err(ParamError::invalid(
                    "types",
                    "You may only specify one of these parameters: type, types.",
                ));
            }
            (Some(t), None) => ("type", vec![t.clone()]),
            (None, Some(ts)) => ("types", ts.clone()),
            (None, None) => return Ok(TypeFilter::default()),
        };
        if types.len() > EVENT_TYPES_FILTER_MAX {
            return Err(ParamError::invalid(
                param,
                format!("Invalid types: at most {EVENT_TYPES_FILTER_MAX} types"),
            ));
        }
        let mut filter = TypeFilter::default();
        for t in types {
            if t == "*" {
                filter.prefixes.push(String::new());
            } else if let Some(prefix) = t.strip_suffix(".*") {
                if !prefix.split('.').all(valid_word) {
                    return Err(ParamError::invalid(
                        param,
                        format!("Invalid event type: {t}"),
                    ));
                }
                filter.prefixes.push(format!("{prefix}."));
            } else if valid_event_type(&t) {
                filter.exact.push(t);
            } else {
                return Err(ParamError::invalid(
                    param,
                    format!("Invalid event type: {t}"),
                ));
            }
        }
        Ok(filter)
    }
}

crate::impl_page!(EventListParams);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn previous_attributes_lists_old_values_of_changed_fields() {
        let before = json!({"id": "cus_1", "name": "A", "email": "a@x", "metadata": {"k": "1", "gone": "x"}});
        let after =
            json!({"id": "cus_1", "name": "B", "email": "a@x", "metadata": {"k": "2", "new": "y"}});
        let prev = previous_attributes(&before, &after).unwrap();
        assert_eq!(
            prev,
            json!({"name": "A", "metadata": {"k": "1", "gone": "x", "new": null}})
        );
    }

    #[test]
    fn no_change_means_no_previous_attributes() {
        let v = json!({"id": "cus_1", "name": "A"});
        assert_eq!(previous_attributes(&v, &v), None);
    }
}
