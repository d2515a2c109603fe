//! Every successful `/v1` answer in these tests is checked against the schema its operation
//! declares in the OpenAPI document: the document is what generated clients are built from,
//! so a field rendered but not declared, a declared field missing, or a value of another type
//! fails the test that produced it.
//!
//! Objects are closed: a key that an object schema does not list is an error, unless the schema
//! says `additionalProperties` (a map such as metadata) or lists no properties at all (a free
//! JSON object, such as a webhook's `data.object`).

use std::sync::OnceLock;

use serde_json::Value;

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(cashbox_http::openapi()).expect("document"))
}

/// The operation's declared schema for a 200 answer to `method path` (the query ignored).
fn response_schema(method: &str, path: &str) -> Option<&'static Value> {
    let path = path.split('?').next().unwrap_or(path);
    let doc = document();
    let paths = doc["paths"].as_object()?;
    let segments: Vec<&str> = path.split('/').collect();
    // The template with the most literal segments wins: `/v1/customers/search` before
    // `/v1/customers/{id}`.
    let (template, _) = paths
        .keys()
        .filter_map(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            (ts.len() == segments.len()
                && ts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s))
            .then(|| (t, ts.iter().filter(|t| !t.starts_with('{')).count()))
        })
        .max_by_key(|(_, literal)| *literal)?;
    let schema = &paths[template][method.to_ascii_lowercase()]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    (!schema.is_null()).then_some(schema)
}

/// Panics, naming the operation and the first mismatch, when `body` does not match.
pub fn check(method: &str, path: &str, body: &Value) {
    if !path.starts_with("/v1/") {
        return;
    }
    let Some(schema) = response_schema(method, path) else {
        panic!("{method} {path}: no 200 schema declared");
    };
    if let Err(e) = matches(schema, body, "$") {
        panic!("{method} {path}: the answer does not match its declared schema: {e}\nbody: {body}");
    }
}

fn resolve(schema: &Value) -> &Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            let target = &document()["components"]["schemas"][name];
            assert!(!target.is_null(), "unknown schema {r}");
            resolve(target)
        }
        None => schema,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("schema type {other} is not checked"),
    }
}

/// Whether `v` matches `schema`; the error names the JSON path of the first mismatch.
pub fn matches(schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            let errors: Vec<String> = options
                .iter()
                .filter_map(|o| matches(o, v, at).err())
                .collect();
            if errors.len() == options.len() {
                return Err(format!(
                    "{at}: matches none of {key}: {}",
                    errors.join("; ")
                ));
            }
        }
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            matches(s, v, at)?;
        }
    }
    match &schema["type"] {
        Value::String(t) if !type_matches(t, v) => {
            return Err(format!("{at}: {v} is not {t}"));
        }
        Value::Array(ts) if !ts.iter().any(|t| type_matches(t.as_str().unwrap_or(""), v)) => {
            return Err(format!("{at}: {v} is none of {ts:?}"));
        }
        _ => {}
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(v)
    {
        return Err(format!("{at}: {v} is not one of {allowed:?}"));
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        return Err(format!("{at}: {v} is not {c}"));
    }
    if let (Some(items), Some(values)) = (schema.get("items"), v.as_array()) {
        for (i, item) in values.iter().enumerate() {
            matches(items, item, &format!("{at}[{i}]"))?;
        }
    }
    if let Some(object) = v.as_object() {
        let properties = schema["properties"].as_object();
        if let Some(required) = schema["required"].as_array() {
            for r in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(r) {
                    return Err(format!("{at}: required `{r}` is missing"));
                }
            }
        }
        let additional = schema.get("additionalProperties");
        for (k, value) in object {
            let at = format!("{at}.{k}");
            match (properties.and_then(|p| p.get(k)), additional) {
                (Some(s), _) => matches(s, value, &at)?,
                (None, Some(Value::Bool(true))) => {}
                (None, Some(s @ Value::Object(_))) => matches(s, value, &at)?,
                // A free object, or one whose keys its `oneOf` options checked.
                (None, _) if properties.is_none() => {}
                (None, _) => return Err(format!("{at}: not declared")),
            }
        }
    }
    Ok(())
}

#[test]
fn the_check_refuses_what_a_schema_does_not_declare() {
    let customer = &document()["components"]["schemas"]["CustomerObject"];
    let good = serde_json::json!({
        "id": "cus_1", "object": "customer", "balance": 0, "created": 1, "delinquent": false,
        "invoice_prefix": "ABC", "livemode": false, "metadata": {"k": "v"},
        "next_invoice_sequence": 1, "preferred_locales": [], "tax_exempt": "none",
        "invoice_settings": {"default_payment_method": null},
        "test_clock": {"id": "clock_1", "object": "test_helpers.test_clock"},
    });
    matches(customer, &good, "$").unwrap();
    let mut extra = good.clone();
    extra["surprise"] = 1.into();
    assert!(
        matches(customer, &extra, "$")
            .unwrap_err()
            .contains("$.surprise: not declared")
    );
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("balance");
    assert!(
        matches(customer, &missing, "$")
            .unwrap_err()
            .contains("`balance`")
    );
    let mut wrong = good.clone();
    wrong["metadata"]["k"] = 1.into();
    assert!(
        matches(customer, &wrong, "$")
            .unwrap_err()
            .contains("$.metadata.k")
    );
    // An expandable link is an id or an object, not a number.
    wrong = good;
    wrong["test_clock"] = 5.into();
    assert!(matches(customer, &wrong, "$").is_err());
}
