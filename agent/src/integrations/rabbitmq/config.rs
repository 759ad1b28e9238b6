//! `integrations.rabbitmq`: which brokers to watch and what to read from each.

use super::Rabbitmq;
use crate::integrations::{Context, Instance, Instances, Integration};
use dozor_config::{At, Duration, RegexPattern};
use serde::Deserialize;

/// `integrations.rabbitmq`: the brokers to watch under `instances`, one integration each. Every
/// HTTP request has 80% of the timeout.
pub type Config = Instances<InstanceConfig>;

/// One RabbitMQ broker (or cluster, through one node), read through its `rabbitmq_prometheus`
/// plugin and its management API. The user needs the `monitoring` tag and read permission on the
/// vhosts it watches (`rabbitmqctl set_user_tags dozor monitoring; rabbitmqctl set_permissions
/// -p / dozor '' '' '.*'`).
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "RabbitmqInstanceConfig"))]
#[serde(default)]
pub struct InstanceConfig {
    /// The `rabbitmq.instance` attribute of every series, e.g. `orders`; unique among the
    /// instances.
    pub name: String,
    /// The management API (plugin `rabbitmq_management`).
    pub management_url: String,
    /// The `rabbitmq_prometheus` plugin, read without credentials.
    pub prometheus_url: String,
    /// User of the management API.
    pub username: String,
    /// Its password, e.g. `${RABBITMQ_PASSWORD}`. Never logged or shown.
    pub password: Password,
    /// Vhosts to watch; all the user may see when empty.
    pub vhosts: Vec<String>,
    /// Queues reported when their name matches this regular expression (not anchored: write
    /// `^` and `$` to match whole names); all when unset.
    pub include: Option<RegexPattern>,
    /// Queues left out when their name matches this regular expression, after `include`.
    pub exclude: Option<RegexPattern>,
    /// Queues reported one by one, dead-letter queues first, then in order of vhost and name;
    /// the rest of each vhost is summed into `rabbitmq.queue.name="_other"`.
    pub max_series: usize,
    /// Exchanges reported one by one; the rest are summed into `_other`.
    pub max_exchanges: usize,
    /// Time between reads of the management API's message counters, consumer utilisation,
    /// oldest-message timestamps and dead-letter wiring: the expensive part for the broker.
    /// Depth, consumers and node health are read every interval.
    pub stats_interval: Duration,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig {
            name: String::new(),
            management_url: "http://127.0.0.1:15672".into(),
            prometheus_url: "http://127.0.0.1:15692".into(),
            username: "guest".into(),
            password: Password("guest".into()),
            vhosts: Vec::new(),
            include: None,
            exclude: None,
            max_series: 1000,
            max_exchanges: 100,
            stats_interval: Duration(std::time::Duration::from_secs(60)),
        }
    }
}

/// A password: shown as `"***"` by `Debug` and never put into messages.
#[derive(Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(transparent)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

impl Instance for InstanceConfig {
    const LIST: &'static str = "instances";
    const NOUN: &'static str = "instance";
    const LABEL: &'static str = "rabbitmq.instance";

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, at: &mut At<'_>) {
        for (key, url) in [
            ("management_url", &self.management_url),
            ("prometheus_url", &self.prometheus_url),
        ] {
            match url::Url::parse(url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                Ok(u) => at.error(key, format!("scheme {} is not http or https", u.scheme())),
                Err(e) => at.error(key, format!("invalid URL {url:?}: {e}")),
            }
        }
        at.at_least("max_series", self.max_series, 1);
        at.at_least("max_exchanges", self.max_exchanges, 1);
        at.positive_if_set("stats_interval", Some(self.stats_interval));
    }

    fn build(&self, timeout: std::time::Duration, _ctx: &Context) -> Option<Box<dyn Integration>> {
        match Rabbitmq::new(self, timeout) {
            Ok(r) => Some(Box::new(r)),
            Err(e) => {
                tracing::error!(instance = %self.name, error = %e, "RabbitMQ integration not built.");
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
    fn every_problem_at_once_without_the_password() {
        let ok = load(
            "integrations:\n  rabbitmq:\n    enabled: true\n    instances:\n      - name: orders\n",
        )
        .unwrap();
        let i = &ok.instances[0];
        assert_eq!(i.management_url, "http://127.0.0.1:15672");
        assert_eq!((i.max_series, i.max_exchanges), (1000, 100));
        let text = "\
integrations:
  rabbitmq:
    enabled: true
    instances:
      - name: orders
        password: hunter2
        management_url: 'ftp://x'
        prometheus_url: 'not a url'
        include: '(['
        max_series: 0
        stats_interval: 0s
      - name: orders
        pasword: typo
";
        let e = load(text).unwrap_err();
        for want in [
            "integrations.rabbitmq.instances[0].management_url: scheme ftp is not http or https",
            "integrations.rabbitmq.instances[0].prometheus_url: invalid URL",
            "integrations.rabbitmq.instances[0].include: invalid regular expression",
            "integrations.rabbitmq.instances[0].max_series: must be at least 1",
            "integrations.rabbitmq.instances[0].stats_interval: must be greater than 0s",
            "integrations.rabbitmq.instances[1].name: \"orders\" is used by an earlier instance",
            "integrations.rabbitmq.instances[1].pasword: unknown key",
        ] {
            assert!(e.contains(want), "{want} not in:\n{e}");
        }
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn defaults_validation_and_no_password_shown() {
        let c: InstanceConfig = InstanceConfig {
            password: Password("hunter2".into()),
            ..InstanceConfig::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.stats_interval.0, std::time::Duration::from_secs(60));
    }
}
