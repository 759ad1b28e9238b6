//! OTLP/HTTP receiver: `POST /v1/metrics`, `POST /v1/logs` and `POST /v1/traces` with a
//! protobuf body, optionally gzip-compressed. All paths share admission, limits and decoding; only the message type and
//! the pipeline call differ.
//!
//! The body is bounded before it is held whole: a `Content-Length` over `max_request_bytes` is
//! refused at once (413) without reading, a body without one is read only up to the limit, and
//! a gzip body is inflated only up to the same limit, so a gzip bomb costs at most
//! `max_request_bytes` of memory. JSON (`application/json`) is refused with 415: the agent sends
//! protobuf, and OTLP/JSON's encoding rules would need their own decoder. Error bodies are a
//! protobuf `google.rpc.Status`, as the OTLP specification asks.

use super::Pipeline;
use crate::admission::Admitted;
use crate::telemetry::events::RequestRefused;
use crate::telemetry::{Receiver, Refusal};
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::Bytes;
use flate2::read::MultiGzDecoder;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};

const PROTOBUF: &str = "application/x-protobuf";

#[derive(Clone, Debug)]
struct Receiving {
    pipeline: Pipeline,
    limit: usize,
}

/// The receiver's routes: `/v1/metrics`, `/v1/logs`, `/v1/traces` and a counting 404 for
/// everything else.
pub fn router(pipeline: Pipeline, max_request_bytes: usize) -> Router {
    let state = Receiving {
        pipeline,
        limit: max_request_bytes,
    };
    Router::new()
        .route("/v1/metrics", any(export))
        .route("/v1/logs", any(export_logs))
        .route("/v1/traces", any(export_traces))
        .fallback(not_found)
        .with_state(state)
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What went wrong.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// A refusal: its status code, reason and message.
struct Refused(StatusCode, Refusal, String);

impl Refused {
    fn respond(self, state: &Receiving) -> Response {
        let Refused(status, reason, message) = self;
        RequestRefused {
            receiver: Receiver::OtlpHttp,
            reason,
            error: &message,
        }
        .emit(&state.pipeline.telemetry);
        let body = RpcStatus {
            code: rpc_code(status),
            message,
        }
        .encode_to_vec();
        let mut response = (status, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(header::ALLOW, http::HeaderValue::from_static("POST"));
        }
        response
    }
}

async fn not_found(State(state): State<Receiving>, request: Request) -> Response {
    // The path is the client's: cap what of it reaches the log and the response.
    let path: String = request.uri().path().chars().take(100).collect();
    let message =
        format!("no such path {path:?}: OTLP goes to /v1/metrics, /v1/logs and /v1/traces");
    Refused(StatusCode::NOT_FOUND, Refusal::NotFound, message).respond(&state)
}

async fn export(State(state): State<Receiving>, request: Request) -> Response {
    receive(&state, request, Pipeline::receive_metrics).await
}

async fn export_traces(State(state): State<Receiving>, request: Request) -> Response {
    receive(&state, request, Pipeline::receive_traces).await
}

async fn export_logs(State(state): State<Receiving>, request: Request) -> Response {
    if state.pipeline.logs.is_none() && request.method() == Method::POST {
        // Refused before the body is read: nothing to keep. Admission first, as for metrics.
        if let Err(r) = state
            .pipeline
            .gate
            .admit(request.headers(), peer(request.extensions()))
        {
            return refusal(&state, r);
        }
        return refusal(&state, super::logs::logs_disabled());
    }
    receive(&state, request, Pipeline::receive_logs).await
}

/// [`Pipeline::receive_metrics`], [`Pipeline::receive_logs`] or [`Pipeline::receive_traces`].
type Receive<M> =
    fn(&Pipeline, Receiver, &[u8], &HeaderMap, &Admitted) -> Result<M, crate::admission::Refused>;

/// What every path does: admit the request on its headers, read its body while holding its
/// declared size (and its inflated size while that lives) in the memory limiter, and hand the
/// bytes to the pipeline, which bounds and charges them before decoding.
async fn receive<M: Message>(state: &Receiving, request: Request, receive: Receive<M>) -> Response {
    let gate = state.pipeline.gate.clone();
    let admitted = match gate.admit(request.headers(), peer(request.extensions())) {
        Ok(a) => a,
        Err(r) => return refusal(state, r),
    };
    let headers = request.headers().clone();
    let _in_flight = gate
        .memory
        .as_ref()
        .map(|m| m.hold(declared(state, &headers)));
    let body = match read_body(state, request).await {
        Ok(body) => body,
        Err(refused) => return refused.respond(state),
    };
    let _inflated = gate
        .memory
        .as_ref()
        .filter(|_| body.inflated)
        .map(|m| m.hold(body.bytes.len() as u64));
    match receive(
        &state.pipeline,
        Receiver::OtlpHttp,
        &body.bytes,
        &headers,
        &admitted,
    ) {
        Ok(response) => {
            ([(header::CONTENT_TYPE, PROTOBUF)], response.encode_to_vec()).into_response()
        }
        Err(r) => refusal(state, r),
    }
}

/// The address a request came from, put in its extensions by the accept loop
/// (`receivers::conn`).
fn peer(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The bytes a request may occupy: its `Content-Length`, or the limit when it has none.
fn declared(state: &Receiving, headers: &HeaderMap) -> u64 {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(u64::MAX)
        .min(state.limit as u64)
}

/// The response to a refusal made by admission or the pipeline, with `Retry-After` when the
/// client may retry.
fn refusal(state: &Receiving, r: crate::admission::Refused) -> Response {
    let mut response = Refused(r.http_status(), r.reason, r.message).respond(state);
    if let Some(seconds) = r.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
    response
}

/// A request's body, decompressed.
struct Body {
    bytes: Bytes,
    /// Whether `bytes` were inflated from a gzip body (and so are more than was declared).
    inflated: bool,
}

/// The body of a POST, checked (method, media type, encoding, size) and decompressed.
async fn read_body(state: &Receiving, request: Request) -> Result<Body, Refused> {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST {
        let m = format!("method {} not allowed: use POST", parts.method);
        return Err(Refused(
            StatusCode::METHOD_NOT_ALLOWED,
            Refusal::MethodNotAllowed,
            m,
        ));
    }
    check_media_type(&parts.headers)?;
    let gzip = check_encoding(&parts.headers)?;
    let too_large = || {
        let m = format!("request body larger than {} bytes", state.limit);
        Refused(StatusCode::PAYLOAD_TOO_LARGE, Refusal::TooLarge, m)
    };
    let declared = parts.headers.get(header::CONTENT_LENGTH);
    if declared
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > state.limit as u64)
    {
        return Err(too_large());
    }
    let bytes = read_limited(body, state.limit).await.map_err(|e| match e {
        ReadError::TooLarge => too_large(),
        ReadError::Io(e) => Refused(
            StatusCode::BAD_REQUEST,
            Refusal::DecodeError,
            format!("reading the body: {e}"),
        ),
    })?;
    if !gzip {
        return Ok(Body {
            bytes,
            inflated: false,
        });
    }
    let inflated = inflate(&bytes, state.limit).map_err(|e| match e {
        ReadError::TooLarge => too_large(),
        ReadError::Io(e) => Refused(
            StatusCode::BAD_REQUEST,
            Refusal::BadEncoding,
            format!("invalid gzip body: {e}"),
        ),
    })?;
    Ok(Body {
        bytes: inflated.into(),
        inflated: true,
    })
}

fn check_media_type(headers: &HeaderMap) -> Result<(), Refused> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = value.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case(PROTOBUF) {
        return Ok(());
    }
    let m =
        format!("unsupported Content-Type {value:?}: send {PROTOBUF} (OTLP/JSON is not supported)");
    Err(Refused(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Refusal::UnsupportedMediaType,
        m,
    ))
}

/// True for gzip; identity (or no header) is plain.
fn check_encoding(headers: &HeaderMap) -> Result<bool, Refused> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    match value
        .to_str()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "gzip" | "x-gzip" => Ok(true),
        "identity" | "" => Ok(false),
        other => {
            let m = format!("unsupported Content-Encoding {other:?}: use gzip or none");
            Err(Refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Refusal::BadEncoding,
                m,
            ))
        }
    }
}

enum ReadError {
    TooLarge,
    Io(String),
}

/// Reads at most `limit` bytes of body; one more is an error, not an allocation.
async fn read_limited(body: axum::body::Body, limit: usize) -> Result<Bytes, ReadError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ReadError::TooLarge),
        Err(e) => Err(ReadError::Io(e.to_string())),
    }
}

/// Inflates at most `limit` bytes.
fn inflate(compressed: &[u8], limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(limit));
    MultiGzDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ReadError::Io(e.to_string()))?;
    if out.len() > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(out)
}

/// The `google.rpc.Code` closest to an HTTP status.
fn rpc_code(status: StatusCode) -> i32 {
    match status {
        StatusCode::BAD_REQUEST => 3,       // INVALID_ARGUMENT
        StatusCode::NOT_FOUND => 5,         // NOT_FOUND
        StatusCode::PAYLOAD_TOO_LARGE => 8, // RESOURCE_EXHAUSTED
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::UNSUPPORTED_MEDIA_TYPE => 12, // UNIMPLEMENTED
        StatusCode::UNAUTHORIZED => 16,     // UNAUTHENTICATED
        StatusCode::TOO_MANY_REQUESTS => 8, // RESOURCE_EXHAUSTED
        StatusCode::SERVICE_UNAVAILABLE => 14, // UNAVAILABLE
        _ => 2,                             // UNKNOWN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflate_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 20_000);
        assert!(matches!(inflate(&bomb, 1 << 20), Err(ReadError::TooLarge)));
        assert_eq!(inflate(&gzip(b"abc"), 3).ok(), Some(b"abc".to_vec()));
        assert!(matches!(inflate(b"not gzip", 100), Err(ReadError::Io(_))));
    }

    #[test]
    fn the_peer_comes_from_the_accept_loop() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let mut e = http::Extensions::new();
        assert_eq!(peer(&e), None);
        e.insert(ConnectInfo(addr("10.0.0.3:1")));
        assert_eq!(peer(&e), Some(addr("10.0.0.3:1").ip()));
    }

    #[test]
    fn media_types_and_encodings() {
        let h = |k, v: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(k, http::HeaderValue::from_static(v));
            m
        };
        assert!(
            check_media_type(&h(
                header::CONTENT_TYPE,
                "Application/X-Protobuf; charset=x"
            ))
            .is_ok()
        );
        assert!(check_media_type(&h(header::CONTENT_TYPE, "application/json")).is_err());
        assert!(check_media_type(&HeaderMap::new()).is_err());
        assert!(matches!(
            check_encoding(&h(header::CONTENT_ENCODING, "GZIP")),
            Ok(true)
        ));
        assert!(matches!(check_encoding(&HeaderMap::new()), Ok(false)));
        assert!(check_encoding(&h(header::CONTENT_ENCODING, "br")).is_err());
    }
}
