//! Spans to HTTP RED metrics through a running collector: what the test sent (per route,
//! status, side) is what `/metrics` shows, after a flush; budget overflow and spans that are
//! not HTTP RED are counted.

mod common;

use common::*;
use dozor_metrics::otlp::collector::trace::v1::ExportTraceServiceRequest;
use dozor_metrics::otlp::common::v1::{AnyValue, KeyValue, any_value};
use dozor_metrics::otlp::resource::v1::Resource;
use dozor_metrics::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, span::SpanKind};
use dozor_metrics::sample::string_kv;
use prost::Message;
use std::collections::BTreeMap;

const T0: u64 = 1_765_000_000_000_000_000;

fn int_kv(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

fn span(kind: SpanKind, millis: u64, attributes: Vec<KeyValue>) -> Span {
    Span {
        kind: kind as i32,
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + millis * 1_000_000,
        attributes,
        ..Default::default()
    }
}

fn server(method: &str, route: Option<&str>, path: &str, status: i64, millis: u64) -> Span {
    let mut a = vec![
        string_kv("http.request.method", method),
        string_kv("url.path", path),
        int_kv("http.response.status_code", status),
        string_kv("server.address", "mes.local"),
        int_kv("server.port", 8080),
    ];
    if let Some(r) = route {
        a.push(string_kv("http.route", r));
    }
    span(SpanKind::Server, millis, a)
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_kv("service.name", "mes-api"),
                    string_kv("service.instance.id", "mes-1"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// Samples of family `name` whose labels include all of `labels`, by their full label set.
fn samples(m: &str, name: &str, labels: &[(&str, &str)]) -> BTreeMap<String, f64> {
    m.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix('{')?;
            let (set, value) = rest.rsplit_once("} ")?;
            if !labels
                .iter()
                .all(|(k, v)| set.contains(&format!("{k}=\"{v}\"")))
            {
                return None;
            }
            Some((set.to_string(), value.split(' ').next()?.parse().ok()?))
        })
        .collect()
}

/// The one sample of `name` with `labels`.
fn one(m: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let s = samples(m, name, labels);
    assert_eq!(s.len(), 1, "{name} {labels:?}: {s:?}\n{m}");
    s.into_values().next().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_become_red_series_equal_to_what_was_sent() {
    let running = start(|c| c.spans.max_series = 4).await;
    let mut spans = Vec::new();
    // 5 x GET /orders/{order} 200: the route given wins over the templated path.
    for i in 1..=5 {
        spans.push(server(
            "GET",
            Some("/orders/{order}"),
            &format!("/orders/{i}"),
            200,
            i * 10,
        ));
    }
    // 2 x GET /orders/17 404 without a route: templated to /orders/{id}.
    spans.push(server("GET", None, "/orders/17", 404, 3));
    spans.push(server("GET", None, "/orders/99", 404, 7));
    // 1 x POST /orders 500, 2 s, with the old attribute names.
    spans.push(span(
        SpanKind::Server,
        2000,
        vec![
            string_kv("http.method", "POST"),
            string_kv("http.target", "/orders"),
            int_kv("http.status_code", 500),
            string_kv("net.host.name", "mes.local"),
            int_kv("net.host.port", 8080),
        ],
    ));
    // 3 x client GET to the CRM, from url.full.
    for ms in [20, 30, 40] {
        spans.push(span(
            SpanKind::Client,
            ms,
            vec![
                string_kv("http.request.method", "GET"),
                string_kv("url.full", "http://crm.local:9000/api/customers/42?x=1"),
                int_kv("http.response.status_code", 200),
            ],
        ));
    }
    // Over the budget of 4 series: 3 requests folded into _other.
    for path in ["/health", "/ready", "/health"] {
        spans.push(server("GET", None, path, 200, 1));
    }
    // Not HTTP RED: an internal span, a server span without method, one without status.
    spans.push(span(SpanKind::Internal, 5, vec![]));
    spans.push(span(
        SpanKind::Server,
        5,
        vec![string_kv("rpc.system", "grpc")],
    ));
    spans.push(span(
        SpanKind::Server,
        5,
        vec![
            string_kv("http.request.method", "GET"),
            string_kv("url.path", "/orders/1"),
            int_kv("http.response.status_code", 0),
        ],
    ));
    let body = request(spans).encode_to_vec();
    let r = common::wire::http1(
        running.addrs.otlp_http,
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    running.pipeline.spans.flush(&running.pipeline);
    let m = scrape(&running).await;

    let dur = "http_server_request_duration_seconds";
    let svc = ("service_name", "mes-api");
    let get200 = [
        svc,
        ("http_route", "/orders/{order}"),
        ("http_response_status_code", "200"),
    ];
    assert_eq!(one(&m, &format!("{dur}_count"), &get200), 5.0);
    assert!((one(&m, &format!("{dur}_sum"), &get200) - 0.150).abs() < 1e-9);
    let mut le = get200.to_vec();
    le.push(("le", "0.025"));
    assert_eq!(one(&m, &format!("{dur}_bucket"), &le), 2.0);
    let get404 = [
        svc,
        ("http_route", "/orders/{id}"),
        ("http_response_status_code", "404"),
    ];
    assert_eq!(one(&m, &format!("{dur}_count"), &get404), 2.0);
    assert!((one(&m, &format!("{dur}_sum"), &get404) - 0.010).abs() < 1e-9);
    let post = [
        svc,
        ("http_request_method", "POST"),
        ("http_route", "/orders"),
        ("http_response_status_code", "500"),
        ("server_address", "mes.local"),
        ("server_port", "8080"),
    ];
    assert_eq!(one(&m, &format!("{dur}_count"), &post), 1.0);
    assert!((one(&m, &format!("{dur}_sum"), &post) - 2.0).abs() < 1e-9);
    let other = [
        svc,
        ("http_route", "_other"),
        ("http_response_status_code", "200"),
    ];
    assert_eq!(one(&m, &format!("{dur}_count"), &other), 3.0);
    assert_eq!(
        one(&m, "dozor_http_overflow_series_total", &[svc]),
        3.0,
        "{m}"
    );
    let client = [
        svc,
        ("http_route", "/api/customers/{id}"),
        ("server_address", "crm.local"),
        ("server_port", "9000"),
    ];
    let cdur = "http_client_request_duration_seconds";
    assert_eq!(one(&m, &format!("{cdur}_count"), &client), 3.0);
    assert!((one(&m, &format!("{cdur}_sum"), &client) - 0.090).abs() < 1e-9);
    // Every server series: 5 + 2 + 1 + 3 requests, and nothing else.
    let total: f64 = samples(&m, &format!("{dur}_count"), &[svc]).values().sum();
    assert_eq!(total, 11.0);
    // The service's resource is the job, like any sender's.
    assert_eq!(
        samples(
            &m,
            &format!("{dur}_count"),
            &[("job", "mes-api"), ("instance", "mes-1")]
        )
        .len(),
        4
    );

    let result = |r: &str| {
        must(
            &m,
            &format!(r#"dozor_collector_spans_total{{result="{r}"}}"#),
        )
    };
    assert_eq!(result("recorded"), 14.0);
    assert_eq!(result("not_server_or_client"), 1.0);
    assert_eq!(result("not_http"), 1.0);
    assert_eq!(result("http_status_missing"), 1.0);
    // RED points are the collector's own: not received points.
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_received_points_total{receiver="otlp_http"}"#
        ),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn services_over_the_limit_are_counted_and_the_last_spans_are_flushed_at_shutdown() {
    let running = start(|c| {
        c.spans.max_services = 1;
        // Longer than the test: only the shutdown flush can store them.
        c.spans.flush_interval = dozor_config::Duration(std::time::Duration::from_secs(3600));
        c.spans.service_ttl = c.spans.flush_interval;
    })
    .await;
    let post = |service: &str| {
        let mut req = request(vec![server("GET", None, "/a", 200, 5)]);
        req.resource_spans[0].resource.as_mut().unwrap().attributes[0] =
            string_kv("service.name", service);
        common::wire::http1(
            running.addrs.otlp_http,
            "POST",
            "/v1/traces",
            &[("content-type", "application/x-protobuf")],
            req.encode_to_vec(),
        )
    };
    assert_eq!(post("first").await.status, 200);
    assert_eq!(post("second").await.status, 200);
    let m = scrape(&running).await;
    assert_eq!(
        must(&m, r#"dozor_collector_spans_total{result="service_limit"}"#),
        1.0
    );
    assert!(samples(&m, "http_server_request_duration_seconds_count", &[]).is_empty());
    let store = running.pipeline.store.clone();
    running.shutdown().await.unwrap();
    let text = format!("{:?}", store.families());
    assert!(
        text.contains("http_server_request_duration_seconds"),
        "{text}"
    );
    assert!(!text.contains("\"second\""), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_periodic_flush_stores_the_metrics_without_being_asked() {
    let running = start(|c| {
        c.spans.flush_interval = dozor_config::Duration(std::time::Duration::from_millis(100));
    })
    .await;
    let req = request(vec![server("GET", None, "/a/1", 200, 5); 3]);
    let r = common::wire::http1(
        running.addrs.otlp_http,
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        req.encode_to_vec(),
    )
    .await;
    assert_eq!(r.status, 200);
    let family = "http_server_request_duration_seconds_count";
    let labels = [("http_route", "/a/{id}"), ("service_name", "mes-api")];
    for _ in 0..50 {
        let m = scrape(&running).await;
        if let Some(n) = samples(&m, family, &labels).values().next() {
            assert_eq!(*n, 3.0);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no {family} {labels:?} after 2.5 s");
}
