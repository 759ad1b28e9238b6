//! OTLP traces on both receivers: the same admission as metrics (tokens, rate, sizes,
//! memory), and forwarding of the exact spans to a tracing backend made by the test.

mod common;

use common::*;
use dozor_collector::Running;
use dozor_metrics::otlp::collector::trace::v1::ExportTraceServiceRequest;
use dozor_metrics::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use dozor_metrics::otlp::resource::v1::Resource;
use dozor_metrics::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, span::SpanKind};
use dozor_metrics::sample::string_kv;
use prost::Message;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `n` server spans of service `service` (instance `instance`), ids numbered from `first`.
fn spans(service: &str, instance: &str, first: u64, n: u64) -> ExportTraceServiceRequest {
    let spans = (first..first + n)
        .map(|i| Span {
            trace_id: i.to_be_bytes().repeat(2),
            span_id: i.to_be_bytes().to_vec(),
            name: format!("GET /orders/{i}"),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: 1_700_000_000_000_000_000 + i,
            end_time_unix_nano: 1_700_000_000_250_000_000 + i,
            attributes: vec![
                string_kv("http.request.method", "GET"),
                string_kv("url.path", &format!("/orders/{i}")),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_kv("service.name", service),
                    string_kv("service.instance.id", instance),
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

async fn post_traces(
    addr: SocketAddr,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> common::wire::Reply {
    let mut h = vec![("content-type", "application/x-protobuf")];
    h.extend_from_slice(headers);
    common::wire::http1(addr, "POST", "/v1/traces", &h, body).await
}

async fn grpc_traces(
    addr: SocketAddr,
    req: ExportTraceServiceRequest,
    headers: &[(&str, &str)],
) -> (tonic::Code, Option<String>) {
    let mut client = TraceServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut r = tonic::Request::new(req);
    for (k, v) in headers {
        let key: tonic::metadata::MetadataKey<tonic::metadata::Ascii> = k.parse().unwrap();
        r.metadata_mut().insert(key, v.parse().unwrap());
    }
    match client.export(r).await {
        Ok(_) => (tonic::Code::Ok, None),
        Err(s) => (
            s.code(),
            s.metadata()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        ),
    }
}

fn received_spans(m: &str, receiver: &str) -> f64 {
    must(
        m,
        &format!(r#"dozor_collector_received_spans_total{{receiver="{receiver}"}}"#),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn traces_are_accepted_plain_and_gzip_on_both_receivers() {
    let running = start(|_| {}).await;
    let (http, grpc) = (running.addrs.otlp_http, running.addrs.otlp_grpc);
    let r = post_traces(http, spans("shop", "shop-1", 0, 3).encode_to_vec(), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let gz = common::wire::gzip(&spans("shop", "shop-1", 3, 4).encode_to_vec());
    let r = post_traces(http, gz, &[("content-encoding", "gzip")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        grpc_traces(grpc, spans("shop", "shop-1", 7, 5), &[])
            .await
            .0,
        tonic::Code::Ok
    );
    let m = scrape(&running).await;
    assert_eq!(received_spans(&m, "otlp_http"), 7.0);
    assert_eq!(received_spans(&m, "otlp_grpc"), 5.0);
    // Spans without a status code are counted, never given one.
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_spans_total{result="http_status_missing"}"#
        ),
        12.0
    );
    assert_eq!(requests(&m, "otlp_http", "accepted"), 2.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn traces_over_the_limits_are_refused_like_metrics() {
    // Rate: 1 span/s, as for points: the first request empties the bucket.
    let running = start(|c| c.limits.per_agent.points_per_second = 1).await;
    let (http, grpc) = (running.addrs.otlp_http, running.addrs.otlp_grpc);
    let body = || spans("shop", "shop-1", 0, 30).encode_to_vec();
    assert_eq!(post_traces(http, body(), &[]).await.status, 200);
    let r = post_traces(http, body(), &[]).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    let (code, retry) = grpc_traces(grpc, spans("shop", "shop-1", 0, 30), &[]).await;
    assert_eq!(code, tonic::Code::ResourceExhausted);
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    let m = scrape(&running).await;
    assert_eq!(refused(&m, "otlp_http", "rate_limited"), 1.0);
    assert_eq!(refused(&m, "otlp_grpc", "rate_limited"), 1.0);
    assert_eq!(received_spans(&m, "otlp_http"), 30.0);
    assert_eq!(received_spans(&m, "otlp_grpc"), 0.0);

    // Size on the wire, size inflated, spans per request (counted before decoding), memory.
    let running = start(|c| {
        c.receivers.otlp_http.max_request_bytes = 2048;
        c.limits.request.max_data_points = 10;
    })
    .await;
    let http = running.addrs.otlp_http;
    let big = spans("shop", "shop-1", 0, 30).encode_to_vec();
    assert!(big.len() > 2048);
    assert_eq!(post_traces(http, big.clone(), &[]).await.status, 413);
    let gz = common::wire::gzip(&big);
    assert!(gz.len() < 2048);
    let r = post_traces(http, gz, &[("content-encoding", "gzip")]).await;
    assert_eq!(r.status, 413, "{}", r.text());
    let eleven = spans("s", "s-1", 0, 11).encode_to_vec();
    assert!(eleven.len() < 2048);
    let r = post_traces(http, eleven, &[]).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(
        grpc_traces(running.addrs.otlp_grpc, spans("s", "s-1", 0, 11), &[])
            .await
            .0,
        tonic::Code::ResourceExhausted
    );
    let m = scrape(&running).await;
    assert_eq!(refused(&m, "otlp_http", "too_large"), 2.0);
    assert_eq!(refused(&m, "otlp_http", "too_many_points"), 1.0);
    assert_eq!(refused(&m, "otlp_grpc", "too_many_points"), 1.0);
    assert_eq!(received_spans(&m, "otlp_http"), 0.0);

    let running = start(|c| {
        c.limits.memory.limit = 2;
        c.limits.memory.spike = 1;
    })
    .await;
    let r = post_traces(running.addrs.otlp_http, body(), &[]).await;
    assert_eq!((r.status, r.header("retry-after")), (503, "1"));
    let (code, retry) = grpc_traces(running.addrs.otlp_grpc, spans("s", "s-1", 0, 1), &[]).await;
    assert_eq!(
        (code, retry.as_deref()),
        (tonic::Code::Unavailable, Some("1"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn traces_need_a_token_when_tokens_are_configured() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "shop-1 shop-token-0123456789\n").unwrap();
    let path = tokens.display().to_string();
    let running = start(|c| c.auth.tokens_file = path).await;
    let (http, grpc) = (running.addrs.otlp_http, running.addrs.otlp_grpc);
    let body = || spans("shop", "shop-1", 0, 2).encode_to_vec();
    assert_eq!(post_traces(http, body(), &[]).await.status, 401);
    let wrong = [("authorization", "Bearer not-a-token-at-all")];
    assert_eq!(post_traces(http, body(), &wrong).await.status, 401);
    let (code, _) = grpc_traces(grpc, spans("shop", "shop-1", 0, 2), &wrong).await;
    assert_eq!(code, tonic::Code::Unauthenticated);
    let right = [("authorization", "Bearer shop-token-0123456789")];
    assert_eq!(post_traces(http, body(), &right).await.status, 200);
    // A token may not speak for another instance: accepted, not measured.
    let other = spans("crm", "crm-1", 0, 3).encode_to_vec();
    assert_eq!(post_traces(http, other, &right).await.status, 200);
    let m = scrape(&running).await;
    assert_eq!(refused(&m, "otlp_http", "unauthenticated"), 2.0);
    assert_eq!(refused(&m, "otlp_grpc", "unauthenticated"), 1.0);
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_spans_total{result="foreign_identity"}"#
        ),
        3.0
    );
}

/// A tracing backend: answers each request with the next of `statuses` (then 200), keeps
/// the bodies it answered 200.
struct Backend {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<(http::HeaderMap, bytes::Bytes)>>>,
}

async fn backend(statuses: Vec<u16>) -> Backend {
    let got = Arc::new(Mutex::new(Vec::new()));
    let statuses = Arc::new(Mutex::new(statuses.into_iter()));
    let (g, s) = (got.clone(), statuses.clone());
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: http::HeaderMap, body: bytes::Bytes| {
            let (g, s) = (g.clone(), s.clone());
            async move {
                let status = s.lock().unwrap().next().unwrap_or(200);
                if status == 200 {
                    g.lock().unwrap().push((headers, body));
                }
                http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Backend { addr, got }
}

async fn until(running: &Running, series: &str, want: f64) -> String {
    for _ in 0..100 {
        let m = scrape(running).await;
        if value(&m, series) == Some(want) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m = scrape(running).await;
    panic!("{series} never reached {want}:\n{m}");
}

fn forward_to(b: &Backend) -> dozor_collector::config::spans::Forward {
    dozor_collector::config::spans::Forward {
        endpoint: format!("http://{}/v1/traces", b.addr),
        headers: [("x-tenant".to_string(), "plant-a".to_string())].into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarding_delivers_the_exact_spans() {
    // The second request fails once with a 503 and is sent again.
    let b = backend(vec![200, 503]).await;
    let forward = forward_to(&b);
    let running = start(|c| c.spans.forward = Some(forward)).await;
    let sent = [
        spans("shop", "shop-1", 0, 3),
        spans("shop", "shop-1", 3, 4),
        spans("crm", "crm-1", 7, 2),
    ];
    let (http, grpc) = (running.addrs.otlp_http, running.addrs.otlp_grpc);
    assert_eq!(
        post_traces(http, sent[0].encode_to_vec(), &[]).await.status,
        200
    );
    let gz = common::wire::gzip(&sent[1].encode_to_vec());
    let r = post_traces(http, gz, &[("content-encoding", "gzip")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        grpc_traces(grpc, sent[2].clone(), &[]).await.0,
        tonic::Code::Ok
    );
    let m = until(
        &running,
        r#"dozor_collector_forwarded_spans_total{outcome="sent"}"#,
        9.0,
    )
    .await;
    let got = b.got.lock().unwrap().clone();
    let decoded: Vec<ExportTraceServiceRequest> = got
        .iter()
        .map(|(_, body)| ExportTraceServiceRequest::decode(body.clone()).unwrap())
        .collect();
    assert_eq!(decoded, sent.to_vec());
    for (headers, _) in &got {
        assert_eq!(headers["x-tenant"], "plant-a");
        assert_eq!(headers["content-type"], "application/x-protobuf");
    }
    for outcome in ["queue_full", "rejected", "failed", "shutdown"] {
        let series = format!(r#"dozor_collector_forwarded_spans_total{{outcome="{outcome}"}}"#);
        assert_eq!(must(&m, &series), 0.0, "{outcome}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarding_drops_are_counted_and_never_block_the_receivers() {
    // A backend that refuses for good, then one that always fails, then a full queue.
    let b = backend(vec![400]).await;
    let mut forward = forward_to(&b);
    let running = start(|c| c.spans.forward = Some(forward.clone())).await;
    let r = post_traces(
        running.addrs.otlp_http,
        spans("s", "s-1", 0, 2).encode_to_vec(),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    until(
        &running,
        r#"dozor_collector_forwarded_spans_total{outcome="rejected"}"#,
        2.0,
    )
    .await;

    let b = backend(vec![500, 503]).await;
    forward.endpoint = format!("http://{}/v1/traces", b.addr);
    forward.max_attempts = 2;
    let running = start(|c| c.spans.forward = Some(forward.clone())).await;
    let r = post_traces(
        running.addrs.otlp_http,
        spans("s", "s-1", 0, 3).encode_to_vec(),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    until(
        &running,
        r#"dozor_collector_forwarded_spans_total{outcome="failed"}"#,
        3.0,
    )
    .await;
    assert!(b.got.lock().unwrap().is_empty());

    // Nobody listens; a queue of one request's size: while the first is being tried, the
    // next ones do not fit. The receivers answer at once all the same.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let one = spans("s", "s-1", 0, 1).encode_to_vec().len() as u64;
    forward.endpoint = format!("http://{}/v1/traces", dead.local_addr().unwrap());
    drop(dead);
    forward.queue_max_bytes = one;
    forward.max_attempts = 3;
    let running = start(|c| c.spans.forward = Some(forward)).await;
    let started = std::time::Instant::now();
    for i in 0..5 {
        let body = spans("s", "s-1", i, 1).encode_to_vec();
        assert_eq!(
            post_traces(running.addrs.otlp_http, body, &[]).await.status,
            200
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let m = scrape(&running).await;
    let full = must(
        &m,
        r#"dozor_collector_forwarded_spans_total{outcome="queue_full"}"#,
    );
    assert!((3.0..=4.0).contains(&full), "{full}\n{m}");
    running.shutdown().await.unwrap();
}
