//! The Elasticsearch and Kibana content agrees with what the exporter writes: every field a
//! Kibana saved object in `dashboards/kibana/` names is mapped by
//! `deploy/elasticsearch/index-template.json`, and every field of a lost-order document made
//! by the exporter's own code is mapped with a type that accepts its value.
//!
//! No Elasticsearch or Kibana can run on the development machines, so this checks the files
//! against each other and against the exporter, not against a live cluster.

use dozor_collector::exporters::elasticsearch::document::documents;
use dozor_collector::exporters::elasticsearch::outbox::Origin;
use dozor_metrics::otlp::collector::logs::v1::ExportLogsServiceRequest;
use dozor_metrics::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use dozor_metrics::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use dozor_metrics::otlp::resource::v1::Resource;
use serde_json::Value;
use std::collections::BTreeMap;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Field path -> mapped type, with dotted property names expanded as Elasticsearch does.
fn mapped_fields() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("deploy/elasticsearch/index-template.json"))
        .expect("reading the index template");
    let t: Value = serde_json::from_str(&text).expect("the index template is JSON");
    assert_eq!(t["index_patterns"], serde_json::json!(["logs-dozor-*"]));
    assert!(
        t["data_stream"].is_object(),
        "the template must make data streams"
    );
    // The built-in `logs` template has priority 100; ours must win for logs-dozor-*.
    assert!(t["priority"].as_u64().unwrap() > 100);
    let mut out = BTreeMap::new();
    walk(&t["template"]["mappings"]["properties"], "", &mut out);
    out
}

fn walk(properties: &Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    for (name, def) in properties.as_object().expect("properties is an object") {
        let path = format!("{prefix}{name}");
        match (
            def.get("type").and_then(Value::as_str),
            def.get("properties"),
        ) {
            (Some(t), _) => {
                out.insert(path, t.to_string());
            }
            (None, Some(p)) => walk(p, &format!("{path}."), out),
            (None, None) => panic!("{path}: neither a type nor properties"),
        }
    }
}

/// Every leaf of a document, with its value; objects under a `flattened` field stop there.
fn leaves(
    v: &Value,
    path: &str,
    mapped: &BTreeMap<String, String>,
    out: &mut Vec<(String, Value)>,
) {
    match v {
        Value::Object(o) if mapped.get(path).map(String::as_str) != Some("flattened") => {
            for (k, v) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(v, &p, mapped, out);
            }
        }
        _ => out.push((path.to_string(), v.clone())),
    }
}

fn accepts(kind: &str, v: &Value) -> bool {
    let date = |s: &str| s.len() >= 20 && s.as_bytes()[4] == b'-' && s.contains('T');
    match kind {
        "keyword" | "constant_keyword" | "match_only_text" | "text" => v.is_string(),
        "double" => v.is_number(),
        "long" | "byte" => v.is_i64() || v.is_u64(),
        "date" | "date_nanos" => v.as_str().is_some_and(date) || v.is_number(),
        "flattened" => v.is_object() || v.is_array(),
        _ => false,
    }
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// A lost-order event as the agent's flow integration sends it.
fn lost_order() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("host.name", s("mes-1.example")),
                    kv("service.name", s("dozor-agent")),
                    kv("service.instance.id", s("mes-1")),
                    kv("site", s("plant-a")),
                    kv("role", s("mes")),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "dozor.integration.flow".into(),
                    version: "0.1.0".into(),
                    ..Default::default()
                }),
                log_records: vec![LogRecord {
                    time_unix_nano: 1_764_041_700_000_000_000,
                    observed_time_unix_nano: 1_764_041_700_000_000_000,
                    severity_number: 13,
                    severity_text: "WARN".into(),
                    event_name: "dozor.flow.lost".into(),
                    body: Some(AnyValue {
                        value: Some(s("Order 42 left crm and never reached mes_queue.")),
                    }),
                    attributes: vec![
                        kv("dozor.flow.event_id", s("0123456789abcdef")),
                        kv("dozor.flow.name", s("orders")),
                        kv("dozor.flow.stage", s("crm")),
                        kv("dozor.flow.next_stage", s("mes_queue")),
                        kv("dozor.flow.key", s("42")),
                        kv("dozor.flow.age", any_value::Value::DoubleValue(912.5)),
                        kv("dozor.flow.seen_at", s("2026-11-25T03:20:00Z")),
                    ],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[test]
fn every_exported_field_is_mapped_with_a_compatible_type() {
    let mapped = mapped_fields();
    let origin = Origin {
        agent: "mes-1".into(),
        stream: "00000000000000aa".into(),
        seq: 1,
        received: 1_764_041_700_000_000_000,
    };
    let docs = documents(
        &origin,
        &lost_order(),
        "dozor.flow.event_id",
        "logs-dozor-default",
    );
    let mut problems = Vec::new();
    let mut fields = Vec::new();
    leaves(&docs[0].source, "", &mapped, &mut fields);
    for (path, value) in &fields {
        match mapped.get(path) {
            None => problems.push(format!("{path}: not mapped")),
            Some(kind) if !accepts(kind, value) => problems.push(format!(
                "{path}: mapped as {kind}, the exporter writes {value}"
            )),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(fields.len() >= 20, "{fields:?}");
}

/// Field names a saved object uses: data view time field, saved search columns and sort,
/// visualization aggregation fields, and fields named in KQL queries.
fn referenced_fields(o: &Value) -> Vec<String> {
    let a = &o["attributes"];
    let mut out = Vec::new();
    if let Some(t) = a["timeFieldName"].as_str() {
        out.push(t.to_string());
    }
    for c in a["columns"].as_array().into_iter().flatten() {
        out.push(c.as_str().unwrap().to_string());
    }
    for s in a["sort"].as_array().into_iter().flatten() {
        out.push(s[0].as_str().unwrap().to_string());
    }
    if let Some(vis) = a["visState"].as_str() {
        let vis: Value = serde_json::from_str(vis).unwrap();
        for agg in vis["aggs"].as_array().into_iter().flatten() {
            if let Some(f) = agg["params"]["field"].as_str() {
                out.push(f.to_string());
            }
        }
    }
    if let Some(source) = a["kibanaSavedObjectMeta"]["searchSourceJSON"].as_str() {
        let source: Value = serde_json::from_str(source).unwrap();
        let query = source["query"]["query"].as_str().unwrap_or("");
        // `field : value` clauses of KQL.
        for clause in query.split(" and ").chain(query.split(" or ")) {
            if let Some((field, _)) = clause.split_once(':') {
                out.push(field.trim().to_string());
            }
        }
    }
    out
}

#[test]
fn every_field_kibana_uses_is_mapped() {
    let mapped = mapped_fields();
    let text = std::fs::read_to_string(root().join("dashboards/kibana/order-flow.ndjson"))
        .expect("reading the Kibana saved objects");
    let objects: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let ids: Vec<&str> = objects.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let mut problems = Vec::new();
    for o in &objects {
        let id = o["id"].as_str().unwrap();
        for field in referenced_fields(o) {
            if !mapped.contains_key(&field) {
                problems.push(format!(
                    "{id}: field {field} is not mapped in the index template"
                ));
            }
        }
        for r in o["references"].as_array().into_iter().flatten() {
            let target = r["id"].as_str().unwrap();
            if !ids.contains(&target) {
                problems.push(format!(
                    "{id}: references {target}, which is not in the file"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["index-pattern", "search", "visualization"]);
    assert_eq!(objects[0]["attributes"]["title"], "logs-dozor-*");
}
