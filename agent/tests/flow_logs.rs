//! Lost-order events as OTLP log records, end to end: the real agent binary runs the `flow`
//! integration against the real PostgreSQL on 127.0.0.1:5432 and sends to a fake collector
//! serving both OTLP signals. Ground truth is the order ids the test made lost.
//!
//! The collector is away at first: the agent finds the first losses, keeps them in its logs
//! outbox on disk and is killed (SIGKILL). Then the collector comes up at the same address, the agent
//! restarts, more orders are lost, and the collector must receive every lost order exactly
//! once, with the delivery headers, under one logs stream of its own.

mod support;

use bytes::Bytes;
use dozor_metrics::otlp::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use dozor_metrics::otlp::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use dozor_metrics::otlp::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use dozor_metrics::otlp::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use dozor_metrics::otlp::common::v1::any_value::Value;
use dozor_testkit::pg::Database;
use http_body_util::{BodyExt, Full};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{dead_port, field, self_metric, start_agent, wait_for};

/// One logs request the fake collector got.
#[derive(Debug, Clone)]
struct LogsRequest {
    agent: Option<String>,
    stream: Option<String>,
    seq: Option<u64>,
    oldest: Option<u64>,
    request: ExportLogsServiceRequest,
}

/// What the fake collector got: logs requests, and metrics requests with their stream.
#[derive(Default)]
struct Received {
    logs: Mutex<Vec<LogsRequest>>,
    metrics: Mutex<Vec<(Option<String>, ExportMetricsServiceRequest)>>,
}

impl Received {
    fn logs(&self) -> Vec<LogsRequest> {
        self.logs.lock().unwrap().clone()
    }

    /// The `dozor.flow.key` of every lost-order record received.
    fn lost_keys(&self) -> Vec<String> {
        self.logs()
            .iter()
            .flat_map(|r| records(&r.request))
            .map(|(_, attrs)| attrs["dozor.flow.key"].clone())
            .collect()
    }
}

/// (scope, string attributes) of each log record of a request.
fn records(request: &ExportLogsServiceRequest) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    for rl in &request.resource_logs {
        for sl in &rl.scope_logs {
            let scope = sl
                .scope
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            for r in &sl.log_records {
                let attrs = r
                    .attributes
                    .iter()
                    .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                        Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
                        _ => None,
                    })
                    .collect();
                out.push((scope.clone(), attrs));
            }
        }
    }
    out
}

/// The fake collector; aborted when dropped.
struct Collector {
    received: Arc<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn headers_of(
    get: impl Fn(&str) -> Option<String>,
) -> (Option<String>, Option<String>, Option<u64>, Option<u64>) {
    (
        get("dozor-agent"),
        get("dozor-stream"),
        get("dozor-seq").and_then(|s| s.parse().ok()),
        get("dozor-oldest").and_then(|s| s.parse().ok()),
    )
}

impl Received {
    fn take_logs(&self, get: impl Fn(&str) -> Option<String>, request: ExportLogsServiceRequest) {
        let (agent, stream, seq, oldest) = headers_of(get);
        self.logs.lock().unwrap().push(LogsRequest {
            agent,
            stream,
            seq,
            oldest,
            request,
        });
    }
}

async fn handle_http(
    req: hyper::Request<hyper::body::Incoming>,
    received: Arc<Received>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let get = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let raw = if get("content-encoding").as_deref() == Some("gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        body.to_vec()
    };
    assert_eq!(
        get("content-type").as_deref(),
        Some("application/x-protobuf")
    );
    let response = match path.as_str() {
        "/v1/logs" => {
            received.take_logs(get, ExportLogsServiceRequest::decode(&raw[..]).unwrap());
            ExportLogsServiceResponse::default().encode_to_vec()
        }
        "/v1/metrics" => {
            let request = ExportMetricsServiceRequest::decode(&raw[..]).unwrap();
            received
                .metrics
                .lock()
                .unwrap()
                .push((get("dozor-stream"), request));
            ExportMetricsServiceResponse::default().encode_to_vec()
        }
        other => panic!("unexpected path {other}"),
    };
    Ok(hyper::Response::new(Full::new(Bytes::from(response))))
}

struct Grpc(Arc<Received>);

fn metadata_getter(md: &tonic::metadata::MetadataMap) -> impl Fn(&str) -> Option<String> + '_ {
    |k| md.get(k).and_then(|v| v.to_str().ok()).map(str::to_string)
}

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let md = request.metadata().clone();
        self.0.take_logs(metadata_getter(&md), request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let stream = metadata_getter(request.metadata())("dozor-stream");
        self.0
            .metrics
            .lock()
            .unwrap()
            .push((stream, request.into_inner()));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// Starts the fake collector for `protocol` on 127.0.0.1:`port`.
async fn collector(protocol: &str, port: u16) -> Collector {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("port {port} taken meanwhile: {e}"));
    let received = Arc::new(Received::default());
    let shared = received.clone();
    let task = if protocol == "grpc" {
        let gzip = tonic::codec::CompressionEncoding::Gzip;
        let logs = LogsServiceServer::new(Grpc(shared.clone())).accept_compressed(gzip);
        let metrics = MetricsServiceServer::new(Grpc(shared)).accept_compressed(gzip);
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(logs)
                .add_service(metrics)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await;
        })
    } else {
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let received = shared.clone();
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req| handle_http(req, received.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        })
    };
    Collector { received, task }
}

/// Runs blocking database work from the async test (the `postgres` client has its own runtime).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Two databases, shop and mes, dropped at the end.
fn databases(tag: &str) -> [Database; 2] {
    ["shop", "mes"].map(|stage| Database::create(&format!("dozor_flow_logs_{tag}_{stage}")))
}

/// Inserts orders `ids` into shop, `age` old, and into mes all of them but a random `lose`;
/// returns the ids lost.
fn orders(
    dbs: &[Database; 2],
    ids: std::ops::RangeInclusive<i64>,
    age: &str,
    lose: i64,
) -> BTreeSet<String> {
    let (first, last) = (*ids.start(), *ids.end());
    dbs[0]
        .admin()
        .execute(
            &format!(
                "INSERT INTO orders SELECT i, now() - interval '{age}' + i * interval '1 second'
                 FROM generate_series($1::bigint, $2::bigint) AS i"
            ),
            &[&first, &last],
        )
        .unwrap();
    let lost: BTreeSet<String> = dbs[0]
        .admin()
        .query(
            "SELECT id::text FROM orders WHERE id BETWEEN $1 AND $2 ORDER BY random() LIMIT $3",
            &[&first, &last, &lose],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let passed: Vec<String> = ids
        .map(|i| i.to_string())
        .filter(|i| !lost.contains(i))
        .collect();
    dbs[1].admin()
        .execute(
            &format!(
                "INSERT INTO jobs SELECT k, now() - interval '{age}' + k::bigint * interval '1 second' + interval '5 seconds'
                 FROM unnest($1::text[]) AS k"
            ),
            &[&passed],
        )
        .unwrap();
    lost
}

fn config(protocol: &str, port: u16, dir: &Path, dbs: &[Database; 2]) -> String {
    format!(
        "agent:\n  interval: 1s\nresource:\n  instance_id: flow-agent\n\
         integrations:\n  host:\n    enabled: false\n  demo:\n    enabled: true\n    interval: 500ms\n    series: 2\n\
         \x20 flow:\n    enabled: true\n    interval: 1s\n    state_dir: {state}\n    flows:\n\
         \x20     - name: orders\n        stages:\n\
         \x20         - name: shop\n            dsn: {shop}\n            sla: 10m\n\
         \x20           query: \"SELECT id::text AS key, created_at AS seen_at FROM orders WHERE created_at > $1\"\n\
         \x20         - name: mes\n            dsn: {mes}\n\
         \x20           query: \"SELECT order_ref AS key, received_at AS seen_at FROM jobs WHERE received_at > $1\"\n\
         exporters:\n  otlp:\n    protocol: {protocol}\n    endpoints: [\"http://127.0.0.1:{port}\"]\n\
         \x20   flush_interval: 200ms\n    timeout: 2s\n\
         \x20   retry:\n      initial_backoff: 100ms\n      max_backoff: 500ms\n\
         \x20   circuit_breaker:\n      failures: 2\n      cooldown: 1s\n\
         \x20   buffer:\n      path: {buffer}\n\
         \x20   logs:\n      max_batch_records: 3\n",
        state = dir.join("flow").display(),
        shop = dbs[0].url(),
        mes = dbs[1].url(),
        buffer = dir.join("buffer").display(),
    )
}

/// Log records the agent's ledger says it appended to the logs outbox.
fn appended_log_records(log: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("Log records appended."))
        .map(|l| field(l, "log_records").unwrap().parse::<u64>().unwrap())
        .sum()
}

async fn lost_orders_arrive_once_across_an_outage(protocol: &str) {
    let dbs = databases(protocol);
    blocking(|| {
        dbs[0]
            .admin()
            .batch_execute(
                "CREATE TABLE orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL)",
            )
            .unwrap();
        dbs[1]
            .admin()
            .batch_execute(
                "CREATE TABLE jobs (order_ref text PRIMARY KEY, received_at timestamptz NOT NULL)",
            )
            .unwrap();
    });
    // 40 orders two hours old, well past the 10 minute SLA: 7 never reach mes.
    let first = blocking(|| orders(&dbs, 1..=40, "2 hours", 7));
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port();
    let cfg = config(protocol, port, dir.path(), &dbs);

    // The collector is away: the events wait in the outbox, on disk.
    let agent = start_agent(dir.path(), "agent", &cfg, &[]);
    let log = agent.log.clone();
    assert!(
        wait_for(Duration::from_secs(30), || appended_log_records(
            &std::fs::read_to_string(&log).unwrap_or_default()
        ) >= 7)
        .await,
        "no lost orders appended:\n{}",
        agent.log_text()
    );
    // Killed (SIGKILL, no shutdown), once the flow has saved its state after the append.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(agent);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("Agent stopping."), "{text}");
    assert_eq!(appended_log_records(&text), 7, "{text}");
    // The outbox is `logs` inside the buffer directory: segment files with 20-digit names.
    let segment_bytes: u64 = std::fs::read_dir(dir.path().join("buffer/logs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("0000000000000000000")
        })
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(segment_bytes > 0, "no outbox segment on disk");

    // More orders lost while the agent is down; the collector comes back; the agent restarts.
    let second = blocking(|| orders(&dbs, 41..=60, "30 minutes", 4));
    let fake = collector(protocol, port).await;
    let agent = start_agent(dir.path(), "agent", &cfg, &[]);
    let want: BTreeSet<String> = first.union(&second).cloned().collect();
    let received = fake.received.clone();
    let sent_reported = || {
        received.metrics.lock().unwrap().iter().any(|(_, r)| {
            self_metric(r, "dozor.agent.export.log_records", &[("outcome", "sent")])
                == Some(want.len() as f64)
        })
    };
    assert!(
        wait_for(Duration::from_secs(60), || received.lost_keys().len()
            >= want.len()
            && sent_reported())
        .await,
        "got {:?} of {want:?}:\n{}",
        received.lost_keys(),
        agent.log_text()
    );
    // A little longer: nothing more may come.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = agent.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status}:\n{text}");

    let keys = received.lost_keys();
    let unique: BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(unique, want, "exactly the orders made lost");
    assert_eq!(keys.len(), want.len(), "each once: {keys:?}");
    assert_eq!(appended_log_records(&text), want.len() as u64, "{text}");

    let logs = received.logs();
    let streams: BTreeSet<String> = logs.iter().map(|r| r.stream.clone().unwrap()).collect();
    assert_eq!(streams.len(), 1, "one logs stream: {streams:?}");
    let metrics_streams: BTreeSet<String> = received
        .metrics
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(s, _)| s.clone())
        .collect();
    assert!(
        streams.is_disjoint(&metrics_streams),
        "logs {streams:?} and metrics {metrics_streams:?} share a stream"
    );
    let seqs: Vec<u64> = logs.iter().map(|r| r.seq.unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeat: {seqs:?}"
    );
    // At most max_batch_records (3) per request: 7 + 4 lost orders take at least 5 requests.
    assert!(logs.len() >= 5, "{}", logs.len());
    for r in &logs {
        assert_eq!(r.agent.as_deref(), Some("flow-agent"));
        assert!(r.oldest.unwrap() <= r.seq.unwrap(), "{r:?}");
        let resource = r.request.resource_logs[0].resource.as_ref().unwrap();
        assert!(resource.attributes.iter().any(|kv| kv.key == "service.instance.id"
            && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Value::StringValue(s)) if s == "flow-agent")));
        for (scope, attrs) in records(&r.request) {
            assert_eq!(scope, "dozor.integration.flow");
            assert_eq!(attrs["dozor.flow.name"], "orders");
            assert_eq!(attrs["dozor.flow.stage"], "shop");
            assert_eq!(attrs["dozor.flow.next_stage"], "mes");
            assert_eq!(attrs["dozor.flow.event_id"].len(), 16);
        }
    }
    let ids: BTreeSet<String> = logs
        .iter()
        .flat_map(|r| records(&r.request))
        .map(|(_, a)| a["dozor.flow.event_id"].clone())
        .collect();
    assert_eq!(ids.len(), want.len(), "one event id per lost order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_lost_orders_arrive_once_across_a_collector_outage() {
    lost_orders_arrive_once_across_an_outage("http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_lost_orders_arrive_once_across_a_collector_outage() {
    lost_orders_arrive_once_across_an_outage("grpc").await;
}
