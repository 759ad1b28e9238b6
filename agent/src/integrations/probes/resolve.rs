//! Names to addresses for the probes, within the probe's deadline.
//!
//! The system resolver (`getaddrinfo`, with `/etc/hosts`, `nsswitch` and the search domains the
//! operators' machines are set up with) answers on a thread of its own, since it has no timeout
//! of its own; past the deadline the probe fails with `timeout` and the lookup is left to finish.
//! At most [`MAX_STUCK`] lookups may be left so at once; past that a probe fails with `resolve`
//! at once rather than start another thread.
//!
//! A probe configured with a resolver of its own ([`resolve_via`], the HTTP probe's `resolver`)
//! asks that server directly (A, then AAAA for `auto` when there is no A record), as the DNS
//! probe does, with no thread and no system configuration involved.

use super::dns::{self, Transport};
use super::{Failure, remaining};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Lookups abandoned past their deadline and still running, over all probes.
const MAX_STUCK: usize = 16;
static STUCK: AtomicUsize = AtomicUsize::new(0);

/// Which address family a probe uses.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// The first address the resolver returns (its order follows RFC 6724 and `gai.conf`).
    #[default]
    Auto,
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

impl Family {
    fn admits(self, ip: &IpAddr) -> bool {
        match self {
            Family::Auto => true,
            Family::Ipv4 => ip.is_ipv4(),
            Family::Ipv6 => ip.is_ipv6(),
        }
    }
}

/// The address of `host` (a name or a literal, IPv6 with or without brackets) of `family`, and
/// how long the lookup took (`None` for a literal: no lookup ran).
pub fn resolve(
    host: &str,
    family: Family,
    deadline: Instant,
) -> Result<(IpAddr, Option<Duration>), Failure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return if family.admits(&ip) {
            Ok((ip, None))
        } else {
            Err(Failure::new(
                "resolve",
                format!("{ip} is not an {family:?} address"),
            ))
        };
    }
    let left = remaining(deadline, "resolve")?;
    if STUCK.load(Ordering::Relaxed) >= MAX_STUCK {
        return Err(Failure::new(
            "resolve",
            format!("{MAX_STUCK} earlier lookups are still stuck in the system resolver"),
        ));
    }
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let name = bare.to_string();
    STUCK.fetch_add(1, Ordering::Relaxed);
    let spawned = std::thread::Builder::new()
        .name("dozor-resolve".into())
        .spawn(move || {
            let r = (name.as_str(), 0).to_socket_addrs();
            STUCK.fetch_sub(1, Ordering::Relaxed);
            let _ = tx.send(r.map(|a| a.map(|a| a.ip()).collect::<Vec<_>>()));
        });
    if let Err(e) = spawned {
        STUCK.fetch_sub(1, Ordering::Relaxed);
        return Err(Failure::new(
            "resolve",
            format!("no thread for the lookup: {e}"),
        ));
    }
    match rx.recv_timeout(left) {
        Ok(Ok(ips)) => match ips.into_iter().find(|ip| family.admits(ip)) {
            Some(ip) => Ok((ip, Some(start.elapsed()))),
            None => Err(Failure::new(
                "resolve",
                format!("{bare} has no {family:?} address"),
            )),
        },
        Ok(Err(e)) => Err(Failure::new("resolve", format!("{bare}: {e}"))),
        Err(_) => Err(Failure::timeout("resolve")),
    }
}

/// [`resolve`], through `resolver` (`ip:port` of a DNS server) when one is given. The time is
/// that of all the queries made.
pub fn resolve_via(
    host: &str,
    family: Family,
    resolver: Option<SocketAddr>,
    deadline: Instant,
) -> Result<(IpAddr, Option<Duration>), Failure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let Some(server) = resolver.filter(|_| bare.parse::<IpAddr>().is_err()) else {
        return resolve(host, family, deadline);
    };
    let name = Name::from_ascii(bare)
        .map(|mut n| {
            n.set_fqdn(true);
            n
        })
        .map_err(|e| Failure::new("resolve", format!("\"{bare}\" is not a DNS name: {e}")))?;
    let types: &[RecordType] = match family {
        Family::Auto => &[RecordType::A, RecordType::AAAA],
        Family::Ipv4 => &[RecordType::A],
        Family::Ipv6 => &[RecordType::AAAA],
    };
    let mut took = Duration::ZERO;
    for t in types {
        let (reply, t_took) =
            dns::exchange(server, &name, *t, Transport::Udp, deadline).map_err(|f| {
                match f.reason {
                    "timeout" => Failure::timeout(&format!("resolve {bare} at {server}")),
                    _ => Failure::new("resolve", format!("{bare} at {server}: {}", f.message)),
                }
            })?;
        took += t_took;
        let code = reply.metadata.response_code;
        if code != ResponseCode::NoError {
            return Err(Failure::new(
                "resolve",
                format!("{bare}: {server} answered {code:?} ({code})"),
            ));
        }
        let ip = reply.answers.iter().find_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        });
        if let Some(ip) = ip.filter(|ip| family.admits(ip)) {
            return Ok((ip, Some(took)));
        }
    }
    Err(Failure::new(
        "resolve",
        format!("{bare}: {server} has no {family:?} address for it"),
    ))
}

/// `host:port` split; the host may be a name, an IPv4 address or a bracketed IPv6 address.
pub fn split_host_port(address: &str) -> Result<(&str, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("\"{address}\" is not host:port, e.g. mes.plant:8080"))?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("\"{address}\": the port is not a number from 1 to 65535"))?;
    if host.is_empty() {
        return Err(format!("\"{address}\" has no host"));
    }
    if host.contains(':') && !host.starts_with('[') {
        return Err(format!(
            "\"{address}\": write an IPv6 address in brackets, e.g. [::1]:8080"
        ));
    }
    Ok((host, port))
}
