//! The configuration reference: every key of a configuration type with its type, default and
//! meaning, rendered as a Markdown table from the type's JSON Schema, which `schemars` derives
//! from the `///` comments and `Default` of the configuration structs. So the reference cannot
//! say what the code does not: a binary's test renders it and compares it with its docs.

use serde_json::{Map, Value};
use std::fmt::Write;

/// One row of the table.
struct Row {
    key: String,
    kind: String,
    default: String,
    description: String,
}

/// The table of every key of `schema`, depth first, keys of a mapping in alphabetical order,
/// `prefix` before each key (`integrations.`).
pub fn markdown(schema: &schemars::Schema, prefix: &str) -> String {
    let root = schema.as_value();
    let empty = Map::new();
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut rows = Vec::new();
    walk(root, prefix, defs, &mut rows);
    let mut out = String::from("| key | type | default | meaning |\n|---|---|---|---|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            r.key, r.kind, r.default, r.description
        );
    }
    out
}

/// The definition `node` refers to (`$ref`, or the one non-null branch of an `anyOf` for an
/// `Option`), or `node` itself.
fn resolve<'a>(node: &'a Value, defs: &'a Map<String, Value>) -> &'a Value {
    if let Some(name) = node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        return defs.get(name).map_or(node, |d| resolve(d, defs));
    }
    if let Some(branches) = node.get("anyOf").and_then(Value::as_array) {
        let some: Vec<&Value> = branches
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if let [one] = some.as_slice() {
            return resolve(one, defs);
        }
    }
    node
}

fn walk(node: &Value, path: &str, defs: &Map<String, Value>, rows: &mut Vec<Row>) {
    let node = resolve(node, defs);
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = node
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut keys: Vec<&String> = properties.keys().collect();
    keys.sort();
    for key in keys {
        let property = &properties[key];
        let target = resolve(property, defs);
        let full = format!("{path}{key}");
        let description = property
            .get("description")
            .or_else(|| target.get("description"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace('|', "\\|");
        let default = match property.get("default") {
            _ if required.contains(&key.as_str()) => "required".to_string(),
            None => String::new(),
            Some(v) => shown(v),
        };
        rows.push(Row {
            key: full.clone(),
            kind: kind(property, defs),
            default,
            description,
        });
        if target.get("properties").is_some() {
            walk(target, &format!("{full}."), defs, rows);
        } else if let Some(items) = target.get("items") {
            walk(items, &format!("{full}[]."), defs, rows);
        } else if let Some(values) = target.get("additionalProperties")
            && values.is_object()
        {
            walk(values, &format!("{full}.<name>."), defs, rows);
        }
    }
}

/// The type of a key in words: `duration`, `list of mappings`, `` `grpc` or `http` ``.
fn kind(node: &Value, defs: &Map<String, Value>) -> String {
    let node = resolve(node, defs);
    if let Some(branches) = node
        .get("oneOf")
        .or_else(|| node.get("anyOf"))
        .and_then(Value::as_array)
    {
        let names: Vec<String> = branches
            .iter()
            .map(|b| match b.get("const") {
                Some(c) => format!("`{}`", shown_plain(c)),
                None => kind(b, defs),
            })
            .collect();
        return one_of(&names);
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values
            .iter()
            .map(|v| format!("`{}`", shown_plain(v)))
            .collect();
        return one_of(&names);
    }
    if let Some(format) = node.get("format").and_then(Value::as_str)
        && ["duration", "regex"].contains(&format)
    {
        return format.to_string();
    }
    let types: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    match types.as_slice() {
        ["array"] => match node.get("items") {
            Some(items) if resolve(items, defs).get("properties").is_some() => {
                "list of mappings".into()
            }
            Some(items) => format!("list of {}", kind(items, defs)),
            None => "list".into(),
        },
        ["object"] if node.get("properties").is_some() => "mapping".into(),
        ["object"] => match node.get("additionalProperties") {
            Some(v) if v.is_object() => format!("map of {}", kind(v, defs)),
            _ => "mapping".into(),
        },
        ["integer"] => "integer".into(),
        [t] => t.to_string(),
        _ => String::new(),
    }
}

fn one_of(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// A default as written in the file, in code style; empty for a mapping with keys (they have
/// rows of their own).
fn shown(v: &Value) -> String {
    match v {
        Value::Null => "unset".into(),
        Value::Object(o) if !o.is_empty() => String::new(),
        Value::String(s) if s.is_empty() => "`\"\"`".into(),
        other => format!("`{}`", shown_plain(other).replace('|', "\\|")),
    }
}

fn shown_plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Top-level settings.
    #[derive(schemars::JsonSchema, serde::Serialize)]
    #[serde(default)]
    #[allow(dead_code)]
    struct Top {
        /// How often,
        /// in time.
        interval: crate::Duration,
        /// `grpc` or `http`.
        protocol: Protocol,
        /// The buffer.
        buffer: Option<Inner>,
        /// Servers.
        servers: Vec<Inner>,
        /// Labels.
        labels: std::collections::BTreeMap<String, String>,
    }

    impl Default for Top {
        fn default() -> Self {
            Top {
                interval: crate::Duration(std::time::Duration::from_secs(15)),
                protocol: Protocol::Grpc,
                buffer: None,
                servers: Vec::new(),
                labels: Default::default(),
            }
        }
    }

    /// A part.
    #[derive(schemars::JsonSchema, serde::Serialize)]
    #[allow(dead_code)]
    struct Inner {
        /// Its name | with a bar.
        name: String,
    }

    /// The protocol.
    #[derive(schemars::JsonSchema, serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Protocol {
        /// gRPC.
        Grpc,
        /// HTTP.
        Http,
    }

    #[test]
    fn every_key_with_its_type_default_and_meaning() {
        let table = markdown(&schemars::schema_for!(Top), "");
        assert_eq!(
            table,
            "| key | type | default | meaning |\n|---|---|---|---|\n\
             | `buffer` | mapping | unset | The buffer. |\n\
             | `buffer.name` | string | required | Its name \\| with a bar. |\n\
             | `interval` | duration | `15s` | How often, in time. |\n\
             | `labels` | map of string | `{}` | Labels. |\n\
             | `protocol` | `grpc` or `http` | `grpc` | `grpc` or `http`. |\n\
             | `servers` | list of mappings | `[]` | Servers. |\n\
             | `servers[].name` | string | required | Its name \\| with a bar. |\n"
        );
    }
}
