//! Connection limits (`limits.connections`): how many may be open, in total and from one
//! address, and how slow a client may be sending headers, a body, or nothing at all; each close
//! counted by receiver and reason. Regression: #10 (200 connections sending one header byte per
//! second were never closed).

mod common;

use common::tls::{Pki, client_config, https_post};
use common::wire::{EXPORT, frame, grpc_raw, http1};
use common::*;
use dozor_collector::Running;
use dozor_collector::config::{Config, Tls};
use dozor_collector::telemetry::{CloseReason, Receiver};
use prost::Message;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEAD: &[u8] =
    b"POST /v1/metrics HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n";

fn secs(c: &mut Config, header: u64, body: u64, idle: u64) {
    let c = &mut c.limits.connections;
    let d = |ms| dozor_config::Duration(Duration::from_millis(ms));
    c.header_read_timeout = d(header);
    c.body_read_timeout = d(body);
    c.idle_timeout = d(idle);
}

fn closed(r: &Running, receiver: Receiver, reason: CloseReason) -> u64 {
    r.pipeline.telemetry.closed(receiver, reason)
}

/// Whether the server closes `tcp` within `limit` (EOF or reset), discarding what it sends.
async fn closes_within(tcp: &mut TcpStream, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

async fn export_ok(addr: SocketAddr) {
    let body = sample_request(1.0).encode_to_vec();
    let ct = [("content-type", "application/x-protobuf")];
    let r = http1(addr, "POST", "/v1/metrics", &ct, body).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_headers_are_closed_after_the_header_timeout() {
    let running = start(|c| secs(c, 1000, 60_000, 60_000)).await;
    let addr = running.addrs.otlp_http;
    let started = Instant::now();
    let slow: Vec<_> = (0..20)
        .map(|_| {
            tokio::spawn(async move {
                let mut tcp = TcpStream::connect(addr).await.unwrap();
                for byte in &HEAD[..4] {
                    if tcp.write_all(&[*byte]).await.is_err()
                        || closes_within(&mut tcp, Duration::from_secs(1)).await
                    {
                        return true;
                    }
                }
                false
            })
        })
        .collect();
    // Everybody else is still served meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    export_ok(addr).await;
    for task in slow {
        assert!(task.await.unwrap(), "still open after 4 bytes in 4 s");
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    let n = closed(&running, Receiver::OtlpHttp, CloseReason::HeaderTimeout);
    assert_eq!(n, 20);
}

/// Opens `n` connections and checks each stays open (the server admitted it).
async fn open(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    for tcp in &mut held {
        assert!(!closes_within(tcp, Duration::from_millis(50)).await);
    }
    held
}

async fn over_a_count_limit(tweak: fn(&mut Config), reason: CloseReason, n: usize) {
    let running = start(tweak).await;
    let addr = running.addrs.otlp_http;
    let mut held = open(addr, n).await;
    let mut extra = TcpStream::connect(addr).await.unwrap();
    assert!(closes_within(&mut extra, Duration::from_millis(500)).await);
    assert_eq!(closed(&running, Receiver::OtlpHttp, reason), 1);
    // Once one closes, a new one is accepted and served.
    held.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    export_ok(addr).await;
    assert_eq!(closed(&running, Receiver::OtlpHttp, reason), 1);
    // The gRPC receiver has counts of its own.
    let _grpc = open(running.addrs.otlp_grpc, n).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fourth_connection_from_one_address_is_closed_at_once() {
    let tweak = |c: &mut Config| c.limits.connections.max_per_address = 3;
    over_a_count_limit(tweak, CloseReason::MaxPerAddress, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sixth_connection_is_closed_at_once() {
    let tweak = |c: &mut Config| c.limits.connections.max = 5;
    over_a_count_limit(tweak, CloseReason::MaxConnections, 5).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_stops_arriving_is_closed_after_the_body_timeout() {
    let running = start(|c| secs(c, 5000, 1000, 60_000)).await;
    let mut tcp = TcpStream::connect(running.addrs.otlp_http).await.unwrap();
    tcp.write_all(HEAD).await.unwrap();
    tcp.write_all(b"content-length: 1000\r\n\r\n")
        .await
        .unwrap();
    tcp.write_all(&[0u8; 10]).await.unwrap();
    let started = Instant::now();
    assert!(closes_within(&mut tcp, Duration::from_secs(3)).await);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    let m = &running;
    assert_eq!(closed(m, Receiver::OtlpHttp, CloseReason::BodyTimeout), 1);
    assert_eq!(closed(m, Receiver::OtlpHttp, CloseReason::HeaderTimeout), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // The header timeout is shorter: it must not apply between requests.
    let running = start(|c| secs(c, 500, 60_000, 1500)).await;
    let mut tcp = TcpStream::connect(running.addrs.otlp_http).await.unwrap();
    let body = sample_request(1.0).encode_to_vec();
    let head = format!("content-length: {}\r\n\r\n", body.len());
    tcp.write_all(&[HEAD, head.as_bytes(), &body].concat())
        .await
        .unwrap();
    let mut reply = vec![0u8; 4096];
    let n = tcp.read(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
    let idle = Instant::now();
    assert!(closes_within(&mut tcp, Duration::from_secs(4)).await);
    let elapsed = idle.elapsed();
    assert!(elapsed >= Duration::from_millis(1400), "{elapsed:?}");
    let m = &running;
    assert_eq!(closed(m, Receiver::OtlpHttp, CloseReason::IdleTimeout), 1);
    assert_eq!(closed(m, Receiver::OtlpHttp, CloseReason::HeaderTimeout), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_connections_without_a_request_are_closed_after_the_header_timeout() {
    let running = start(|c| secs(c, 1000, 60_000, 60_000)).await;
    let addr = running.addrs.otlp_grpc;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    // A whole preface and settings, but no stream.
    let mut no_stream = TcpStream::connect(addr).await.unwrap();
    no_stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let started = Instant::now();
    let body = frame(0, None, &sample_request(1.0).encode_to_vec());
    assert_eq!(grpc_raw(addr, EXPORT, None, body).await.code, 0);
    for tcp in [&mut silent, &mut partial, &mut no_stream] {
        assert!(closes_within(tcp, Duration::from_secs(3)).await);
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(800), "{elapsed:?}");
    let n = closed(&running, Receiver::OtlpGrpc, CloseReason::HeaderTimeout);
    assert_eq!(n, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_handshake_never_finished_is_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    pki.write(dir.path());
    let f = |n: &str| dir.path().join(n).display().to_string();
    let tls = Tls {
        cert_file: f("server.pem"),
        key_file: f("server.key"),
        client_ca_file: String::new(),
    };
    let running = start(|c| {
        secs(c, 1000, 60_000, 60_000);
        c.receivers.otlp_http.tls = tls;
    })
    .await;
    let addr = running.addrs.otlp_http;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let config = client_config(&pki.ca, None, b"http/1.1");
    let body = sample_request(1.0).encode_to_vec();
    assert_eq!(
        https_post(addr, config, &[], body).await.unwrap().status,
        200
    );
    assert!(closes_within(&mut silent, Duration::from_secs(3)).await);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(800), "{elapsed:?}");
    let n = closed(&running, Receiver::OtlpHttp, CloseReason::HeaderTimeout);
    assert_eq!(n, 1);
}
