//! The agent's configuration file (YAML) and its defaults.
//!
//! Loaded by `dozor-config`: unknown keys are rejected, `${VAR}` is substituted, durations are
//! written `15s`, and every problem is reported at once as `file:line:col: key.path: message`.
//! Without `--config`, [`Config::default`] is a working setup for this machine: the host
//! integration, exported over OTLP/gRPC to a collector on 127.0.0.1:4317.

use crate::integrations::{demo, host};
use dozor_config::{Duration, Validate, Validator};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole agent configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Schedule defaults for every integration.
    pub agent: AgentConfig,
    /// Identity attached to everything this agent sends.
    pub resource: ResourceConfig,
    /// Where and how telemetry is sent.
    pub exporters: ExportersConfig,
    /// File system roots the host integration reads from.
    pub paths: PathsConfig,
    /// The data sources, one section per integration.
    pub integrations: IntegrationsConfig,
}

/// Schedule defaults.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    /// Time between runs of an integration that does not set its own `interval`.
    pub interval: Duration,
    /// Longest an integration run may take before it counts as a timeout.
    pub timeout: Duration,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            interval: Duration(std::time::Duration::from_secs(15)),
            timeout: Duration(std::time::Duration::from_secs(10)),
        }
    }
}

/// Identity: `host.name`, `service.instance.id` and free-form labels such as `site` and `role`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResourceConfig {
    /// `host.name`; the kernel host name when unset.
    pub host_name: Option<String>,
    /// `service.instance.id`, the agent's identity at the collector (Prometheus `instance`);
    /// the host name when unset. Must be unique per agent.
    pub instance_id: Option<String>,
    /// Extra resource attributes, e.g. `site: plant-1`, `role: workstation`. Keep values from a
    /// small set: `site` and `role` become labels on every series.
    pub attributes: BTreeMap<String, String>,
}

/// Exporters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExportersConfig {
    /// OTLP to one or more dozor collectors (or any OTLP receiver).
    pub otlp: OtlpConfig,
}

/// Wire protocol of the OTLP exporter.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// OTLP/gRPC (collector port 4317).
    #[default]
    Grpc,
    /// OTLP/HTTP with protobuf bodies (collector port 4318, path `/v1/metrics`).
    Http,
}

/// The OTLP exporter.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct OtlpConfig {
    /// Send at all. `false` keeps the agent collecting (for `collect --once`) without sending.
    pub enabled: bool,
    /// Collector endpoints, tried in order: the first that answers gets the batch.
    /// `http://host:4317` for gRPC, `http://host:4318` for HTTP.
    pub endpoints: Vec<String>,
    /// `grpc` or `http`.
    pub protocol: Protocol,
    /// Longest one export request may take.
    pub timeout: Duration,
    /// Compress requests with gzip.
    pub gzip: bool,
    /// Send a batch at least this often when there is data.
    pub flush_interval: Duration,
    /// Send a batch as soon as it holds this many data points.
    pub max_batch_points: usize,
    /// Batches waiting to be sent, at most; beyond it the oldest is dropped and counted.
    pub queue_batches: usize,
    /// Attempts per batch before it is counted as failed (a durable buffer replaces this).
    pub max_attempts: u32,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            enabled: true,
            endpoints: vec!["http://127.0.0.1:4317".into()],
            protocol: Protocol::Grpc,
            timeout: Duration(std::time::Duration::from_secs(10)),
            gzip: true,
            flush_interval: Duration(std::time::Duration::from_secs(1)),
            max_batch_points: 10_000,
            queue_batches: 64,
            max_attempts: 5,
        }
    }
}

/// File system roots (`--path.*` flags override these).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PathsConfig {
    /// procfs mount, `/proc` by default.
    pub procfs: Option<PathBuf>,
    /// sysfs mount, `/sys` by default.
    pub sysfs: Option<PathBuf>,
    /// Prefix for mount points (statvfs), `/` by default; `/host` when the agent runs in a
    /// container with the host's root mounted there.
    pub rootfs: Option<PathBuf>,
}

/// One section per integration.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IntegrationsConfig {
    /// Host metrics and cgroups (containers, services, the agent itself).
    pub host: host::Config,
    /// Synthetic series with known values, for trying the pipeline out and for tests.
    pub demo: demo::Config,
}

impl Validate for Config {
    fn validate(&self, v: &mut Validator) {
        let check_positive = |v: &mut Validator, path: &str, d: &Duration| {
            if d.0.is_zero() {
                v.error(path, "must be greater than 0s");
            }
        };
        check_positive(v, "agent.interval", &self.agent.interval);
        check_positive(v, "agent.timeout", &self.agent.timeout);
        if let Some(d) = &self.integrations.host.interval {
            check_positive(v, "integrations.host.interval", d);
        }
        if let Some(d) = &self.integrations.host.timeout {
            check_positive(v, "integrations.host.timeout", d);
        }
        let demo = &self.integrations.demo;
        for (key, d) in [("interval", &demo.interval), ("timeout", &demo.timeout)] {
            if let Some(d) = d {
                check_positive(v, &format!("integrations.demo.{key}"), d);
            }
        }
        if demo.series == 0 || demo.series > demo::MAX_SERIES {
            v.error(
                "integrations.demo.series",
                format!("must be from 1 to {}", demo::MAX_SERIES),
            );
        }
        let otlp = &self.exporters.otlp;
        check_positive(v, "exporters.otlp.timeout", &otlp.timeout);
        check_positive(v, "exporters.otlp.flush_interval", &otlp.flush_interval);
        if otlp.enabled && otlp.endpoints.is_empty() {
            v.error(
                "exporters.otlp.endpoints",
                "at least one endpoint is needed when the exporter is enabled",
            );
        }
        for (i, e) in otlp.endpoints.iter().enumerate() {
            if let Err(why) = check_endpoint(e) {
                v.error(
                    &format!("exporters.otlp.endpoints[{i}]"),
                    format!("invalid endpoint \"{e}\": {why}"),
                );
            }
        }
        if otlp.max_batch_points == 0 {
            v.error("exporters.otlp.max_batch_points", "must be at least 1");
        }
        if otlp.queue_batches == 0 {
            v.error("exporters.otlp.queue_batches", "must be at least 1");
        }
        if otlp.max_attempts == 0 {
            v.error("exporters.otlp.max_attempts", "must be at least 1");
        }
        for (k, val) in &self.resource.attributes {
            if val.is_empty() {
                v.error(&format!("resource.attributes.{k}"), "must not be empty");
            }
        }
        for (i, name) in self.integrations.host.cgroups.services.iter().enumerate() {
            if name.contains('/') {
                v.error(
                    &format!("integrations.host.cgroups.services[{i}]"),
                    format!("\"{name}\" is a path; list systemd unit names here and cgroup paths under containers"),
                );
            }
        }
    }
}

/// Checks an endpoint is `http://host:port` or `https://host:port`.
fn check_endpoint(e: &str) -> Result<(), &'static str> {
    let rest = e
        .strip_prefix("http://")
        .or_else(|| e.strip_prefix("https://"))
        .ok_or("missing scheme (use http:// or https://)")?;
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = authority.rsplit_once(':').ok_or("missing port")?;
    if host.is_empty() {
        return Err("missing host");
    }
    port.parse::<u16>()
        .map_err(|_| "port is not a number from 1 to 65535")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commented reference file lists the defaults; it must load to exactly them.
    #[test]
    fn reference_file_is_the_defaults() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dozor-agent.example.yaml");
        let loaded: Config = dozor_config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(format!("{loaded:#?}"), format!("{:#?}", Config::default()));
    }

    #[test]
    fn endpoints() {
        assert!(check_endpoint("http://127.0.0.1:4317").is_ok());
        assert!(check_endpoint("https://collector.example:443").is_ok());
        assert_eq!(
            check_endpoint("127.0.0.1:4317"),
            Err("missing scheme (use http:// or https://)")
        );
        assert_eq!(check_endpoint("http://host"), Err("missing port"));
        assert_eq!(
            check_endpoint("http://host:99999"),
            Err("port is not a number from 1 to 65535")
        );
    }
}
