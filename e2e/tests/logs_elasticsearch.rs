//! Lost-order events from agents reach Elasticsearch exactly once: the real `dozor-collector`,
//! a hand-built OTLP/HTTP logs client with dozor delivery headers, and the fake Elasticsearch
//! of `dozor_testkit::elasticsearch`. Through Elasticsearch down for a while, items answered 429,
//! batches delivered twice, and the collector killed with SIGKILL while its outbox holds
//! unsent records, every record the test sent becomes exactly one document with the right
//! `_id` and fields; records Elasticsearch rejects for their mapping are counted and not
//! retried. Ground truth is what the test sent.

use dozor_e2e::delivery::metric;
use dozor_testkit::elasticsearch::FakeEs;
use dozor_testkit::{Collector, http_get, wait_for};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const AGENT: &str = "mes-1";
const STREAM: &str = "00000000000000c1";
const INDEX: &str = "logs-dozor-default";
const RECORDS: u64 = 4;

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

/// Record `j` of batch `seq`: record 3 has no event id (its id comes from the headers), and
/// every record of a batch divisible by 7 whose j is 1 carries the attribute the fake rejects.
fn record(seq: u64, j: u64) -> LogRecord {
    let key = format!("{}", seq * 100 + j);
    let mut attributes = vec![
        kv("dozor.flow.name", s("orders")),
        kv("dozor.flow.stage", s("crm")),
        kv("dozor.flow.next_stage", s("mes_queue")),
        kv("dozor.flow.key", s(&key)),
        kv("dozor.flow.age", any_value::Value::DoubleValue(600.5)),
        kv("dozor.flow.seen_at", s("2026-11-25T03:20:00Z")),
    ];
    if j != 3 {
        attributes.push(kv(
            "dozor.flow.event_id",
            s(&format!("{:016x}", seq * 100 + j)),
        ));
    }
    if rejected(seq, j) {
        attributes.push(kv("test.reject", any_value::Value::BoolValue(true)));
    }
    LogRecord {
        time_unix_nano: 1_764_041_700_000_000_000 + seq * 1_000_000 + j,
        observed_time_unix_nano: 1_764_041_700_000_000_000 + seq * 1_000_000 + j,
        severity_number: 13,
        severity_text: "WARN".into(),
        event_name: "dozor.flow.lost".into(),
        body: Some(AnyValue {
            value: Some(s(&format!(
                "Order {key} left crm and never reached mes_queue."
            ))),
        }),
        attributes,
        ..Default::default()
    }
}

fn rejected(seq: u64, j: u64) -> bool {
    seq.is_multiple_of(7) && j == 1
}

fn expected_id(seq: u64, j: u64) -> String {
    if j == 3 {
        format!("{AGENT}:{STREAM}:{seq}:{j}")
    } else {
        format!("{:016x}", seq * 100 + j)
    }
}

fn request(seq: u64) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("host.name", s("mes-1.example")),
                    kv("service.instance.id", s(AGENT)),
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
                log_records: (0..RECORDS).map(|j| record(seq, j)).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
    .encode_to_vec()
}

/// POSTs batch `seq` to `/v1/logs` (gzip for odd batches); returns the status.
fn post(port: u16, seq: u64) -> u16 {
    let mut body = request(seq);
    let mut encoding = "";
    if !seq.is_multiple_of(2) {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&body).unwrap();
        body = e.finish().unwrap();
        encoding = "Content-Encoding: gzip\r\n";
    }
    let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /v1/logs HTTP/1.1\r\nHost: collector\r\nContent-Type: application/x-protobuf\r\n{encoding}\
         Content-Length: {}\r\ndozor-agent: {AGENT}\r\ndozor-stream: {STREAM}\r\ndozor-seq: {seq}\r\n\
         dozor-oldest: 1\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if conn
        .write_all(head.as_bytes())
        .and_then(|_| conn.write_all(&body))
        .is_err()
    {
        return 0;
    }
    let mut response = String::new();
    let _ = conn.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Sends batch `seq` until the collector answers 200, as an agent would.
fn deliver(port: u16, seq: u64) {
    wait_for(Duration::from_secs(30), || {
        (post(port, seq) == 200).then_some(())
    })
    .unwrap_or_else(|| panic!("batch {seq} was never accepted"));
}

/// The documents every batch in `seqs` must have produced.
fn expected(seqs: impl Iterator<Item = u64>) -> BTreeMap<String, (u64, u64)> {
    seqs.flat_map(|seq| (0..RECORDS).map(move |j| (seq, j)))
        .filter(|(seq, j)| !rejected(*seq, *j))
        .map(|(seq, j)| (expected_id(seq, j), (seq, j)))
        .collect()
}

fn check_documents(es: &FakeEs, last: u64) {
    let want = expected(1..=last);
    let got = wait_for(Duration::from_secs(60), || {
        let docs = es.documents(INDEX);
        (docs.len() >= want.len()).then_some(docs)
    })
    .unwrap_or_else(|| {
        let docs = es.documents(INDEX);
        let missing: Vec<_> = want
            .keys()
            .filter(|k| !docs.contains_key(*k))
            .take(10)
            .collect();
        panic!(
            "{} of {} documents; missing e.g. {missing:?}",
            docs.len(),
            want.len()
        )
    });
    let ids: Vec<&String> = got.keys().collect();
    let want_ids: Vec<&String> = want.keys().collect();
    assert_eq!(ids, want_ids, "documents are not exactly the records sent");
    for (id, (seq, j)) in &want {
        let d = &got[id];
        let key = format!("{}", seq * 100 + j);
        assert_eq!(
            d["attributes"]["dozor.flow.key"],
            Value::from(key.as_str()),
            "{id}"
        );
        assert_eq!(d["attributes"]["dozor.flow.age"], 600.5, "{id}");
        assert_eq!(d["event_name"], "dozor.flow.lost");
        assert_eq!(d["severity_text"], "WARN");
        assert_eq!(d["severity_number"], 13);
        assert_eq!(d["scope"]["name"], "dozor.integration.flow");
        assert_eq!(d["resource"]["attributes"]["host.name"], "mes-1.example");
        assert_eq!(d["resource"]["attributes"]["site"], "plant-a");
        assert_eq!(d["data_stream"]["dataset"], "dozor");
        let body = format!("Order {key} left crm and never reached mes_queue.");
        assert_eq!(d["body"]["text"], Value::from(body), "{id}");
        assert!(
            d["@timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2025-11-25T03:35:00.")
        );
    }
}

fn metrics(c: &Collector) -> String {
    http_get(&c.metrics, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default()
}

#[test]
fn every_lost_order_event_becomes_exactly_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut es = FakeEs::new();
    es.faults(|f| f.reject_attribute = Some("test.reject".into()));
    let extra = format!(
        "  elasticsearch:\n    endpoints: [\"{}\"]\n    flush_interval: 100ms\n    timeout: 2s\n\
         \x20   max_batch_records: 10\n    retry:\n      initial_backoff: 100ms\n      max_backoff: 500ms\n\
         \x20   outbox:\n      path: {}\n\
         delivery:\n  ledger_path: {}\n",
        es.url(),
        d.join("outbox").display(),
        d.join("ledger").display()
    );
    let mut collector = Collector::start(d, &extra);

    // Steady state.
    for seq in 1..=10 {
        deliver(collector.http, seq);
    }
    check_documents(&es, 10);

    // (b) Items answered 429 are sent again.
    es.faults(|f| f.items_429 = 7);
    for seq in 11..=15 {
        deliver(collector.http, seq);
    }
    check_documents(&es, 15);
    assert_eq!(es.items_with_status(429), 7);

    // (a) Elasticsearch away: the collector keeps accepting into its outbox, then catches up.
    es.stop();
    for seq in 16..=25 {
        deliver(collector.http, seq);
    }
    std::thread::sleep(Duration::from_secs(2));
    es.faults(|f| f.fail_requests = 2);
    es.start();
    check_documents(&es, 25);

    // (c) Redelivered batches: answered OK, not indexed again.
    for seq in [1, 2, 3, 16, 17, 18] {
        assert_eq!(post(collector.http, seq), 200);
    }
    std::thread::sleep(Duration::from_secs(1));
    check_documents(&es, 25);
    let m = metrics(&collector);
    assert_eq!(
        metric(
            &m,
            "dozor_collector_delivery_duplicate_batches_total",
            &[AGENT]
        ),
        Some(6.0),
        "{m}"
    );
    // Mapping rejections are counted and never retried.
    let rejected_records = expected_rejections(25);
    assert_eq!(
        metric(
            &m,
            "dozor_collector_elasticsearch_rejected_documents_total",
            &["mapper_parsing_exception"]
        ),
        Some(rejected_records as f64),
        "{m}"
    );
    for seq in (1..=25).filter(|s: &u64| s.is_multiple_of(7)) {
        assert_eq!(
            es.attempts(&expected_id(seq, 1)),
            1,
            "rejected {seq} was retried"
        );
    }
    assert!(
        metric(
            &m,
            "dozor_collector_elasticsearch_retried_documents_total",
            &[]
        )
        .unwrap()
            >= 7.0
    );

    // (d) SIGKILL with an unsent outbox: nothing is lost after the restart.
    es.stop();
    for seq in 26..=35 {
        deliver(collector.http, seq);
    }
    collector.kill();
    es.start();
    let ports = collector.ports();
    let collector = Collector::start_on(d, ports, &extra);
    check_documents(&es, 35);
    // A batch accepted before the kill is still a duplicate after it.
    assert_eq!(post(collector.http, 30), 200);
    wait_for(Duration::from_secs(10), || {
        metric(
            &metrics(&collector),
            "dozor_collector_delivery_duplicate_batches_total",
            &[AGENT],
        )
        .filter(|v| *v >= 1.0)
    })
    .expect("redelivery after the restart not recognised");
    check_documents(&es, 35);
    let m = metrics(&collector);
    assert_eq!(
        metric(&m, "dozor_collector_outbox_batches", &[]),
        Some(0.0),
        "{m}"
    );
}

fn expected_rejections(last: u64) -> u64 {
    (1..=last).filter(|s: &u64| s.is_multiple_of(7)).count() as u64
}
