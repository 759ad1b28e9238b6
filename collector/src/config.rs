//! The collector's configuration file (`--config`), loaded by `dozor_config`.
//!
//! Every key is optional; the defaults below are what the collector runs with when no file is
//! given. `dozor-collector.example.yaml` beside `Cargo.toml` lists them all, and a test checks
//! that it loads to exactly [`Config::default`].

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
#[serde(default)]
pub struct Config {
    /// Where agents send OTLP.
    pub receivers: Receivers,
    /// Where the collected series go.
    pub exporters: Exporters,
    /// How series are kept.
    pub store: StoreConfig,
}

/// The OTLP receivers. They listen on all interfaces by default because they are the product's
/// ingress: agents on other machines must reach them. They do not authenticate senders yet
/// (per-agent tokens arrive in a later release); until then restrict who can reach these ports
/// with a firewall, or bind them to an internal address.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Receivers {
    /// OTLP over gRPC.
    pub otlp_grpc: OtlpGrpc,
    /// OTLP over HTTP (`POST /v1/metrics`, protobuf only).
    pub otlp_http: OtlpHttp,
}

/// OTLP/gRPC receiver settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct OtlpGrpc {
    /// Address to listen on, `IP:port`. Default `0.0.0.0:4317`.
    pub endpoint: String,
    /// Largest request accepted, in bytes, both as sent and after decompression. Default
    /// 8388608 (8 MiB); at most 268435456.
    pub max_request_bytes: u64,
}

impl Default for OtlpGrpc {
    fn default() -> Self {
        OtlpGrpc {
            endpoint: "0.0.0.0:4317".into(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }
}

/// OTLP/HTTP receiver settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct OtlpHttp {
    /// Address to listen on, `IP:port`. Default `0.0.0.0:4318`.
    pub endpoint: String,
    /// Largest request body accepted, in bytes, both as sent and after decompression. Default
    /// 8388608 (8 MiB); at most 268435456.
    pub max_request_bytes: u64,
}

impl Default for OtlpHttp {
    fn default() -> Self {
        OtlpHttp {
            endpoint: "0.0.0.0:4318".into(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }
}

/// The exporters.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Exporters {
    /// The Prometheus pull endpoint.
    pub prometheus: Prometheus,
}

/// Prometheus exposition settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct Prometheus {
    /// Address serving `/metrics`, `IP:port`. Default `0.0.0.0:9464`: Prometheus scrapes it
    /// from another machine.
    pub endpoint: String,
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus {
            endpoint: "0.0.0.0:9464".into(),
        }
    }
}

/// Series store settings.
#[derive(Clone, Debug, PartialEq, Deserialize)]
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
    /// and `instance`. Keep to bounded values. Default `[site, role]`.
    pub resource_to_labels: Vec<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            series_ttl: Duration(std::time::Duration::from_secs(300)),
            max_series: 1_000_000,
            agent_ttl: Duration(std::time::Duration::from_secs(24 * 3600)),
            resource_to_labels: vec!["site".into(), "role".into()],
        }
    }
}

impl Validate for Config {
    fn validate(&self, v: &mut Validator) {
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
        self.store.validate(v);
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
        assert_eq!(c.receivers.otlp_http.endpoint, "0.0.0.0:4318");
        assert_eq!(c.receivers.otlp_http.max_request_bytes, 1024);
        assert_eq!(c.receivers.otlp_grpc, OtlpGrpc::default());
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
