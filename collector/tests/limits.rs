//! Backpressure end to end: per-agent rate, memory limit, per-agent series budget, requests
//! far over the size limit, and a graceful stop that finishes what is in flight.

mod common;

use common::proc::Collector;
use common::wire::{EXPORT, frame, grpc_raw, raw_exchange, raw_status};
use common::*;
use prost::Message;

fn agent_header(name: &str) -> Vec<(String, String)> {
    vec![("dozor-agent".into(), name.into())]
}

#[tokio::test(flavor = "multi_thread")]
async fn over_the_rate_is_refused_with_retry_after() {
    // 1 point/s, a bucket of 2: a first request of 30 points goes through (a full bucket
    // admits anything) and leaves a debt of 28 s, so the next one must wait. Every sender is
    // limited, whatever names it.
    let running = start(|c| c.limits.per_agent.points_per_second = 1).await;
    let (http, grpc) = (running.addrs.otlp_http, running.addrs.otlp_grpc);
    assert_eq!(
        post(http, &wide("a1", 30), &agent_header("a1"))
            .await
            .status,
        200
    );
    let r = post(http, &wide("a1", 30), &agent_header("a1")).await;
    assert_eq!(r.status, 429, "{}", r.text());
    let retry: u64 = r.header("retry-after").parse().unwrap();
    assert!(retry >= 1, "{retry}");

    assert_eq!(
        grpc_export(grpc, wide("a2", 30), &agent_header("a2"))
            .await
            .0,
        tonic::Code::Ok
    );
    let (code, retry) = grpc_export(grpc, wide("a2", 30), &agent_header("a2")).await;
    assert_eq!(code, tonic::Code::ResourceExhausted);
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    // A plain OpenTelemetry SDK, without the header, is limited by its service.instance.id.
    assert_eq!(post(http, &wide("sdk", 30), &[]).await.status, 200);
    assert_eq!(post(http, &wide("sdk", 30), &[]).await.status, 429);
    let m = scrape(&running).await;
    assert_eq!(refused(&m, "otlp_http", "rate_limited"), 2.0);
    assert_eq!(refused(&m, "otlp_grpc", "rate_limited"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn over_the_memory_limit_is_refused_with_retry_after() {
    // A threshold of one byte: the process is always over it.
    let running = start(|c| {
        c.limits.memory.limit = 2;
        c.limits.memory.spike = 1;
    })
    .await;
    let r = post(running.addrs.otlp_http, &sample_request(1.0), &[]).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), "1");
    let (code, retry) = grpc_export(running.addrs.otlp_grpc, sample_request(1.0), &[]).await;
    assert_eq!(code, tonic::Code::Unavailable);
    assert_eq!(retry.as_deref(), Some("1"));
    let m = scrape(&running).await;
    assert_eq!(refused(&m, "otlp_http", "memory_limit"), 1.0);
    assert_eq!(refused(&m, "otlp_grpc", "memory_limit"), 1.0);
    assert_eq!(value(&m, "dozor_test_wide{"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn new_series_over_the_budget_go_to_one_overflow_series() {
    let running = start(|c| c.limits.per_agent.max_series = 2).await;
    let r = post(running.addrs.otlp_http, &wide("a1", 5), &[]).await;
    assert_eq!(r.status, 200);
    let resp =
        dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceResponse::decode(r.body)
            .unwrap();
    assert_eq!(resp.partial_success, None, "folded points are accepted");
    let m = scrape(&running).await;
    let own: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("dozor_test_wide_ratio{") || l.starts_with("dozor_test_wide{"))
        .collect();
    assert_eq!(own.len(), 3, "{m}");
    assert!(
        own.iter()
            .any(|l| l.contains(r#"otel_metric_overflow="true""#)
                && l.contains(r#"instance="a1""#)
                && !l.contains("x=")),
        "{own:#?}"
    );
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_dropped_points_total{reason="series_budget"}"#
        ),
        3.0
    );
}

#[test]
fn a_100_mb_request_is_refused_without_being_held() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let before = c.rss();
    const MB100: usize = 100 << 20;
    rt.block_on(async {
        let chunks: Vec<Vec<u8>> = (0..100).map(|_| vec![b'x'; 1 << 20]).collect();
        // Announced and sent in full.
        let head = format!(
            "POST /v1/metrics HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: {MB100}\r\n\r\n"
        );
        assert!(raw_exchange(c.http, &head, chunks).await.contains(" 413 "));
        // Chunked, no length announced.
        let head = "POST /v1/metrics HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ntransfer-encoding: chunked\r\n\r\n";
        assert!(raw_status(c.http, head, 100).await.contains(" 413 "));
        // One gRPC message of 100 MB, sent in full.
        let reply = grpc_raw(c.grpc, EXPORT, None, frame(0, None, &vec![0u8; MB100])).await;
        assert_eq!(reply.code, 8, "{reply:?}"); // RESOURCE_EXHAUSTED
    });
    let after = c.rss();
    let grown = after.saturating_sub(before);
    // 300 MB were sent; holding any one of them would add 100 MB.
    assert!(grown < 40 << 20, "RSS grew by {} MiB", grown >> 20);
    let m = rt.block_on(async {
        common::wire::http1(c.prometheus, "GET", "/metrics", &[], vec![])
            .await
            .text()
    });
    assert_eq!(refused(&m, "otlp_http", "too_large"), 2.0);
    assert_eq!(refused(&m, "otlp_grpc", "too_large"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_finishes_in_flight_requests_and_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let path = ledger.display().to_string();
    let running = start(|c| c.delivery.ledger_path = path).await;
    let body = delta_request("a1", 1.0).encode_to_vec();
    let (first, rest) = body.split_at(body.len() / 2);
    let head = format!(
        "POST /v1/metrics HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n\
         dozor-agent: a1\r\ndozor-stream: 00000000000000aa\r\ndozor-seq: 9\r\ndozor-oldest: 9\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    let mut tcp = tokio::net::TcpStream::connect(running.addrs.otlp_http)
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(first).await.unwrap();
    // Let the handler start (it is admitted on its headers), then stop the collector.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let stopping = tokio::spawn(running.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    tcp.write_all(rest).await.unwrap();
    let mut reply = Vec::new();
    tcp.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
    stopping.await.unwrap().unwrap();
    let text = std::fs::read_to_string(&ledger).unwrap();
    assert_eq!(text, "F a1 00000000000000aa 9\nA a1 00000000000000aa 9 2\n");
}
