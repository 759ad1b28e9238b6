//! OTLP log records as Elasticsearch documents, following the OpenTelemetry Collector
//! elasticsearch exporter's `otel` mapping mode (`internal/serializer/otelserializer/logs.go`
//! in opentelemetry-collector-contrib), so that Elasticsearch's own `logs-otel` conventions and
//! Kibana views built for that exporter work on dozor's documents too:
//!
//! ```json
//! {"@timestamp": "...", "observed_timestamp": "...",
//!  "data_stream": {"type": "logs", "dataset": "dozor", "namespace": "default"},
//!  "severity_text": "WARN", "severity_number": 13, "event_name": "dozor.flow.lost",
//!  "trace_id": "...", "span_id": "...", "dropped_attributes_count": 1,
//!  "attributes": {"dozor.flow.stage": "crm", "dozor.flow.age": 912.5},
//!  "resource": {"attributes": {"host.name": "mes-1"}, "schema_url": "..."},
//!  "scope": {"name": "dozor.integration.flow", "version": "...", "attributes": {}},
//!  "body": {"text": "Order 42 ..."}}
//! ```
//!
//! Attribute keys stay as sent (dotted, inside `attributes`), as upstream writes them; values
//! keep their JSON type (ints as integers, doubles with a radix point, bytes as hex). Fields
//! that are zero or empty are left out, as upstream does. Two differences: timestamps are
//! RFC 3339 strings with nanoseconds (upstream writes epoch milliseconds with a fraction; both
//! parse as `date_nanos`), readable in `_source`; and a record without any timestamp gets the
//! time the collector received it as `observed_timestamp` (the OpenTelemetry logs data model
//! asks a collector to set it when absent).

use super::outbox::Origin;
use dozor_metrics::otlp::collector::logs::v1::ExportLogsServiceRequest;
use dozor_metrics::otlp::common::v1::{AnyValue, KeyValue, any_value};
use dozor_metrics::otlp::logs::v1::LogRecord;
use serde_json::{Map, Value, json};

/// One document: its `_id` and its source.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// `_id`.
    pub id: String,
    /// `_source`.
    pub source: Value,
}

/// Elasticsearch's limit on `_id`, in bytes.
const MAX_ID_BYTES: usize = 512;

/// Every log record of `request` as a document, in request order. `id_attribute` names the
/// attribute whose string value is the `_id`; without it, the id is
/// `<agent>:<stream>:<seq>:<n>` (`n` counting records within the request from 0).
pub fn documents(
    origin: &Origin,
    request: &ExportLogsServiceRequest,
    id_attribute: &str,
    index: &str,
) -> Vec<Document> {
    let data_stream = data_stream(index);
    let mut out = Vec::new();
    for rl in &request.resource_logs {
        let mut resource = Map::new();
        if let Some(r) = &rl.resource {
            resource.insert("attributes".into(), attributes(&r.attributes));
            if r.dropped_attributes_count > 0 {
                resource.insert(
                    "dropped_attributes_count".into(),
                    r.dropped_attributes_count.into(),
                );
            }
        }
        if !rl.schema_url.is_empty() {
            resource.insert("schema_url".into(), rl.schema_url.clone().into());
        }
        for sl in &rl.scope_logs {
            let mut scope = Map::new();
            if let Some(s) = &sl.scope {
                if !s.name.is_empty() {
                    scope.insert("name".into(), s.name.clone().into());
                }
                if !s.version.is_empty() {
                    scope.insert("version".into(), s.version.clone().into());
                }
                if !s.attributes.is_empty() {
                    scope.insert("attributes".into(), attributes(&s.attributes));
                }
            }
            if !sl.schema_url.is_empty() {
                scope.insert("schema_url".into(), sl.schema_url.clone().into());
            }
            for record in &sl.log_records {
                let n = out.len();
                let id = record_id(record, id_attribute).unwrap_or_else(|| {
                    format!("{}:{}:{}:{n}", origin.agent, origin.stream, origin.seq)
                });
                let mut source = document(record, origin.received);
                if let Some(ds) = &data_stream {
                    source.insert("data_stream".into(), ds.clone());
                }
                source.insert("resource".into(), Value::Object(resource.clone()));
                source.insert("scope".into(), Value::Object(scope.clone()));
                out.push(Document {
                    id,
                    source: Value::Object(source),
                });
            }
        }
    }
    out
}

/// The `_id` from `id_attribute`, when it holds a usable string.
fn record_id(record: &LogRecord, id_attribute: &str) -> Option<String> {
    let kv = record.attributes.iter().find(|kv| kv.key == id_attribute)?;
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s)
            if !s.is_empty() && s.len() <= MAX_ID_BYTES && !s.starts_with('_') =>
        {
            Some(s.clone())
        }
        _ => None,
    }
}

/// `data_stream.*` for an index named like a data stream, `logs-<dataset>-<namespace>`.
fn data_stream(index: &str) -> Option<Value> {
    let rest = index.strip_prefix("logs-")?;
    let (dataset, namespace) = rest.rsplit_once('-')?;
    (!dataset.is_empty() && !namespace.is_empty())
        .then(|| json!({"type": "logs", "dataset": dataset, "namespace": namespace}))
}

/// The record's own fields.
fn document(record: &LogRecord, received: u64) -> Map<String, Value> {
    let mut d = Map::new();
    let observed = match record.observed_time_unix_nano {
        0 => received,
        t => t,
    };
    let time = match record.time_unix_nano {
        0 => observed,
        t => t,
    };
    d.insert("@timestamp".into(), rfc3339_nanos(time).into());
    d.insert("observed_timestamp".into(), rfc3339_nanos(observed).into());
    if !record.severity_text.is_empty() {
        d.insert("severity_text".into(), record.severity_text.clone().into());
    }
    if record.severity_number != 0 {
        d.insert("severity_number".into(), record.severity_number.into());
    }
    if !record.trace_id.is_empty() {
        d.insert("trace_id".into(), hex(&record.trace_id).into());
    }
    if !record.span_id.is_empty() {
        d.insert("span_id".into(), hex(&record.span_id).into());
    }
    if !record.attributes.is_empty() {
        d.insert("attributes".into(), attributes(&record.attributes));
    }
    if record.dropped_attributes_count > 0 {
        d.insert(
            "dropped_attributes_count".into(),
            record.dropped_attributes_count.into(),
        );
    }
    let event_name = if record.event_name.is_empty() {
        record
            .attributes
            .iter()
            .find(|kv| kv.key == "event.name")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default()
    } else {
        record.event_name.clone()
    };
    if !event_name.is_empty() {
        d.insert("event_name".into(), event_name.into());
    }
    if let Some(body) = record.body.as_ref().and_then(|b| b.value.as_ref()) {
        d.insert("body".into(), body_of(body));
    }
    d
}

/// `body.text` for scalars, `body.structured` for maps and arrays (an array that is not all
/// maps is wrapped as `{"value": [...]}`, which Elasticsearch can map), as upstream does.
fn body_of(body: &any_value::Value) -> Value {
    use any_value::Value as V;
    match body {
        V::KvlistValue(kv) => json!({"structured": attributes(&kv.values)}),
        V::ArrayValue(a) => {
            let all_maps = a
                .values
                .iter()
                .all(|v| matches!(v.value, Some(V::KvlistValue(_))));
            let array = Value::Array(a.values.iter().map(any).collect());
            if all_maps {
                json!({ "structured": array })
            } else {
                json!({"structured": {"value": array}})
            }
        }
        V::StringValue(s) => json!({ "text": s }),
        other => {
            let text = match any_value(other) {
                Value::String(s) => s,
                v => v.to_string(),
            };
            json!({ "text": text })
        }
    }
}

/// Attributes as one object with the keys as sent.
fn attributes(kvs: &[KeyValue]) -> Value {
    Value::Object(
        kvs.iter()
            .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, any)))
            .collect(),
    )
}

fn any(v: &AnyValue) -> Value {
    v.value.as_ref().map_or(Value::Null, any_value)
}

fn any_value(v: &any_value::Value) -> Value {
    use any_value::Value as V;
    match v {
        V::StringValue(s) => s.clone().into(),
        V::BoolValue(b) => (*b).into(),
        V::IntValue(i) => (*i).into(),
        // NaN and infinities have no JSON form.
        V::DoubleValue(d) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
        V::ArrayValue(a) => Value::Array(a.values.iter().map(any).collect()),
        V::KvlistValue(kv) => attributes(&kv.values),
        V::BytesValue(b) => hex(b).into(),
        V::StringValueStrindex(_) => Value::Null,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `2026-11-25T03:35:00.123456789Z` for Unix nanoseconds.
pub fn rfc3339_nanos(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let nanos = ns % 1_000_000_000;
    let rem = secs % 86_400;
    let (year, month, day) = dozor_metrics::time::civil_from_days((secs / 86_400) as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests;
