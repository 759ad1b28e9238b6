//! OTLP traces on both receivers: the same admission as metrics (tokens, rate, sizes,
//! memory) and the same refusals. Forwarding: `traces_forward.rs`.

mod common;

use common::traces::{grpc_traces, post_traces, spans};
use common::*;
use prost::Message;

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
