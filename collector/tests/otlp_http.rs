//! OTLP/HTTP receiver end to end: real HTTP/1.1 requests (and raw TCP for bodies the client
//! never finishes sending) against a collector on ephemeral ports.

mod common;

use common::wire::{gzip, gzip_bomb, http1, raw_exchange, raw_status};
use common::*;
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceResponse;
use dozor_metrics::otlp::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, metric,
};
use prost::Message;
use std::net::SocketAddr;

const PB: (&str, &str) = ("content-type", "application/x-protobuf");

async fn post(addr: SocketAddr, headers: &[(&str, &str)], body: Vec<u8>) -> common::wire::Reply {
    http1(addr, "POST", "/v1/metrics", headers, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_and_gzip_posts_are_stored_and_deltas_accumulate() {
    let running = start(|_| {}).await;
    let addr = running.addrs.otlp_http;

    let r = post(addr, &[PB], sample_request(3.0).encode_to_vec()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), "application/x-protobuf");
    assert!(
        r.body.is_empty(),
        "an empty ExportMetricsServiceResponse encodes to no bytes"
    );

    let delta = |v| {
        request(
            &agent("a2", "plant-b", "db"),
            vec![counter(
                "dozor.test.events",
                "{event}",
                true,
                vec![point(&[("kind", "x")], v)],
            )],
        )
        .encode_to_vec()
    };
    let gz = ("content-encoding", "gzip");
    for v in [2.0, 3.0, 4.5] {
        let r = post(addr, &[PB, gz], gzip(&delta(v))).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let m = scrape(&running).await;
    assert_eq!(
        must(
            &m,
            r#"system_cpu_time_seconds_total{cpu_mode="user",instance="a1",job="dozor-agent",role="web",site="plant-a"}"#
        ),
        3.0
    );
    assert_eq!(
        must(
            &m,
            r#"dozor_test_events_total{instance="a2",job="dozor-agent",kind="x",role="db",site="plant-b"}"#
        ),
        9.5
    );
    assert_eq!(requests(&m, "otlp_http", "accepted"), 4.0);
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_received_points_total{receiver="otlp_http"}"#
        ),
        5.0
    );
    assert_eq!(must(&m, "dozor_collector_agents"), 2.0);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn unstorable_points_get_partial_success_and_are_counted() {
    let running = start(|_| {}).await;
    let mut req = sample_request(1.0);
    let expo = dozor_metrics::otlp::metrics::v1::Metric {
        name: "latency".into(),
        data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint::default(); 2],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    req.resource_metrics[0].scope_metrics[0].metrics.push(expo);
    let r = post(running.addrs.otlp_http, &[PB], req.encode_to_vec()).await;
    assert_eq!(r.status, 200);
    let resp = ExportMetricsServiceResponse::decode(r.body.clone()).unwrap();
    let partial = resp.partial_success.expect("partial success");
    assert_eq!(partial.rejected_data_points, 2);
    assert_eq!(
        partial.error_message,
        "2 data points not stored: 2 unsupported_type"
    );
    let m = scrape(&running).await;
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_dropped_points_total{reason="unsupported_type"}"#
        ),
        2.0
    );
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_received_points_total{receiver="otlp_http"}"#
        ),
        4.0
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_is_refused_with_the_right_status_and_counted() {
    let limit = 1 << 20;
    let running = start(|c| c.receivers.otlp_http.max_request_bytes = limit).await;
    let addr = running.addrs.otlp_http;
    let good = sample_request(1.0).encode_to_vec();
    let mut random: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
    random[0] = 0x0f; // wire type 7 does not exist: never valid protobuf

    let gz = ("content-encoding", "gzip");
    // (method, path, what, headers, body, expected status)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        Vec<u8>,
        u16,
    );
    let cases: Vec<Case> = vec![
        ("GET", "/v1/metrics", "wrong method", vec![], vec![], 405),
        (
            "POST",
            "/v1/profiles",
            "other path",
            vec![PB],
            good.clone(),
            404,
        ),
        (
            "POST",
            "/v1/metrics",
            "json",
            vec![("content-type", "application/json")],
            b"{}".to_vec(),
            415,
        ),
        (
            "POST",
            "/v1/metrics",
            "no content type",
            vec![],
            good.clone(),
            415,
        ),
        (
            "POST",
            "/v1/metrics",
            "brotli",
            vec![PB, ("content-encoding", "br")],
            good.clone(),
            415,
        ),
        (
            "POST",
            "/v1/metrics",
            "random bytes",
            vec![PB],
            random.clone(),
            400,
        ),
        (
            "POST",
            "/v1/metrics",
            "truncated protobuf",
            vec![PB],
            good[..good.len() - 7].to_vec(),
            400,
        ),
        (
            "POST",
            "/v1/metrics",
            "corrupt gzip",
            vec![PB, gz],
            b"\x1f\x8b not gzip".to_vec(),
            400,
        ),
        (
            "POST",
            "/v1/metrics",
            "gzip bomb",
            vec![PB, gz],
            gzip_bomb(64 << 20),
            413,
        ),
    ];
    for (method, path, what, headers, body, want) in cases {
        let r = http1(addr, method, path, &headers, body).await;
        assert_eq!(r.status, want, "{what}: {}", r.text());
        assert_eq!(r.header("content-type"), "application/x-protobuf", "{what}");
        if want == 405 {
            assert_eq!(r.header("allow"), "POST");
        }
    }

    // A body over the limit with its true Content-Length. Sent raw: the collector answers and
    // closes before reading it, which a regular client reports as a broken pipe.
    let head = format!(
        "POST /v1/metrics HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
        limit + 1
    );
    assert_eq!(
        raw_exchange(addr, &head, vec![vec![0; limit as usize + 1]]).await,
        "HTTP/1.1 413 Payload Too Large"
    );

    // 100 MB announced: refused from the header alone, before any body byte is sent.
    let head = format!(
        "POST /v1/metrics HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
        100 << 20
    );
    assert_eq!(
        raw_status(addr, &head, 0).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    // 100 MB chunked, no Content-Length: refused once the limit is crossed.
    let head = "POST /v1/metrics HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ntransfer-encoding: chunked\r\n\r\n";
    assert_eq!(
        raw_status(addr, head, 100).await,
        "HTTP/1.1 413 Payload Too Large"
    );

    // Still serving.
    let r = post(addr, &[PB], good).await;
    assert_eq!(r.status, 200, "{}", r.text());

    let m = scrape(&running).await;
    let refused = |reason: &str| refused(&m, "otlp_http", reason);
    assert_eq!(refused("method_not_allowed"), 1.0);
    assert_eq!(refused("not_found"), 1.0);
    assert_eq!(refused("unsupported_media_type"), 2.0);
    assert_eq!(refused("bad_encoding"), 2.0);
    assert_eq!(refused("decode_error"), 2.0);
    assert_eq!(refused("too_large"), 4.0);
    assert_eq!(requests(&m, "otlp_http", "refused"), 12.0);
    assert_eq!(requests(&m, "otlp_http", "accepted"), 1.0);
    running.shutdown().await.unwrap();
}

// Regression: #10.
#[tokio::test(flavor = "multi_thread")]
async fn more_points_than_the_bound_are_refused_before_decoding() {
    use dozor_collector::receivers::otlp_http::RpcStatus;
    let running = start(|c| c.limits.request.max_data_points = 10).await;
    let addr = running.addrs.otlp_http;
    let gz = ("content-encoding", "gzip");
    let bodies = [
        (vec![PB], wide("a1", 11).encode_to_vec()),
        (vec![PB, gz], gzip(&wide("a1", 11).encode_to_vec())),
        (vec![PB, gz], gzip(&wide("a1", 5000).encode_to_vec())),
    ];
    for (headers, body) in bodies {
        let r = post(addr, &headers, body).await;
        assert_eq!(r.status, 413, "{headers:?}: {}", r.text());
        assert_eq!(r.header("retry-after"), "", "never fits: no retry");
        let status = RpcStatus::decode(r.body.clone()).unwrap();
        assert_eq!(status.code, 8, "{status:?}"); // RESOURCE_EXHAUSTED
        assert!(status.message.contains("max_data_points"), "{status:?}");
    }
    let m = scrape(&running).await;
    assert_eq!(refused(&m, "otlp_http", "too_many_points"), 3.0);
    assert_eq!(requests(&m, "otlp_http", "accepted"), 0.0);
    assert!(!m.contains("dozor_test_wide"), "{m}");

    // The bound itself is allowed.
    let r = post(addr, &[PB, gz], gzip(&wide("a1", 10).encode_to_vec())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let m = scrape(&running).await;
    assert_eq!(refused(&m, "otlp_http", "too_many_points"), 3.0);
    assert_eq!(requests(&m, "otlp_http", "accepted"), 1.0);
    running.shutdown().await.unwrap();
}
