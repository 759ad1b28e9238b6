//! Connections to a receiver: how many may be open (`limits.connections.max`, and
//! `max_per_address` from one IP address), and how slow each may be.
//!
//! [`Conns::admit`] is asked at accept; over a limit the connection is closed at once. An admitted
//! connection's socket is wrapped in [`Tracked`], whose reads enforce the deadline of the phase
//! the connection is in ([`Phase`]): its first request's headers (the TLS handshake included)
//! within `header_read_timeout`; a request body within `body_read_timeout`; and, between
//! requests, no more than `idle_timeout`. [`Track`], the per-request service, moves the phase on.
//! Every close is a [`ConnectionClosed`] event. Counts are held only while connections are open,
//! so the per-address map is bounded by `max`.
//!
//! hyper's own `header_read_timeout` is not used: its clock also runs while a keep-alive
//! connection waits for its next request, which would make `idle_timeout` the header timeout.

use crate::config;
use crate::telemetry::events::ConnectionClosed;
use crate::telemetry::{CloseReason, Receiver, Telemetry};
use hashbrown::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::task::Waker;
use std::time::Duration;
use tokio::time::Instant;
use tracing::debug;

mod serve;
mod socket;
mod track;

pub use serve::{Accept, Incoming, Plain, serve_http};
pub use socket::Tracked;
pub use track::{Source, TimedBody, Track};

/// The limits in force for one receiver, from `limits.connections`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections at once.
    pub max: usize,
    /// Open connections from one IP address.
    pub max_per_address: usize,
    /// Time to send the first request's headers, or the next one's once it has begun.
    pub header_read_timeout: Duration,
    /// Time to send a request body.
    pub body_read_timeout: Duration,
    /// Time without a request.
    pub idle_timeout: Duration,
}

impl From<&config::Connections> for Limits {
    fn from(c: &config::Connections) -> Self {
        Limits {
            max: c.max,
            max_per_address: c.max_per_address,
            header_read_timeout: c.header_read_timeout.0,
            body_read_timeout: c.body_read_timeout.0,
            idle_timeout: c.idle_timeout.0,
        }
    }
}

/// The open connections of one receiver.
#[derive(Debug)]
pub struct Conns {
    /// Whose connections; `None` for an endpoint without its own counters (the exporter).
    receiver: Option<Receiver>,
    telemetry: Arc<Telemetry>,
    limits: Limits,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
    /// Found again from a request's connect info when the server owns the connection (gRPC).
    by_peer: HashMap<SocketAddr, Weak<Conn>>,
}

impl Conns {
    /// The connections of `receiver`, counted in `telemetry`.
    pub fn new(receiver: Option<Receiver>, telemetry: Arc<Telemetry>, limits: Limits) -> Arc<Self> {
        Arc::new(Conns {
            receiver,
            telemetry,
            limits,
            open: Mutex::default(),
        })
    }

    /// The connection from `peer`, or `None` (counted) when a limit is reached: the caller then
    /// drops the socket. `http1`: bytes arriving between requests start the next one's header
    /// clock (with HTTP/2 they may be pings, and only a new stream counts).
    pub fn admit(self: &Arc<Self>, peer: SocketAddr, http1: bool) -> Option<Arc<Conn>> {
        let mut open = self.open.lock().unwrap();
        let from_peer = open.per_address.get(&peer.ip()).copied().unwrap_or(0);
        let over = if open.total >= self.limits.max {
            Some(CloseReason::MaxConnections)
        } else if from_peer >= self.limits.max_per_address {
            Some(CloseReason::MaxPerAddress)
        } else {
            None
        };
        if let Some(reason) = over {
            drop(open);
            self.closed(reason, peer);
            return None;
        }
        open.total += 1;
        *open.per_address.entry(peer.ip()).or_default() += 1;
        let conn = Arc::new(Conn {
            owner: self.clone(),
            peer,
            http1,
            state: Mutex::new(State {
                phase: Phase::Headers(Instant::now()),
                requests: 0,
                bodies: 0,
                closed: false,
                reader: None,
            }),
        });
        open.by_peer.insert(peer, Arc::downgrade(&conn));
        Some(conn)
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The open connection from `peer`, if any.
    pub fn find(&self, peer: SocketAddr) -> Option<Arc<Conn>> {
        self.open.lock().unwrap().by_peer.get(&peer)?.upgrade()
    }

    fn closed(&self, reason: CloseReason, peer: SocketAddr) {
        match self.receiver {
            Some(receiver) => ConnectionClosed {
                receiver,
                reason,
                peer,
            }
            .emit(&self.telemetry),
            None => debug!(reason = reason.as_str(), peer = %peer, "Connection closed."),
        }
    }

    fn release(&self, peer: SocketAddr) {
        let mut open = self.open.lock().unwrap();
        open.total -= 1;
        if let Some(n) = open.per_address.get_mut(&peer.ip()) {
            *n -= 1;
            if *n == 0 {
                open.per_address.remove(&peer.ip());
            }
        }
        // A new connection from the same port may have taken the entry already.
        if open
            .by_peer
            .get(&peer)
            .is_some_and(|w| w.strong_count() == 0)
        {
            open.by_peer.remove(&peer);
        }
    }
}

/// What an open connection is waiting for, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// A request's headers (the first since accept, or the next once its bytes began).
    Headers(Instant),
    /// Requests in progress; their bodies, since the instant, when some are unread.
    Busy(Option<Instant>),
    /// The next request, after the last one finished.
    Idle(Instant),
}

#[derive(Debug)]
struct State {
    phase: Phase,
    requests: usize,
    bodies: usize,
    closed: bool,
    /// The task reading the socket, woken when the deadline changes.
    reader: Option<Waker>,
}

/// One admitted connection; counted as open until the last reference goes.
#[derive(Debug)]
pub struct Conn {
    owner: Arc<Conns>,
    peer: SocketAddr,
    http1: bool,
    state: Mutex<State>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.owner.release(self.peer);
    }
}

impl Conn {
    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Marks the connection closed for `reason` and counts it, unless it was already.
    pub fn close(&self, reason: CloseReason) {
        let first = !std::mem::replace(&mut self.state.lock().unwrap().closed, true);
        if first {
            self.owner.closed(reason, self.peer);
        }
    }

    /// When the connection must be closed and why, in its current phase.
    fn deadline(&self, s: &State) -> Option<(Instant, CloseReason)> {
        let l = &self.owner.limits;
        match s.phase {
            Phase::Headers(t) => Some((t + l.header_read_timeout, CloseReason::HeaderTimeout)),
            Phase::Busy(Some(t)) => Some((t + l.body_read_timeout, CloseReason::BodyTimeout)),
            Phase::Busy(None) => None,
            Phase::Idle(t) => Some((t + l.idle_timeout, CloseReason::IdleTimeout)),
        }
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut s = self.state.lock().unwrap();
        f(&mut s);
        if let Some(w) = s.reader.take() {
            w.wake();
        }
    }

    /// A request's headers arrived; `body` when it has a body still to read.
    pub(super) fn start(self: &Arc<Self>, body: bool) -> (Requesting, Option<Reading>) {
        self.update(|s| {
            s.requests += 1;
            if body {
                s.bodies += 1;
            }
            let since = match s.phase {
                Phase::Busy(Some(t)) => Some(t),
                _ if body => Some(Instant::now()),
                _ => None,
            };
            s.phase = Phase::Busy(since);
        });
        (
            Requesting(self.clone()),
            body.then(|| Reading(Some(self.clone()))),
        )
    }
}

/// Held while a request is answered.
#[derive(Debug)]
pub(super) struct Requesting(Arc<Conn>);

impl Drop for Requesting {
    fn drop(&mut self) {
        self.0.update(|s| {
            s.requests -= 1;
            if s.requests == 0 {
                s.phase = Phase::Idle(Instant::now());
            }
        });
    }
}

/// Held while a request body is read.
#[derive(Debug)]
pub(super) struct Reading(Option<Arc<Conn>>);

impl Reading {
    pub(super) fn done(&mut self) {
        if let Some(conn) = self.0.take() {
            conn.update(|s| {
                s.bodies -= 1;
                if s.bodies == 0 && matches!(s.phase, Phase::Busy(_)) {
                    s.phase = Phase::Busy(None);
                }
            });
        }
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.done();
    }
}
