//! ICMP echo probes (ping), smokeping-style: a round of `count` echo requests `spacing` apart,
//! then up to `wait` for the last replies. Records the round's round-trip min/avg/max/stddev, its
//! loss ratio, every round trip in a histogram, and the echoes sent and answered since the agent
//! started (see `docs/probes-icmp.md`).
//!
//! The socket ([`socket`]) is a datagram ICMP socket where `net.ipv4.ping_group_range` admits
//! the agent's group, else a raw socket (CAP_NET_RAW), else a `permission` failure naming both
//! fixes. A reply counts when it answers one of this round's requests (sequence number and the
//! round's random cookie in the payload; on raw sockets also the identifier and the target's
//! address) and arrives before the round ends; anything else is ignored.
//!
//! Portable (std and socket2) except the Linux-only IP_RECVERR option and the
//! `ping_group_range` hint in the permission message, both cfg-gated.

mod packet;
mod socket;

use super::config::ProbeConfig;
use super::resolve::{Family, resolve};
use super::{Failure, Probe, remaining};
use crate::integrations::Context;
use dozor_config::At;
use dozor_metrics::catalogue::probes as m;
use dozor_metrics::sample::{Buckets, Recorder};
use packet::Message;
use serde::Deserialize;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Most echoes in a round: the round keeps one send time per echo.
pub const MAX_COUNT: u32 = 1000;
/// Largest payload: a jumbo frame's worth.
pub const MAX_PAYLOAD: u32 = 9000;

/// Upper bounds of `dozor.probe.icmp.round_trip`, in seconds: a LAN hop to a satellite link.
pub const BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// `icmp`: echo requests to a host.
///
/// ```yaml
/// icmp: {host: mes.plant, count: 5, spacing: 200ms, wait: 1s}
/// ```
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct IcmpProbe {
    /// Host name or address, e.g. `mes.plant`, `10.0.0.5` or `fd00::5`.
    pub host: String,
    /// Address family: `auto`, `ipv4` or `ipv6`.
    pub family: Family,
    /// Echo requests per round (per probe run), 1 to 1000.
    pub count: u32,
    /// Time between two requests of a round. `(count - 1) × spacing` must leave time for the
    /// replies within the target's timeout; a round that cannot fit fails with `config`.
    pub spacing: dozor_config::Duration,
    /// How long after the last request of a round its replies are awaited (never past the
    /// timeout): a later reply counts as lost.
    pub wait: dozor_config::Duration,
    /// Payload bytes of each request, 8 (the round's cookie) to 9000; 56 as `ping`.
    pub payload_size: u32,
}

impl Default for IcmpProbe {
    fn default() -> Self {
        IcmpProbe {
            host: String::new(),
            family: Family::Auto,
            count: 5,
            spacing: dozor_config::Duration(Duration::from_millis(200)),
            wait: dozor_config::Duration(Duration::from_secs(1)),
            payload_size: 56,
        }
    }
}

impl ProbeConfig for IcmpProbe {
    fn validate(&self, at: &mut At<'_>) {
        if self.host.trim().is_empty() {
            at.error("host", "set the host to ping, e.g. mes.plant or 10.0.0.5");
        } else if self.host.contains(char::is_whitespace) || self.host.contains('/') {
            at.error(
                "host",
                format!("\"{}\" is not a host name or address", self.host),
            );
        }
        if !(1..=MAX_COUNT).contains(&self.count) {
            at.error("count", format!("must be from 1 to {MAX_COUNT}"));
        }
        at.positive("spacing", self.spacing);
        at.positive("wait", self.wait);
        if !(packet::COOKIE as u32..=MAX_PAYLOAD).contains(&self.payload_size) {
            at.error(
                "payload_size",
                format!("must be from {} to {MAX_PAYLOAD} bytes", packet::COOKIE),
            );
        }
    }

    fn build(&self, _ctx: &Context) -> Result<Box<dyn Probe>, String> {
        Ok(Box::new(Icmp::new(self)))
    }
}

/// A configured ICMP probe, with its totals since the agent started.
#[derive(Debug)]
pub struct Icmp {
    host: String,
    family: Family,
    count: u16,
    spacing: Duration,
    wait: Duration,
    payload: usize,
    /// The identifier of requests sent on raw sockets (datagram sockets get the kernel's).
    id: u16,
    /// The next sequence number: rounds continue the sequence, so that a late reply to an
    /// earlier round does not match this one.
    seq: u16,
    sent: u64,
    received: u64,
    round_trips: Buckets,
    /// `datagram` or `raw`: the socket of the last round that opened one.
    socket: Option<&'static str>,
}

impl Icmp {
    /// The probe of a validated configuration.
    pub fn new(c: &IcmpProbe) -> Icmp {
        Icmp {
            host: c.host.trim().to_string(),
            family: c.family,
            count: c.count.clamp(1, MAX_COUNT) as u16,
            spacing: c.spacing.0,
            wait: c.wait.0,
            payload: c.payload_size.clamp(packet::COOKIE as u32, MAX_PAYLOAD) as usize,
            id: rand::random(),
            seq: rand::random(),
            sent: 0,
            received: 0,
            round_trips: Buckets::new(BOUNDS),
            socket: None,
        }
    }

    /// `datagram` or `raw`: the socket of the last round that opened one.
    #[cfg(test)]
    pub fn socket_kind(&self) -> Option<&'static str> {
        self.socket
    }
}

/// What one round saw.
struct Round {
    /// Requests sent.
    sent: usize,
    /// Round trips of the answered requests.
    rtts: Vec<Duration>,
    /// The first destination-unreachable error about this round's requests.
    unreachable: Option<String>,
}

impl Probe for Icmp {
    fn kind(&self) -> &'static str {
        "icmp"
    }

    fn run(
        &mut self,
        target: &str,
        deadline: Instant,
        rec: &mut Recorder,
    ) -> Result<Duration, Failure> {
        let round = self.round(deadline);
        let labels = [target];
        if let Ok(r) = &round {
            for rtt in &r.rtts {
                self.round_trips.observe(rtt.as_secs_f64());
            }
            self.sent += r.sent as u64;
            self.received += r.rtts.len() as u64;
            if r.sent > 0 {
                let loss = 1.0 - r.rtts.len() as f64 / r.sent as f64;
                rec.record(&m::ICMP_LOSS, loss, &labels);
            }
        }
        rec.record(&m::ICMP_SENT, self.sent as f64, &labels);
        rec.record(&m::ICMP_RECEIVED, self.received as f64, &labels);
        rec.record_histogram(&m::ICMP_ROUND_TRIP, &self.round_trips, &labels);
        let r = round?;
        if r.rtts.is_empty() {
            return Err(match r.unreachable {
                Some(why) => Failure::new("unreachable", why),
                None => Failure::new("loss", format!("no reply to {} echoes", r.sent)),
            });
        }
        let secs: Vec<f64> = r.rtts.iter().map(Duration::as_secs_f64).collect();
        let n = secs.len() as f64;
        let avg = secs.iter().sum::<f64>() / n;
        let min = secs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = secs.iter().copied().fold(0.0, f64::max);
        let stddev = (secs.iter().map(|s| (s - avg).powi(2)).sum::<f64>() / n).sqrt();
        for (stat, v) in [("min", min), ("avg", avg), ("max", max), ("stddev", stddev)] {
            rec.record(&m::ICMP_RTT, v, &[target, stat]);
        }
        Ok(Duration::from_secs_f64(avg))
    }
}

impl Icmp {
    /// Sends the round's requests and collects its replies until all came, `wait` after the
    /// last request, or the deadline, whichever is first.
    fn round(&mut self, deadline: Instant) -> Result<Round, Failure> {
        // A round that cannot fit is a configuration problem, whatever the network says.
        let left = remaining(deadline, "send")?;
        let sending = self.spacing * u32::from(self.count - 1);
        if sending >= left {
            return Err(Failure::new(
                "config",
                format!(
                    "{} echoes {:?} apart take {sending:?}, which leaves no time for replies within the timeout ({left:?} left): lower count or spacing, or raise the target's timeout",
                    self.count, self.spacing
                ),
            ));
        }
        let (ip, _) = resolve(&self.host, self.family, deadline)?;
        let sock = socket::open(ip)?;
        self.socket = Some(if sock.raw { "raw" } else { "datagram" });
        let v6 = ip.is_ipv6();
        let dst = SocketAddr::new(ip, 0);
        let count = usize::from(self.count);
        let cookie: u64 = rand::random();
        let base = self.seq;
        self.seq = self.seq.wrapping_add(self.count);

        let mut sent_at: Vec<Option<Instant>> = vec![None; count];
        let mut rtts: Vec<Option<Duration>> = vec![None; count];
        let mut answered = 0;
        let mut unreachable = None;
        let mut next = 0;
        let start = Instant::now();
        let mut end = deadline;
        let mut buf = vec![0u8; self.payload + 128];
        loop {
            let now = Instant::now();
            if next < count && now >= start + self.spacing * next as u32 {
                let request = packet::echo_request(
                    v6,
                    self.id,
                    base.wrapping_add(next as u16),
                    cookie,
                    self.payload,
                );
                // Stamped before the send: the reply may be read before `send_to` returns.
                let at = Instant::now();
                match sock.socket.send_to(&request, dst) {
                    Ok(_) => sent_at[next] = Some(at),
                    Err(e) if is_unreachable(&e) => {
                        unreachable.get_or_insert_with(|| format!("send to {ip}: {e}"));
                    }
                    Err(e) => return Err(Failure::new("socket", format!("send to {ip}: {e}"))),
                }
                next += 1;
                if next == count {
                    end = (Instant::now() + self.wait).min(deadline);
                }
                continue;
            }
            let sent = sent_at.iter().flatten().count();
            if next == count && (answered == sent || now >= end) {
                break;
            }
            if now >= deadline {
                break;
            }
            let until = if next < count {
                (start + self.spacing * next as u32).min(end)
            } else {
                end
            };
            let timeout = until
                .saturating_duration_since(now)
                .max(Duration::from_micros(50));
            let _ = sock.socket.set_read_timeout(Some(timeout));
            let (n, from) = match sock.socket.recv_from(&mut buf) {
                Ok(got) => got,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // A datagram socket with IP_RECVERR: an error about one of its echoes.
                Err(e) if is_unreachable(&e) => {
                    unreachable.get_or_insert_with(|| format!("{ip}: {e}"));
                    continue;
                }
                Err(e) => return Err(Failure::new("socket", format!("receive: {e}"))),
            };
            let got = Instant::now();
            if got > end {
                break;
            }
            let index = |seq: u16| {
                let i = usize::from(seq.wrapping_sub(base));
                (i < count).then_some(i)
            };
            match packet::parse(&buf[..n], v6, sock.raw && !v6) {
                Some(Message::Reply { id, seq, cookie: c }) => {
                    if c != Some(cookie) || (sock.raw && (id != self.id || from.ip() != ip)) {
                        continue;
                    }
                    let Some(i) = index(seq) else { continue };
                    if let (Some(at), None) = (sent_at[i], rtts[i]) {
                        rtts[i] = Some(got.saturating_duration_since(at));
                        answered += 1;
                    }
                }
                Some(Message::Unreachable { code, dst, id, seq }) => {
                    if dst != ip || (sock.raw && id != self.id) || index(seq).is_none() {
                        continue;
                    }
                    unreachable.get_or_insert_with(|| {
                        format!(
                            "{} answered echo {seq} to {ip} with destination unreachable (code {code})",
                            from.ip()
                        )
                    });
                }
                None => {}
            }
        }
        Ok(Round {
            sent: sent_at.iter().flatten().count(),
            rtts: rtts.into_iter().flatten().collect(),
            unreachable,
        })
    }
}

/// An error that says the host cannot be reached (a local route, or an ICMP error reported on
/// a datagram socket).
fn is_unreachable(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable
    ) || (e.kind() == ErrorKind::PermissionDenied && e.raw_os_error().is_some())
}
