//! `integrations.redis`: which Redis servers to watch and which lists and streams to read.

use super::Redis;
use crate::integrations::{Context, Instance, Instances, Integration};
use dozor_config::{At, RegexPattern};
use serde::Deserialize;

/// `integrations.redis`: the servers to watch under `instances`, each on its own connection and
/// schedule. Connecting may take a quarter of the timeout, and so may each command.
pub type Config = Instances<InstanceConfig>;

/// One Redis server. Needs `INFO`, `TYPE`, `SCAN` (for patterns), `LLEN`, `XLEN`, `XINFO` and
/// `XRANGE`: for an ACL user, `ACL SETUSER dozor on >PASSWORD +ping +info +type +scan +llen
/// +xlen +xinfo +xrange ~*` (or only the key patterns it reads).
#[derive(Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "RedisInstanceConfig"))]
#[serde(default)]
pub struct InstanceConfig {
    /// The `redis.instance` attribute of every series, e.g. `cache`; unique among the instances.
    pub name: String,
    /// `host:port` of the server, e.g. `127.0.0.1:6379`.
    pub address: String,
    /// ACL user name (Redis 6 and later); unset: the default user.
    pub username: Option<String>,
    /// Password (`requirepass` or the ACL user's), best given as `${REDIS_PASSWORD}`. Never
    /// logged or shown.
    pub password: Option<String>,
    /// Database number the keys live in.
    pub db: u32,
    /// List keys whose length is reported (`LLEN`): names, or glob patterns (`orders:*`) matched
    /// with `SCAN ... TYPE list`. A named list that does not exist has length 0 (Redis deletes
    /// an emptied list).
    pub lists: Vec<String>,
    /// Stream keys whose length, consumer groups and consumers are reported: names or glob
    /// patterns (`SCAN ... TYPE stream`).
    pub streams: Vec<String>,
    /// Keys a pattern may match are kept only when they match this regular expression.
    pub include: Option<RegexPattern>,
    /// Keys matching this regular expression are left out.
    pub exclude: Option<RegexPattern>,
    /// At most this many keys examined per pattern by `SCAN` (its cost grows with the size of
    /// the database, not with the matches).
    pub scan_limit: usize,
    /// At most this many keys, and this many stream consumers, get their own series; the rest
    /// are summed into `redis.key="_other"` / `redis.consumer="_other"`.
    pub max_series: usize,
    /// When Redis gives no lag for a group (after `XDEL`, or a group that never read), the
    /// agent counts it with `XRANGE`, from the smaller side of the group's position, at most
    /// this many entries per side (past it on both, the lag reads as this floor).
    pub lag_count_limit: usize,
}

impl std::fmt::Debug for InstanceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceConfig")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("lists", &self.lists)
            .field("streams", &self.streams)
            .finish_non_exhaustive()
    }
}

/// Defaults of the bounds.
pub const DEFAULT_SCAN_LIMIT: usize = 100_000;
/// Default series budget.
pub const DEFAULT_MAX_SERIES: usize = 1000;
/// Default bound of the lag count.
pub const DEFAULT_LAG_COUNT_LIMIT: usize = 1_000_000;

impl InstanceConfig {
    /// The bounds, with 0 meaning the default.
    pub fn scan_limit(&self) -> usize {
        nonzero(self.scan_limit, DEFAULT_SCAN_LIMIT)
    }
    /// See [`InstanceConfig::max_series`].
    pub fn max_series(&self) -> usize {
        nonzero(self.max_series, DEFAULT_MAX_SERIES)
    }
    /// See [`InstanceConfig::lag_count_limit`].
    pub fn lag_count_limit(&self) -> usize {
        nonzero(self.lag_count_limit, DEFAULT_LAG_COUNT_LIMIT)
    }
}

fn nonzero(v: usize, default: usize) -> usize {
    if v == 0 { default } else { v }
}

/// A glob pattern for `SCAN MATCH` (Redis's `*`, `?`, `[...]`), not a key name.
pub fn is_pattern(key: &str) -> bool {
    key.contains(['*', '?', '['])
}

/// `host:port` split, the port checked.
pub fn split_address(address: &str) -> Result<(String, u16), String> {
    let address = address.strip_prefix("redis://").unwrap_or(address);
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("\"{address}\" is not host:port, e.g. 127.0.0.1:6379"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("\"{address}\": the port is not a number"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("\"{address}\" has no host"));
    }
    Ok((host.to_string(), port))
}

impl Instance for InstanceConfig {
    const LIST: &'static str = "instances";
    const NOUN: &'static str = "instance";
    const LABEL: &'static str = "redis.instance";

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self, at: &mut At<'_>) {
        if let Err(e) = split_address(&self.address) {
            at.error("address", e);
        }
        for (list, keys) in [("lists", &self.lists), ("streams", &self.streams)] {
            for (j, k) in keys.iter().enumerate() {
                if k.is_empty() {
                    at.item(list, j).error("", "an empty key name");
                }
            }
        }
    }

    fn build(&self, timeout: std::time::Duration, _ctx: &Context) -> Option<Box<dyn Integration>> {
        match Redis::new(self, timeout) {
            Ok(r) => Some(Box::new(r)),
            Err(e) => {
                tracing::error!(instance = %self.name, error = %e, "Redis instance not built.");
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
    fn every_problem_at_once_and_no_password_shown() {
        let text = "\
integrations:
  redis:
    enabled: true
    instances:
      - name: queues
        address: 127.0.0.1:6379
        password: hunter2
        lists: ['jobs:*', '']
        include: '('
      - name: queues
        address: nohost
        typo: 1
";
        let e = load(text).unwrap_err();
        for want in [
            "integrations.redis.instances[0].lists[1]: an empty key name",
            "integrations.redis.instances[0].include: invalid regular expression",
            "integrations.redis.instances[1].name: \"queues\" is used by an earlier instance",
            "integrations.redis.instances[1].address: \"nohost\" is not host:port",
            "integrations.redis.instances[1].typo: unknown key",
        ] {
            assert!(e.contains(want), "{want} not in:\n{e}");
        }
        assert!(!e.contains("hunter2"), "{e}");
        let ok = load("integrations:\n  redis:\n    enabled: true\n    instances:\n      - {name: q, address: '127.0.0.1:6379', streams: [orders]}\n").unwrap();
        assert_eq!(ok.instances[0].max_series(), DEFAULT_MAX_SERIES);
    }

    #[test]
    fn addresses_and_redaction() {
        assert_eq!(
            split_address("127.0.0.1:6379").unwrap(),
            ("127.0.0.1".into(), 6379)
        );
        assert_eq!(split_address("[::1]:7000").unwrap(), ("::1".into(), 7000));
        assert!(split_address("localhost").is_err());
        assert!(split_address("h:port").is_err());
        let c = InstanceConfig {
            password: Some("hunter2".into()),
            ..InstanceConfig::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(is_pattern("orders:*") && !is_pattern("orders"));
    }
}
