//! The `tcp_info` integration: RTT, RTT variation, minimum RTT, retransmitted and lost segments,
//! reordering, bytes and delivery rate per peer, from the kernel's `struct tcp_info` of every
//! TCP socket (what `ss -ti` prints), read over `NETLINK_SOCK_DIAG`: no packet capture. Linux
//! only.
//!
//! A collection is two `sock_diag` dumps ([`crate::integrations::sock_diag`]): the listening
//! sockets (their ports tell accepted connections from outgoing ones), then the sockets that
//! carry data with `INET_DIAG_INFO` ([`diag`]). [`peers`] names each socket's peer, applies the
//! series budget and keeps the counters. See `docs/tcp-info.md`.

pub mod config;
pub mod diag;
pub mod peers;

#[cfg(test)]
mod tests;

pub use config::Config;
pub use peers::OTHER;

use super::{Context, Integration, IntegrationError, Scheduled, Section};
use dozor_config::At;
use dozor_metrics::catalogue::tcp_info as m;
use dozor_metrics::sample::Recorder;
use peers::{Peers, Report};

/// Kernel TCP states (`include/net/tcp_states.h`) whose sockets carry data and have a full
/// `tcp_info`: established, and those closing after it (FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT,
/// LAST_ACK, CLOSING), read for the counters' last increase before the socket goes.
pub const DATA_STATES: u32 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 9) | (1 << 11);
/// TCP_LISTEN.
pub const LISTEN_STATES: u32 = 1 << 10;

impl Section for Config {
    fn validate(&self, at: &mut At<'_>) {
        self.check(at);
    }

    fn build(&self, ctx: &Context) -> Vec<Scheduled> {
        if !self.enabled {
            return Vec::new();
        }
        if !cfg!(target_os = "linux") {
            tracing::error!(
                integration = "tcp_info",
                "The tcp_info integration needs Linux (NETLINK_SOCK_DIAG); nothing is collected on this system."
            );
            return Vec::new();
        }
        let (interval, timeout) = ctx.schedule(self.interval, self.timeout);
        vec![Scheduled {
            integration: Box::new(TcpInfo::new(self)),
            interval,
            timeout,
        }]
    }
}

/// The integration: the state kept between collections.
pub struct TcpInfo {
    pub(super) peers: Peers,
}

impl TcpInfo {
    /// The integration for `config`.
    pub fn new(config: &Config) -> TcpInfo {
        TcpInfo {
            peers: Peers::new(
                config.services(),
                config.max_peers,
                config.include_loopback,
                config.forget_after,
            ),
        }
    }

    /// One collection in the network namespace of the calling thread.
    pub fn read(&mut self) -> std::io::Result<Report> {
        use super::sock_diag::{EXT_INFO, dump};
        let mut listening = std::collections::HashSet::new();
        dump(LISTEN_STATES, 0, &mut |p| {
            listening.insert(diag::parse_socket(p)?.local.port());
            Ok(())
        })?;
        let mut c = self.peers.begin();
        let peers = &mut self.peers;
        let read = dump(DATA_STATES, EXT_INFO, &mut |p| {
            peers.add(&mut c, &diag::parse_socket(p)?, &listening);
            Ok(())
        });
        // Finished even after an error, so the sockets of the previous collection are kept
        // only as far as they were seen again.
        let report = self.peers.finish(c, now_ns());
        read.map(|()| report)
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Records one collection's series.
pub fn record(rec: &mut Recorder, report: &Report) {
    for row in &report.rows {
        let p = [row.peer.as_str()];
        let g = &row.gauges;
        rec.record(&m::PEER_SOCKETS, g.sockets as f64, &p);
        if let Some(v) = g.rtt() {
            rec.record(&m::PEER_RTT, v, &p);
        }
        if let Some(v) = g.rttvar() {
            rec.record(&m::PEER_RTT_VARIANCE, v, &p);
        }
        if let Some(v) = g.min_rtt_us {
            rec.record(&m::PEER_RTT_MIN, f64::from(v) / 1e6, &p);
        }
        if let Some(v) = g.lost {
            rec.record(&m::PEER_LOST, v as f64, &p);
        }
        if let Some(v) = g.reordering {
            rec.record(&m::PEER_REORDERING, f64::from(v), &p);
        }
        if let Some(v) = g.delivery_rate() {
            rec.record(&m::PEER_DELIVERY_RATE, v, &p);
        }
        let since = Some(row.since_ns);
        if let Some(v) = row.retransmits {
            rec.record_since(&m::PEER_RETRANSMITS, v as f64, &p, since);
        }
        for (dir, v) in [
            ("transmit", row.bytes_acked),
            ("receive", row.bytes_received),
        ] {
            if let Some(v) = v {
                rec.record_since(&m::PEER_BYTES, v as f64, &[&row.peer, dir], since);
            }
        }
    }
    rec.record(&m::OVERFLOW_PEERS, report.overflow as f64, &[]);
}

impl Integration for TcpInfo {
    fn name(&self) -> &str {
        "tcp_info"
    }

    fn collect(&mut self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        match self.read() {
            Ok(report) => {
                record(rec, &report);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                Err(IntegrationError::new("parse", e.to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                Err(IntegrationError::new(
                    "permission",
                    format!(
                        "NETLINK_SOCK_DIAG refused ({e}): the agent's seccomp or LSM profile must allow netlink sockets"
                    ),
                ))
            }
            Err(e) => Err(IntegrationError::new(
                "io",
                format!("reading tcp_info over NETLINK_SOCK_DIAG: {e}"),
            )),
        }
    }
}
