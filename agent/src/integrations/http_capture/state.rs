//! What the capture threads and the collection share: the reassembler, the RED aggregation and
//! the capture's own counters, under one mutex (a packet holds it for microseconds; a collection
//! for the time it takes to copy the series).

use super::decode::{self, Reject};
use super::flows::Flows;
use super::red::ToRed;
use dozor_metrics::catalogue::http_capture as m;
use dozor_metrics::sample::Recorder;
use dozor_red::Red;
use std::sync::atomic::AtomicBool;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Why a capture is not running: a short `kind` (the `error.type` label) and the message with
/// the fix.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Bounded error class.
    pub kind: &'static str,
    /// What failed and how to fix it.
    pub message: String,
}

impl Failure {
    /// A failure of the given class.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

/// One interface (or the file): its name, what it read and what libpcap says it dropped.
#[derive(Debug, Default)]
pub struct Source {
    /// `network.interface.name`.
    pub name: String,
    /// Packets read.
    pub packets: u64,
    /// Kernel and interface drops of the captures closed before the current one.
    pub base: (u64, u64),
    /// Kernel and interface drops of the current capture (`pcap_stats`).
    pub current: (u64, u64),
    /// Whether drops are known (live captures; not files).
    pub live: bool,
    /// Whether the first open has been tried.
    pub attempted: bool,
    /// Why it is not capturing now.
    pub failure: Option<Failure>,
}

/// The reassembly, the aggregation and the counters.
pub struct State {
    flows: Flows,
    /// RED series.
    pub red: Red,
    /// Events into `red`.
    pub to_red: ToRed,
    /// The sources, by index.
    pub sources: Vec<Source>,
    decode_errors: [u64; Reject::ALL.len()],
    /// Timestamp of the newest packet, Unix nanoseconds.
    clock: u64,
}

impl State {
    /// Empty, with the given sources.
    pub fn new(flows: Flows, red: Red, to_red: ToRed, sources: Vec<Source>) -> State {
        State {
            flows,
            red,
            to_red,
            sources,
            decode_errors: [0; Reject::ALL.len()],
            clock: 0,
        }
    }

    /// One captured packet of source `index`.
    pub fn packet(
        &mut self,
        index: usize,
        linktype: i32,
        ts_ns: u64,
        data: &[u8],
        wire_len: usize,
    ) {
        self.sources[index].packets += 1;
        self.clock = self.clock.max(ts_ns);
        match decode::segment(linktype, ts_ns, data, wire_len) {
            Ok((seg, ack)) => {
                let State {
                    flows, red, to_red, ..
                } = self;
                flows.segment_acked(&seg, ack, &mut |e| to_red.event(red, e));
            }
            Err(r) => self.decode_errors[r as usize] += 1,
        }
    }

    /// Forgets idle connections as of `now_ns`.
    pub fn sweep(&mut self, now_ns: u64) {
        let State {
            flows, red, to_red, ..
        } = self;
        flows.sweep(now_ns, &mut |e| to_red.event(red, e));
    }

    /// The newest packet's time.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// libpcap's counters of the current capture of source `index`.
    pub fn pcap_stats(&mut self, index: usize, dropped: u32, if_dropped: u32) {
        self.sources[index].current = (u64::from(dropped), u64::from(if_dropped));
        self.sources[index].live = true;
    }

    /// The capture of source `index` was closed: its counters become the base of the next.
    pub fn reopened(&mut self, index: usize) {
        let s = &mut self.sources[index];
        s.base = (s.base.0 + s.current.0, s.base.1 + s.current.1);
        s.current = (0, 0);
    }

    /// Records the RED series as of `now_ns` and the capture's own metrics.
    pub fn record(&mut self, now_ns: u64, rec: &mut Recorder) {
        self.red.record(now_ns, rec);
        self.to_red.record(rec);
        for s in &self.sources {
            rec.record(&m::PACKETS, s.packets as f64, &[&s.name]);
            if s.live {
                let kernel = (s.base.0 + s.current.0) as f64;
                let interface = (s.base.1 + s.current.1) as f64;
                rec.record(&m::DROPPED, kernel, &[&s.name, "kernel"]);
                rec.record(&m::DROPPED, interface, &[&s.name, "interface"]);
            }
        }
        for (r, n) in Reject::ALL.iter().zip(self.decode_errors) {
            rec.record(&m::DECODE_ERRORS, n as f64, &[r.reason()]);
        }
        rec.record(&m::CONNECTIONS, self.flows.connections() as f64, &[]);
        rec.record(&m::MEMORY, self.flows.memory() as f64, &[]);
    }
}

/// The state and the threads' coordination.
pub struct Shared {
    state: Mutex<State>,
    /// Set when the integration is dropped: the capture threads end.
    pub stop: AtomicBool,
    /// Signalled when a source's first open was tried, and on stop.
    changed: Condvar,
}

impl Shared {
    /// Shares `state`.
    pub fn new(state: State) -> Shared {
        Shared {
            state: Mutex::new(state),
            stop: AtomicBool::new(false),
            changed: Condvar::new(),
        }
    }

    /// The state; a thread that panicked holding it leaves it usable (counters only).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Source `index` tried to open: `failure` when it could not.
    pub fn attempted(&self, index: usize, failure: Option<Failure>) {
        let mut s = self.lock();
        s.sources[index].attempted = true;
        s.sources[index].failure = failure;
        self.changed.notify_all();
    }

    /// Waits until every source tried to open, at most `limit`.
    pub fn wait_attempted(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut s = self.lock();
        while !s.sources.iter().all(|x| x.attempted) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            s = match self.changed.wait_timeout(s, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Sleeps `d`, or less when stopped.
    pub fn sleep(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let mut s = self.lock();
        while !self.stop.load(std::sync::atomic::Ordering::Relaxed) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            s = match self.changed.wait_timeout(s, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Ends the threads.
    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _guard = self.lock();
        self.changed.notify_all();
    }
}
