//! `integrations.kafka`: which clusters to watch and what to read from each.

use super::Kafka;
use crate::integrations::{Context, Instance, Instances, Integration};
use dozor_config::{At, Duration, RegexPattern};
use serde::Deserialize;

/// `integrations.kafka`: the clusters to watch under `instances`, each with its own client and
/// schedule. Every request's deadline is 80% of the timeout.
pub type Config = Instances<InstanceConfig>;

/// One Kafka cluster, read over the Kafka protocol with a small blocking client of the agent's
/// own (Metadata, ListGroups, FindCoordinator, DescribeGroups, OffsetFetch, ListOffsets, Fetch).
#[derive(Debug, Deserialize)]
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
    /// `PLAINTEXT` (the default). `SSL`, `SASL_PLAINTEXT` and `SASL_SSL` are refused by this
    /// build with a clear error (not silently ignored): see docs/adr/0010-kafka-client.md.
    #[serde(rename = "security.protocol")]
    pub security_protocol: String,
    /// SASL mechanism (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`): refused by this build.
    #[serde(rename = "sasl.mechanism")]
    pub sasl_mechanism: Option<String>,
    /// SASL user name: refused by this build.
    #[serde(rename = "sasl.username")]
    pub sasl_username: Option<String>,
    /// SASL password (`${KAFKA_PASSWORD}`): refused by this build; never logged.
    #[serde(rename = "sasl.password")]
    pub sasl_password: Option<String>,
    /// CA certificates for TLS: refused by this build.
    #[serde(rename = "ssl.ca.location")]
    pub ssl_ca_location: Option<String>,
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
        }
    }
}

/// The fix named when TLS or SASL is configured.
const UNSUPPORTED: &str = "is not supported by this build of the agent (its Kafka client \
     speaks PLAINTEXT only, see docs/adr/0010-kafka-client.md); reach the brokers over a \
     PLAINTEXT listener on a trusted network, or leave this key out";

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
        if !self.security_protocol.eq_ignore_ascii_case("PLAINTEXT") {
            at.error(
                "security.protocol",
                format!(
                    "\"{}\" {UNSUPPORTED}",
                    self.security_protocol.escape_debug()
                ),
            );
        }
        for (key, set) in [
            ("sasl.mechanism", self.sasl_mechanism.is_some()),
            ("sasl.username", self.sasl_username.is_some()),
            ("sasl.password", self.sasl_password.is_some()),
            ("ssl.ca.location", self.ssl_ca_location.is_some()),
        ] {
            if set {
                at.error(key, UNSUPPORTED);
            }
        }
    }

    fn build(&self, timeout: std::time::Duration, _ctx: &Context) -> Option<Box<dyn Integration>> {
        Some(Box::new(Kafka::new(self, timeout)))
    }
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

    #[test]
    fn untested_security_settings_are_refused_not_ignored() {
        let text = "integrations:\n  kafka:\n    enabled: true\n    instances:\n      - name: k\n        bootstrap_servers: [\"kafka1\"]\n        security.protocol: SASL_SSL\n        sasl.mechanism: SCRAM-SHA-512\n        sasl.username: dozor\n        sasl.password: s3cret-value\n        ssl.ca.location: /etc/ca.pem\n";
        let err = dozor_config::load_str::<crate::config::Config>("agent.yaml", text, &|_| None)
            .expect_err("refused")
            .to_string();
        for want in [
            "integrations.kafka.instances[0].bootstrap_servers[0]: \"kafka1\" is not host:port",
            "integrations.kafka.instances[0].security.protocol: \"SASL_SSL\" is not supported by this build",
            "integrations.kafka.instances[0].sasl.mechanism: is not supported",
            "integrations.kafka.instances[0].sasl.username: is not supported",
            "integrations.kafka.instances[0].sasl.password: is not supported",
            "integrations.kafka.instances[0].ssl.ca.location: is not supported",
        ] {
            assert!(err.contains(want), "missing {want:?} in:\n{err}");
        }
        assert!(
            !err.contains("s3cret-value"),
            "the password is shown:\n{err}"
        );
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
