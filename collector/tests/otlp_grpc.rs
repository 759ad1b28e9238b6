//! OTLP/gRPC receiver end to end: a real tonic client and hand-made HTTP/2 frames against a
//! collector on ephemeral ports, checked through `/metrics`.

mod common;

use common::wire::{EXPORT, frame, grpc_raw, gzip, gzip_bomb};
use common::*;
use dozor_metrics::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::codec::CompressionEncoding;

const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNIMPLEMENTED: i32 = 12;

#[tokio::test(flavor = "multi_thread")]
async fn export_over_grpc_then_scrape() {
    let running = start(|_| {}).await;
    let mut client = MetricsServiceClient::connect(format!("http://{}", running.addrs.otlp_grpc))
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    let resp = client
        .export(sample_request(12.5))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.partial_success, None);

    let m = scrape(&running).await;
    let labels = r#"instance="a1",job="dozor-agent",role="web",site="plant-a""#;
    assert_eq!(
        must(
            &m,
            &format!(r#"system_cpu_time_seconds_total{{cpu_mode="user",{labels}}}"#)
        ),
        12.5
    );
    assert_eq!(
        must(
            &m,
            &format!(r#"system_memory_usage_bytes{{{labels},system_memory_state="used"}}"#)
        ),
        1024.0
    );
    assert!(
        m.contains("# HELP system_cpu_time_seconds_total Test metric system.cpu.time.\n"),
        "{m}"
    );
    assert!(
        m.contains("# TYPE system_cpu_time_seconds_total counter\n"),
        "{m}"
    );
    assert_eq!(
        must(
            &m,
            r#"target_info{host_name="a1.example",instance="a1",job="dozor-agent",os_type="linux",role="web",site="plant-a"}"#
        ),
        1.0
    );
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_received_points_total{receiver="otlp_grpc"}"#
        ),
        2.0
    );
    assert_eq!(requests(&m, "otlp_grpc", "accepted"), 1.0);
    assert_eq!(requests(&m, "otlp_grpc", "refused"), 0.0);
    assert_eq!(must(&m, "dozor_collector_series"), 3.0);
    assert_eq!(must(&m, "dozor_collector_agents"), 1.0);
    let seen = must(
        &m,
        r#"dozor_collector_agent_last_seen_timestamp_seconds{agent="a1",host_name="a1.example",role="web",site="plant-a"}"#,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - seen).abs() < 60.0, "last seen {seen}, now {now}");

    // A cumulative counter is replaced by the next value, not added.
    client.export(sample_request(20.0)).await.unwrap();
    let m = scrape(&running).await;
    assert_eq!(
        must(
            &m,
            &format!(r#"system_cpu_time_seconds_total{{cpu_mode="user",{labels}}}"#)
        ),
        20.0
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_is_refused_and_counted_then_good_requests_still_work() {
    let limit = 1 << 20;
    let running = start(|c| c.receivers.otlp_grpc.max_request_bytes = limit).await;
    let addr = running.addrs.otlp_grpc;
    let good = sample_request(1.0).encode_to_vec();
    let random: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
    // Invalid wire type 7 in the first tag byte: random bytes that are garbage for certain.
    let mut random = random;
    random[0] = 0x0f;

    let cases: Vec<(&str, Option<&str>, Vec<u8>, i32)> = vec![
        (
            "random bytes",
            None,
            frame(0, None, &random),
            INVALID_ARGUMENT,
        ),
        (
            "truncated protobuf",
            None,
            frame(0, None, &good[..good.len() - 7]),
            INVALID_ARGUMENT,
        ),
        // The length prefix alone says 100 MB: refused before the body is read.
        (
            "100 MB message",
            None,
            frame(0, Some(100 << 20), &good),
            RESOURCE_EXHAUSTED,
        ),
        (
            "gzip bomb",
            Some("gzip"),
            frame(1, None, &gzip_bomb(64 << 20)),
            RESOURCE_EXHAUSTED,
        ),
        (
            "corrupt gzip",
            Some("gzip"),
            frame(1, None, b"\x1f\x8b not really gzip"),
            INVALID_ARGUMENT,
        ),
        ("zstd", Some("zstd"), frame(1, None, &good), UNIMPLEMENTED),
    ];
    for (what, encoding, body, want) in cases {
        let reply = grpc_raw(addr, EXPORT, encoding, body).await;
        assert_eq!(reply.code, want, "{what}: {reply:?}");
    }
    let reply = grpc_raw(
        addr,
        "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export",
        None,
        frame(0, None, &good),
    )
    .await;
    assert_eq!(reply.code, UNIMPLEMENTED, "{reply:?}");

    // Not even HTTP/2: the connection is dropped, nothing else happens.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&random).await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tcp.read_to_end(&mut sink),
    )
    .await;

    // Still serving: a good request by hand (gzip) and one from the tonic client.
    let ok = grpc_raw(addr, EXPORT, Some("gzip"), frame(1, None, &gzip(&good))).await;
    assert_eq!(ok.code, 0, "{ok:?}");
    let mut client = MetricsServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    client.export(sample_request(2.0)).await.unwrap();

    let m = scrape(&running).await;
    let refused = |reason: &str| refused(&m, "otlp_grpc", reason);
    assert_eq!(refused("decode_error"), 2.0);
    assert_eq!(refused("too_large"), 2.0);
    assert_eq!(refused("bad_encoding"), 2.0);
    assert_eq!(refused("not_found"), 1.0);
    assert_eq!(requests(&m, "otlp_grpc", "refused"), 7.0);
    assert_eq!(requests(&m, "otlp_grpc", "accepted"), 2.0);
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_received_points_total{receiver="otlp_grpc"}"#
        ),
        4.0
    );
    running.shutdown().await.unwrap();
}

// Regression: #10.
#[tokio::test(flavor = "multi_thread")]
async fn more_points_than_the_bound_are_refused_before_decoding() {
    let running = start(|c| c.limits.request.max_data_points = 10).await;
    let addr = running.addrs.otlp_grpc;
    let mut plain = MetricsServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut gzipped = plain.clone().send_compressed(CompressionEncoding::Gzip);
    let (code, retry) = grpc_call(&mut plain, wide("a1", 11), &[]).await;
    assert_eq!((code, retry), (tonic::Code::ResourceExhausted, None));
    let (code, retry) = grpc_call(&mut gzipped, wide("a1", 500), &[]).await;
    assert_eq!((code, retry), (tonic::Code::ResourceExhausted, None));
    let raw = grpc_raw(
        addr,
        EXPORT,
        Some("gzip"),
        frame(1, None, &gzip(&wide("a1", 11).encode_to_vec())),
    )
    .await;
    assert_eq!(raw.code, RESOURCE_EXHAUSTED, "{raw:?}");
    assert!(raw.message.contains("max_data_points"), "{raw:?}");

    let m = scrape(&running).await;
    assert_eq!(refused(&m, "otlp_grpc", "too_many_points"), 3.0);
    assert_eq!(requests(&m, "otlp_grpc", "accepted"), 0.0);
    assert!(!m.contains("dozor_test_wide"), "{m}");

    // The bound itself is allowed.
    let (code, _) = grpc_call(&mut gzipped, wide("a1", 10), &[]).await;
    assert_eq!(code, tonic::Code::Ok);
    let m = scrape(&running).await;
    assert_eq!(refused(&m, "otlp_grpc", "too_many_points"), 3.0);
    assert_eq!(requests(&m, "otlp_grpc", "accepted"), 1.0);
    running.shutdown().await.unwrap();
}
