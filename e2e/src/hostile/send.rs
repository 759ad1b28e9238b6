//! Sending a prepared body to the collector's receivers as one OTLP export: a blocking
//! HTTP/1.1 `POST /v1/metrics` over a plain socket, or a unary gRPC call over HTTP/2 (hyper),
//! each on a fresh connection, so that concurrent senders are concurrent connections.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long one export may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The OTLP receiver a body goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `POST /v1/metrics` on the OTLP/HTTP port.
    Http,
    /// `MetricsService/Export` on the OTLP/gRPC port.
    Grpc,
}

/// How an export ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The HTTP status.
    Http(u16),
    /// The `grpc-status` code.
    Grpc(i32),
    /// No answer: the connection failed, was closed or timed out.
    Failed(String),
}

impl Outcome {
    /// Whether the collector took the request (HTTP 200, gRPC OK).
    pub fn accepted(&self) -> bool {
        matches!(self, Outcome::Http(200) | Outcome::Grpc(0))
    }

    /// A short label for counting outcomes: `http 503`, `grpc 14`, `failed`.
    pub fn label(&self) -> String {
        match self {
            Outcome::Http(s) => format!("http {s}"),
            Outcome::Grpc(c) => format!("grpc {c}"),
            Outcome::Failed(_) => "failed".into(),
        }
    }
}

/// Sends `body` (gzip-compressed when `gzip`) as one export to the receiver of `transport` on
/// 127.0.0.1:`port`, with extra request `headers` (`authorization`, `dozor-agent`).
pub fn export(
    transport: Transport,
    port: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    gzip: bool,
) -> Outcome {
    match transport {
        Transport::Http => http1(port, headers, body, gzip).unwrap_or_else(failed),
        Transport::Grpc => grpc(port, headers, body, gzip).unwrap_or_else(failed),
    }
}

fn failed(e: std::io::Error) -> Outcome {
    Outcome::Failed(e.to_string())
}

fn http1(port: u16, headers: &[(&str, &str)], body: &[u8], gzip: bool) -> std::io::Result<Outcome> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(TIMEOUT))?;
    tcp.set_write_timeout(Some(TIMEOUT))?;
    let mut head = format!(
        "POST /v1/metrics HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\
         content-type: application/x-protobuf\r\ncontent-length: {}\r\n",
        body.len()
    );
    if gzip {
        head.push_str("content-encoding: gzip\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes())?;
    // A server may answer and close before reading a body it refuses: read its answer anyway.
    let _ = tcp.write_all(body);
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    while !reply.windows(2).any(|w| w == b"\r\n") {
        match tcp.read(&mut buf)? {
            0 => break,
            n => reply.extend_from_slice(&buf[..n]),
        }
    }
    // Drain the rest so the server sees the answer delivered before the connection closes.
    while tcp.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
    let line = String::from_utf8_lossy(&reply);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .map(Outcome::Http)
        .ok_or_else(|| {
            std::io::Error::other(format!("no HTTP status in {:?}", line.lines().next()))
        })
}

fn grpc(port: u16, headers: &[(&str, &str)], body: &[u8], gzip: bool) -> std::io::Result<Outcome> {
    let mut framed = Vec::with_capacity(body.len() + 5);
    framed.push(u8::from(gzip));
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(body);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        tokio::time::timeout(TIMEOUT, grpc_call(port, headers, framed))
            .await
            .map_err(|_| std::io::Error::other("timed out"))?
    })
}

async fn grpc_call(
    port: u16,
    headers: &[(&str, &str)],
    framed: Vec<u8>,
) -> std::io::Result<Outcome> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://127.0.0.1:{port}/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if framed[0] == 1 {
        req = req.header("grpc-encoding", "gzip");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(framed)))
        .map_err(std::io::Error::other)?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(std::io::Error::other)?;
    let (parts, mut body) = resp.into_parts();
    let mut status = parts.headers;
    while let Some(frame) = body.frame().await {
        if let Ok(trailers) = frame.map_err(std::io::Error::other)?.into_trailers() {
            status.extend(trailers);
        }
    }
    status
        .get("grpc-status")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .map(Outcome::Grpc)
        .ok_or_else(|| std::io::Error::other(format!("HTTP {} without grpc-status", parts.status)))
}
