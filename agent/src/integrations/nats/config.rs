//! `integrations.nats`: which NATS servers to watch and which JetStream streams and consumers
//! to report.

use super::Nats;
use super::client::Tls;
use crate::integrations::{Context, Instance, Instances, Integration};
use dozor_config::{At, RegexPattern};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Deserialize;

/// `integrations.nats`: the servers to watch under `instances`, each on its own connection and
/// schedule. Connecting may take a quarter of the timeout, and so may each request.
pub type Config = Instances<InstanceConfig>;

/// One NATS server (any server of a cluster: the JetStream API answers for the account). The
/// user needs to publish to `$JS.API.STREAM.LIST`, `$JS.API.CONSUMER.LIST.>` and
/// `$JS.API.STREAM.MSG.GET.>` (the lag in seconds) and to subscribe to `_INBOX.>`. TLS with `tls: true` (NATS's classic TLS: `INFO` in the clear,
/// then the handshake).
#[derive(Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "NatsInstanceConfig"))]
#[serde(default)]
pub struct InstanceConfig {
    /// The `nats.instance` attribute of every series, e.g. `events`; unique among the
    /// instances.
    pub name: String,
    /// `host:port` of the client port, e.g. `127.0.0.1:4222` (`nats://` is accepted).
    pub address: String,
    /// User name, for user/password authentication.
    pub username: Option<String>,
    /// Password, best given as `${NATS_PASSWORD}`. Never logged or shown.
    pub password: Option<String>,
    /// Token, for token authentication, best given as `${NATS_TOKEN}`. Never logged or shown.
    pub token: Option<String>,
    /// Connect with TLS (needed when the server requires it). The server's certificate is
    /// checked against `tls_ca_file`, or the system's CA store, and must carry the host name.
    pub tls: bool,
    /// PEM file of the CA(s) that signed the server's certificate; the system store when unset.
    pub tls_ca_file: Option<String>,
    /// The name the server's certificate must carry; the host of `address` when unset.
    pub tls_server_name: Option<String>,
    /// Streams are reported only when their name matches this regular expression.
    pub include_streams: Option<RegexPattern>,
    /// Streams whose name matches this regular expression are left out.
    pub exclude_streams: Option<RegexPattern>,
    /// Consumers are reported only when their name matches this regular expression.
    pub include_consumers: Option<RegexPattern>,
    /// Consumers whose name matches this regular expression are left out.
    pub exclude_consumers: Option<RegexPattern>,
    /// Consumers expected to exist, as `STREAM/consumer`: one the server does not have (yet)
    /// is reported with `dozor.nats.consumer.exists` 0, not as an error.
    pub consumers: Vec<String>,
    /// At most this many streams, and this many consumers, get their own series; the rest
    /// are summed into `nats.stream="_other"` / `nats.consumer="_other"`.
    pub max_series: usize,
}

impl std::fmt::Debug for InstanceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("InstanceConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("username", &self.username)
            .field("password", &hide(&self.password))
            .field("token", &hide(&self.token))
            .field("tls", &self.tls)
            .field("consumers", &self.consumers)
            .finish_non_exhaustive()
    }
}

/// Default series budget.
pub const DEFAULT_MAX_SERIES: usize = 1000;

impl InstanceConfig {
    /// The series budget, 0 meaning the default.
    pub fn max_series(&self) -> usize {
        if self.max_series == 0 {
            DEFAULT_MAX_SERIES
        } else {
            self.max_series
        }
    }

    /// The TLS settings, when `tls` is on (or a CA file is given); the CA file is read here.
    pub fn tls(&self) -> Result<Option<Tls>, String> {
        if !self.tls && self.tls_ca_file.is_none() {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore::empty();
        match &self.tls_ca_file {
            Some(path) => {
                let certs: Vec<_> = CertificateDer::pem_file_iter(path)
                    .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("tls_ca_file {path}: {e}"))?;
                if roots.add_parsable_certificates(certs).0 == 0 {
                    return Err(format!("tls_ca_file {path}: holds no CA certificate"));
                }
            }
            None => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                if roots.is_empty() {
                    return Err(
                        "the system has no CA certificates: install ca-certificates or set tls_ca_file"
                            .into(),
                    );
                }
            }
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let host = self.host_port().rsplit_once(':').map_or("", |(h, _)| h);
        let name = self.tls_server_name.as_deref().unwrap_or(host);
        let server_name = ServerName::try_from(name.trim_matches(['[', ']']).to_string())
            .map_err(|e| format!("tls_server_name \"{name}\": {e}"))?;
        Ok(Some(Tls {
            config: std::sync::Arc::new(config),
            server_name,
        }))
    }

    /// `host:port`, without a `nats://` scheme.
    pub fn host_port(&self) -> &str {
        self.address
            .strip_prefix("nats://")
            .unwrap_or(&self.address)
            .trim_end_matches('/')
    }
}

/// `STREAM/consumer` split.
pub fn split_consumer(s: &str) -> Option<(&str, &str)> {
    let (stream, consumer) = s.split_once('/')?;
    let ok = |x: &str| !x.is_empty() && !x.contains(['.', '*', '>', ' ', '/']);
    (ok(stream) && ok(consumer)).then_some((stream, consumer))
}

impl Instance for InstanceConfig {
    const LIST: &'static str = "instances";
    const NOUN: &'static str = "instance";
    const LABEL: &'static str = "nats.instance";

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, at: &mut At<'_>) {
        match self.host_port().rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => {}
            _ => at.error(
                "address",
                format!("\"{}\" is not host:port, e.g. 127.0.0.1:4222", self.address),
            ),
        }
        if let Err(e) = self.tls() {
            at.error("tls_ca_file", e);
        }
        if self.token.is_some() && (self.username.is_some() || self.password.is_some()) {
            at.error(
                "token",
                "give either a token or a user and password, not both",
            );
        }
        for (j, c) in self.consumers.iter().enumerate() {
            if split_consumer(c).is_none() {
                at.item("consumers", j)
                    .error("", format!("\"{c}\" is not STREAM/consumer"));
            }
        }
    }

    fn build(&self, timeout: std::time::Duration, _ctx: &Context) -> Option<Box<dyn Integration>> {
        match Nats::new(self, timeout) {
            Ok(n) => Some(Box::new(n)),
            Err(e) => {
                tracing::error!(instance = %self.name, error = %e, "NATS instance not built.");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` loaded as the agent loads `agent.yaml`: every problem, one per line.
    fn load(text: &str) -> Result<Config, String> {
        crate::integrations::testing::load(text)
    }

    #[test]
    fn every_problem_at_once_and_no_secret_shown() {
        let text = "\
integrations:
  nats:
    enabled: true
    instances:
      - name: events
        address: 127.0.0.1
        token: tok3n
        username: x
        password: hunter2
        consumers: [ORDERS]
        include_streams: '('
        tls_ca_file: /nonexistent/ca.pem
        typo: 1
";
        let e = load(text).unwrap_err();
        for want in [
            "integrations.nats.instances[0].address: \"127.0.0.1\" is not host:port",
            "integrations.nats.instances[0].token: give either a token or a user and password",
            "integrations.nats.instances[0].consumers[0]: \"ORDERS\" is not STREAM/consumer",
            "integrations.nats.instances[0].include_streams: invalid regular expression",
            "integrations.nats.instances[0].tls_ca_file: tls_ca_file /nonexistent/ca.pem",
            "integrations.nats.instances[0].typo: unknown key",
        ] {
            assert!(e.contains(want), "{want} not in:\n{e}");
        }
        assert!(!e.contains("hunter2") && !e.contains("tok3n"), "{e}");
    }

    #[test]
    fn consumers_and_redaction() {
        assert_eq!(
            split_consumer("ORDERS/billing"),
            Some(("ORDERS", "billing"))
        );
        for bad in ["ORDERS", "/c", "S/", "S/c/d", "S.x/c"] {
            assert!(split_consumer(bad).is_none(), "{bad}");
        }
        let c = InstanceConfig {
            password: Some("hunter2".into()),
            token: Some("tok3n".into()),
            address: "nats://127.0.0.1:4222".into(),
            ..InstanceConfig::default()
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok3n"),
            "{shown}"
        );
        assert_eq!(c.host_port(), "127.0.0.1:4222");
    }
}
