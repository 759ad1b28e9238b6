//! Shared by the delivery tests: a fake collector (OTLP/HTTP with hyper, optionally over TLS,
//! or OTLP/gRPC with tonic) that records every request it gets, and the agent as a real
//! process whose ledger log lines tell exactly what it appended to its buffer.
#![allow(dead_code)]

use bytes::Bytes;
use dozor_metrics::otlp::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use dozor_metrics::otlp::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use dozor_metrics::sample::count_points;
use http_body_util::{BodyExt, Full};
use prost::Message;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the fake collector got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `dozor-agent`.
    pub agent: Option<String>,
    /// `dozor-stream`.
    pub stream: Option<String>,
    /// `dozor-seq`.
    pub seq: Option<u64>,
    /// `dozor-oldest`.
    pub oldest: Option<u64>,
    /// `authorization`.
    pub authorization: Option<String>,
    /// `content-encoding` (HTTP) or `grpc-encoding` (gRPC).
    pub encoding: Option<String>,
    /// Data points in the decoded request.
    pub points: u64,
    /// Whether the collector accepted it (false: refused as scripted).
    pub accepted: bool,
    /// The decoded request.
    pub request: ExportMetricsServiceRequest,
}

/// What the fake collector shares with its handlers.
#[derive(Default)]
pub struct State {
    /// Every request, in arrival order.
    pub received: Mutex<Vec<Received>>,
    /// Requests still to refuse (503 / UNAVAILABLE with retry-after 1).
    pub refuse: AtomicUsize,
}

impl State {
    /// Decides and records one request.
    fn take(
        &self,
        header: impl Fn(&str) -> Option<String>,
        request: ExportMetricsServiceRequest,
    ) -> bool {
        let refuse = self
            .refuse
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        self.received.lock().unwrap().push(Received {
            agent: header("dozor-agent"),
            stream: header("dozor-stream"),
            seq: header("dozor-seq").and_then(|s| s.parse().ok()),
            oldest: header("dozor-oldest").and_then(|s| s.parse().ok()),
            authorization: header("authorization"),
            encoding: header("content-encoding").or_else(|| header("grpc-encoding")),
            points: count_points(&request),
            accepted: !refuse,
            request,
        });
        !refuse
    }

    /// The accepted requests.
    pub fn accepted(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.accepted)
            .cloned()
            .collect()
    }

    /// Accepted seq → points, one entry per seq (duplicates collapse), and the duplicates.
    /// Requests without a seq are the agent's own counters sent outside its buffer while the
    /// buffer refuses them (#18), not batches.
    pub fn accepted_by_seq(&self) -> (BTreeMap<u64, u64>, Vec<u64>) {
        let mut by_seq = BTreeMap::new();
        let mut dups = Vec::new();
        for r in self.accepted() {
            let Some(seq) = r.seq else { continue };
            if by_seq.insert(seq, r.points).is_some() {
                dups.push(seq);
            }
        }
        (by_seq, dups)
    }
}

/// A fake collector listening on 127.0.0.1.
pub struct Fake {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it got.
    pub state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts an OTLP/HTTP fake collector on a free port; with `tls` (certificate chain and key,
/// PEM), HTTPS.
pub async fn http_collector(refuse: usize, tls: Option<(String, String)>) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_http(listener, refuse, tls)
}

/// Starts a plain OTLP/HTTP fake collector on `port`, if it is free.
pub async fn http_collector_at(port: u16) -> Option<Fake> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .ok()?;
    Some(serve_http(listener, 0, None))
}

fn serve_http(
    listener: tokio::net::TcpListener,
    refuse: usize,
    tls: Option<(String, String)>,
) -> Fake {
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(State::default());
    state.refuse.store(refuse, Ordering::SeqCst);
    let acceptor = tls.map(|(cert, key)| {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_slice_iter(cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let shared = state.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let state = shared.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req| handle_http(req, state.clone()));
                let builder = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            let _ = builder
                                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                                .await;
                        }
                    }
                    None => {
                        let _ = builder
                            .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                            .await;
                    }
                }
            });
        }
    });
    Fake { addr, state, task }
}

async fn handle_http(
    req: hyper::Request<hyper::body::Incoming>,
    state: Arc<State>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let headers = req.headers().clone();
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let gzip = header("content-encoding").as_deref() == Some("gzip");
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let raw = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        body.to_vec()
    };
    let request = ExportMetricsServiceRequest::decode(&raw[..]).expect("a valid OTLP request");
    let response = if state.take(header, request) {
        hyper::Response::builder()
            .status(200)
            .header("content-type", "application/x-protobuf")
            .body(Full::new(Bytes::from(
                ExportMetricsServiceResponse::default().encode_to_vec(),
            )))
    } else {
        hyper::Response::builder()
            .status(503)
            .header("retry-after", "1")
            .body(Full::new(Bytes::new()))
    };
    Ok(response.unwrap())
}

struct Grpc(Arc<State>);

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let md = request.metadata().clone();
        let header = |k: &str| md.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
        if self.0.take(header, request.into_inner()) {
            Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
        } else {
            let mut status = tonic::Status::resource_exhausted("over the rate limit");
            status
                .metadata_mut()
                .insert("retry-after", "1".parse().unwrap());
            Err(status)
        }
    }
}

/// Starts an OTLP/gRPC fake collector that refuses the first `refuse` requests with
/// RESOURCE_EXHAUSTED and `retry-after: 1`.
pub async fn grpc_collector(refuse: usize) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(State::default());
    state.refuse.store(refuse, Ordering::SeqCst);
    let service = MetricsServiceServer::new(Grpc(state.clone()))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    Fake { addr, state, task }
}

/// Starts an OTLP/gRPC fake collector over TLS that requires a client certificate signed by
/// `client_ca` (all PEM).
pub async fn grpc_tls_collector(cert: &str, key: &str, client_ca: &str) -> Fake {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(State::default());
    let service = MetricsServiceServer::new(Grpc(state.clone()))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert, key))
        .client_ca_root(Certificate::from_pem(client_ca));
    let server = tonic::transport::Server::builder().tls_config(tls).unwrap();
    let task = tokio::spawn(async move {
        let mut server = server;
        let _ = server
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    Fake { addr, state, task }
}

/// A port nothing listens on (bound, then released).
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The agent as a process. Its stderr goes to `log` (appended across restarts).
pub struct Agent {
    child: Child,
    /// Its log file.
    pub log: PathBuf,
}

/// Agent configuration: the demo integration only, fast flushes and retries.
pub fn config(protocol: &str, endpoints: &[String], buffer: &Path, extra: &str) -> String {
    let list: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        "agent:\n  interval: 1s\nresource:\n  instance_id: test-agent\n\
         integrations:\n  host:\n    enabled: false\n  demo:\n    enabled: true\n    interval: 200ms\n    series: 20\n\
         exporters:\n  otlp:\n    protocol: {protocol}\n    endpoints: [{}]\n    flush_interval: 200ms\n    timeout: 2s\n\
         \x20   retry:\n      initial_backoff: 100ms\n      max_backoff: 1s\n\
         \x20   circuit_breaker:\n      failures: 2\n      cooldown: 30s\n\
         \x20   shutdown_timeout: 5s\n\
         \x20   buffer:\n      path: {}\n{extra}",
        list.join(", "),
        buffer.display()
    )
}

/// Starts the agent with `config` written to `<dir>/<name>.yaml`, logging its ledger.
pub fn start_agent(dir: &Path, name: &str, config: &str, env: &[(&str, &str)]) -> Agent {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, config).unwrap();
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dozor-agent"));
    cmd.arg("--config")
        .arg(&path)
        .arg("--log-level")
        .arg("info,dozor_agent::export::ledger=info")
        .env_remove("DOZOR_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Agent {
        child: cmd.spawn().expect("starting dozor-agent"),
        log,
    }
}

impl Agent {
    /// SIGTERM, then waits for the exit (killing it after 30 s).
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("agent did not stop on SIGTERM:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of ` key=value` in a log line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    let end = rest.find(' ').unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

/// (stream, seq, points) of every batch the log says was appended.
pub fn appended(log: &str) -> Vec<(String, u64, u64)> {
    log.lines()
        .filter(|l| l.contains("dozor_agent::export::ledger") && l.contains("Batch appended"))
        .map(|l| {
            (
                field(l, "stream").unwrap().to_string(),
                field(l, "seq").unwrap().parse().unwrap(),
                field(l, "points").unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// Points the log says were dropped (every drop line).
pub fn dropped_points(log: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("first_seq="))
        .map(|l| field(l, "points").unwrap().parse::<u64>().unwrap())
        .sum()
}

/// Polls `cond` every 100 ms until it holds or `limit` passes; whether it held.
pub async fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cond()
}

/// The value of an agent self-metric data point in a request, matching all `attrs`.
pub fn self_metric(
    request: &ExportMetricsServiceRequest,
    name: &str,
    attrs: &[(&str, &str)],
) -> Option<f64> {
    use dozor_metrics::otlp::common::v1::any_value::Value;
    use dozor_metrics::otlp::metrics::v1::{metric::Data, number_data_point};
    for rm in &request.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in sm.metrics.iter().filter(|m| m.name == name) {
                let points = match &m.data {
                    Some(Data::Sum(s)) => &s.data_points,
                    Some(Data::Gauge(g)) => &g.data_points,
                    _ => continue,
                };
                for p in points {
                    let matches = attrs.iter().all(|(k, v)| {
                        p.attributes.iter().any(|kv| {
                            kv.key == *k
                                && matches!(kv.value.as_ref().and_then(|a| a.value.as_ref()), Some(Value::StringValue(s)) if s == v)
                        })
                    });
                    if matches {
                        return match p.value {
                            Some(number_data_point::Value::AsDouble(d)) => Some(d),
                            Some(number_data_point::Value::AsInt(i)) => Some(i as f64),
                            None => None,
                        };
                    }
                }
            }
        }
    }
    None
}
