//! The OTLP/gRPC `Export` services, taking a request's message as bytes.
//!
//! tonic's generated servers decode the protobuf message before the handler runs, which leaves
//! no room for [`Pipeline::receive_metrics`]'s pre-scan. These services mirror them (the same
//! routing, compression and size settings, UNIMPLEMENTED for other methods) with a [`Codec`]
//! whose decoder hands over the message's bytes as tonic framed and decompressed them, and
//! whose encoder writes the prost response.

use super::Pipeline;
use crate::admission::memory::Arriving;
use crate::admission::{Admitted, Refused};
use crate::telemetry::Receiver;
use bytes::{Buf, Bytes};
use dozor_metrics::otlp::collector::logs::v1::ExportLogsServiceResponse;
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceResponse;
use dozor_metrics::otlp::collector::trace::v1::ExportTraceServiceResponse;
use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

/// One OTLP signal's `Export` method.
pub trait Signal: Send + Sync + 'static {
    /// The gRPC service name.
    const NAME: &'static str;
    /// The path of its `Export` method.
    const EXPORT: &'static str;
    /// The response message.
    type Response: prost::Message + Send + 'static;
    /// Hands a request's message bytes to the pipeline.
    fn receive(
        pipeline: &Pipeline,
        body: &[u8],
        headers: &http::HeaderMap,
        admitted: &Admitted,
    ) -> Result<Self::Response, Refused>;
}

/// `opentelemetry.proto.collector.metrics.v1.MetricsService`.
#[derive(Debug)]
pub enum Metrics {}

impl Signal for Metrics {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const EXPORT: &'static str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    type Response = ExportMetricsServiceResponse;
    fn receive(
        pipeline: &Pipeline,
        body: &[u8],
        headers: &http::HeaderMap,
        admitted: &Admitted,
    ) -> Result<Self::Response, Refused> {
        pipeline.receive_metrics(Receiver::OtlpGrpc, body, headers, admitted)
    }
}

/// `opentelemetry.proto.collector.logs.v1.LogsService`.
#[derive(Debug)]
pub enum Logs {}

impl Signal for Logs {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const EXPORT: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    type Response = ExportLogsServiceResponse;
    fn receive(
        pipeline: &Pipeline,
        body: &[u8],
        headers: &http::HeaderMap,
        admitted: &Admitted,
    ) -> Result<Self::Response, Refused> {
        pipeline.receive_logs(Receiver::OtlpGrpc, body, headers, admitted)
    }
}

/// `opentelemetry.proto.collector.trace.v1.TraceService`.
#[derive(Debug)]
pub enum Traces {}

impl Signal for Traces {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const EXPORT: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    type Response = ExportTraceServiceResponse;
    fn receive(
        pipeline: &Pipeline,
        body: &[u8],
        headers: &http::HeaderMap,
        admitted: &Admitted,
    ) -> Result<Self::Response, Refused> {
        pipeline.receive_traces(Receiver::OtlpGrpc, body, headers, admitted)
    }
}

/// Decodes a message to its bytes, encodes `R`.
#[derive(Debug)]
struct BytesCodec<R>(PhantomData<fn() -> R>);

impl<R: prost::Message + Send + 'static> Codec for BytesCodec<R> {
    type Encode = R;
    type Decode = Bytes;
    type Encoder = ProstEncoder<R>;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesDecoder
    }
}

#[derive(Debug)]
struct ProstEncoder<R>(PhantomData<fn() -> R>);

impl<R: prost::Message> Encoder for ProstEncoder<R> {
    type Item = R;
    type Error = Status;

    fn encode(&mut self, item: R, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the response: {e}")))
    }
}

#[derive(Debug)]
struct BytesDecoder;

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        // Splits tonic's buffer rather than copying it.
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The `Export` service of signal `S`.
#[derive(Debug)]
pub struct ExportService<S> {
    pipeline: Pipeline,
    max_request_bytes: usize,
    signal: PhantomData<fn() -> S>,
}

impl<S> Clone for ExportService<S> {
    fn clone(&self) -> Self {
        ExportService {
            pipeline: self.pipeline.clone(),
            max_request_bytes: self.max_request_bytes,
            signal: PhantomData,
        }
    }
}

impl<S: Signal> ExportService<S> {
    /// A service refusing messages over `max_request_bytes` (compressed or not), accepting and
    /// answering gzip.
    pub fn new(pipeline: Pipeline, max_request_bytes: usize) -> Self {
        ExportService {
            pipeline,
            max_request_bytes,
            signal: PhantomData,
        }
    }
}

impl<S: Signal> tonic::server::NamedService for ExportService<S> {
    const NAME: &'static str = S::NAME;
}

impl<S: Signal> tower::Service<http::Request<tonic::body::Body>> for ExportService<S> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() != S::EXPORT {
            return Box::pin(async { Ok(Status::new(Code::Unimplemented, "").into_http()) });
        }
        let pipeline = self.pipeline.clone();
        let mut grpc = tonic::server::Grpc::new(BytesCodec::<S::Response>(PhantomData))
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(self.max_request_bytes);
        Box::pin(async move {
            let export = tower::service_fn(move |request: tonic::Request<Bytes>| {
                let pipeline = pipeline.clone();
                async move { export::<S>(&pipeline, &request) }
            });
            Ok(grpc.unary(export, request).await)
        })
    }
}

fn export<S: Signal>(
    pipeline: &Pipeline,
    request: &tonic::Request<Bytes>,
) -> Result<tonic::Response<S::Response>, Status> {
    let admitted = request
        .extensions()
        .get::<Admitted>()
        .cloned()
        .unwrap_or_default();
    // The wire bytes are charged as they arrived; an inflated message is memory of its own.
    let compressed = request
        .metadata()
        .get("grpc-encoding")
        .is_some_and(|e| e != "identity");
    if compressed && let Some(charge) = request.extensions().get::<Arc<Arriving>>() {
        charge.grow(request.get_ref().len() as u64);
    }
    S::receive(
        pipeline,
        request.get_ref(),
        request.metadata().as_ref(),
        &admitted,
    )
    .map(tonic::Response::new)
    .map_err(|refused| super::otlp_grpc::status_of(&refused, true))
}
