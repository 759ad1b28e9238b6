//! `integrations.nats`: which NATS servers to watch and which JetStream streams and consumers
//! to report.

use super::Nats;
use crate::integrations::{Context, Instance, Instances, Integration};
use dozor_config::At;
use serde::Deserialize;

/// `integrations.nats`: the servers to watch under `instances`, each on its own connection and
/// schedule. Connecting may take a quarter of the timeout, and so may each request.
pub type Config = Instances<InstanceConfig>;

/// One NATS server (any server of a cluster: the JetStream API answers for the account). The
/// user needs to publish to `$JS.API.STREAM.LIST` and `$JS.API.CONSUMER.LIST.>` and to
/// subscribe to `_INBOX.>`. Plain TCP only: a server that requires TLS is reported as such.
#[derive(Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "NatsInstanceConfig"))]
#[serde(default, deny_unknown_fields)]
pub struct InstanceConfig {
    /// The `nats.instance` attribute of every series, e.g. `events`; unique among the
    /// instances.
    pub name: String,
    /// `host:port` of the client port, e.g. `127.0.0.1:4222` (`nats://` is accepted).
    pub address: String,
    /// User name, for user/password authentication.
    pub user: Option<String>,
    /// Password, best given as `${NATS_PASSWORD}`. Never logged or shown.
    pub password: Option<String>,
    /// Token, for token authentication, best given as `${NATS_TOKEN}`. Never logged or shown.
    pub token: Option<String>,
    /// Streams are reported only when their name matches this regular expression.
    pub streams_include: Option<String>,
    /// Streams whose name matches this regular expression are left out.
    pub streams_exclude: Option<String>,
    /// Consumers are reported only when their name matches this regular expression.
    pub consumers_include: Option<String>,
    /// Consumers whose name matches this regular expression are left out.
    pub consumers_exclude: Option<String>,
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
            .field("user", &self.user)
            .field("password", &hide(&self.password))
            .field("token", &hide(&self.token))
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
        for (key, re) in [
            ("streams_include", &self.streams_include),
            ("streams_exclude", &self.streams_exclude),
            ("consumers_include", &self.consumers_include),
            ("consumers_exclude", &self.consumers_exclude),
        ] {
            if let Some(re) = re
                && let Err(e) = regex::Regex::new(re)
            {
                at.error(key, format!("not a regular expression: {e}"));
            }
        }
        if self.token.is_some() && (self.user.is_some() || self.password.is_some()) {
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
