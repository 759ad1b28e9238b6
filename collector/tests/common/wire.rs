//! Minimal clients: HTTP/1.1 and raw gRPC over HTTP/2 (hyper), and plain TCP.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response, whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn http1(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// The outcome of a raw gRPC call: `grpc-status` and `grpc-message`, from headers or trailers.
#[derive(Debug)]
pub struct GrpcReply {
    pub code: i32,
    pub message: String,
}

/// One gRPC frame, written by hand: `flag` 1 means the payload is compressed with `encoding`.
/// `declared_len` lets a test lie about the length.
pub fn frame(flag: u8, declared_len: Option<u32>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&declared_len.unwrap_or(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A unary gRPC call with a hand-made body, over HTTP/2.
pub async fn grpc_raw(
    addr: SocketAddr,
    path: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> GrpcReply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(e) = encoding {
        req = req.header("grpc-encoding", e);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let (parts, mut body) = resp.into_parts();
    let mut status = parts.headers.clone();
    while let Some(frame) = body.frame().await {
        if let Ok(trailers) = frame.unwrap().into_trailers() {
            status.extend(trailers);
        }
    }
    let get = |k: &str| status.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    GrpcReply {
        code: get("grpc-status").parse().unwrap_or(-1),
        message: get("grpc-message").to_string(),
    }
}

/// Path of the OTLP metrics export method.
pub const EXPORT: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// Gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A gzip body that inflates to `size` zero bytes, written in pieces so the test itself never
/// holds the inflated form.
pub fn gzip_bomb(size: usize) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..size / chunk.len() {
        e.write_all(&chunk).unwrap();
    }
    e.finish().unwrap()
}

/// Sends headers (and optionally some body) over raw TCP, then reads the status line.
pub async fn raw_status(addr: SocketAddr, head: &str, body_chunks: usize) -> String {
    let chunk = vec![b'x'; 1 << 20];
    let framed = [
        format!("{:x}\r\n", chunk.len()).into_bytes(),
        chunk,
        b"\r\n".to_vec(),
    ]
    .concat();
    raw_exchange(
        addr,
        head,
        std::iter::repeat_n(framed, body_chunks).collect(),
    )
    .await
}

/// Writes `head` then `body` (stopping quietly when the server closes: a server may answer and
/// close before reading a body it refuses) and returns the response's status line.
pub async fn raw_exchange(addr: SocketAddr, head: &str, body: Vec<Vec<u8>>) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = tcp.into_split();
    let writer = tokio::spawn(async move {
        for part in body {
            if wr.write_all(&part).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    let read = async {
        while !got.windows(2).any(|w| w == b"\r\n") {
            let n = rd.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("a response in time");
    writer.abort();
    String::from_utf8_lossy(&got)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}
