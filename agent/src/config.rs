//! The agent's configuration file (YAML) and its defaults.
//!
//! Loaded by `dozor-config`: unknown keys are rejected, `${VAR}` is substituted, durations are
//! written `15s`, and every problem is reported at once as `file:line:col: key.path: message`.
//! Without `--config`, [`Config::default`] is a working setup for this machine: the host
//! integration, exported over OTLP/gRPC to a collector on 127.0.0.1:4317.

use crate::integrations::{demo, flow, host, mysql, postgresql, sql};
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

/// Whether export requests are gzip-compressed (`exporters.otlp.gzip`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Gzip {
    /// Everywhere but to a loopback endpoint.
    #[default]
    Auto,
    /// To every endpoint.
    On,
    /// To none.
    Off,
}

impl Gzip {
    /// Whether requests to `endpoint` (a URL) are compressed.
    pub fn applies_to(self, endpoint: &str) -> bool {
        match self {
            Gzip::On => true,
            Gzip::Off => false,
            Gzip::Auto => !is_loopback(endpoint),
        }
    }
}

/// True for a URL whose host is `localhost` or a loopback address.
fn is_loopback(endpoint: &str) -> bool {
    match url::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Gzip {
    fn parse(text: &str) -> Result<Gzip, String> {
        match text {
            "auto" => Ok(Gzip::Auto),
            "true" => Ok(Gzip::On),
            "false" => Ok(Gzip::Off),
            other => Err(format!("{other:?}: expected true, false or auto")),
        }
    }
}

impl<'de> Deserialize<'de> for Gzip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        dozor_config::leaf(d, Gzip::parse, Gzip::default)
    }
}

/// Wire protocol of the OTLP exporter.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// OTLP/gRPC (collector port 4317).
    #[default]
    Grpc,
    /// OTLP/HTTP with protobuf bodies (collector port 4318, paths `/v1/metrics` and
    /// `/v1/logs`).
    Http,
}

/// The OTLP exporter.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct OtlpConfig {
    /// Send at all. `false` keeps the agent collecting (for `collect --once`) without sending.
    pub enabled: bool,
    /// Collector endpoints, tried in order: the first that answers gets the batch; one whose
    /// circuit breaker is open is skipped. `http(s)://host:4317` for gRPC, `:4318` for HTTP.
    pub endpoints: Vec<String>,
    /// `grpc` or `http`.
    pub protocol: Protocol,
    /// Longest one export request may take.
    pub timeout: Duration,
    /// Compress requests with gzip: `auto` (the default) compresses to every endpoint but a
    /// loopback one (`localhost`, `127.0.0.0/8`, `::1`), where compressing only costs CPU and
    /// memory; `true` or `false` for every endpoint.
    pub gzip: Gzip,
    /// Send a batch at least this often when there is data.
    pub flush_interval: Duration,
    /// Send a batch as soon as it holds this many data points.
    pub max_batch_points: usize,
    /// The durable on-disk buffer between batching and the network.
    pub buffer: BufferConfig,
    /// Log records (the `flow` integration's lost-order events), sent to the collector's
    /// logs endpoint (`LogsService/Export`, `/v1/logs`) from their own durable outbox.
    pub logs: LogsConfig,
    /// Retries of a batch the collector did not take (never given up on: only the buffer's
    /// size bound or a permanent refusal loses data).
    pub retry: RetryConfig,
    /// Per-endpoint circuit breaker.
    pub circuit_breaker: BreakerConfig,
    /// Data points per second at most when replaying the backlog left by an outage (fresh
    /// batches are sent at once, besides).
    pub replay_rate: u32,
    /// On SIGTERM, how long to keep sending what is buffered; the rest stays on disk.
    pub shutdown_timeout: Duration,
    /// TLS for `https://` endpoints.
    pub tls: TlsConfig,
    /// Bearer token sent as `authorization: Bearer <token>`.
    pub auth: AuthConfig,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            enabled: true,
            endpoints: vec!["http://127.0.0.1:4317".into()],
            protocol: Protocol::Grpc,
            timeout: Duration(std::time::Duration::from_secs(10)),
            gzip: Gzip::Auto,
            flush_interval: Duration(std::time::Duration::from_secs(1)),
            max_batch_points: 10_000,
            buffer: BufferConfig::default(),
            logs: LogsConfig::default(),
            retry: RetryConfig::default(),
            circuit_breaker: BreakerConfig::default(),
            replay_rate: 20_000,
            shutdown_timeout: Duration(std::time::Duration::from_secs(5)),
            tls: TlsConfig::default(),
            auth: AuthConfig::default(),
        }
    }
}

/// What the buffer does when it is full.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Delete the oldest segments; their points are counted exactly as `dropped`.
    #[default]
    DropOldest,
    /// Stop taking batches: collection pauses until the collector takes the backlog.
    Pause,
}

/// When the buffer forces data to disk (every policy survives the death of the process).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Never fsync: a power loss may lose recent batches.
    Never,
    /// fsync appended batches at most once a second, acknowledgements always.
    #[default]
    Interval,
    /// fsync every append and acknowledgement.
    Always,
}

/// The on-disk write-ahead buffer.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct BufferConfig {
    /// Directory; when unset `$STATE_DIRECTORY/buffer` (systemd), else
    /// `/var/lib/dozor-agent/buffer` as root, else `$XDG_STATE_HOME/dozor-agent/buffer` or
    /// `~/.local/state/dozor-agent/buffer`.
    pub path: Option<PathBuf>,
    /// Bytes on disk at most.
    pub max_bytes: u64,
    /// Bytes per segment file; smaller frees disk sooner and drops less at a time.
    pub segment_bytes: u64,
    /// `drop_oldest` or `pause` when `max_bytes` is reached.
    pub when_full: WhenFull,
    /// `never`, `interval` or `always`.
    pub sync: SyncMode,
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig {
            path: None,
            max_bytes: 256 << 20,
            segment_bytes: 8 << 20,
            when_full: WhenFull::DropOldest,
            sync: SyncMode::Interval,
        }
    }
}

impl BufferConfig {
    /// The directory to use: `path`, or the default for how the agent runs.
    pub fn resolved_path(&self) -> PathBuf {
        if let Some(p) = &self.path {
            return p.clone();
        }
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(dir) = env("STATE_DIRECTORY") {
            // systemd lists several directories separated by ':'; the first is ours.
            let all = dir.to_string_lossy().into_owned();
            return PathBuf::from(all.split(':').next().unwrap_or_default()).join("buffer");
        }
        if effective_uid() == 0 {
            return PathBuf::from("/var/lib/dozor-agent/buffer");
        }
        env("XDG_STATE_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("dozor-agent/buffer")
    }
}

/// Log records: the outbox they wait in, and how many go in one request.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct LogsConfig {
    /// Log records per request at most; more are split over several requests.
    pub max_batch_records: usize,
    /// The logs outbox: a second write-ahead buffer, with its own stream id.
    pub buffer: LogsBufferConfig,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            max_batch_records: 1000,
            buffer: LogsBufferConfig::default(),
        }
    }
}

/// The logs outbox on disk; the same settings as `buffer`, with its own defaults.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct LogsBufferConfig {
    /// Directory; when unset, `logs` inside the metrics buffer's directory (`buffer.path`).
    pub path: Option<PathBuf>,
    /// Bytes on disk at most.
    pub max_bytes: u64,
    /// Bytes per segment file.
    pub segment_bytes: u64,
    /// `drop_oldest` (the oldest records are deleted and counted) or `pause` (new events stay
    /// unreported in the flow's state and are tried again next run) when `max_bytes` is
    /// reached.
    pub when_full: WhenFull,
    /// `never`, `interval` or `always` for acknowledgements; appends are synced whatever this
    /// says, before a flow marks its events reported.
    pub sync: SyncMode,
}

impl Default for LogsBufferConfig {
    fn default() -> Self {
        LogsBufferConfig {
            path: None,
            max_bytes: 64 << 20,
            segment_bytes: 4 << 20,
            when_full: WhenFull::DropOldest,
            sync: SyncMode::Interval,
        }
    }
}

/// The effective user id, from `/proc/self/status` (`geteuid` would need `unsafe`).
fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(u32::MAX)
}

/// Exponential backoff with full jitter between attempts.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RetryConfig {
    /// Upper bound of the first wait.
    pub initial_backoff: Duration,
    /// Upper bound of any wait (a collector's `retry-after` is honoured up to 5 minutes).
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff: Duration(std::time::Duration::from_millis(500)),
            max_backoff: Duration(std::time::Duration::from_secs(30)),
        }
    }
}

/// Per-endpoint circuit breaker: open after `failures` consecutive failures, then skip the
/// endpoint for `cooldown` before one probe request.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct BreakerConfig {
    /// Consecutive failed requests that open the breaker.
    pub failures: u32,
    /// How long an open breaker skips its endpoint before a probe.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 3,
            cooldown: Duration(std::time::Duration::from_secs(10)),
        }
    }
}

/// TLS for `https://` endpoints (rustls; there is no option to skip verification).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// PEM file of the CA certificates to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain), for mutual TLS; needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Name to verify the collector's certificate against, instead of the endpoint's host.
    pub server_name: Option<String>,
}

/// Where the bearer token comes from: exactly one of the two, or neither (no token). The
/// token itself is read at start and never kept in the configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// File holding the token (surrounding whitespace is trimmed).
    pub token_file: Option<PathBuf>,
    /// Environment variable holding the token.
    pub token_env: Option<String>,
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
    /// PostgreSQL servers: throughput, connections, locks, replication, statements, sizes.
    pub postgresql: postgresql::Config,
    /// MySQL and MariaDB servers: commands, threads, buffer pool, replication.
    pub mysql: mysql::Config,
    /// Order-flow reconciliation: keys passing through stages in several databases.
    pub flow: flow::Config,
    /// Business metrics from the user's own read-only queries (PostgreSQL, MySQL, MariaDB).
    pub sql: sql::Config,
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
        postgresql::validate(&self.integrations.postgresql, v);
        mysql::validate(&self.integrations.mysql, v);
        flow::validate(&self.integrations.flow, v);
        sql::validate(&self.integrations.sql, v);
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
        check_positive(v, "exporters.otlp.shutdown_timeout", &otlp.shutdown_timeout);
        check_positive(
            v,
            "exporters.otlp.retry.initial_backoff",
            &otlp.retry.initial_backoff,
        );
        if otlp.retry.max_backoff.0 < otlp.retry.initial_backoff.0 {
            v.error(
                "exporters.otlp.retry.max_backoff",
                "must be at least retry.initial_backoff",
            );
        }
        if otlp.circuit_breaker.failures == 0 {
            v.error(
                "exporters.otlp.circuit_breaker.failures",
                "must be at least 1",
            );
        }
        if otlp.replay_rate == 0 {
            v.error("exporters.otlp.replay_rate", "must be at least 1");
        }
        let buffer = &otlp.buffer;
        if buffer.segment_bytes < 4096 {
            v.error(
                "exporters.otlp.buffer.segment_bytes",
                "must be at least 4096",
            );
        }
        if buffer.max_bytes < 2 * buffer.segment_bytes {
            v.error(
                "exporters.otlp.buffer.max_bytes",
                "must be at least twice buffer.segment_bytes",
            );
        }
        let logs = &otlp.logs;
        if logs.max_batch_records == 0 {
            v.error(
                "exporters.otlp.logs.max_batch_records",
                "must be at least 1",
            );
        }
        if logs.buffer.segment_bytes < 4096 {
            v.error(
                "exporters.otlp.logs.buffer.segment_bytes",
                "must be at least 4096",
            );
        }
        if logs.buffer.max_bytes < 2 * logs.buffer.segment_bytes {
            v.error(
                "exporters.otlp.logs.buffer.max_bytes",
                "must be at least twice logs.buffer.segment_bytes",
            );
        }
        let tls = &otlp.tls;
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            v.error(
                "exporters.otlp.tls",
                "cert_file and key_file go together (client certificate and its key)",
            );
        }
        if otlp.auth.token_file.is_some() && otlp.auth.token_env.is_some() {
            v.error(
                "exporters.otlp.auth",
                "set token_file or token_env, not both",
            );
        }
        if let Some(var) = &otlp.auth.token_env
            && std::env::var(var).map_or(true, |t| t.trim().is_empty())
        {
            v.error(
                "exporters.otlp.auth.token_env",
                format!("environment variable {var} is not set or empty"),
            );
        }
        if let Some(file) = &otlp.auth.token_file
            && let Err(e) = std::fs::metadata(file)
        {
            v.error(
                "exporters.otlp.auth.token_file",
                format!("cannot read {}: {e}", file.display()),
            );
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
    fn delivery_settings_are_checked_together() {
        let text = "exporters:\n  otlp:\n    buffer:\n      max_bytes: 4096\n      segment_bytes: 4096\n      when_full: pause\n    tls:\n      cert_file: /a.pem\n    auth:\n      token_file: /nonexistent/token\n      token_env: DOZOR_TEST_NO_SUCH_TOKEN\n    retry:\n      initial_backoff: 2s\n      max_backoff: 1s\n";
        let err = dozor_config::load_str::<Config>("agent.yaml", text, &|_| None)
            .expect_err("invalid")
            .to_string();
        for want in [
            "exporters.otlp.buffer.max_bytes: must be at least twice buffer.segment_bytes",
            "exporters.otlp.tls: cert_file and key_file go together",
            "exporters.otlp.auth: set token_file or token_env, not both",
            "exporters.otlp.auth.token_file: cannot read /nonexistent/token",
            "exporters.otlp.auth.token_env: environment variable DOZOR_TEST_NO_SUCH_TOKEN is not set",
            "exporters.otlp.retry.max_backoff: must be at least retry.initial_backoff",
        ] {
            assert!(err.contains(want), "missing {want:?} in:\n{err}");
        }
    }

    #[test]
    fn buffer_path_follows_how_the_agent_runs() {
        let explicit = BufferConfig {
            path: Some("/srv/buf".into()),
            ..BufferConfig::default()
        };
        assert_eq!(explicit.resolved_path(), PathBuf::from("/srv/buf"));
        // Without a path, the default ends in dozor-agent/buffer whichever rule applied.
        let default = BufferConfig::default().resolved_path();
        assert!(default.ends_with("buffer"), "{}", default.display());
    }

    #[test]
    fn gzip_takes_a_bool_or_auto_and_auto_skips_loopback() {
        let gzip = |v: &str| {
            let text = format!("exporters:\n  otlp:\n    gzip: {v}\n");
            dozor_config::load_str::<Config>("agent.yaml", &text, &|_| None)
                .map(|c| c.exporters.otlp.gzip)
                .map_err(|e| e.to_string())
        };
        assert_eq!(gzip("auto"), Ok(Gzip::Auto));
        assert_eq!(gzip("true"), Ok(Gzip::On));
        assert_eq!(gzip("false"), Ok(Gzip::Off));
        let err = gzip("sometimes").unwrap_err();
        assert!(
            err.contains("agent.yaml:3:11") && err.contains("true, false or auto"),
            "{err}"
        );
        for (endpoint, compressed) in [
            ("http://127.0.0.1:4317", false),
            ("http://127.1.2.3:4317", false),
            ("https://localhost:4317", false),
            ("http://[::1]:4318", false),
            ("http://10.0.0.5:4317", true),
            ("https://collector.example:443", true),
            ("http://[2001:db8::1]:4317", true),
        ] {
            assert_eq!(Gzip::Auto.applies_to(endpoint), compressed, "{endpoint}");
            assert!(Gzip::On.applies_to(endpoint));
            assert!(!Gzip::Off.applies_to(endpoint));
        }
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
