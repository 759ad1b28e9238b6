//! At most one log line per interval for a repeated event; the rest are counted as suppressed.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// How often a repeated event may be logged.
const INTERVAL_MS: u64 = 10_000;

/// Rate limiter for one kind of log line.
#[derive(Debug, Default)]
pub(crate) struct LogEvery {
    /// Milliseconds since process start before which the next line is suppressed.
    next: AtomicU64,
    /// Occurrences not logged since the last line.
    suppressed: AtomicU64,
}

fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl LogEvery {
    /// `Some(suppressed)` when this occurrence should be logged, with the number of occurrences
    /// swallowed since the previous line; `None` when it should only be counted.
    pub(crate) fn ready(&self) -> Option<u64> {
        let now = now_ms();
        let next = self.next.load(Ordering::Relaxed);
        if now >= next
            && self
                .next
                .compare_exchange(
                    next,
                    now + INTERVAL_MS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_logs_then_suppresses() {
        let l = LogEvery::default();
        assert_eq!(l.ready(), Some(0));
        assert_eq!(l.ready(), None);
        assert_eq!(l.ready(), None);
        assert_eq!(l.suppressed.load(Ordering::Relaxed), 2);
    }
}
