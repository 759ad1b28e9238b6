//! `integrations.tcp_info`: which remote services get their own name, the series budget, and
//! whether loopback connections count.

use dozor_config::{At, Duration};
use serde::Deserialize;
use std::net::IpAddr;

/// Default series budget.
pub const DEFAULT_MAX_PEERS: usize = 200;
/// Default number of collections a peer's counters are kept without seeing it.
pub const DEFAULT_FORGET_AFTER: u64 = 10;

/// Passive TCP figures per peer from the kernel's `tcp_info` (Linux; `ss -ti`'s source).
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(test, schemars(rename = "TcpInfoConfig"))]
#[serde(default)]
pub struct Config {
    /// Collect per-peer TCP figures at all (Linux only; another OS accepts the section but
    /// builds nothing and says so).
    pub enabled: bool,
    /// Time between collections; `agent.interval` when unset.
    pub interval: Option<Duration>,
    /// Longest a collection may take; `agent.timeout` when unset.
    pub timeout: Option<Duration>,
    /// Remote services reported under their own name (`tcp.peer`): the first whose address
    /// (and port, when set) matches a socket's remote end names it. Others are keyed by the
    /// remote `address:port`, or, for connections accepted by a listening port of this host,
    /// `remote address->:local port`.
    pub services: Vec<ServiceConfig>,
    /// At most this many peers get their own series (configured services first, then by
    /// name); the rest are folded into `tcp.peer="_other"` and counted in
    /// `dozor.tcp_info.overflow.peers`.
    pub max_peers: usize,
    /// Report connections whose remote end is a loopback address (127.0.0.0/8, ::1); off by
    /// default, since they say nothing about the network.
    pub include_loopback: bool,
    /// A peer's counters are forgotten after this many collections without a socket to it;
    /// when it comes back its counters start again from 0.
    pub forget_after: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: false,
            interval: None,
            timeout: None,
            services: Vec::new(),
            max_peers: DEFAULT_MAX_PEERS,
            include_loopback: false,
            forget_after: DEFAULT_FORGET_AFTER,
        }
    }
}

/// One remote service, e.g. `{name: mes-db, address: 10.0.0.5, port: 5432}` or
/// `{name: office, address: 192.168.10.0/24}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct ServiceConfig {
    /// The `tcp.peer` value of its sockets, unique among the services.
    pub name: String,
    /// An IP address (`10.0.0.5`, `2001:db8::5`) or a network in CIDR form (`10.0.0.0/24`)
    /// that the remote address must be in.
    pub address: String,
    /// The remote port that must match; unset: any port (so connections from clients in the
    /// network, to this host's listening ports, are named too).
    pub port: Option<u16>,
}

/// A parsed [`ServiceConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// `tcp.peer`.
    pub name: String,
    /// The network's address, host bits clear.
    pub network: IpAddr,
    /// Its prefix length.
    pub prefix: u8,
    /// The remote port, if any.
    pub port: Option<u16>,
}

impl Service {
    /// Whether a socket whose remote end is `ip:port` belongs to this service.
    pub fn matches(&self, ip: IpAddr, port: u16) -> bool {
        self.port.is_none_or(|p| p == port) && masked(ip, self.prefix) == Some(self.network)
    }
}

/// `ip` with all but the first `prefix` bits cleared; `None` when `prefix` is too long.
fn masked(ip: IpAddr, prefix: u8) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v) => {
            let bits = u32::from(v);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            (prefix <= 32).then(|| IpAddr::V4((bits & mask).into()))
        }
        IpAddr::V6(v) => {
            let bits = u128::from(v);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            (prefix <= 128).then(|| IpAddr::V6((bits & mask).into()))
        }
    }
}

/// Parses `10.0.0.5` or `10.0.0.0/24` (an IPv4-mapped IPv6 address is taken as IPv4).
pub fn parse_network(text: &str) -> Result<(IpAddr, u8), String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let ip: IpAddr = addr.trim().parse().map_err(|_| {
        format!("\"{text}\" is not an IP address or a CIDR network, e.g. 10.0.0.5 or 10.0.0.0/24")
    })?;
    let ip = match ip {
        IpAddr::V6(v) => v.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.trim().parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("\"{text}\": the prefix length must be 0 to {max}")),
        },
    };
    let network = masked(ip, prefix).expect("prefix checked");
    if network != ip {
        return Err(format!(
            "\"{text}\" has host bits set: the network is {network}/{prefix}"
        ));
    }
    Ok((network, prefix))
}

impl Config {
    /// Reports every problem, with keys relative to the section.
    pub fn check(&self, at: &mut At<'_>) {
        at.positive_if_set("interval", self.interval);
        at.positive_if_set("timeout", self.timeout);
        at.at_least("max_peers", self.max_peers, 1);
        at.at_least("forget_after", self.forget_after, 1);
        for (i, s) in self.services.iter().enumerate() {
            let mut at = at.item("services", i);
            if s.name.trim().is_empty() {
                at.error("name", "must be set (it becomes tcp.peer)");
            } else if s.name == crate::integrations::tcp_info::OTHER {
                at.error(
                    "name",
                    "\"_other\" is the series of the peers beyond max_peers",
                );
            } else if self.services[..i].iter().any(|o| o.name == s.name) {
                at.error(
                    "name",
                    format!("\"{}\" is used by an earlier service", s.name),
                );
            }
            if let Err(e) = parse_network(&s.address) {
                at.error("address", e);
            }
            if s.port == Some(0) {
                at.error("port", "must be 1 to 65535 (leave it out for any port)");
            }
        }
    }

    /// The services, parsed; those that do not parse (which validation rules out) left out.
    pub fn services(&self) -> Vec<Service> {
        self.services
            .iter()
            .filter_map(|s| {
                let (network, prefix) = parse_network(&s.address).ok()?;
                Some(Service {
                    name: s.name.clone(),
                    network,
                    prefix,
                    port: s.port,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        crate::integrations::testing::load(text)
    }

    #[test]
    fn every_problem_at_once_with_file_line_and_key() {
        let text = "\
integrations:
  tcp_info:
    enabled: true
    max_peers: 0
    services:
      - {name: mes-db, address: 10.0.0.5, port: 5432}
      - {name: mes-db, address: 10.0.0.0/33}
      - {name: _other, address: 10.0.0.7/24}
      - {name: '', address: db.local, port: 0}
    typo: 1
";
        let e = load(text).unwrap_err();
        for want in [
            "agent.yaml:4:5: integrations.tcp_info.max_peers: must be at least 1",
            "agent.yaml:7:10: integrations.tcp_info.services[1].name: \"mes-db\" is used by an earlier service",
            "integrations.tcp_info.services[1].address: \"10.0.0.0/33\": the prefix length must be 0 to 32",
            "integrations.tcp_info.services[2].name: \"_other\" is the series of the peers beyond max_peers",
            "integrations.tcp_info.services[2].address: \"10.0.0.7/24\" has host bits set: the network is 10.0.0.0/24",
            "integrations.tcp_info.services[3].name: must be set",
            "integrations.tcp_info.services[3].address: \"db.local\" is not an IP address",
            "integrations.tcp_info.services[3].port: must be 1 to 65535",
            "agent.yaml:10:5: integrations.tcp_info.typo: unknown key",
        ] {
            assert!(e.contains(want), "{want} not in:\n{e}");
        }
        let ok = load("integrations:\n  tcp_info:\n    enabled: true\n    services: [{name: db, address: '2001:db8::/32', port: 5432}]\n").unwrap();
        assert_eq!(ok.max_peers, DEFAULT_MAX_PEERS);
        assert_eq!(ok.services()[0].prefix, 32);
    }

    #[test]
    fn networks_match_by_prefix_and_port() {
        let s = |a: &str, port| {
            let (network, prefix) = parse_network(a).unwrap();
            Service {
                name: "s".into(),
                network,
                prefix,
                port,
            }
        };
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        assert!(s("10.0.0.5", Some(5432)).matches(ip("10.0.0.5"), 5432));
        assert!(!s("10.0.0.5", Some(5432)).matches(ip("10.0.0.5"), 5433));
        assert!(!s("10.0.0.5", None).matches(ip("10.0.0.6"), 1));
        assert!(s("10.0.0.0/8", None).matches(ip("10.200.3.4"), 1));
        assert!(!s("10.0.0.0/8", None).matches(ip("11.0.0.1"), 1));
        assert!(s("0.0.0.0/0", None).matches(ip("192.0.2.1"), 1));
        assert!(!s("0.0.0.0/0", None).matches(ip("2001:db8::1"), 1));
        assert!(s("2001:db8::/32", None).matches(ip("2001:db8:1::9"), 1));
        assert!(s("::ffff:10.1.2.3", None).matches(ip("10.1.2.3"), 1));
    }
}
