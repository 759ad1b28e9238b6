//! [`super::read`] on literal spans.

use super::*;
use dozor_metrics::otlp::common::v1::AnyValue;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

fn i(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

fn span(kind: SpanKind, attributes: Vec<KeyValue>) -> Span {
    Span {
        kind: kind as i32,
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 251_000,
        attributes,
        ..Default::default()
    }
}

#[test]
fn current_semantic_conventions() {
    let sp = span(
        SpanKind::Server,
        vec![
            s("http.request.method", "GET"),
            s("http.route", "/orders/{id}"),
            s("url.path", "/orders/17"),
            i("http.response.status_code", 404),
            s("server.address", "mes.local"),
            i("server.port", 8443),
            i("http.request.body.size", 12),
            i("http.response.body.size", 3400),
        ],
    );
    assert_eq!(
        read(&sp),
        Ok(Exchange {
            side: Side::Server,
            service: "",
            method: "GET",
            target: "/orders/{id}",
            status: 404,
            server_address: "mes.local",
            server_port: 8443,
            start_ns: 1_000,
            end_ns: 251_000,
            request_bytes: Some(12),
            response_bytes: Some(3400),
        })
    );
}

#[test]
fn old_names_and_url_fallbacks() {
    let server = span(
        SpanKind::Server,
        vec![
            s("http.method", "POST"),
            s("http.target", "/orders/17?x=1"),
            s("http.status_code", "201"),
            s("http.host", "shop:8080"),
        ],
    );
    let h = read(&server).unwrap();
    assert_eq!(
        (
            h.method,
            h.target,
            h.status,
            h.server_address,
            h.server_port
        ),
        ("POST", "/orders/17?x=1", 201, "shop", 8080)
    );
    let client = span(
        SpanKind::Client,
        vec![
            s("http.method", "GET"),
            s("http.url", "https://user@crm.local/api/items/5?q#frag"),
            i("http.status_code", 200),
            s("net.host.name", "ignored-on-a-client"),
        ],
    );
    let h = read(&client).unwrap();
    assert_eq!(
        (h.side, h.target, h.server_address, h.server_port),
        (Side::Client, "/api/items/5?q", "crm.local", 443)
    );
    let peer = span(
        SpanKind::Client,
        vec![
            s("http.request.method", "GET"),
            s("url.full", "http://[::1]:9000"),
            s("net.peer.name", "crm"),
            i("net.peer.port", 81),
            i("http.response.status_code", 503),
        ],
    );
    let h = read(&peer).unwrap();
    assert_eq!(
        (h.target, h.server_address, h.server_port),
        ("/", "crm", 81)
    );
}

#[test]
fn what_is_not_http_red() {
    let http = || vec![s("http.request.method", "GET"), s("url.path", "/")];
    let with = |kind, mut a: Vec<KeyValue>, extra: Vec<KeyValue>| {
        a.extend(extra);
        read(&span(kind, a)).map(|_| ())
    };
    assert_eq!(
        with(
            SpanKind::Internal,
            http(),
            vec![i("http.response.status_code", 200)]
        ),
        Err(Skip::NotServerOrClient)
    );
    assert_eq!(
        with(SpanKind::Consumer, http(), vec![]),
        Err(Skip::NotServerOrClient)
    );
    assert_eq!(
        with(
            SpanKind::Server,
            vec![s("url.path", "/")],
            vec![i("http.response.status_code", 200)]
        ),
        Err(Skip::NotHttp)
    );
    assert_eq!(
        with(SpanKind::Server, http(), vec![]),
        Err(Skip::StatusMissing)
    );
    assert_eq!(
        with(
            SpanKind::Server,
            http(),
            vec![i("http.response.status_code", 0)]
        ),
        Err(Skip::StatusMissing)
    );
    assert_eq!(
        with(
            SpanKind::Client,
            http(),
            vec![i("http.response.status_code", 700)]
        ),
        Err(Skip::StatusMissing)
    );
    assert_eq!(
        with(
            SpanKind::Server,
            vec![s("http.request.method", "GET")],
            vec![i("http.response.status_code", 200)]
        ),
        Err(Skip::TargetMissing)
    );
    let mut backwards = span(SpanKind::Server, http());
    backwards
        .attributes
        .push(i("http.response.status_code", 200));
    backwards.end_time_unix_nano = 10;
    assert_eq!(read(&backwards).map(|_| ()), Err(Skip::BadTiming));
}
