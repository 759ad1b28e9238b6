//! The memory limiter: refuse a request when resident memory plus the bytes of requests in
//! flight plus what this one will cost reaches `limits.memory.limit - spike` (the OpenTelemetry
//! Collector's `memory_limiter`, applied before decoding instead of after), or, for a sender not
//! in good standing, `reserved` bytes earlier.
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
    /// Bytes below `threshold` only senders in good standing may use.
    reserved: u64,
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

/// `limits.memory.limit` when it is not set: 80% of the cgroup's `memory.max` (cgroup v2)
/// when there is one, else 50% of the machine's memory; with what it is a share of.
pub fn automatic_limit() -> (u64, String) {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| cgroup_memory_max(&text, |path| std::fs::read_to_string(path).ok()));
    if let Some(max) = cgroup {
        return (
            max / 5 * 4,
            format!("80% of the cgroup's memory.max ({max} bytes)"),
        );
    }
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| mem_total(&t))
        .unwrap_or(1 << 30);
    (
        total / 2,
        format!("50% of the machine's memory ({total} bytes)"),
    )
}

/// The `memory.max` of this process's cgroup v2 (the `0::<path>` line of `/proc/self/cgroup`),
/// `None` when it is `max` or unreadable.
fn cgroup_memory_max(proc_cgroup: &str, read: impl Fn(&str) -> Option<String>) -> Option<u64> {
    let path = proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .trim();
    read(&format!("/sys/fs/cgroup{path}/memory.max"))?
        .trim()
        .parse()
        .ok()
}

/// `MemTotal` of `/proc/meminfo`, bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

impl MemoryLimiter {
    /// A limiter refusing at `limit - spike` (spike 0: 20% of `limit`), and at
    /// `limit - spike - reserved` (reserved 0: 20% of `limit`) for senders not in good standing.
    pub fn new(limit: u64, spike: u64, reserved: u64) -> Self {
        Self::with_source(limit, spike, reserved, resident_bytes)
    }

    /// A limiter reading resident memory from `statm` (tests).
    pub(crate) fn with_source(
        limit: u64,
        spike: u64,
        reserved: u64,
        statm: fn() -> Option<u64>,
    ) -> Self {
        let spike = if spike == 0 { limit / 5 } else { spike };
        let reserved = if reserved == 0 { limit / 5 } else { reserved };
        let threshold = limit.saturating_sub(spike);
        MemoryLimiter {
            threshold,
            reserved: reserved.min(threshold),
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

    /// The threshold in force and whether `bytes` more would reach it, for a sender in good
    /// standing (`good`) or not.
    pub fn over_with(&self, bytes: u64, good: bool) -> Option<Over> {
        let used = self.rss() + self.in_flight.load(Ordering::Relaxed) + bytes;
        if used >= self.threshold {
            return Some(Over {
                used,
                threshold: self.threshold,
                reserved: false,
            });
        }
        let soft = self.threshold - self.reserved;
        (!good && used >= soft).then_some(Over {
            used,
            threshold: soft,
            reserved: true,
        })
    }

    /// The threshold, `limit - spike`.
    pub fn threshold(&self) -> u64 {
        self.threshold
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

/// A request the limiter refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Over {
    /// Resident memory plus requests in flight plus this one, bytes.
    pub used: u64,
    /// The threshold it reached.
    pub threshold: u64,
    /// True when only the reserved share was reached (the sender is not in good standing).
    pub reserved: bool,
}

/// Bytes of one request in flight.
#[derive(Debug)]
pub struct InFlight<'a> {
    limiter: &'a MemoryLimiter,
    bytes: u64,
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
        let l = MemoryLimiter::with_source(1000, 100, 50, || Some(800));
        assert_eq!(l.over(), None);
        let held = l.hold(100);
        assert_eq!(l.over(), Some((900, 900)));
        drop(held);
        assert_eq!(l.over(), None);
        let arriving = l.arriving();
        arriving.grow(60);
        assert_eq!(l.over_with(39, true), None);
        arriving.grow(40);
        assert_eq!(l.over(), Some((900, 900)));
        drop(arriving);
        assert_eq!(l.over(), None);
        let default_spike = MemoryLimiter::with_source(1000, 0, 0, || Some(800));
        assert_eq!(default_spike.over(), Some((800, 800)));
    }

    #[test]
    fn the_automatic_limit_is_a_share_of_the_cgroup_or_the_machine() {
        let read = |path: &str| match path {
            "/sys/fs/cgroup/system.slice/dozor.service/memory.max" => Some("1073741824\n".into()),
            "/sys/fs/cgroup/memory.max" => Some("max\n".into()),
            _ => None,
        };
        assert_eq!(
            cgroup_memory_max("0::/system.slice/dozor.service\n", read),
            Some(1 << 30)
        );
        assert_eq!(cgroup_memory_max("0::/\n", read), None, "max: no limit");
        assert_eq!(cgroup_memory_max("1:name=systemd:/x\n", read), None);
        assert_eq!(
            mem_total("MemTotal:        8041012 kB\nMemFree: 1 kB\n"),
            Some(8_041_012 * 1024)
        );
        let (limit, why) = automatic_limit();
        assert!(limit > 0 && !why.is_empty());
    }

    #[test]
    fn the_reserved_share_is_for_senders_in_good_standing() {
        let l = MemoryLimiter::with_source(1000, 100, 200, || Some(600));
        assert_eq!(l.over_with(99, false), None);
        let over = l.over_with(100, false).unwrap();
        assert_eq!((over.used, over.threshold, over.reserved), (700, 700, true));
        assert_eq!(l.over_with(299, true), None);
        let over = l.over_with(300, true).unwrap();
        assert_eq!(
            (over.used, over.threshold, over.reserved),
            (900, 900, false)
        );
    }
}
