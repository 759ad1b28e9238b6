//! The official OpenTelemetry Python SDK sends spans to a running collector, over OTLP/HTTP
//! (service `shop`) and OTLP/gRPC (service `crm`); the RED series on `/metrics` equal what the
//! SDK reports it exported: exact counts and buckets per route and status, sums within float
//! tolerance, routes past the budget folded into `_other` and counted. Needs
//! `scripts/peers/otel-python.sh` (pip: opentelemetry-sdk, -exporter-otlp-proto-http, -grpc).

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// One planned span: its attributes carry the route and status the test expects of it
/// (`test.expect.*`, which the collector ignores).
fn planned(
    service: &str,
    exporter: &str,
    kind: &str,
    attrs: Value,
    expect: (&str, &str),
    ms: f64,
) -> Value {
    let mut attributes = attrs;
    attributes["test.expect.route"] = json!(expect.0);
    attributes["test.expect.status"] = json!(expect.1);
    json!({
        "service": service,
        "instance": format!("{service}-1"),
        "exporter": exporter,
        "kind": kind,
        "attributes": attributes,
        "duration_ns": (ms * 1e6) as u64,
    })
}

fn server(method: &str, route: Option<&str>, path: &str, status: u16) -> Value {
    let mut a = json!({
        "http.request.method": method,
        "url.path": path,
        "http.response.status_code": status,
        "server.address": "shop.local",
        "server.port": 8080,
    });
    if let Some(r) = route {
        a["http.route"] = json!(r);
    }
    a
}

/// The plan: phase 1 fills the budget of 6 series of `shop`, phase 2 goes over it.
fn plan() -> Vec<Vec<Value>> {
    let mut one = Vec::new();
    let shop = |kind, attrs, expect, ms| planned("shop", "http", kind, attrs, expect, ms);
    for k in 0..7 {
        let a = server(
            "GET",
            Some("/orders/{order}"),
            &format!("/orders/{}", 100 + k),
            200,
        );
        one.push(shop(
            "server",
            a,
            ("/orders/{order}", "200"),
            3.0 * (k + 1) as f64,
        ));
    }
    for k in 0..3 {
        let a = server("GET", None, &format!("/orders/{}", 7 + k), 404);
        one.push(shop("server", a, ("/orders/{id}", "404"), 15.25));
    }
    for _ in 0..4 {
        let a = server("POST", Some("/orders"), "/orders", 201);
        one.push(shop("server", a, ("/orders", "201"), 120.0));
    }
    for _ in 0..2 {
        let a = server("POST", Some("/orders"), "/orders", 500);
        one.push(shop("server", a, ("/orders", "500"), 20_500.0));
    }
    for k in 0..5 {
        let old = json!({
            "http.method": "GET",
            "http.target": "/catalog?page=2",
            "http.status_code": 200,
            "net.host.name": "shop.local",
            "net.host.port": 8080,
        });
        one.push(shop("server", old, ("/catalog", "200"), 8.0 + k as f64));
    }
    for k in 0..6 {
        let c = json!({
            "http.request.method": "GET",
            "url.full": format!("http://crm.local:9000/api/customers/{}", 40 + k),
            "http.response.status_code": 200,
        });
        one.push(shop("client", c, ("/api/customers/{id}", "200"), 30.0));
    }
    // Not HTTP RED: no status, internal, no method.
    for _ in 0..2 {
        let mut a = server("GET", None, "/orders/1", 200);
        a.as_object_mut()
            .unwrap()
            .remove("http.response.status_code");
        one.push(shop("server", a, ("", "missing"), 2.0));
    }
    for _ in 0..3 {
        one.push(shop("internal", json!({}), ("", "internal"), 1.0));
    }
    one.push(shop(
        "server",
        json!({"rpc.system": "grpc"}),
        ("", "not_http"),
        1.0,
    ));
    let crm = |attrs, expect, ms| planned("crm", "grpc", "server", attrs, expect, ms);
    for k in 0..6 {
        let mut a = server(
            "GET",
            Some("/api/customers/{id}"),
            &format!("/api/customers/{k}"),
            200,
        );
        a["server.address"] = json!("crm.local");
        one.push(crm(a, ("/api/customers/{id}", "200"), 25.0 + k as f64));
    }
    for _ in 0..2 {
        let a = server("PUT", Some("/api/customers/{id}"), "/api/customers/3", 409);
        one.push(crm(a, ("/api/customers/{id}", "409"), 5.0));
    }
    let mut two = Vec::new();
    for path in ["/extra/a", "/extra/b", "/extra/c"] {
        for _ in 0..2 {
            two.push(shop(
                "server",
                server("GET", None, path, 200),
                ("_other", "200"),
                1.0,
            ));
        }
    }
    vec![one, two]
}

fn run_python(http: std::net::SocketAddr, grpc: std::net::SocketAddr) -> Vec<Value> {
    let program = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/otel_emit.py");
    let check = Command::new("python3")
        .args(["-c", "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, opentelemetry.exporter.otlp.proto.grpc"])
        .status();
    assert!(
        check.is_ok_and(|s| s.success()),
        "the OpenTelemetry Python SDK is missing: run `. scripts/peers/otel-python.sh` (pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-grpc)"
    );
    let input = json!({
        "http": format!("http://{http}/v1/traces"),
        "grpc": grpc.to_string(),
        "phases": plan(),
    });
    let mut child = Command::new("python3")
        .arg(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "otel_emit.py failed: {stderr}");
    assert!(!stderr.contains("export failed"), "{stderr}");
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

/// Expected series: (service, side, method, route, status) -> durations in seconds.
type Expected = BTreeMap<(String, String, String, String, String), Vec<f64>>;

fn expected(report: &[Value]) -> (Expected, BTreeMap<&'static str, f64>) {
    let mut series = Expected::new();
    let mut results = BTreeMap::from([
        ("recorded", 0.0),
        ("http_status_missing", 0.0),
        ("not_server_or_client", 0.0),
        ("not_http", 0.0),
    ]);
    for s in report {
        let a = &s["attributes"];
        let status = a["test.expect.status"].as_str().unwrap().to_string();
        let result = match status.as_str() {
            "missing" => "http_status_missing",
            "internal" => "not_server_or_client",
            "not_http" => "not_http",
            _ => "recorded",
        };
        *results.get_mut(result).unwrap() += 1.0;
        if result != "recorded" {
            continue;
        }
        let method = a["http.request.method"]
            .as_str()
            .or(a["http.method"].as_str());
        let key = (
            s["service"].as_str().unwrap().to_string(),
            s["kind"].as_str().unwrap().to_string(),
            method.unwrap().to_string(),
            a["test.expect.route"].as_str().unwrap().to_string(),
            status,
        );
        let seconds =
            (s["end_ns"].as_u64().unwrap() - s["start_ns"].as_u64().unwrap()) as f64 / 1e9;
        series.entry(key).or_default().push(seconds);
    }
    (series, results)
}

/// Samples of `name` (a full family and suffix) whose labels include `labels`, as
/// (label set, value).
fn samples(m: &str, name: &str, labels: &[(&str, &str)]) -> Vec<(String, f64)> {
    m.lines()
        .filter_map(|l| {
            let (set, value) = l.strip_prefix(name)?.strip_prefix('{')?.rsplit_once("} ")?;
            let all = labels
                .iter()
                .all(|(k, v)| set.contains(&format!("{k}=\"{v}\"")));
            all.then(|| Some((set.to_string(), value.split(' ').next()?.parse().ok()?)))?
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_spans_become_exact_red_series() {
    let running = start(|c| c.spans.max_series = 6).await;
    let (http, grpc) = (running.addrs.otlp_http, running.addrs.otlp_grpc);
    let report = tokio::task::spawn_blocking(move || run_python(http, grpc))
        .await
        .unwrap();
    let planned: usize = plan().iter().map(Vec::len).sum();
    assert_eq!(report.len(), planned, "the SDK exported every planned span");
    running.pipeline.spans.flush(&running.pipeline);
    let m = scrape(&running).await;
    let (series, results) = expected(&report);

    for ((service, side, method, route, status), durations) in &series {
        let family = format!("http_{side}_request_duration_seconds");
        let labels = [
            ("service_name", service.as_str()),
            ("http_request_method", method.as_str()),
            ("http_route", route.as_str()),
            ("http_response_status_code", status.as_str()),
        ];
        let what = format!("{family} {labels:?}");
        let count = samples(&m, &format!("{family}_count"), &labels);
        assert_eq!(count.len(), 1, "{what}: {count:?}\n{m}");
        assert_eq!(count[0].1, durations.len() as f64, "{what}");
        let sum: f64 = durations.iter().sum();
        let got = samples(&m, &format!("{family}_sum"), &labels)[0].1;
        assert!(
            (got - sum).abs() <= 1e-9 * sum.max(1.0),
            "{what}: sum {got} != {sum}"
        );
        let buckets = samples(&m, &format!("{family}_bucket"), &labels);
        assert!(buckets.len() > 10, "{what}: {buckets:?}");
        for (set, n) in buckets {
            let le = set
                .split("le=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let bound: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            let want = durations.iter().filter(|d| **d <= bound).count() as f64;
            assert_eq!(n, want, "{what} le={le}");
        }
    }
    // Nothing else: every count sample of both services is one the test expects.
    for side in ["server", "client"] {
        let family = format!("http_{side}_request_duration_seconds_count");
        let all: f64 = samples(&m, &family, &[]).iter().map(|s| s.1).sum();
        let want: usize = series
            .iter()
            .filter(|(k, _)| k.1 == side)
            .map(|(_, d)| d.len())
            .sum();
        assert_eq!(all, want as f64, "{family}");
    }
    let folded: usize = series
        .iter()
        .filter(|(k, _)| k.3 == "_other")
        .map(|(_, d)| d.len())
        .sum();
    assert_eq!(folded, 6);
    let overflow = samples(
        &m,
        "dozor_http_overflow_series_total",
        &[("service_name", "shop")],
    );
    assert_eq!(overflow.len(), 1, "{m}");
    assert_eq!(overflow[0].1, folded as f64);
    for (result, n) in results {
        let line = format!(r#"dozor_collector_spans_total{{result="{result}"}}"#);
        assert_eq!(must(&m, &line), n, "{result}");
    }
    let by_service = |svc: &str| report.iter().filter(|s| s["service"] == svc).count() as f64;
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_received_spans_total{receiver="otlp_http"}"#
        ),
        by_service("shop")
    );
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_received_spans_total{receiver="otlp_grpc"}"#
        ),
        by_service("crm")
    );
}
