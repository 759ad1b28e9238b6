//! A gRPC message is charged to the memory limiter while it arrives, not once tonic holds it
//! whole. Alone in its binary: the limit is set just above this process's resident memory,
//! which other tests running alongside would move.

mod common;

use bytes::Bytes;
use common::wire::EXPORT;
use common::*;
use hyper::body::{Body, Frame};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// A request body fed chunk by chunk; it never ends while its sender lives.
struct Chunks(mpsc::Receiver<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

// Regression: #10
#[tokio::test(flavor = "multi_thread")]
async fn a_message_is_refused_while_it_arrives_once_it_would_pass_the_memory_limit() {
    const MIB: u64 = 1 << 20;
    let rss = dozor_collector::admission::memory::resident_bytes().unwrap();
    let running = start(|c| {
        c.receivers.otlp_grpc.max_request_bytes = 256 * MIB;
        c.limits.memory.limit = rss + 64 * MIB;
        c.limits.memory.spike = 1;
    })
    .await;
    let addr = running.addrs.otlp_grpc;

    // A message announcing 200 MiB, of which 128 MiB are sent and the rest never: only a
    // charge taken as the bytes arrive can answer it.
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let (tx, rx) = mpsc::channel(4);
    let writer = tokio::spawn(async move {
        let mut prefix = vec![0u8];
        prefix.extend_from_slice(&(200 * MIB as u32).to_be_bytes());
        let _ = tx.send(Bytes::from(prefix)).await;
        let chunk = Bytes::from(vec![0u8; MIB as usize]);
        for _ in 0..128 {
            if tx.send(chunk.clone()).await.is_err() {
                return;
            }
        }
        std::future::pending::<()>().await;
    });
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{EXPORT}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Chunks(rx))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
        .await
        .expect("an answer before the message is complete")
        .unwrap();
    writer.abort();
    let header = |k: &str| {
        response
            .headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(header("grpc-status"), "14", "{:?}", response.headers()); // UNAVAILABLE
    assert_eq!(header("retry-after"), "1");
    assert_eq!(header("x-dozor-refusal"), "", "the mark stays inside");

    let m = scrape(&running).await;
    assert_eq!(refused(&m, "otlp_grpc", "memory_limit"), 1.0);
    assert_eq!(requests(&m, "otlp_grpc", "refused"), 1.0);

    // The charge went with the request: once the resident reading is fresh, a request fits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (code, _) = grpc_export(addr, sample_request(1.0), &[]).await;
    assert_eq!(code, tonic::Code::Ok);
    running.shutdown().await.unwrap();
}
