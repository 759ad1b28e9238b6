//! OTLP traces for the tests: requests of server spans, and both receivers' clients.

use dozor_metrics::otlp::collector::trace::v1::ExportTraceServiceRequest;
use dozor_metrics::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use dozor_metrics::otlp::resource::v1::Resource;
use dozor_metrics::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, span::SpanKind};
use dozor_metrics::sample::string_kv;
use std::net::SocketAddr;

/// `n` server spans of service `service` (instance `instance`), ids numbered from `first`.
pub fn spans(service: &str, instance: &str, first: u64, n: u64) -> ExportTraceServiceRequest {
    let spans = (first..first + n)
        .map(|i| Span {
            trace_id: i.to_be_bytes().repeat(2),
            span_id: i.to_be_bytes().to_vec(),
            name: format!("GET /orders/{i}"),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: 1_700_000_000_000_000_000 + i,
            end_time_unix_nano: 1_700_000_000_250_000_000 + i,
            attributes: vec![
                string_kv("http.request.method", "GET"),
                string_kv("url.path", &format!("/orders/{i}")),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_kv("service.name", service),
                    string_kv("service.instance.id", instance),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

pub async fn post_traces(
    addr: SocketAddr,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> super::wire::Reply {
    let mut h = vec![("content-type", "application/x-protobuf")];
    h.extend_from_slice(headers);
    super::wire::http1(addr, "POST", "/v1/traces", &h, body).await
}

pub async fn grpc_traces(
    addr: SocketAddr,
    req: ExportTraceServiceRequest,
    headers: &[(&str, &str)],
) -> (tonic::Code, Option<String>) {
    let mut client = TraceServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    super::grpc_outcome(client.export(super::grpc_request(req, headers)).await)
}
