//! OTLP/gRPC receiver (`opentelemetry.proto.collector.metrics.v1.MetricsService/Export`,
//! `opentelemetry.proto.collector.logs.v1.LogsService/Export` and
//! `opentelemetry.proto.collector.trace.v1.TraceService/Export`, behind the same admission layer).
//!
//! tonic does the framing: it refuses a message longer than `max_request_bytes` from its length
//! prefix alone (before buffering it), decompresses gzip into a buffer capped at the same limit
//! (a gzip bomb stops there), and hands the message's bytes to [`super::grpc_export`], which
//! passes them to the pipeline (pre-scan, charge, decode). tonic's refusals happen before that,
//! so [`CountRefusals`] sees them on the way out, counts each by reason, and makes the status
//! say what OTLP clients expect (see [`classify`]). [`CountRefusals`] also charges the
//! message's bytes to the memory limiter as they arrive.

use super::Pipeline;
use super::conn::{Conns, Incoming, Source, Track};
use super::grpc_export::{ExportService, Logs, Metrics, Traces};
use crate::admission::memory::Arriving;
use crate::admission::{Gate, RETRY_AFTER_SECONDS, Refused};
use crate::config::Tls;
use crate::telemetry::events::RequestRefused;
use crate::telemetry::{Receiver, Refusal, Telemetry};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Code, Status};

/// Trailer-only metadata naming the reason of a refusal made in the handler, so that
/// [`CountRefusals`] counts it once; removed before the response leaves.
const REASON_HEADER: &str = "x-dozor-refusal";

/// The status of a refusal, with `retry-after` when the client may retry; `mark` names its
/// reason for [`CountRefusals`] (refusals made inside the router).
pub(super) fn status_of(refused: &Refused, mark: bool) -> Status {
    let mut status = Status::new(refused.grpc_code(), refused.message.clone());
    if let Some(seconds) = refused.retry_after
        && let Ok(v) = seconds.to_string().parse()
    {
        status.metadata_mut().insert("retry-after", v);
    }
    if mark && let Ok(v) = refused.reason.as_str().parse() {
        status.metadata_mut().insert(REASON_HEADER, v);
    }
    status
}

/// tonic's server TLS settings from the configured PEM files.
pub fn tls_config(tls: &Tls) -> Result<tonic::transport::ServerTlsConfig, String> {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let read = |key: &str, path: &str| {
        std::fs::read(path)
            .map_err(|e| format!("receivers.otlp_grpc.tls.{key}: reading {path}: {e}"))
    };
    let identity = Identity::from_pem(
        read("cert_file", &tls.cert_file)?,
        read("key_file", &tls.key_file)?,
    );
    let mut config = ServerTlsConfig::new().identity(identity);
    if !tls.client_ca_file.is_empty() {
        config = config.client_ca_root(Certificate::from_pem(read(
            "client_ca_file",
            &tls.client_ca_file,
        )?));
    }
    Ok(config)
}

/// Serves OTLP/gRPC on `listener` until `shutdown` resolves, then finishes in-flight calls.
pub async fn serve(
    listener: TcpListener,
    conns: Arc<Conns>,
    pipeline: Pipeline,
    max_request_bytes: usize,
    tls: Option<tonic::transport::ServerTlsConfig>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let telemetry = pipeline.telemetry.clone();
    let gate = pipeline.gate.clone();
    let logs = ExportService::<Logs>::new(pipeline.clone(), max_request_bytes);
    let traces = ExportService::<Traces>::new(pipeline.clone(), max_request_bytes);
    let service = ExportService::<Metrics>::new(pipeline, max_request_bytes);
    // Deadlines for headers, bodies and idle connections are kept by conn::Track and the
    // sockets (conn::Tracked); keepalive pings find clients that went away mid-request.
    let limits = *conns.limits();
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(limits.idle_timeout))
        .http2_keepalive_timeout(Some(limits.header_read_timeout));
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    let track = conns.clone();
    builder
        .layer(tower::layer::layer_fn(move |inner| {
            Track::new(inner, Source::Lookup(track.clone()), tonic::body::Body::new)
        }))
        .layer(tower::layer::layer_fn(move |inner| CountRefusals {
            inner,
            telemetry: telemetry.clone(),
            gate: gate.clone(),
        }))
        .add_service(service)
        .add_service(logs)
        .add_service(traces)
        .serve_with_incoming_shutdown(Incoming { listener, conns }, shutdown)
        .await
}

/// Wraps the whole gRPC router: admits or refuses a call on its headers before its message is
/// read ([`Gate::admit`]), and counts every refusal, those tonic made included.
#[derive(Clone, Debug)]
pub struct CountRefusals<S> {
    inner: S,
    telemetry: Arc<Telemetry>,
    gate: Arc<Gate>,
}

impl<S, B> tower::Service<http::Request<tonic::body::Body>> for CountRefusals<S>
where
    S: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Default + Send + 'static,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let telemetry = self.telemetry.clone();
        let (mut parts, body) = request.into_parts();
        let admitted = match self.gate.admit(&parts.headers, peer(&parts.extensions)) {
            Ok(admitted) => admitted,
            Err(refused) => {
                RequestRefused {
                    receiver: Receiver::OtlpGrpc,
                    reason: refused.reason,
                    error: &refused.message,
                }
                .emit(&telemetry);
                let response = status_of(&refused, false).into_http::<B>();
                return Box::pin(async move { Ok(response) });
            }
        };
        parts.extensions.insert(admitted);
        // The charge lives as long as the body (tonic drops it once the message is read) and
        // the call (which holds the message), whichever ends last.
        let arriving = self.gate.memory.as_ref().map(|m| Arc::new(m.arriving()));
        let body = match &arriving {
            Some(charge) => tonic::body::Body::new(Charged {
                inner: body,
                gate: self.gate.clone(),
                charge: charge.clone(),
            }),
            None => body,
        };
        if let Some(charge) = &arriving {
            // For the handler, to charge an inflated message too.
            parts.extensions.insert(charge.clone());
        }
        let request = http::Request::from_parts(parts, body);
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            drop(arriving);
            // A refusal is a trailers-only response: its status is in the headers. Refusals
            // made in the handler name their reason; tonic's own are classified.
            let marked = response.headers_mut().remove(REASON_HEADER);
            if let Some(status) = Status::from_header_map(response.headers())
                && let Some(reason) = marked.as_ref().and_then(|v| {
                    Refusal::ALL
                        .into_iter()
                        .find(|r| r.as_str().as_bytes() == v.as_bytes())
                })
            {
                RequestRefused {
                    receiver: Receiver::OtlpGrpc,
                    reason,
                    error: &status.message(),
                }
                .emit(&telemetry);
            } else if let Some(status) = Status::from_header_map(response.headers())
                && let Some((reason, code)) = classify(&status)
            {
                RequestRefused {
                    receiver: Receiver::OtlpGrpc,
                    reason,
                    error: &status.message(),
                }
                .emit(&telemetry);
                if code != status.code() {
                    let _ = Status::new(code, status.message()).add_header(response.headers_mut());
                }
            }
            Ok(response)
        })
    }
}

/// The address of the client, from tonic's connection info (plain or TLS).
fn peer(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<TcpConnectInfo>()
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .map(|tls| tls.get_ref())
        })
        .and_then(TcpConnectInfo::remote_addr)
        .map(|a| a.ip())
}

/// A request body whose data frames are charged to the memory limiter as they arrive: tonic
/// buffers a whole message before the handler runs, so a message that would take memory
/// past the limiter's threshold fails here, part-read, and is answered UNAVAILABLE with
/// `retry-after` (counted as `memory_limit`).
struct Charged {
    inner: tonic::body::Body,
    gate: Arc<Gate>,
    charge: Arc<Arriving>,
}

impl Body for Charged {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            self.charge.grow(data.len() as u64);
            if let Some((used, threshold)) = self.gate.memory.as_ref().and_then(|m| m.over()) {
                let refused = Refused {
                    retry_after: Some(RETRY_AFTER_SECONDS),
                    ..Refused::new(
                        Refusal::MemoryLimit,
                        format!(
                            "memory in use {used} bytes reached {threshold} while the request arrived (limits.memory.limit - spike)"
                        ),
                    )
                };
                return Poll::Ready(Some(Err(status_of(&refused, true))));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The refusal reason for a status tonic produced, and the code to answer with.
///
/// tonic says OUT_OF_RANGE for an over-long message, which OTLP clients retry; a request that
/// is too large will never fit, so it becomes RESOURCE_EXHAUSTED without retry info (permanent,
/// as gzip bombs already are). Undecodable protobuf and gzip are the client's fault, so
/// INTERNAL becomes INVALID_ARGUMENT.
pub fn classify(status: &Status) -> Option<(Refusal, Code)> {
    let message = status.message();
    Some(match status.code() {
        Code::Ok | Code::Cancelled | Code::DeadlineExceeded => return None,
        Code::OutOfRange | Code::ResourceExhausted => (Refusal::TooLarge, Code::ResourceExhausted),
        Code::Unimplemented if message.contains("compressed") => {
            (Refusal::BadEncoding, Code::Unimplemented)
        }
        Code::Unimplemented => (Refusal::NotFound, Code::Unimplemented),
        _ if message.contains("decompress") => (Refusal::BadEncoding, Code::InvalidArgument),
        _ => (Refusal::DecodeError, Code::InvalidArgument),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_comes_from_tonic_plain_or_tls() {
        let addr: std::net::SocketAddr = "192.0.2.7:4317".parse().unwrap();
        let tcp = || TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(addr),
        };
        let mut e = http::Extensions::new();
        assert_eq!(peer(&e), None);
        e.insert(tcp());
        assert_eq!(peer(&e), Some(addr.ip()));
    }

    #[test]
    fn tonic_statuses_map_to_reasons() {
        let cases = [
            (
                Status::out_of_range("Error, decoded message length too large"),
                Some((Refusal::TooLarge, Code::ResourceExhausted)),
            ),
            (
                Status::resource_exhausted("Error decompressing: size limit"),
                Some((Refusal::TooLarge, Code::ResourceExhausted)),
            ),
            (
                Status::internal("failed to decode Protobuf message: invalid wire type"),
                Some((Refusal::DecodeError, Code::InvalidArgument)),
            ),
            (
                Status::internal("Error decompressing: invalid gzip header"),
                Some((Refusal::BadEncoding, Code::InvalidArgument)),
            ),
            (
                Status::unimplemented("Content is compressed with `zstd` which isn't supported"),
                Some((Refusal::BadEncoding, Code::Unimplemented)),
            ),
            (
                Status::unimplemented(""),
                Some((Refusal::NotFound, Code::Unimplemented)),
            ),
            (Status::cancelled(""), None),
        ];
        for (status, want) in cases {
            assert_eq!(classify(&status), want, "{status:?}");
        }
    }
}
