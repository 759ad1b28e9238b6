//! The admin endpoint: HTTP/1.1 (hyper), read-only, on a thread and runtime of its own, so
//! that it answers while the agent's runtime is busy or stuck.
//!
//! `GET /v1/status` (JSON, [`super::status::Status`]) and `GET /v1/health` (`ok`); any other
//! method is 405, any other path 404. With a token configured every request needs
//! `Authorization: Bearer <token>` (401 otherwise). Bounded: one request per connection, headers
//! at most [`MAX_HEADER_BYTES`], a client that has not sent its request within
//! [`READ_TIMEOUT`] (or not taken the answer within [`CONNECTION_TIMEOUT`]) is dropped, and at
//! most [`MAX_CONNECTIONS`] at once.

use super::snapshot::Board;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Largest request head (request line and headers) read.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long a client may take to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may last in all.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 16;

struct Ctx {
    board: Arc<Board>,
    /// `Bearer <token>`, when one is asked for.
    expected: Option<Vec<u8>>,
}

/// Binds `addr` and serves on a thread of its own; returns the bound address. A bind error is
/// returned at once (the caller decides whether the agent runs without the endpoint).
pub fn start(
    addr: SocketAddr,
    token: Option<String>,
    board: Arc<Board>,
) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let ctx = Arc::new(Ctx {
        board,
        expected: token.map(|t| format!("Bearer {t}").into_bytes()),
    });
    std::thread::Builder::new()
        .name("dozor-admin".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, "Admin endpoint could not start its runtime; it is off.");
                    return;
                }
            };
            runtime.block_on(serve(listener, ctx));
        })?;
    info!(address = %bound, "Admin endpoint listening.");
    Ok(bound)
}

async fn serve(listener: std::net::TcpListener, ctx: Arc<Ctx>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "Admin endpoint could not listen; it is off.");
            return;
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors and the like: try again shortly.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let ctx = ctx.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&ctx, &req)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            drop(permit);
        });
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn answer(ctx: &Ctx, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if let Some(expected) = &ctx.expected {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .map_or(&[][..], |v| v.as_bytes());
        if !same(given, expected) {
            return reply(
                StatusCode::UNAUTHORIZED,
                "text/plain",
                "a valid token is required: Authorization: Bearer <token>\n",
            )
            .with_header(header::WWW_AUTHENTICATE, "Bearer");
        }
    }
    if req.method() != Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "read-only: only GET\n",
        )
        .with_header(header::ALLOW, "GET");
    }
    match req.uri().path() {
        "/v1/status" => match serde_json::to_string_pretty(&ctx.board.status()) {
            Ok(json) => reply(StatusCode::OK, "application/json", json),
            Err(e) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("{e}\n"),
            ),
        },
        "/v1/health" => reply(StatusCode::OK, "text/plain", "ok\n"),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: GET /v1/status or /v1/health\n",
        ),
    }
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
}

trait WithHeader {
    fn with_header(self, name: header::HeaderName, value: &'static str) -> Self;
}

impl WithHeader for Response<Full<Bytes>> {
    fn with_header(mut self, name: header::HeaderName, value: &'static str) -> Self {
        self.headers_mut()
            .insert(name, header::HeaderValue::from_static(value));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"Bearer abc", b"Bearer abc"));
        assert!(!same(b"Bearer abd", b"Bearer abc"));
        assert!(!same(b"Bearer ab", b"Bearer abc"));
        assert!(!same(b"", b"Bearer abc"));
    }
}
