//! `exporters.otlp`: where and how the agent sends its telemetry (endpoints, protocol,
//! retries, circuit breaker, TLS and token), and the checks on it. The buffers' settings are in
//! [`buffer`].

mod buffer;

pub use buffer::{BufferConfig, LogsBufferConfig, LogsConfig, SyncMode, WhenFull};

use dozor_config::{At, Duration};
use serde::Deserialize;
use std::path::PathBuf;

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

#[cfg(test)]
impl serde::Serialize for Gzip {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Gzip::Auto => s.serialize_str("auto"),
            Gzip::On => s.serialize_bool(true),
            Gzip::Off => s.serialize_bool(false),
        }
    }
}

#[cfg(test)]
impl schemars::JsonSchema for Gzip {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Gzip".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"oneOf": [{"const": "auto"}, {"const": true}, {"const": false}]})
    }
}

impl<'de> Deserialize<'de> for Gzip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        dozor_config::leaf(d, Gzip::parse, Gzip::default)
    }
}

/// Wire protocol of the OTLP exporter.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
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
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
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

/// Exponential backoff with full jitter between attempts.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
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
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
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
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
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
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct AuthConfig {
    /// File holding the token (surrounding whitespace is trimmed).
    pub token_file: Option<PathBuf>,
    /// Environment variable holding the token.
    pub token_env: Option<String>,
}

impl OtlpConfig {
    /// Reports every problem of `exporters.otlp`.
    pub fn validate(&self, at: &mut At<'_>) {
        at.positive("timeout", self.timeout);
        at.positive("flush_interval", self.flush_interval);
        if self.enabled && self.endpoints.is_empty() {
            at.error(
                "endpoints",
                "at least one endpoint is needed when the exporter is enabled",
            );
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            if let Err(why) = check_endpoint(e) {
                at.item("endpoints", i)
                    .error("", format!("invalid endpoint \"{e}\": {why}"));
            }
        }
        at.at_least("max_batch_points", self.max_batch_points, 1);
        at.positive("shutdown_timeout", self.shutdown_timeout);
        let retry = &self.retry;
        at.at("retry")
            .positive("initial_backoff", retry.initial_backoff);
        if retry.max_backoff.0 < retry.initial_backoff.0 {
            at.error(
                "retry.max_backoff",
                "must be at least retry.initial_backoff",
            );
        }
        at.at_least("circuit_breaker.failures", self.circuit_breaker.failures, 1);
        at.at_least("replay_rate", self.replay_rate, 1);
        self.buffer.validate(&mut at.at("buffer"));
        self.logs.validate(&mut at.at("logs"));
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            at.error(
                "tls",
                "cert_file and key_file go together (client certificate and its key)",
            );
        }
        self.auth.validate(&mut at.at("auth"));
    }
}

impl AuthConfig {
    fn validate(&self, at: &mut At<'_>) {
        if self.token_file.is_some() && self.token_env.is_some() {
            at.error("", "set token_file or token_env, not both");
        }
        if let Some(var) = &self.token_env
            && std::env::var(var).map_or(true, |t| t.trim().is_empty())
        {
            at.error(
                "token_env",
                format!("environment variable {var} is not set or empty"),
            );
        }
        if let Some(file) = &self.token_file
            && let Err(e) = std::fs::metadata(file)
        {
            at.error("token_file", format!("cannot read {}: {e}", file.display()));
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
