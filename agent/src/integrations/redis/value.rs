//! Reading the loosely typed replies of `XINFO` (flat `[field, value, ...]` arrays in RESP2,
//! maps in RESP3) into named fields.

use redis::Value;

/// The `field -> value` pairs of a reply that is a flat array or a map; empty otherwise.
pub fn fields(v: &Value) -> Vec<(String, &Value)> {
    match v {
        Value::Array(items) => items
            .chunks_exact(2)
            .filter_map(|kv| text(&kv[0]).map(|k| (k, &kv[1])))
            .collect(),
        Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| text(k).map(|k| (k, v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The field `name` of `fields`.
pub fn get<'a>(fields: &[(String, &'a Value)], name: &str) -> Option<&'a Value> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

/// A string value.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

/// A number; `None` for nil (Redis's "unknown") and anything else that is not one.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Double(d) => Some(*d),
        Value::BulkString(_) | Value::SimpleString(_) => text(v)?.parse().ok(),
        _ => None,
    }
}

/// The elements of an array reply.
pub fn array(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        _ => &[],
    }
}
