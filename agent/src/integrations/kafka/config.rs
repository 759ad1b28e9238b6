//! `integrations.kafka`: which clusters to watch and what to read from each.

use super::Kafka;
use super::sasl::{Mechanism, Sasl};
use super::security::{Protocol, Security, tls_settings};
use crate::integrations::{Context, Instance, Instances, Integration};
use dozor_config::{At, Duration, RegexPattern};
use serde::Deserialize;

/// `integrations.kafka`: the clusters to watch under `instances`, each with its own client and
/// schedule. Every request's deadline is 80% of the timeout.
pub type Config = Instances<InstanceConfig>;

/// One Kafka cluster, read over the Kafka protocol with a small blocking client of the agent's
/// own (Metadata, ListGroups, FindCoordinator, DescribeGroups, OffsetFetch, ListOffsets, Fetch).
#[derive(Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "KafkaInstanceConfig"))]
#[serde(default)]
pub struct InstanceConfig {
    /// The `kafka.instance` attribute of every series, e.g. `orders`; unique among the
    /// instances.
    pub name: String,
    /// `host:port` of one or more brokers, tried in order; the rest of the cluster is found
    /// from their metadata (brokers must advertise addresses the agent can reach).
    pub bootstrap_servers: Vec<String>,
    /// The `client.id` the brokers see in their logs and quotas.
    pub client_id: String,
    /// Consumer groups reported: those matching `include_groups` (all when unset) and not
    /// `exclude_groups`.
    pub include_groups: Option<RegexPattern>,
    /// Consumer groups left out.
    pub exclude_groups: Option<RegexPattern>,
    /// Topics reported: those matching `include_topics` (all when unset) and not
    /// `exclude_topics`. Internal topics (`__consumer_offsets`) are left out unless included.
    pub include_topics: Option<RegexPattern>,
    /// Topics left out.
    pub exclude_topics: Option<RegexPattern>,
    /// Partition entities (one per topic partition, one per group partition) reported one by
    /// one; the rest are summed into `topic="_other"`, `partition="_other"` and counted in
    /// `dozor.kafka.overflow.entities`.
    pub max_series: usize,
    /// Lag in seconds: fetch the record at each lagging partition's committed offset and read
    /// its timestamp (one Fetch request per leader per collection, a few KiB per partition).
    pub lag_seconds: bool,
    /// An Empty group whose committed offsets on a topic have not moved for this long is
    /// reported as having left it (`dozor.kafka.consumer_group.topic.assigned` 0).
    pub left_after: Duration,
    /// `PLAINTEXT` (the default), `SSL` (TLS), `SASL_PLAINTEXT` (SASL without TLS: the
    /// password crosses the network in the clear with `PLAIN`) or `SASL_SSL`, as Kafka's own
    /// clients spell it.
    #[serde(rename = "security.protocol")]
    pub security_protocol: String,
    /// With `SASL_PLAINTEXT` and `SASL_SSL`: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`
    /// (SaslHandshake v1 and SaslAuthenticate on every connection; SCRAM checks the broker's
    /// signature too).
    #[serde(rename = "sasl.mechanism")]
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    #[serde(rename = "sasl.username")]
    pub sasl_username: Option<String>,
    /// SASL password, e.g. `${KAFKA_PASSWORD}` from the environment; never logged or shown.
    #[serde(rename = "sasl.password")]
    pub sasl_password: Option<String>,
    /// With `SSL` and `SASL_SSL`: a PEM file of the CA certificates that sign the brokers'
    /// certificates; the system's CA store when unset.
    #[serde(rename = "ssl.ca.location")]
    pub ssl_ca_location: Option<String>,
    /// A PEM file of the agent's client certificate (chain), for brokers that require one
    /// (`ssl.client.auth=required`); with `ssl.key.location`.
    #[serde(rename = "ssl.certificate.location")]
    pub ssl_certificate_location: Option<String>,
    /// A PEM file of the client certificate's private key (unencrypted).
    #[serde(rename = "ssl.key.location")]
    pub ssl_key_location: Option<String>,
    /// `https` (the default): the broker's certificate must carry the host name connected to
    /// (as in bootstrap_servers and the advertised listeners); `none` (or empty): the chain
    /// is checked, the name is not.
    #[serde(rename = "ssl.endpoint.identification.algorithm")]
    pub ssl_endpoint_identification_algorithm: String,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig {
            name: String::new(),
            bootstrap_servers: Vec::new(),
            client_id: "dozor-agent".to_string(),
            include_groups: None,
            exclude_groups: None,
            include_topics: None,
            exclude_topics: None,
            max_series: 1000,
            lag_seconds: true,
            left_after: Duration(std::time::Duration::from_secs(86_400)),
            security_protocol: "PLAINTEXT".to_string(),
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            ssl_certificate_location: None,
            ssl_key_location: None,
            ssl_endpoint_identification_algorithm: "https".to_string(),
        }
    }
}

impl std::fmt::Debug for InstanceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceConfig")
            .field("name", &self.name)
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("client_id", &self.client_id)
            .field("security.protocol", &self.security_protocol)
            .field("sasl.mechanism", &self.sasl_mechanism)
            .field("sasl.username", &self.sasl_username)
            .field(
                "sasl.password",
                &self.sasl_password.as_ref().map(|_| "<redacted>"),
            )
            .field("ssl.ca.location", &self.ssl_ca_location)
            .field("ssl.certificate.location", &self.ssl_certificate_location)
            .field("ssl.key.location", &self.ssl_key_location)
            .field(
                "ssl.endpoint.identification.algorithm",
                &self.ssl_endpoint_identification_algorithm,
            )
            .finish_non_exhaustive()
    }
}

impl InstanceConfig {
    /// The TLS and SASL of every connection, from Kafka's keys; an error names the key and
    /// never holds the password. Files are read here (and again at each connection).
    pub fn security(&self) -> Result<Security, String> {
        let Some(protocol) = Protocol::parse(&self.security_protocol) else {
            return Err(format!(
                "security.protocol: \"{}\" is not one of {}",
                self.security_protocol.escape_debug(),
                Protocol::NAMES.join(", ")
            ));
        };
        let mut out = Security::default();
        let ssl_keys = [
            ("ssl.ca.location", self.ssl_ca_location.is_some()),
            (
                "ssl.certificate.location",
                self.ssl_certificate_location.is_some(),
            ),
            ("ssl.key.location", self.ssl_key_location.is_some()),
        ];
        if protocol.tls() {
            let identify = match self
                .ssl_endpoint_identification_algorithm
                .to_ascii_lowercase()
                .as_str()
            {
                "https" => true,
                "none" | "" => false,
                other => {
                    return Err(format!(
                        "ssl.endpoint.identification.algorithm: \"{}\" is not https or none",
                        other.escape_debug()
                    ));
                }
            };
            let settings = tls_settings(
                self.ssl_ca_location.as_deref(),
                self.ssl_certificate_location.as_deref(),
                self.ssl_key_location.as_deref(),
                identify,
            )?;
            settings.check_files()?;
            out.tls = Some(settings);
        } else if let Some((key, _)) = ssl_keys.iter().find(|(_, set)| *set) {
            return Err(format!(
                "{key}: is set but security.protocol is {}: use SSL or SASL_SSL for TLS, or \
                 leave it out",
                self.security_protocol
            ));
        }
        let sasl_keys = [
            ("sasl.mechanism", self.sasl_mechanism.is_some()),
            ("sasl.username", self.sasl_username.is_some()),
            ("sasl.password", self.sasl_password.is_some()),
        ];
        if protocol.sasl() {
            let mechanism = self.sasl_mechanism.as_deref().unwrap_or("PLAIN");
            let Some(mechanism) = Mechanism::parse(mechanism) else {
                return Err(format!(
                    "sasl.mechanism: \"{}\" is not one of {} (GSSAPI and OAUTHBEARER are not \
                     supported)",
                    mechanism.escape_debug(),
                    Mechanism::NAMES.join(", ")
                ));
            };
            let (Some(username), Some(password)) = (&self.sasl_username, &self.sasl_password)
            else {
                let missing = if self.sasl_username.is_none() {
                    "sasl.username"
                } else {
                    "sasl.password"
                };
                return Err(format!(
                    "{missing}: is needed with security.protocol {}",
                    self.security_protocol
                ));
            };
            out.sasl = Some(Sasl {
                mechanism,
                username: username.clone(),
                password: password.clone(),
            });
        } else if let Some((key, _)) = sasl_keys.iter().find(|(_, set)| *set) {
            return Err(format!(
                "{key}: is set but security.protocol is {}: use SASL_PLAINTEXT or SASL_SSL to \
                 authenticate, or leave it out",
                self.security_protocol
            ));
        }
        Ok(out)
    }
}

impl Instance for InstanceConfig {
    const LIST: &'static str = "instances";
    const NOUN: &'static str = "instance";
    const LABEL: &'static str = "kafka.instance";

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, at: &mut At<'_>) {
        if self.bootstrap_servers.is_empty() {
            at.error(
                "bootstrap_servers",
                "must list at least one broker as host:port, e.g. [\"127.0.0.1:9092\"]",
            );
        }
        for (i, s) in self.bootstrap_servers.iter().enumerate() {
            if !valid_server(s) {
                at.error(
                    &format!("bootstrap_servers[{i}]"),
                    format!(
                        "\"{}\" is not host:port, e.g. 127.0.0.1:9092",
                        s.escape_debug()
                    ),
                );
            }
        }
        at.at_least("max_series", self.max_series, 1);
        if let Err(e) = self.security() {
            let (key, why) = split_key(&e);
            at.error(key, why);
        }
    }

    fn build(&self, timeout: std::time::Duration, _ctx: &Context) -> Option<Box<dyn Integration>> {
        Some(Box::new(Kafka::new(self, timeout)))
    }
}

/// The key an error of [`InstanceConfig::security`] starts with, and the rest.
fn split_key(e: &str) -> (&str, &str) {
    const KEYS: [&str; 8] = [
        "security.protocol",
        "sasl.mechanism",
        "sasl.username",
        "sasl.password",
        "ssl.ca.location",
        "ssl.certificate.location",
        "ssl.key.location",
        "ssl.endpoint.identification.algorithm",
    ];
    for key in KEYS {
        if let Some(rest) = e.strip_prefix(key)
            && (rest.starts_with(':') || rest.starts_with(' '))
        {
            return (key, rest.trim_start_matches(':').trim_start());
        }
    }
    ("security.protocol", e)
}

/// `host:port` with a port number.
fn valid_server(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &str) -> Result<crate::config::Config, String> {
        let text = format!(
            "integrations:\n  kafka:\n    enabled: true\n    instances:\n      - name: k\n        bootstrap_servers: [\"kafka1:9093\"]\n{extra}"
        );
        let env = |v: &str| (v == "KAFKA_PASSWORD").then(|| "s3cret-value".to_string());
        dozor_config::load_str::<crate::config::Config>("agent.yaml", &text, &env)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn sasl_ssl_is_accepted_with_the_password_from_the_environment_and_never_shown() {
        let config = load(
            "        security.protocol: SASL_SSL\n        sasl.mechanism: SCRAM-SHA-512\n        sasl.username: dozor\n        sasl.password: ${KAFKA_PASSWORD}\n",
        )
        .expect("valid");
        let k = &config.integrations.kafka.instances[0];
        assert_eq!(k.sasl_password.as_deref(), Some("s3cret-value"));
        let security = k.security().unwrap();
        let sasl = security.sasl.as_ref().unwrap();
        assert_eq!(sasl.mechanism, super::Mechanism::ScramSha512);
        assert_eq!(sasl.password, "s3cret-value");
        assert!(security.tls.is_some());
        for shown in [format!("{k:?}"), format!("{security:?}")] {
            assert!(
                !shown.contains("s3cret-value"),
                "the password is shown: {shown}"
            );
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }

    #[test]
    fn inconsistent_security_settings_are_refused_by_key_without_the_password() {
        for (extra, want) in [
            (
                "        security.protocol: TLS\n",
                "security.protocol: \"TLS\" is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
            ),
            (
                "        sasl.username: dozor\n        sasl.password: hunter2-secret\n",
                "sasl.username: is set but security.protocol is PLAINTEXT",
            ),
            (
                "        security.protocol: SASL_PLAINTEXT\n        sasl.mechanism: GSSAPI\n        sasl.username: u\n        sasl.password: hunter2-secret\n",
                "sasl.mechanism: \"GSSAPI\" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
            ),
            (
                "        security.protocol: SASL_SSL\n        sasl.username: u\n",
                "sasl.password: is needed with security.protocol SASL_SSL",
            ),
            (
                "        security.protocol: SSL\n        ssl.ca.location: /nonexistent/ca.pem\n",
                "ssl.ca.location: /nonexistent/ca.pem: cannot read",
            ),
            (
                "        security.protocol: SSL\n        ssl.certificate.location: /c.pem\n",
                "ssl.certificate.location: needs ssl.key.location",
            ),
            (
                "        ssl.ca.location: /etc/ca.pem\n",
                "ssl.ca.location: is set but security.protocol is PLAINTEXT",
            ),
            (
                "        security.protocol: SSL\n        ssl.endpoint.identification.algorithm: dns\n",
                "ssl.endpoint.identification.algorithm: \"dns\" is not https or none",
            ),
        ] {
            let err = load(extra).expect_err(extra);
            let want = format!("integrations.kafka.instances[0].{want}");
            assert!(err.contains(&want), "missing {want:?} in:\n{err}");
            assert!(
                !err.contains("hunter2-secret"),
                "the password is shown:\n{err}"
            );
        }
    }

    #[test]
    fn servers_are_host_and_port() {
        assert!(valid_server("127.0.0.1:9092"));
        assert!(valid_server("[::1]:9092"));
        assert!(!valid_server("127.0.0.1"));
        assert!(!valid_server(":9092"));
        assert!(!valid_server("kafka:0"));
    }
}
