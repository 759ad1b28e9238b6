//! `exporters.elasticsearch`: where accepted OTLP log records are indexed, and the outbox that
//! holds them until Elasticsearch has them (`docs/elasticsearch.md`).

use dozor_config::{Duration, Validator};
use serde::Deserialize;
use std::path::PathBuf;

/// The Elasticsearch exporter. Absent (default): the collector refuses OTLP logs with
/// UNIMPLEMENTED / 404 and the agents keep them on their own disk.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Elasticsearch {
    /// Base URLs, `http(s)://host:port`, tried in order: the next one after a connection
    /// error, a timeout or a 5xx answer. At least one.
    pub endpoints: Vec<String>,
    /// Data stream (or index, or alias) the documents go to. Default `logs-dozor-default`, a
    /// data stream matched by `deploy/elasticsearch/index-template.json`. Documents are always
    /// written with the `create` op type, which data streams require and which makes a
    /// redelivered document a 409 conflict instead of a second copy.
    pub index: String,
    /// Log record attribute whose string value becomes the document `_id`. Default
    /// `dozor.flow.event_id`. Records without it get `<agent>:<stream>:<seq>:<n>`, from the
    /// delivery headers of the request that carried them, so a redelivery has the same ids.
    pub document_id_attribute: String,
    /// File holding an API key (the base64 `encoded` value Elasticsearch returns), sent as
    /// `Authorization: ApiKey <key>`.
    pub api_key_file: String,
    /// Environment variable holding the API key, instead of `api_key_file`.
    pub api_key_env: String,
    /// User for basic authentication (with `password_file`), instead of an API key.
    pub username: String,
    /// File holding the password of `username`.
    pub password_file: String,
    /// TLS towards Elasticsearch (rustls; the system's roots unless `ca_file` is set).
    pub tls: ClientTls,
    /// How long the sender waits for more records before it sends a bulk request that is
    /// not full. Default `1s`.
    pub flush_interval: Duration,
    /// Documents per bulk request at most. Default 1000.
    pub max_batch_records: usize,
    /// Bytes of NDJSON per bulk request at most (a single larger document is sent alone).
    /// Default 5242880 (5 MiB).
    pub max_batch_bytes: usize,
    /// Time allowed for one bulk request, connection included. Default `30s`.
    pub timeout: Duration,
    /// Backoff between retries of failed requests and documents.
    pub retry: Retry,
    /// The durable queue between the receivers and Elasticsearch.
    pub outbox: Outbox,
}

impl Default for Elasticsearch {
    fn default() -> Self {
        Elasticsearch {
            endpoints: Vec::new(),
            index: "logs-dozor-default".into(),
            document_id_attribute: "dozor.flow.event_id".into(),
            api_key_file: String::new(),
            api_key_env: String::new(),
            username: String::new(),
            password_file: String::new(),
            tls: ClientTls::default(),
            flush_interval: Duration(std::time::Duration::from_secs(1)),
            max_batch_records: 1000,
            max_batch_bytes: 5 << 20,
            timeout: Duration(std::time::Duration::from_secs(30)),
            retry: Retry::default(),
            outbox: Outbox::default(),
        }
    }
}

/// TLS settings of a client connection.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct ClientTls {
    /// PEM CA certificates the server's certificate must chain to, instead of the system's.
    pub ca_file: String,
    /// PEM client certificate chain, for mutual TLS (with `key_file`).
    pub cert_file: String,
    /// PEM private key of `cert_file`.
    pub key_file: String,
}

/// Exponential backoff with full jitter.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Retry {
    /// First wait. Default `500ms`.
    pub initial_backoff: Duration,
    /// Longest wait. Default `30s`. Retries never give up: the outbox holds the records.
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            initial_backoff: Duration(std::time::Duration::from_millis(500)),
            max_backoff: Duration(std::time::Duration::from_secs(30)),
        }
    }
}

/// The outbox: accepted log requests on disk (`lib/dozor-buffer`) until every document in
/// them is settled in Elasticsearch.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Outbox {
    /// Directory. Empty (default): `$STATE_DIRECTORY/elasticsearch-outbox` under systemd,
    /// else `/var/lib/dozor-collector/elasticsearch-outbox` as root, else
    /// `$XDG_STATE_HOME/dozor-collector/elasticsearch-outbox` (or `~/.local/state/...`).
    pub path: String,
    /// Bytes on disk at most. When full, new logs are refused with UNAVAILABLE / 503 and a
    /// retry-after (the agents keep them), never dropped. Default 268435456 (256 MiB).
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

impl Outbox {
    /// The directory to use: `path`, or the default for how the collector runs.
    pub fn resolved_path(&self) -> PathBuf {
        if !self.path.is_empty() {
            return PathBuf::from(&self.path);
        }
        dozor_config::state_dir("dozor-collector").join("elasticsearch-outbox")
    }
}

impl Elasticsearch {
    /// Reports every problem under `exporters.elasticsearch`.
    pub fn validate(&self, v: &mut Validator) {
        let key = |k: &str| format!("exporters.elasticsearch.{k}");
        if self.endpoints.is_empty() {
            v.error(&key("endpoints"), "at least one endpoint is needed");
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            let ok = ["http://", "https://"]
                .iter()
                .any(|s| e.strip_prefix(s).is_some_and(|rest| !rest.is_empty()));
            if !ok {
                v.error(
                    &key(&format!("endpoints[{i}]")),
                    format!("invalid URL {e:?}: expected http(s)://host:port"),
                );
            }
        }
        let index_ok = !self.index.is_empty()
            && !self.index.starts_with(['_', '-', '+'])
            && self.index.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            });
        if !index_ok {
            v.error(
                &key("index"),
                format!(
                    "invalid index name {:?}: lowercase letters, digits, '-', '_' and '.', not starting with '_', '-' or '+'",
                    self.index
                ),
            );
        }
        if self.document_id_attribute.is_empty() {
            v.error(&key("document_id_attribute"), "must not be empty");
        }
        let api_key = !self.api_key_file.is_empty() || !self.api_key_env.is_empty();
        if !self.api_key_file.is_empty() && !self.api_key_env.is_empty() {
            v.error(
                &key("api_key_env"),
                "set api_key_file or api_key_env, not both",
            );
        }
        if self.username.is_empty() != self.password_file.is_empty() {
            // Reported at the key that is set, so the error has a position.
            let (set, missing) = if self.username.is_empty() {
                ("password_file", "username")
            } else {
                ("username", "password_file")
            };
            v.error(&key(set), format!("needs {missing} too"));
        }
        if api_key && !self.username.is_empty() {
            v.error(&key("username"), "use an API key or a username, not both");
        }
        if self.tls.cert_file.is_empty() != self.tls.key_file.is_empty() {
            v.error(
                &key("tls.cert_file"),
                "cert_file and key_file must be set together",
            );
        }
        if self.max_batch_records == 0 {
            v.error(&key("max_batch_records"), "must be at least 1");
        }
        if self.max_batch_bytes < 1024 {
            v.error(&key("max_batch_bytes"), "must be at least 1024");
        }
        if self.timeout.0.is_zero() {
            v.error(&key("timeout"), "must be longer than 0s");
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
