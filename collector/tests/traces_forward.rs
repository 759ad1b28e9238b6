//! Forwarding received traces to a tracing backend made by the test: the exact requests
//! arrive with the configured headers; rejections, failures and a full queue are counted and
//! never slow the receivers.

mod common;

use common::traces::{grpc_traces, post_traces, spans};
use common::*;
use dozor_collector::Running;
use dozor_metrics::otlp::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    // Stopped while the first is still being tried: every span is accounted for.
    let telemetry = running.pipeline.telemetry.clone();
    running.shutdown().await.unwrap();
    use dozor_collector::telemetry::spans::ForwardOutcome;
    let count = |o| telemetry.spans.forwarded_count(o);
    assert_eq!(count(ForwardOutcome::Sent), 0);
    let all: u64 = ForwardOutcome::ALL.into_iter().map(count).sum();
    assert_eq!(all, 5);
    assert!(count(ForwardOutcome::Shutdown) >= 1);
}
