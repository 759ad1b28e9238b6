//! Helpers shared by the integration tests: a collector on ephemeral ports, OTLP request
//! builders, and small HTTP/1, HTTP/2 (raw gRPC) and TCP clients.
#![allow(dead_code)]

pub mod proc;
pub mod tls;
pub mod traces;
pub mod wire;

use dozor_collector::config::Config;
use dozor_collector::{Running, serve};
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::otlp::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric, number_data_point,
};
use dozor_metrics::otlp::resource::v1::Resource;
use dozor_metrics::sample::string_kv;
use std::time::{SystemTime, UNIX_EPOCH};

/// Starts a collector with every endpoint on 127.0.0.1:0, after `tweak` adjusted the config.
pub async fn start(tweak: impl FnOnce(&mut Config)) -> Running {
    let mut config = Config::default();
    config.receivers.otlp_grpc.endpoint = "127.0.0.1:0".into();
    config.receivers.otlp_http.endpoint = "127.0.0.1:0".into();
    config.exporters.prometheus.endpoint = "127.0.0.1:0".into();
    tweak(&mut config);
    serve(&config).await.expect("collector starts")
}

/// The resource attributes of a test agent.
pub fn agent(id: &str, site: &str, role: &str) -> Vec<(&'static str, String)> {
    vec![
        ("service.name", "dozor-agent".into()),
        ("service.instance.id", id.into()),
        ("host.name", format!("{id}.example")),
        ("site", site.into()),
        ("role", role.into()),
        ("os.type", "linux".into()),
    ]
}

/// One request from one resource.
pub fn request(resource: &[(&str, String)], metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| string_kv(k, v)).collect(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// A number data point with string attributes.
pub fn point(attrs: &[(&str, &str)], value: f64) -> NumberDataPoint {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    NumberDataPoint {
        attributes: attrs.iter().map(|(k, v)| string_kv(k, v)).collect(),
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

/// A gauge metric.
pub fn gauge(name: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    metric_of(
        name,
        unit,
        metric::Data::Gauge(Gauge {
            data_points: points,
        }),
    )
}

/// A monotonic sum, cumulative or delta.
pub fn counter(name: &str, unit: &str, delta: bool, points: Vec<NumberDataPoint>) -> Metric {
    let temporality = if delta {
        AggregationTemporality::Delta
    } else {
        AggregationTemporality::Cumulative
    };
    metric_of(
        name,
        unit,
        metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        }),
    )
}

fn metric_of(name: &str, unit: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("Test metric {name}."),
        unit: unit.into(),
        metadata: vec![],
        data: Some(data),
    }
}

/// One gauge with `n` points (labels x=0..n) from agent `id`.
pub fn wide(id: &str, n: usize) -> ExportMetricsServiceRequest {
    let labels: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let points = labels.iter().map(|l| point(&[("x", l)], 1.0)).collect();
    request(
        &agent(id, "plant-a", "web"),
        vec![gauge("dozor.test.wide", "1", points)],
    )
}

/// The standard test request: a counter and a gauge from agent `a1` at site `plant-a`.
pub fn sample_request(cpu_seconds: f64) -> ExportMetricsServiceRequest {
    request(
        &agent("a1", "plant-a", "web"),
        vec![
            counter(
                "system.cpu.time",
                "s",
                false,
                vec![point(&[("cpu.mode", "user")], cpu_seconds)],
            ),
            gauge(
                "system.memory.usage",
                "By",
                vec![point(&[("system.memory.state", "used")], 1024.0)],
            ),
        ],
    )
}

/// GET /metrics in the text format.
pub async fn scrape(running: &Running) -> String {
    let r = wire::http1(running.addrs.prometheus, "GET", "/metrics", &[], Vec::new()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// The value of the sample line that starts with `series` (name and labels exactly), if any.
pub fn value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

/// Like [`value`], failing the test with the exposition when the series is missing.
pub fn must(exposition: &str, series: &str) -> f64 {
    value(exposition, series).unwrap_or_else(|| panic!("no {series} in\n{exposition}"))
}

/// `dozor_collector_refused_requests_total` of one receiver and reason.
pub fn refused(exposition: &str, receiver: &str, reason: &str) -> f64 {
    must(
        exposition,
        &format!(
            r#"dozor_collector_refused_requests_total{{reason="{reason}",receiver="{receiver}"}}"#
        ),
    )
}

/// `dozor_collector_requests_total` of one receiver and outcome.
pub fn requests(exposition: &str, receiver: &str, outcome: &str) -> f64 {
    must(
        exposition,
        &format!(r#"dozor_collector_requests_total{{outcome="{outcome}",receiver="{receiver}"}}"#),
    )
}

/// A request with one delta counter (`dozor.test.events`, value `v`) and one gauge from agent
/// `agent`: two data points.
pub fn delta_request(agent_id: &str, v: f64) -> ExportMetricsServiceRequest {
    request(
        &agent(agent_id, "plant-a", "web"),
        vec![
            counter("dozor.test.events", "{event}", true, vec![point(&[], v)]),
            gauge("dozor.test.level", "1", vec![point(&[], v)]),
        ],
    )
}

/// The delivery headers of batch `seq` of `agent`'s stream `stream`.
pub fn batch_headers(agent: &str, stream: &str, seq: u64, oldest: u64) -> Vec<(String, String)> {
    vec![
        ("dozor-agent".into(), agent.into()),
        ("dozor-stream".into(), stream.into()),
        ("dozor-seq".into(), seq.to_string()),
        ("dozor-oldest".into(), oldest.to_string()),
    ]
}

/// POST /v1/metrics with extra headers; the reply.
pub async fn post(
    addr: std::net::SocketAddr,
    req: &ExportMetricsServiceRequest,
    headers: &[(String, String)],
) -> wire::Reply {
    use prost::Message;
    let mut h: Vec<(&str, &str)> = vec![("content-type", "application/x-protobuf")];
    h.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    wire::http1(addr, "POST", "/v1/metrics", &h, req.encode_to_vec()).await
}

/// A gRPC export with extra metadata; the status code (0 = OK) and `retry-after`.
pub async fn grpc_export(
    addr: std::net::SocketAddr,
    req: ExportMetricsServiceRequest,
    headers: &[(String, String)],
) -> (tonic::Code, Option<String>) {
    use dozor_metrics::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    let mut client = MetricsServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    grpc_call(&mut client, req, headers).await
}

/// A gRPC export on an existing client.
pub async fn grpc_call(
    client: &mut dozor_metrics::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient<tonic::transport::Channel>,
    req: ExportMetricsServiceRequest,
    headers: &[(String, String)],
) -> (tonic::Code, Option<String>) {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (&**k, &**v)).collect();
    grpc_outcome(client.export(grpc_request(req, &headers)).await)
}

/// A gRPC request with `headers` as its metadata.
pub fn grpc_request<T>(req: T, headers: &[(&str, &str)]) -> tonic::Request<T> {
    let mut r = tonic::Request::new(req);
    for (k, v) in headers {
        let key: tonic::metadata::MetadataKey<tonic::metadata::Ascii> = k.parse().unwrap();
        r.metadata_mut().insert(key, v.parse().unwrap());
    }
    r
}

/// The code of a gRPC export's answer and its `retry-after`, if any.
pub fn grpc_outcome<T>(
    answer: Result<tonic::Response<T>, tonic::Status>,
) -> (tonic::Code, Option<String>) {
    match answer {
        Ok(_) => (tonic::Code::Ok, None),
        Err(status) => (
            status.code(),
            status
                .metadata()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        ),
    }
}
