//! `exporters.remote_write`: Prometheus remote_write 1.0 endpoints every accepted sample is
//! pushed to with its original timestamp, each through an outbox of its own
//! (`docs/remote-write.md`).

use super::elasticsearch::{ClientTls, Retry};
use dozor_config::{Duration, Validator};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One remote_write endpoint (Prometheus with `--web.enable-remote-write-receiver`,
/// VictoriaMetrics, Mimir, Thanos Receive, Cortex).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct RemoteWrite {
    /// The receiver's URL, `http(s)://host:port/path`: Prometheus `/api/v1/write`,
    /// VictoriaMetrics `/api/v1/write`, Mimir `/api/v1/push`. Required. It names the endpoint
    /// in the self-metrics (`endpoint` label), so it carries no credentials: use `basic_auth`
    /// or `bearer_token_file`.
    pub url: String,
    /// Headers sent with every request (`X-Scope-OrgID: team-a` for a multi-tenant Mimir).
    /// Values may come from the environment and are never logged. The protocol's own
    /// headers (`Content-Type`, `Content-Encoding`, `X-Prometheus-Remote-Write-Version`) and
    /// `Authorization` cannot be set here.
    pub headers: BTreeMap<String, String>,
    /// Basic authentication; not with `bearer_token_file`.
    pub basic_auth: Option<BasicAuth>,
    /// File holding a token sent as `Authorization: Bearer <token>` (read at start; surrounding
    /// whitespace ignored).
    pub bearer_token_file: String,
    /// TLS towards the receiver (rustls; the system's roots unless `ca_file` is set).
    pub tls: ClientTls,
    /// Time allowed for one request, connection included. Default `30s`.
    pub timeout: Duration,
    /// How samples are grouped into requests.
    pub batch: Batch,
    /// A sample older than this when its request is built is backlog (replayed after an
    /// outage): backlog goes in requests of its own, apart from live samples, so a receiver
    /// refusing an old sample cannot fail a request of live ones. Default `5m`.
    pub backlog_after: Duration,
    /// Backlog requests hold samples of one time band of this width at most (bands aligned to
    /// the Unix epoch, oldest sent first), so a refusal costs at most one band, and a band
    /// refused as too old is searched by halves for the part the receiver still takes.
    /// Default `1m`.
    pub backlog_band: Duration,
    /// Backoff between retries of requests that failed with a transport error, 429 or 5xx.
    /// A `Retry-After` on 429 or 503 is honoured (up to `max_backoff`).
    pub retry: Retry,
    /// The durable queue between the receivers and this endpoint.
    pub outbox: Outbox,
}

impl Default for RemoteWrite {
    fn default() -> Self {
        RemoteWrite {
            url: String::new(),
            headers: BTreeMap::new(),
            basic_auth: None,
            bearer_token_file: String::new(),
            tls: ClientTls::default(),
            timeout: Duration(std::time::Duration::from_secs(30)),
            batch: Batch::default(),
            backlog_after: Duration(std::time::Duration::from_secs(300)),
            backlog_band: Duration(std::time::Duration::from_secs(60)),
            retry: Retry::default(),
            outbox: Outbox::default(),
        }
    }
}

/// Basic authentication of the collector to the receiver.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct BasicAuth {
    /// User name. Required.
    pub username: String,
    /// File holding the password (read at start; a trailing newline is ignored). Required.
    pub password_file: String,
}

/// Grouping of samples into requests.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Batch {
    /// Samples per request at most (a histogram point is one sample per bucket, plus `_sum`
    /// and `_count`). Default 5000.
    pub max_samples: usize,
    /// How long the sender waits for more samples before it sends a request that is not
    /// full. Default `1s`.
    pub flush_interval: Duration,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            max_samples: 5000,
            flush_interval: Duration(std::time::Duration::from_secs(1)),
        }
    }
}

/// The outbox: accepted samples on disk (`lib/dozor-buffer`) until the receiver took them or
/// refused them for good.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Outbox {
    /// Directory, one per endpoint. Empty (default): `remote-write-outbox/<host_port_path>`
    /// under `$STATE_DIRECTORY` (systemd), else `/var/lib/dozor-collector` as root, else
    /// `$XDG_STATE_HOME/dozor-collector` (or `~/.local/state/...`).
    pub path: String,
    /// Bytes on disk at most. When full, the oldest samples are dropped to make room (counted
    /// in `dozor.collector.remote_write.dropped.samples{reason="outbox_full"}`): the agents'
    /// requests are never refused because one endpoint is away. Default 268435456 (256 MiB).
    pub max_bytes: u64,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            path: String::new(),
            max_bytes: 256 << 20,
        }
    }
}

/// The URL as a file name: scheme dropped, every character but letters, digits, `.` and `-`
/// replaced by `_`.
fn url_dir(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl RemoteWrite {
    /// The outbox directory to use: `outbox.path`, or the default for this URL.
    pub fn outbox_dir(&self) -> PathBuf {
        if !self.outbox.path.is_empty() {
            return PathBuf::from(&self.outbox.path);
        }
        dozor_config::state_dir("dozor-collector")
            .join("remote-write-outbox")
            .join(url_dir(&self.url))
    }

    /// Reports every problem of entry `i` of `exporters.remote_write`.
    pub fn validate(&self, i: usize, v: &mut Validator) {
        let key = |k: &str| format!("exporters.remote_write[{i}].{k}");
        if let Some(why) = url_problem(&self.url) {
            v.error(&key("url"), format!("invalid URL {:?}: {why}", self.url));
        }
        for (name, value) in &self.headers {
            let path = key(&format!("headers.{name}"));
            let lower = name.to_ascii_lowercase();
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                v.error(&path, "invalid header name");
            } else if matches!(
                lower.as_str(),
                "content-type"
                    | "content-encoding"
                    | "x-prometheus-remote-write-version"
                    | "authorization"
                    | "content-length"
                    | "host"
            ) {
                v.error(
                    &path,
                    "set by the exporter itself (use basic_auth or bearer_token_file for authorization)",
                );
            } else if http::HeaderValue::from_str(value).is_err() {
                // The value may be a secret: never echoed.
                v.error(&path, "invalid header value (control characters?)");
            }
        }
        if let Some(b) = &self.basic_auth {
            if b.username.is_empty() {
                v.error(&key("basic_auth.username"), "must not be empty");
            }
            if b.password_file.is_empty() {
                v.error(&key("basic_auth.password_file"), "must not be empty");
            }
            if !self.bearer_token_file.is_empty() {
                v.error(
                    &key("bearer_token_file"),
                    "set basic_auth or bearer_token_file, not both",
                );
            }
        }
        if self.tls.cert_file.is_empty() != self.tls.key_file.is_empty() {
            v.error(
                &key("tls.cert_file"),
                "cert_file and key_file must be set together",
            );
        }
        if self.timeout.0.is_zero() {
            v.error(&key("timeout"), "must be longer than 0s");
        }
        if self.batch.max_samples == 0 {
            v.error(&key("batch.max_samples"), "must be at least 1");
        }
        if self.batch.flush_interval.0.is_zero() {
            v.error(&key("batch.flush_interval"), "must be longer than 0s");
        }
        if self.backlog_after.0 < std::time::Duration::from_secs(1) {
            v.error(&key("backlog_after"), "must be at least 1s");
        }
        if self.backlog_band.0 < std::time::Duration::from_secs(1) {
            v.error(&key("backlog_band"), "must be at least 1s");
        }
        if self.retry.initial_backoff.0.is_zero()
            || self.retry.max_backoff.0 < self.retry.initial_backoff.0
        {
            v.error(
                &key("retry.max_backoff"),
                "initial_backoff must be above 0s and at most max_backoff",
            );
        }
        if self.outbox.max_bytes < 1 << 20 {
            v.error(&key("outbox.max_bytes"), "must be at least 1048576 (1 MiB)");
        }
    }
}

/// Why `url` is not a remote_write URL, if it is not.
fn url_problem(url: &str) -> Option<&'static str> {
    let Some(rest) = ["http://", "https://"]
        .iter()
        .find_map(|s| url.strip_prefix(s))
    else {
        return Some("expected http(s)://host:port/path");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Some("no host");
    }
    if authority.contains('@') {
        return Some("credentials in the URL: use basic_auth or bearer_token_file");
    }
    None
}

/// Reports problems across entries: two endpoints sharing a URL or an outbox directory.
pub fn validate_all(list: &[RemoteWrite], v: &mut Validator) {
    for (i, rw) in list.iter().enumerate() {
        rw.validate(i, v);
        if list[..i].iter().any(|o| o.url == rw.url) {
            v.error(
                &format!("exporters.remote_write[{i}].url"),
                "listed twice: one entry per endpoint",
            );
        } else if list[..i].iter().any(|o| o.outbox_dir() == rw.outbox_dir()) {
            v.error(
                &format!("exporters.remote_write[{i}].outbox.path"),
                "shared with another endpoint: each needs its own directory",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_outbox_dirs_differ_by_url() {
        assert_eq!(
            url_dir("http://vm:8428/api/v1/write"),
            "vm_8428_api_v1_write"
        );
        assert_eq!(url_problem("https://a:1/x"), None);
        assert!(url_problem("ftp://a").is_some());
        assert!(url_problem("http://u:p@a/x").is_some());
        assert!(url_problem("http:///x").is_some());
    }
}
