//! The memory limiter: refuse new requests while resident memory plus the bytes of requests in
//! flight reaches `limits.memory.limit - spike` (the OpenTelemetry Collector's
//! `memory_limiter`, applied at admission instead of after decoding).
//!
//! Resident memory comes from `/proc/self/statm` (resident pages × 4096, the page size of
//! every platform the collector ships for), read at most every [`REFRESH`], so a busy receiver
//! does not read it per request. Requests in flight are counted from their declared or decoded
//! size, or byte by byte as they arrive ([`Arriving`]), which covers what arrives between two
//! readings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How stale the resident-memory reading may be.
pub const REFRESH: Duration = Duration::from_millis(100);

const PAGE: u64 = 4096;

/// The limiter.
#[derive(Debug)]
pub struct MemoryLimiter {
    /// `limit - spike`, bytes.
    threshold: u64,
    rss: AtomicU64,
    read_at: Mutex<Option<Instant>>,
    /// Shared with the [`Arriving`] charges, which outlive a borrow of the limiter.
    in_flight: Arc<AtomicU64>,
    /// Resident memory source, replaceable in tests.
    statm: fn() -> Option<u64>,
}

/// Resident bytes of this process.
pub fn resident_bytes() -> Option<u64> {
    parse_statm(&std::fs::read_to_string("/proc/self/statm").ok()?)
}

/// Resident bytes from the text of `/proc/<pid>/statm` (`size resident shared ...` in pages).
pub fn parse_statm(text: &str) -> Option<u64> {
    let pages: u64 = text.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(pages * PAGE)
}

impl MemoryLimiter {
    /// A limiter refusing at `limit - spike` (spike 0: 20% of `limit`).
    pub fn new(limit: u64, spike: u64) -> Self {
        Self::with_source(limit, spike, resident_bytes)
    }

    fn with_source(limit: u64, spike: u64, statm: fn() -> Option<u64>) -> Self {
        let spike = if spike == 0 { limit / 5 } else { spike };
        MemoryLimiter {
            threshold: limit.saturating_sub(spike),
            rss: AtomicU64::new(0),
            read_at: Mutex::new(None),
            in_flight: Arc::new(AtomicU64::new(0)),
            statm,
        }
    }

    fn rss(&self) -> u64 {
        let mut at = self.read_at.lock().unwrap_or_else(|e| e.into_inner());
        if at.is_none_or(|t| t.elapsed() >= REFRESH) {
            if let Some(rss) = (self.statm)() {
                self.rss.store(rss, Ordering::Relaxed);
            }
            *at = Some(Instant::now());
        }
        self.rss.load(Ordering::Relaxed)
    }

    /// `Some((used, threshold))` when a new request must be refused.
    pub fn over(&self) -> Option<(u64, u64)> {
        let used = self.rss() + self.in_flight.load(Ordering::Relaxed);
        (used >= self.threshold).then_some((used, self.threshold))
    }

    /// `Some((used, threshold))` when a request costing `bytes` more must be refused.
    pub fn over_with(&self, bytes: u64) -> Option<(u64, u64)> {
        let used = self.rss() + self.in_flight.load(Ordering::Relaxed) + bytes;
        (used >= self.threshold).then_some((used, self.threshold))
    }

    /// Counts `bytes` as in flight until the returned guard is dropped.
    pub fn hold(&self, bytes: u64) -> InFlight<'_> {
        self.in_flight.fetch_add(bytes, Ordering::Relaxed);
        InFlight {
            limiter: self,
            bytes,
        }
    }

    /// A charge of nothing yet, grown with [`Arriving::grow`] as a request's bytes arrive and
    /// counted in flight until dropped. It owns its share of the counter, so it can live in a
    /// request body and in the future answering the request.
    pub fn arriving(&self) -> Arriving {
        Arriving {
            in_flight: self.in_flight.clone(),
            bytes: AtomicU64::new(0),
        }
    }
}

/// Bytes of one request in flight.
#[derive(Debug)]
pub struct InFlight<'a> {
    limiter: &'a MemoryLimiter,
    bytes: u64,
}

impl InFlight<'_> {
    /// Counts `bytes` more as in flight, released with the rest.
    pub fn grow(&mut self, bytes: u64) {
        self.limiter.in_flight.fetch_add(bytes, Ordering::Relaxed);
        self.bytes += bytes;
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.limiter
            .in_flight
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Bytes of one request counted in flight as they arrive (see [`MemoryLimiter::arriving`]).
#[derive(Debug)]
pub struct Arriving {
    in_flight: Arc<AtomicU64>,
    bytes: AtomicU64,
}

impl Arriving {
    /// Counts `bytes` more as in flight, released when this charge is dropped.
    pub fn grow(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.in_flight.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl Drop for Arriving {
    fn drop(&mut self) {
        let bytes = *self.bytes.get_mut();
        self.in_flight.fetch_sub(bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statm_is_pages() {
        assert_eq!(parse_statm("2048 300 100 1 0 500 0\n"), Some(300 * 4096));
        assert_eq!(parse_statm("garbage"), None);
        assert!(resident_bytes().unwrap() > 0);
    }

    #[test]
    fn refuses_at_limit_minus_spike_counting_in_flight() {
        let l = MemoryLimiter::with_source(1000, 100, || Some(800));
        assert_eq!(l.over(), None);
        let held = l.hold(100);
        assert_eq!(l.over(), Some((900, 900)));
        drop(held);
        assert_eq!(l.over(), None);
        let mut held = l.hold(0);
        held.grow(100);
        assert_eq!(l.over(), Some((900, 900)));
        drop(held);
        let arriving = l.arriving();
        arriving.grow(60);
        assert_eq!(l.over_with(39), None);
        arriving.grow(40);
        assert_eq!(l.over(), Some((900, 900)));
        drop(arriving);
        assert_eq!(l.over(), None);
        let default_spike = MemoryLimiter::with_source(1000, 0, || Some(800));
        assert_eq!(default_spike.over(), Some((800, 800)));
    }
}
