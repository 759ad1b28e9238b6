//! The collector's configuration file (`--config`), loaded by `dozor_config`.
//!
//! Every key is optional; the defaults below are what the collector runs with when no file is
//! given. `dozor-collector.example.yaml` beside `Cargo.toml` lists them all, and a test checks
//! that it loads to exactly [`Config::default`].

pub mod admin;
pub mod elasticsearch;
pub mod remote_write;
pub mod spans;

use dozor_config::{Duration, Validate, Validator};
use serde::Deserialize;
use std::net::SocketAddr;

/// 8 MiB: a 1,000-point batch is about 100 KiB, so this leaves ample room while bounding memory.
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 8 * 1024 * 1024;
/// The largest `max_request_bytes` accepted: one request may be held whole in memory, and
/// several are in flight at once.
pub const MAX_MAX_REQUEST_BYTES: u64 = 256 * 1024 * 1024;

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Config {
    /// Where agents send OTLP.
    pub receivers: Receivers,
    /// Where the collected series go.
    pub exporters: Exporters,
    /// How series are kept.
    pub store: StoreConfig,
    /// Sequence tracking of agents' batches (duplicates and gaps).
    pub delivery: DeliveryConfig,
    /// Who may send.
    pub auth: AuthConfig,
    /// Backpressure: when requests are refused with a retryable status.
    pub limits: Limits,
    /// OTLP traces: HTTP spans to RED metrics, and forwarding to a tracing backend.
    pub spans: spans::Spans,
    /// The read-only endpoint of `dozor-collector status` and `top`.
    pub admin: admin::Admin,
}

/// The OTLP receivers. They listen on loopback by default, as the OpenTelemetry Collector's do:
/// agents on other machines need an endpoint such as `0.0.0.0:4317`, and then `auth.tokens_file`
/// and `tls` (a receiver beyond loopback without a token is logged as a warning at start), or a
/// firewall restricting who can reach these ports.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Receivers {
    /// OTLP over gRPC.
    pub otlp_grpc: OtlpGrpc,
    /// OTLP over HTTP (`POST /v1/metrics`, `/v1/logs` and `/v1/traces`, protobuf only).
    pub otlp_http: OtlpHttp,
}

/// OTLP/gRPC receiver settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct OtlpGrpc {
    /// Address to listen on, `IP:port`. Default `127.0.0.1:4317` (this machine only).
    pub endpoint: String,
    /// Largest request accepted, in bytes, both as sent and after decompression. Default
    /// 8388608 (8 MiB); at most 268435456.
    pub max_request_bytes: u64,
    /// TLS; off when `cert_file` is empty.
    pub tls: Tls,
}

impl Default for OtlpGrpc {
    fn default() -> Self {
        OtlpGrpc {
            endpoint: "127.0.0.1:4317".into(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            tls: Tls::default(),
        }
    }
}

/// TLS settings of a receiver (rustls; TLS 1.2 and 1.3).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Tls {
    /// PEM certificate chain the receiver presents, leaf first. Empty (default): no TLS.
    pub cert_file: String,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// PEM CA certificates that client certificates must chain to. Set: mutual TLS, a client
    /// without a valid certificate cannot connect. Empty (default): no client certificates.
    pub client_ca_file: String,
}

impl Tls {
    /// True when TLS is configured.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }

    fn validate(&self, prefix: &str, v: &mut Validator) {
        if self.cert_file.is_empty() != self.key_file.is_empty() {
            let missing = if self.cert_file.is_empty() {
                "cert_file"
            } else {
                "key_file"
            };
            v.error(
                &format!("{prefix}.tls.{missing}"),
                "cert_file and key_file must be set together",
            );
        }
        if !self.client_ca_file.is_empty() && self.cert_file.is_empty() {
            v.error(
                &format!("{prefix}.tls.client_ca_file"),
                "needs cert_file and key_file: mutual TLS is TLS first",
            );
        }
    }
}

/// OTLP/HTTP receiver settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct OtlpHttp {
    /// Address to listen on, `IP:port`. Default `127.0.0.1:4318` (this machine only).
    pub endpoint: String,
    /// Largest request body accepted, in bytes, both as sent and after decompression. Default
    /// 8388608 (8 MiB); at most 268435456.
    pub max_request_bytes: u64,
    /// TLS; off when `cert_file` is empty.
    pub tls: Tls,
}

impl Default for OtlpHttp {
    fn default() -> Self {
        OtlpHttp {
            endpoint: "127.0.0.1:4318".into(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            tls: Tls::default(),
        }
    }
}

/// The exporters.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Exporters {
    /// The Prometheus pull endpoint.
    pub prometheus: Prometheus,
    /// Elasticsearch, for OTLP logs. Absent (default): logs are refused (UNIMPLEMENTED / 404).
    pub elasticsearch: Option<elasticsearch::Elasticsearch>,
    /// Prometheus remote_write endpoints: every accepted sample is pushed to each with its
    /// original timestamp, through an outbox on disk per endpoint (`docs/remote-write.md`).
    /// Empty (default): none.
    pub remote_write: Vec<remote_write::RemoteWrite>,
}

/// Prometheus exposition settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Prometheus {
    /// Address serving `/metrics`, `IP:port`. Default `127.0.0.1:9464` (this machine only); a
    /// Prometheus on another machine needs `0.0.0.0:9464` or the collector's own address.
    pub endpoint: String,
    /// Write each counter's and histogram's start time as an OpenMetrics `_created` sample (the
    /// sender's `start_time_unix_nano`), for a Prometheus that turns them into created
    /// timestamps (`--enable-feature=created-timestamp-zero-ingestion`, Prometheus 3 with
    /// OpenMetrics 1.0 `_created` parsing). Default false: Prometheus 2 stores each as a
    /// series of its own, nearly doubling the counters' series (prometheus/prometheus#6541);
    /// the alert rules count a counter born above zero without them.
    pub created_samples: bool,
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus {
            endpoint: "127.0.0.1:9464".into(),
            created_samples: false,
        }
    }
}

/// Series store settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct StoreConfig {
    /// A series no point updated for this long is removed. Default `5m`.
    pub series_ttl: Duration,
    /// Most series held at once; points that would create more are dropped and counted as
    /// `dozor_collector_dropped_points_total{reason="series_limit"}`. Default 1000000.
    pub max_series: usize,
    /// An agent silent for this long leaves the fleet view (and
    /// `dozor_collector_agent_last_seen_timestamp_seconds`). Default `24h`, so that "agent
    /// silent" alerts keep firing long after its series went stale.
    pub agent_ttl: Duration,
    /// Resource attributes copied as labels onto every series of that resource, besides `job`
    /// and `instance`. Keep to bounded values. Default `[site, role, desk]` (`desk`: the
    /// operator workstation's place, set on workstation agents for the network dashboards).
    pub resource_to_labels: Vec<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            series_ttl: Duration(std::time::Duration::from_secs(300)),
            max_series: 1_000_000,
            agent_ttl: Duration(std::time::Duration::from_secs(24 * 3600)),
            resource_to_labels: vec!["site".into(), "role".into(), "desk".into()],
        }
    }
}

/// Default `delivery.ledger_max_bytes`: 64 MiB, about a million `A` lines between compactions.
pub const DEFAULT_LEDGER_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Delivery tracking settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct DeliveryConfig {
    /// File recording which batches of every agent stream were received, so that a batch
    /// redelivered after a collector restart (even a SIGKILL) is still a duplicate. Empty
    /// (default): kept in memory only, forgotten when the collector stops.
    pub ledger_path: String,
    /// The ledger is compacted (rewritten as one line per stream and received range) when it
    /// grows past this many bytes. Default 67108864 (64 MiB); at least 4096.
    pub ledger_max_bytes: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            ledger_path: String::new(),
            ledger_max_bytes: DEFAULT_LEDGER_MAX_BYTES,
        }
    }
}

/// Authentication of senders.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct AuthConfig {
    /// File of agent tokens: one `<agent> <token>` pair a line (`#` starts a comment line).
    /// Set: every request needs `authorization: Bearer <token>`, and its agent is the name the
    /// token maps to. Tokens are at least 16 printable characters and unique. Re-read on
    /// SIGHUP. Empty (default): no authentication.
    pub tokens_file: String,
}

/// Backpressure and bounds. Reaching a limit refuses requests with a retryable status (the
/// agent keeps the data and retries later), or drops what is over a bound; every refusal and
/// drop is counted by reason.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Limits {
    /// Memory limiter.
    pub memory: MemoryLimit,
    /// Limits per sender that names itself (a token, `dozor-agent`, `service.instance.id`).
    pub per_agent: PerAgent,
    /// Limits per sender that names itself in no way, keyed by its IP address.
    pub unidentified: PerAgent,
    /// Bounds on one request, checked on the wire before it is decoded.
    pub request: RequestLimits,
    /// Bounds on what one data point may carry.
    pub point: PointLimits,
    /// Connections to the receivers: how many, and how slow they may be.
    pub connections: Connections,
}

/// The memory limiter (like the OpenTelemetry Collector's `memory_limiter`), applied before a
/// request is decoded, at the cost the request will have once decoded.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct MemoryLimit {
    /// Bytes. A request is refused (UNAVAILABLE / 503 with retry-after) when the process's
    /// resident memory plus the decoded cost of the requests in flight, its own included, would
    /// reach `limit - spike`. Default 0: automatic, 80% of the cgroup's `memory.max` when it has
    /// one (the kernel kills the process at 100%), else 50% of the machine's memory (the
    /// collector shares the machine); the value in force is logged at start.
    pub limit: u64,
    /// Bytes of headroom kept below `limit` for what arrives between two measurements.
    /// Default 0: 20% of `limit`.
    pub spike: u64,
    /// Bytes below `limit - spike` at which senders not in good standing (new ones, and those
    /// over their series budget or rate within the last minute) are refused already, so that
    /// agents in good standing keep this share to drain their backlog during a flood. Default
    /// 0: 20% of `limit`.
    pub reserved: u64,
}

/// Limits applied to each sender, keyed by the agent its token names, else its `dozor-agent`
/// header, else its resource's `service.instance.id`, else (under `limits.unidentified`) its
/// IP address.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct PerAgent {
    /// Data points per second, averaged by a token bucket holding two seconds' worth. Over it:
    /// RESOURCE_EXHAUSTED / 429 with a retry-after. Default 0: unlimited.
    pub points_per_second: u64,
    /// Series one sender may hold at once; a new label set beyond it is stored in its family's
    /// overflow series (labels `job`, `instance` and `otel_metric_overflow="true"`) and counted
    /// as `dropped.points{reason="series_budget"}`. Default 20000 (a host agent holds about
    /// 600, one with PostgreSQL and 500 statements about 6000); 0: unlimited.
    pub max_series: u64,
}

/// Default `limits.per_agent.max_series` and `limits.unidentified.max_series`.
pub const DEFAULT_MAX_SERIES_PER_SENDER: u64 = 20_000;

impl Default for PerAgent {
    fn default() -> Self {
        PerAgent {
            points_per_second: 0,
            max_series: DEFAULT_MAX_SERIES_PER_SENDER,
        }
    }
}

/// Bounds on one request, counted on the wire before anything is decoded. Over one: refused
/// as too large (HTTP 413 / RESOURCE_EXHAUSTED, permanent: the agent drops the batch).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct RequestLimits {
    /// Data points (of every type) or log records in one request. Default 100000 (an agent
    /// sends at most 10000).
    pub max_data_points: u64,
    /// Attributes (key-value pairs at every level: resource, scope, point, exemplar, nested)
    /// in one request. Default 1000000.
    pub max_attributes: u64,
    /// Resource and scope entries in one request. Default 10000.
    pub max_resources: u64,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_data_points: 100_000,
            max_attributes: 1_000_000,
            max_resources: 10_000,
        }
    }
}

/// What happens to a point over a length bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(rename_all = "snake_case")]
pub enum OverBound {
    /// The point is dropped (and counted).
    #[default]
    Drop,
    /// Names and values are cut to the bound, exemplars to their count (and counted); counts
    /// of labels and buckets are always dropped.
    Truncate,
}

/// Bounds on one data point, as Prometheus bounds a scrape (`label_limit`,
/// `label_name_length_limit`, `label_value_length_limit`). Lengths are bytes of the name or
/// value as exposed. Each point over a bound is counted in
/// `dozor_collector_dropped_points_total{reason}` (or `..._truncated_points_total{reason}`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct PointLimits {
    /// Longest metric name. Default 256 (the OpenTelemetry API allows 255 characters).
    pub max_name_length: usize,
    /// Most labels on one series, resource labels included. Default 64.
    pub max_labels: usize,
    /// Longest label name. Default 256.
    pub max_label_name_length: usize,
    /// Longest label value. Default 2048.
    pub max_label_value_length: usize,
    /// Most exemplars on one point. Default 16.
    pub max_exemplars: usize,
    /// Most buckets on one histogram point. Default 512.
    pub max_buckets: usize,
    /// Points more than this ahead of the collector's clock are dropped (counted as
    /// `future_timestamp`), so that no point can freeze its series. Default `5m`.
    pub max_future_skew: Duration,
    /// `drop` (default) or `truncate` names, values and exemplars over their bound.
    pub on_over: OverBound,
}

impl Default for PointLimits {
    fn default() -> Self {
        PointLimits {
            max_name_length: 256,
            max_labels: 64,
            max_label_name_length: 256,
            max_label_value_length: 2048,
            max_exemplars: 16,
            max_buckets: 512,
            max_future_skew: Duration(std::time::Duration::from_secs(300)),
            on_over: OverBound::Drop,
        }
    }
}

/// Connections to the receivers. Each limit reached closes the connection and is counted in
/// `dozor_collector_closed_connections_total{reason}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Connections {
    /// Open connections to each receiver at once; more are closed at accept. Default 4096.
    pub max: usize,
    /// Open connections from one IP address to each receiver (a site behind NAT shares one).
    /// Default 1024.
    pub max_per_address: usize,
    /// Time a client has to send a request's headers (HTTP/1) or open a stream (HTTP/2).
    /// Default `10s`.
    pub header_read_timeout: Duration,
    /// Time a client has to send a whole request body. Default `60s`.
    pub body_read_timeout: Duration,
    /// An open connection with no request in progress for this long is closed. Default `2m`.
    pub idle_timeout: Duration,
}

impl Default for Connections {
    fn default() -> Self {
        let s = |n| Duration(std::time::Duration::from_secs(n));
        Connections {
            max: 4096,
            max_per_address: 1024,
            header_read_timeout: s(10),
            body_read_timeout: s(60),
            idle_timeout: s(120),
        }
    }
}

impl Config {
    /// Receivers that anyone on the network may write to: listening beyond loopback without
    /// `auth.tokens_file`. Allowed (a firewall may be the protection), but said at start.
    pub fn exposure_warnings(&self) -> Vec<String> {
        if !self.auth.tokens_file.is_empty() {
            return vec![];
        }
        let r = &self.receivers;
        [
            ("receivers.otlp_grpc.endpoint", &r.otlp_grpc.endpoint),
            ("receivers.otlp_http.endpoint", &r.otlp_http.endpoint),
        ]
        .into_iter()
        .filter(|(_, e)| {
            e.parse::<SocketAddr>()
                .is_ok_and(|a| !a.ip().is_loopback())
        })
        .map(|(key, e)| {
            format!(
                "{key} {e} accepts data from other machines without authentication: set auth.tokens_file (and tls), or firewall the port"
            )
        })
        .collect()
    }
}

impl Validate for Config {
    fn validate(&self, v: &mut Validator) {
        self.admin.validate(v);
        let r = &self.receivers;
        let endpoints = [
            ("receivers.otlp_grpc.endpoint", &r.otlp_grpc.endpoint),
            ("receivers.otlp_http.endpoint", &r.otlp_http.endpoint),
            (
                "exporters.prometheus.endpoint",
                &self.exporters.prometheus.endpoint,
            ),
        ];
        let mut seen: Vec<SocketAddr> = Vec::new();
        for (key, endpoint) in endpoints {
            match endpoint.parse::<SocketAddr>() {
                Err(_) => v.error(
                    key,
                    format!("invalid address {endpoint:?}: expected IP:port, e.g. 0.0.0.0:4317"),
                ),
                Ok(a) if a.port() != 0 && seen.contains(&a) => {
                    v.error(key, format!("{a} is already used by another endpoint"))
                }
                Ok(a) => seen.push(a),
            }
        }
        for (key, bytes) in [
            (
                "receivers.otlp_grpc.max_request_bytes",
                r.otlp_grpc.max_request_bytes,
            ),
            (
                "receivers.otlp_http.max_request_bytes",
                r.otlp_http.max_request_bytes,
            ),
        ] {
            if !(1..=MAX_MAX_REQUEST_BYTES).contains(&bytes) {
                v.error(
                    key,
                    format!("must be between 1 and {MAX_MAX_REQUEST_BYTES} (256 MiB), got {bytes}"),
                );
            }
        }
        r.otlp_grpc.tls.validate("receivers.otlp_grpc", v);
        r.otlp_http.tls.validate("receivers.otlp_http", v);
        if self.delivery.ledger_max_bytes < 4096 {
            v.error(
                "delivery.ledger_max_bytes",
                format!(
                    "must be at least 4096, got {}",
                    self.delivery.ledger_max_bytes
                ),
            );
        }
        let m = &self.limits.memory;
        if m.limit > 0 && m.spike.saturating_add(m.reserved) >= m.limit {
            let key = if m.spike >= m.limit {
                "limits.memory.spike"
            } else {
                "limits.memory.reserved"
            };
            v.error(
                key,
                format!(
                    "spike + reserved must be less than limits.memory.limit ({})",
                    m.limit
                ),
            );
        }
        if m.limit == 0 && (m.spike > 0 || m.reserved > 0) {
            let key = if m.spike > 0 {
                "limits.memory.spike"
            } else {
                "limits.memory.reserved"
            };
            v.error(key, "needs limits.memory.limit");
        }
        self.limits.validate(v);
        self.store.validate(v);
        self.spans.validate(v);
        remote_write::validate_all(&self.exporters.remote_write, v);
        if let Some(es) = &self.exporters.elasticsearch {
            es.validate(v);
            // A request is stored whole in the outbox: the largest must fit, twice over.
            let largest = r
                .otlp_grpc
                .max_request_bytes
                .max(r.otlp_http.max_request_bytes);
            if es.outbox.max_bytes < 2 * largest {
                v.error(
                    "exporters.elasticsearch.outbox.max_bytes",
                    format!(
                        "must be at least twice the largest receivers.*.max_request_bytes ({largest})"
                    ),
                );
            }
        }
    }
}

impl Validate for Limits {
    fn validate(&self, v: &mut Validator) {
        let r = &self.request;
        let p = &self.point;
        let c = &self.connections;
        let at_least_one = [
            ("limits.request.max_data_points", r.max_data_points),
            ("limits.request.max_attributes", r.max_attributes),
            ("limits.request.max_resources", r.max_resources),
            ("limits.point.max_name_length", p.max_name_length as u64),
            ("limits.point.max_labels", p.max_labels as u64),
            (
                "limits.point.max_label_name_length",
                p.max_label_name_length as u64,
            ),
            (
                "limits.point.max_label_value_length",
                p.max_label_value_length as u64,
            ),
            ("limits.point.max_buckets", p.max_buckets as u64),
            ("limits.connections.max", c.max as u64),
            (
                "limits.connections.max_per_address",
                c.max_per_address as u64,
            ),
        ];
        for (key, n) in at_least_one {
            if n == 0 {
                v.error(key, "must be at least 1");
            }
        }
        if c.max_per_address > c.max {
            v.error(
                "limits.connections.max_per_address",
                format!("must be at most limits.connections.max ({})", c.max),
            );
        }
        for (key, d) in [
            (
                "limits.connections.header_read_timeout",
                c.header_read_timeout,
            ),
            ("limits.connections.body_read_timeout", c.body_read_timeout),
            ("limits.connections.idle_timeout", c.idle_timeout),
        ] {
            if d.0.is_zero() {
                v.error(key, "must be longer than 0s");
            }
        }
    }
}

impl Validate for StoreConfig {
    fn validate(&self, v: &mut Validator) {
        if self.series_ttl.0.is_zero() {
            v.error("store.series_ttl", "must be longer than 0s");
        }
        if self.agent_ttl.0 < self.series_ttl.0 {
            v.error(
                "store.agent_ttl",
                format!("must be at least series_ttl ({})", self.series_ttl),
            );
        }
        if self.max_series == 0 {
            v.error("store.max_series", "must be at least 1");
        }
        for (i, key) in self.resource_to_labels.iter().enumerate() {
            let path = format!("store.resource_to_labels[{i}]");
            if key.is_empty() {
                v.error(&path, "empty attribute name");
            } else if matches!(
                key.as_str(),
                "service.name" | "service.namespace" | "service.instance.id"
            ) {
                v.error(&path, format!("{key} is always mapped to job/instance"));
            } else if self.resource_to_labels[..i].contains(key) {
                v.error(&path, format!("{key} is listed twice"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        dozor_config::load_str("c.yaml", text, &|_| None).map_err(|e| e.to_string())
    }

    #[test]
    fn beyond_loopback_without_tokens_is_warned_about() {
        assert!(Config::default().exposure_warnings().is_empty());
        let open = load("receivers:\n  otlp_grpc:\n    endpoint: 0.0.0.0:4317\n").unwrap();
        let w = open.exposure_warnings();
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("receivers.otlp_grpc.endpoint 0.0.0.0:4317 accepts"),
            "{w:?}"
        );
        let mut with_tokens = open.clone();
        with_tokens.auth.tokens_file = "/etc/dozor/tokens".into();
        assert!(with_tokens.exposure_warnings().is_empty());
    }

    #[test]
    fn admin_beyond_loopback_needs_a_token() {
        assert_eq!(Config::default().admin.listen, "127.0.0.1:8688");
        let err = load("admin:\n  listen: 0.0.0.0:8688\n").unwrap_err();
        assert!(
            err.starts_with("c.yaml:2:3: admin.listen: 0.0.0.0:8688 is not a loopback address: set admin.token_file"),
            "{err}"
        );
        let err = load("admin:\n  listen: localhost\n").unwrap_err();
        assert!(err.contains("admin.listen: invalid address"), "{err}");
        load("admin:\n  listen: 0.0.0.0:8688\n  token_file: /etc/dozor/admin.token\n").unwrap();
        assert_eq!(
            load("admin:\n  listen: off\n").unwrap().admin.address(),
            None
        );
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(load("").unwrap(), Config::default());
    }

    #[test]
    fn example_file_is_the_defaults() {
        let text = include_str!("../dozor-collector.example.yaml");
        assert_eq!(load(text).unwrap(), Config::default());
    }

    #[test]
    fn partial_sections_keep_their_own_defaults() {
        let c = load("receivers:\n  otlp_http:\n    max_request_bytes: 1024\n").unwrap();
        assert_eq!(c.receivers.otlp_http.endpoint, "127.0.0.1:4318");
        assert_eq!(c.receivers.otlp_http.max_request_bytes, 1024);
        assert_eq!(c.receivers.otlp_grpc, OtlpGrpc::default());
    }

    #[test]
    fn delivery_auth_tls_and_limits_are_checked() {
        let text = "receivers:\n  otlp_http:\n    tls:\n      key_file: k.pem\n      client_ca_file: ca.pem\n\
                    delivery:\n  ledger_max_bytes: 10\nlimits:\n  memory:\n    limit: 100\n    spike: 100\n";
        let err = load(text).unwrap_err();
        let want = "\
c.yaml:3:5: receivers.otlp_http.tls.cert_file: cert_file and key_file must be set together
c.yaml:5:7: receivers.otlp_http.tls.client_ca_file: needs cert_file and key_file: mutual TLS is TLS first
c.yaml:7:3: delivery.ledger_max_bytes: must be at least 4096, got 10
c.yaml:11:5: limits.memory.spike: spike + reserved must be less than limits.memory.limit (100)";
        assert_eq!(err.trim_end(), want);
        let ok = load("auth:\n  tokens_file: /etc/dozor/tokens\nlimits:\n  per_agent:\n    points_per_second: 5000\n    max_series: 20000\n").unwrap();
        assert_eq!(ok.limits.per_agent.max_series, 20000);
        assert_eq!(ok.auth.tokens_file, "/etc/dozor/tokens");
    }

    #[test]
    fn elasticsearch_defaults_and_checks() {
        let c = load("exporters:\n  elasticsearch:\n    endpoints: [\"http://127.0.0.1:9200\"]\n")
            .unwrap();
        let es = c.exporters.elasticsearch.unwrap();
        assert_eq!(es.index, "logs-dozor-default");
        assert_eq!(es.document_id_attribute, "dozor.flow.event_id");
        assert_eq!(es.outbox.max_bytes, 256 << 20);
        let text = "exporters:\n  elasticsearch:\n    endpoints: [\"es:9200\"]\n    index: Logs\n    username: u\n";
        let err = load(text).unwrap_err();
        let want = "\
c.yaml:3:17: exporters.elasticsearch.endpoints[0]: invalid URL \"es:9200\": expected http(s)://host:port
c.yaml:4:5: exporters.elasticsearch.index: invalid index name \"Logs\": lowercase letters, digits, '-', '_' and '.', not starting with '_', '-' or '+'
c.yaml:5:5: exporters.elasticsearch.username: needs password_file too";
        assert_eq!(err.trim_end(), want);
    }

    #[test]
    fn remote_write_defaults_and_checks() {
        let c =
            load("exporters:\n  remote_write:\n    - url: http://127.0.0.1:8428/api/v1/write\n")
                .unwrap();
        let rw = &c.exporters.remote_write[0];
        assert_eq!(rw.batch.max_samples, 5000);
        assert_eq!(rw.backlog_after.0, std::time::Duration::from_secs(300));
        assert!(
            rw.outbox_dir()
                .ends_with("remote-write-outbox/127.0.0.1_8428_api_v1_write")
        );
        let text = "exporters:\n  remote_write:\n    - url: vm:8428\n      headers:\n        Authorization: x\n\
                    \x20   - url: https://u:p@vm/api/v1/write\n      basic_auth:\n        username: u\n      bearer_token_file: /t\n\
                    \x20   - url: http://vm/w\n      outbox:\n        max_bytes: 10\n      batch:\n        max_samples: 0\n";
        let err = load(text).unwrap_err();
        let want = "\
c.yaml:3:7: exporters.remote_write[0].url: invalid URL \"vm:8428\": expected http(s)://host:port/path
c.yaml:5:9: exporters.remote_write[0].headers.Authorization: set by the exporter itself (use basic_auth or bearer_token_file for authorization)
c.yaml:6:7: exporters.remote_write[1].url: invalid URL \"https://u:p@vm/api/v1/write\": credentials in the URL: use basic_auth or bearer_token_file
c.yaml:7:7: exporters.remote_write[1].basic_auth.password_file: must not be empty
c.yaml:9:7: exporters.remote_write[1].bearer_token_file: set basic_auth or bearer_token_file, not both
c.yaml:12:9: exporters.remote_write[2].outbox.max_bytes: must be at least 1048576 (1 MiB)
c.yaml:14:9: exporters.remote_write[2].batch.max_samples: must be at least 1";
        assert_eq!(err.trim_end(), want);
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let text = "receivers:\n  otlp_grpc:\n    endpoint: localhost\n    max_request_bytes: 0\n\
                    store:\n  series_ttl: 0s\n  max_series: 0\n  resource_to_labels: [site, site, service.name]\n  colour: red\n";
        let err = load(text).unwrap_err();
        let want = "\
c.yaml:3:5: receivers.otlp_grpc.endpoint: invalid address \"localhost\": expected IP:port, e.g. 0.0.0.0:4317
c.yaml:4:5: receivers.otlp_grpc.max_request_bytes: must be between 1 and 268435456 (256 MiB), got 0
c.yaml:6:3: store.series_ttl: must be longer than 0s
c.yaml:7:3: store.max_series: must be at least 1
c.yaml:8:30: store.resource_to_labels[1]: site is listed twice
c.yaml:8:36: store.resource_to_labels[2]: service.name is always mapped to job/instance
c.yaml:9:3: store.colour: unknown key \"colour\"";
        assert_eq!(err.trim_end(), want);
    }
}

/// `docs/configuration.md`'s table of every key of the collector, generated from the structs'
/// `///` comments and defaults (`UPDATE_GOLDEN=1 cargo test -p dozor-collector key_reference`
/// rewrites it).
#[cfg(test)]
mod key_reference {
    const BEGIN: &str = "<!-- BEGIN collector keys: generated from the config structs by `UPDATE_GOLDEN=1 cargo test -p dozor-collector key_reference`; do not edit -->\n";
    const END: &str = "<!-- END collector keys -->";

    #[test]
    fn key_reference_is_current() {
        let table = dozor_config::reference::markdown(&schemars::schema_for!(super::Config), "");
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
            panic!("{} has no {BEGIN:?} ... {END:?} section", path.display());
        };
        if doc[b + BEGIN.len()..e] != table {
            assert!(
                std::env::var_os("UPDATE_GOLDEN").is_some(),
                "docs/configuration.md's collector keys are stale: run UPDATE_GOLDEN=1 cargo test -p dozor-collector key_reference"
            );
            let updated = format!("{}{BEGIN}{table}{}", &doc[..b], &doc[e..]);
            std::fs::write(&path, updated).unwrap();
        }
    }
}
