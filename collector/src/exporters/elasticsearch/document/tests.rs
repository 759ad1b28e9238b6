use super::*;
use dozor_metrics::otlp::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
use dozor_metrics::otlp::logs::v1::{ResourceLogs, ScopeLogs};
use dozor_metrics::otlp::resource::v1::Resource;

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

fn origin() -> Origin {
    Origin {
        agent: "mes-1".into(),
        stream: "00000000000000ab".into(),
        seq: 7,
        received: 1_764_041_700_000_000_000,
    }
}

fn lost(event_id: Option<&str>) -> LogRecord {
    let mut attributes = vec![
        kv("dozor.flow.name", s("orders")),
        kv("dozor.flow.stage", s("crm")),
        kv("dozor.flow.next_stage", s("mes_queue")),
        kv("dozor.flow.key", s("42")),
        kv("dozor.flow.age", any_value::Value::DoubleValue(912.0)),
        kv("dozor.flow.seen_at", s("2026-11-25T03:20:00Z")),
    ];
    if let Some(id) = event_id {
        attributes.push(kv("dozor.flow.event_id", s(id)));
    }
    LogRecord {
        time_unix_nano: 1_764_041_700_123_456_789,
        observed_time_unix_nano: 1_764_041_700_200_000_000,
        severity_number: 13,
        severity_text: "WARN".into(),
        event_name: "dozor.flow.lost".into(),
        body: Some(AnyValue {
            value: Some(s("Order 42 left crm and never reached mes_queue.")),
        }),
        attributes,
        ..Default::default()
    }
}

fn request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("host.name", s("mes-1.example")),
                    kv("service.instance.id", s("mes-1")),
                    kv("site", s("plant-a")),
                    kv("role", s("mes")),
                ],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "dozor.integration.flow".into(),
                    ..Default::default()
                }),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[test]
fn a_lost_order_event_follows_the_otel_mapping() {
    let docs = documents(
        &origin(),
        &request(vec![lost(Some("0123456789abcdef"))]),
        "dozor.flow.event_id",
        "logs-dozor-default",
    );
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].id, "0123456789abcdef");
    let want = json!({
        "@timestamp": "2025-11-25T03:35:00.123456789Z",
        "observed_timestamp": "2025-11-25T03:35:00.200000000Z",
        "data_stream": {"type": "logs", "dataset": "dozor", "namespace": "default"},
        "severity_text": "WARN",
        "severity_number": 13,
        "event_name": "dozor.flow.lost",
        "attributes": {
            "dozor.flow.name": "orders",
            "dozor.flow.stage": "crm",
            "dozor.flow.next_stage": "mes_queue",
            "dozor.flow.key": "42",
            "dozor.flow.age": 912.0,
            "dozor.flow.seen_at": "2026-11-25T03:20:00Z",
            "dozor.flow.event_id": "0123456789abcdef",
        },
        "resource": {"attributes": {
            "host.name": "mes-1.example",
            "service.instance.id": "mes-1",
            "site": "plant-a",
            "role": "mes",
        }},
        "scope": {"name": "dozor.integration.flow"},
        "body": {"text": "Order 42 left crm and never reached mes_queue."},
    });
    assert_eq!(docs[0].source, want);
    // A double keeps its radix point, so dynamic mapping would make it a double too.
    let text = docs[0].source.to_string();
    assert!(text.contains("\"dozor.flow.age\":912.0"), "{text}");
}

#[test]
fn ids_without_the_attribute_come_from_the_delivery_headers() {
    let mut odd = lost(None);
    odd.attributes
        .push(kv("dozor.flow.event_id", any_value::Value::IntValue(5)));
    let docs = documents(
        &origin(),
        &request(vec![lost(None), lost(Some("e1")), odd]),
        "dozor.flow.event_id",
        "my-index",
    );
    let ids: Vec<_> = docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "mes-1:00000000000000ab:7:0",
            "e1",
            "mes-1:00000000000000ab:7:2"
        ]
    );
    assert!(docs[0].source.get("data_stream").is_none());
}

#[test]
fn values_and_bodies_keep_their_shape() {
    use any_value::Value as V;
    let mut r = LogRecord {
        body: Some(AnyValue {
            value: Some(V::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(V::IntValue(1)),
                }],
            })),
        }),
        attributes: vec![
            kv("b", V::BoolValue(true)),
            kv("i", V::IntValue(-3)),
            kv("bytes", V::BytesValue(vec![0x2a, 0xff])),
            kv("nan", V::DoubleValue(f64::NAN)),
            kv(
                "map",
                V::KvlistValue(KeyValueList {
                    values: vec![kv("x.y", s("z"))],
                }),
            ),
            kv("event.name", s("from.attribute")),
        ],
        trace_id: vec![1; 16],
        ..Default::default()
    };
    let docs = documents(&origin(), &request(vec![r.clone()]), "id", "logs-a-b");
    let d = &docs[0].source;
    assert_eq!(
        d["attributes"],
        json!({"b": true, "i": -3, "bytes": "2aff", "nan": null, "map": {"x.y": "z"}, "event.name": "from.attribute"})
    );
    assert_eq!(d["body"], json!({"structured": {"value": [1]}}));
    assert_eq!(d["event_name"], "from.attribute");
    assert_eq!(d["trace_id"], "01010101010101010101010101010101");
    // No timestamp at all: the collector's receive time.
    assert_eq!(d["@timestamp"], "2025-11-25T03:35:00.000000000Z");
    assert!(d.get("severity_number").is_none());
    r.body = Some(AnyValue {
        value: Some(V::IntValue(42)),
    });
    let docs = documents(&origin(), &request(vec![r]), "id", "logs-a-b");
    assert_eq!(docs[0].source["body"], json!({"text": "42"}));
}

#[test]
fn timestamps_are_rfc3339_with_nanoseconds() {
    assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
    assert_eq!(
        rfc3339_nanos(951_782_400_000_000_001),
        "2000-02-29T00:00:00.000000001Z"
    );
    assert_eq!(
        rfc3339_nanos(4_102_444_799_999_999_999),
        "2099-12-31T23:59:59.999999999Z"
    );
}
