//! Sockets to peers: the `tcp.peer` of each socket, the gauges of each peer, the series budget,
//! and the counters the agent keeps per peer from each socket's increase.
//!
//! The kernel's counters (`tcpi_total_retrans`, `tcpi_bytes_acked`, `tcpi_bytes_received`) live
//! and die with their socket: summing them over a peer's current sockets would go back each
//! time one closes. So the last values of every socket are kept by its cookie, each collection
//! adds the increase since the previous one to its peer's counters, and sockets gone from the
//! dump are forgotten. A socket first seen after the first collection adds its whole value (it
//! opened since); on the first collection every socket is only a baseline. What a socket does
//! between the last collection and its close (TIME_WAIT, when `tcp_info` is no longer
//! available) is not seen.

use super::config::Service;
use super::diag::{Socket, TcpInfo};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// The peer of the sockets beyond the budget.
pub const OTHER: &str = "_other";

/// TCP_ESTABLISHED.
pub const ESTABLISHED: u8 = 1;

/// The last counter values of one socket.
#[derive(Clone, Copy, Debug, Default)]
struct Last {
    retrans: Option<u32>,
    acked: Option<u64>,
    received: Option<u64>,
}

/// One peer's counters, kept across collections.
#[derive(Clone, Debug)]
struct Counters {
    /// Unix nanoseconds when these counters started (their OTLP start time).
    since_ns: u64,
    /// The collection in which a socket to the peer was last seen.
    seen: u64,
    retrans: Option<u64>,
    acked: Option<u64>,
    received: Option<u64>,
}

/// Increases seen in one collection.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Deltas {
    retrans: Option<u64>,
    acked: Option<u64>,
    received: Option<u64>,
}

impl Deltas {
    fn add(&mut self, o: &Deltas) {
        add(&mut self.retrans, o.retrans);
        add(&mut self.acked, o.acked);
        add(&mut self.received, o.received);
    }
}

/// Adds `v` to `slot`, which becomes `Some` only once a value was present.
fn add(slot: &mut Option<u64>, v: Option<u64>) {
    if let Some(v) = v {
        *slot = Some(slot.unwrap_or(0) + v);
    }
}

/// The figures of one peer's established sockets at one collection, each `None` when no
/// socket had the field.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gauges {
    /// Established sockets.
    pub sockets: u64,
    rtt: Mean,
    rttvar: Mean,
    rate: Mean,
    /// Smallest `tcpi_min_rtt`, µs.
    pub min_rtt_us: Option<u32>,
    /// Sum of `tcpi_lost`.
    pub lost: Option<u64>,
    /// Largest `tcpi_reordering`.
    pub reordering: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Mean {
    sum: f64,
    n: u64,
}

impl Mean {
    fn add(&mut self, v: Option<f64>) {
        if let Some(v) = v {
            self.sum += v;
            self.n += 1;
        }
    }
    fn merge(&mut self, o: &Mean) {
        self.sum += o.sum;
        self.n += o.n;
    }
    fn get(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

impl Gauges {
    fn add(&mut self, i: &TcpInfo) {
        self.sockets += 1;
        self.rtt.add(i.rtt_us.map(f64::from));
        self.rttvar.add(i.rttvar_us.map(f64::from));
        self.rate.add(i.delivery_rate.map(|r| r as f64));
        // u32::MAX: no RTT sample yet (`minmax` starts at ~0U).
        if let Some(m) = i.min_rtt_us.filter(|&m| m != u32::MAX) {
            self.min_rtt_us = Some(self.min_rtt_us.map_or(m, |o| o.min(m)));
        }
        add(&mut self.lost, i.lost.map(u64::from));
        if let Some(r) = i.reordering {
            self.reordering = Some(self.reordering.map_or(r, |o| o.max(r)));
        }
    }

    fn merge(&mut self, o: &Gauges) {
        self.sockets += o.sockets;
        self.rtt.merge(&o.rtt);
        self.rttvar.merge(&o.rttvar);
        self.rate.merge(&o.rate);
        if let Some(m) = o.min_rtt_us {
            self.min_rtt_us = Some(self.min_rtt_us.map_or(m, |x| x.min(m)));
        }
        add(&mut self.lost, o.lost);
        if let Some(r) = o.reordering {
            self.reordering = Some(self.reordering.map_or(r, |x| x.max(r)));
        }
    }

    /// Mean smoothed RTT, seconds.
    pub fn rtt(&self) -> Option<f64> {
        self.rtt.get().map(|us| us / 1e6)
    }
    /// Mean RTT deviation, seconds.
    pub fn rttvar(&self) -> Option<f64> {
        self.rttvar.get().map(|us| us / 1e6)
    }
    /// Mean delivery rate, bytes per second.
    pub fn delivery_rate(&self) -> Option<f64> {
        self.rate.get()
    }
}

/// One peer's series at one collection.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// `tcp.peer`.
    pub peer: String,
    /// Its established sockets' figures.
    pub gauges: Gauges,
    /// Counters since `since_ns`; `None` while no socket had the field.
    pub retransmits: Option<u64>,
    /// Bytes acknowledged by the peer.
    pub bytes_acked: Option<u64>,
    /// Bytes received from the peer.
    pub bytes_received: Option<u64>,
    /// When the counters started, Unix nanoseconds.
    pub since_ns: u64,
}

/// What one collection found.
#[derive(Debug, Default)]
pub struct Report {
    /// The peers with their own series, then `_other` when any was folded.
    pub rows: Vec<Row>,
    /// Peers folded into `_other`.
    pub overflow: usize,
}

/// How sockets become peers, and what the agent keeps between collections.
pub struct Peers {
    services: Vec<Service>,
    max_peers: usize,
    include_loopback: bool,
    forget_after: u64,
    /// The last values of every socket seen in the previous collection, by cookie.
    sockets: HashMap<u64, Last>,
    counters: HashMap<String, Counters>,
    collection: u64,
}

/// One peer's figures within one collection, before the budget.
#[derive(Default)]
struct Found {
    service: bool,
    gauges: Gauges,
    deltas: Deltas,
}

impl Peers {
    /// Empty state.
    pub fn new(
        services: Vec<Service>,
        max_peers: usize,
        include_loopback: bool,
        forget_after: u64,
    ) -> Peers {
        Peers {
            services,
            max_peers: max_peers.max(1),
            include_loopback,
            forget_after: forget_after.max(1),
            sockets: HashMap::new(),
            counters: HashMap::new(),
            collection: 0,
        }
    }

    /// Sockets kept between collections (for tests of the bound).
    #[cfg(test)]
    pub fn tracked(&self) -> (usize, usize) {
        (self.sockets.len(), self.counters.len())
    }

    /// The `tcp.peer` of a socket, and whether it is a configured service.
    pub fn peer_of(&self, s: &Socket, listening: &HashSet<u16>) -> (String, bool) {
        let ip = s.remote.ip();
        if let Some(svc) = self
            .services
            .iter()
            .find(|v| v.matches(ip, s.remote.port()))
        {
            return (svc.name.clone(), true);
        }
        if listening.contains(&s.local.port()) {
            let ip = match ip {
                IpAddr::V4(v) => v.to_string(),
                IpAddr::V6(v) => format!("[{v}]"),
            };
            return (format!("{ip}->:{}", s.local.port()), false);
        }
        (s.remote.to_string(), false)
    }

    /// One collection from a list of sockets (tests): [`Peers::begin`], [`Peers::add`] for each,
    /// [`Peers::finish`].
    #[cfg(test)]
    pub fn update(
        &mut self,
        sockets: impl IntoIterator<Item = Socket>,
        listening: &HashSet<u16>,
        now_ns: u64,
    ) -> Report {
        let mut c = self.begin();
        for s in sockets {
            self.add(&mut c, &s, listening);
        }
        self.finish(c, now_ns)
    }

    /// Starts a collection.
    pub fn begin(&mut self) -> Collection {
        self.collection += 1;
        Collection {
            first: self.collection == 1,
            previous: std::mem::take(&mut self.sockets),
            found: HashMap::new(),
        }
    }

    /// Adds one socket of the dump: one in a state that carries data (established and closing
    /// ones; only established ones count in the gauges), whose local port is in `listening`
    /// when it was accepted by a listener of this host.
    pub fn add(&mut self, c: &mut Collection, s: &Socket, listening: &HashSet<u16>) {
        let Some(info) = s.info else { return };
        if !self.include_loopback && s.remote.ip().is_loopback() {
            return;
        }
        let now = Last {
            retrans: info.total_retrans,
            acked: info.bytes_acked,
            received: info.bytes_received,
        };
        let deltas = match c.previous.remove(&s.cookie) {
            Some(b) => Deltas {
                retrans: increase(now.retrans, b.retrans, |n, b| u64::from(n.wrapping_sub(b))),
                acked: increase(now.acked, b.acked, |n, b| n.saturating_sub(b)),
                received: increase(now.received, b.received, |n, b| n.saturating_sub(b)),
            },
            // A baseline on the first collection; afterwards a socket opened since.
            None if c.first => Deltas {
                retrans: now.retrans.map(|_| 0),
                acked: now.acked.map(|_| 0),
                received: now.received.map(|_| 0),
            },
            None => Deltas {
                retrans: now.retrans.map(u64::from),
                acked: now.acked,
                received: now.received,
            },
        };
        self.sockets.insert(s.cookie, now);
        let (peer, service) = self.peer_of(s, listening);
        let f = c.found.entry(peer).or_default();
        f.service = service;
        f.deltas.add(&deltas);
        if s.state == ESTABLISHED {
            f.gauges.add(&info);
        }
    }

    /// Ends a collection at `now_ns` (Unix nanoseconds): the budget, the counters, and the
    /// sockets and peers no longer seen forgotten.
    pub fn finish(&mut self, c: Collection, now_ns: u64) -> Report {
        // `c.previous` now holds the sockets gone since the last collection: dropped with it.
        // The budget: services first, then by name.
        let mut peers: Vec<(String, Found)> = c.found.into_iter().collect();
        peers.sort_by(|a, b| b.1.service.cmp(&a.1.service).then_with(|| a.0.cmp(&b.0)));
        let rest = peers.split_off(self.max_peers.min(peers.len()));
        let overflow = rest.len();
        if !rest.is_empty() {
            let mut other = Found::default();
            for (_, f) in &rest {
                other.gauges.merge(&f.gauges);
                other.deltas.add(&f.deltas);
            }
            peers.push((OTHER.to_string(), other));
        }

        let collection = self.collection;
        let rows = peers
            .into_iter()
            .map(|(peer, f)| {
                let c = self.counters.entry(peer.clone()).or_insert(Counters {
                    since_ns: now_ns,
                    seen: collection,
                    retrans: None,
                    acked: None,
                    received: None,
                });
                c.seen = collection;
                add(&mut c.retrans, f.deltas.retrans);
                add(&mut c.acked, f.deltas.acked);
                add(&mut c.received, f.deltas.received);
                Row {
                    peer,
                    gauges: f.gauges,
                    retransmits: c.retrans,
                    bytes_acked: c.acked,
                    bytes_received: c.received,
                    since_ns: c.since_ns,
                }
            })
            .collect();
        let forget = self.forget_after;
        self.counters.retain(|_, c| collection - c.seen < forget);
        Report { rows, overflow }
    }
}

/// One collection in progress.
pub struct Collection {
    first: bool,
    /// The sockets of the previous collection not seen yet in this one.
    previous: HashMap<u64, Last>,
    found: HashMap<String, Found>,
}

/// The increase from `before` to `now`, when both are present.
fn increase<T: Copy>(now: Option<T>, before: Option<T>, diff: impl Fn(T, T) -> u64) -> Option<u64> {
    Some(diff(now?, before?))
}
