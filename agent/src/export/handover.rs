//! Which endpoint acknowledged what, so that a collector the agent comes back to after a
//! failover does not count the batches another collector took as gaps (issue #16).
//!
//! For each endpoint E the agent keeps the runs of sequence numbers that OTHER endpoints
//! acknowledged since E last acknowledged a request that carried them (or since the agent
//! started), and sends them to E in the `dozor-elsewhere` header (`120-156,200-210`). E
//! settles them as received elsewhere rather than missing when `dozor-oldest` passes them.
//!
//! Bounds: at most [`MAX_RUNS`] runs per endpoint; past that the lowest (oldest) run is
//! dropped and counted in [`Handover::dropped_runs`]: E then counts those batches as missing
//! when its floor passes them, as it did before this header existed. The state is in memory
//! only: after an agent restart the first failback may still count the batches another
//! collector took before the restart as missing.
//!
//! A list is cleared only when E acknowledges a request whose header carried the whole list
//! as it is now (nothing was added meanwhile); otherwise it is sent again, which is harmless:
//! the collector counts each sequence number once.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Most runs one `dozor-elsewhere` header lists (the collector refuses more).
pub const MAX_RUNS: usize = 16;

/// What one endpoint has not yet been told.
#[derive(Debug, Default, Clone)]
struct Untold {
    /// Runs acknowledged elsewhere: first -> last, disjoint and not adjacent.
    runs: BTreeMap<u64, u64>,
    /// Bumped on every change, so that an acknowledgement clears only what it carried.
    version: u64,
}

/// The header to send to an endpoint, and what clears it once acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Told {
    /// The `dozor-elsewhere` value; empty: no header.
    pub header: String,
    version: u64,
}

/// Per endpoint, the runs other endpoints acknowledged.
#[derive(Debug)]
pub struct Handover {
    untold: Mutex<Vec<Untold>>,
    dropped: std::sync::atomic::AtomicU64,
}

impl Handover {
    /// Nothing acknowledged yet, for `endpoints` endpoints.
    pub fn new(endpoints: usize) -> Self {
        Handover {
            untold: Mutex::new(vec![Untold::default(); endpoints]),
            dropped: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Untold>> {
        self.untold.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What to tell endpoint `i` with its next request.
    pub fn header(&self, i: usize) -> Told {
        let untold = self.lock();
        let u = &untold[i];
        let runs: Vec<String> = u
            .runs
            .iter()
            .map(|(f, l)| match f == l {
                true => f.to_string(),
                false => format!("{f}-{l}"),
            })
            .collect();
        Told {
            header: runs.join(","),
            version: u.version,
        }
    }

    /// Endpoint `i` acknowledged batch `seq`, sent with `told`: every other endpoint is to be
    /// told; `i` was told what `told` carried.
    pub fn acknowledged(&self, i: usize, seq: u64, told: &Told) {
        let mut untold = self.lock();
        for (j, u) in untold.iter_mut().enumerate() {
            if j == i {
                if u.version == told.version {
                    u.runs.clear();
                }
                continue;
            }
            if add(&mut u.runs, seq) {
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            u.version += 1;
        }
    }

    /// Runs dropped past [`MAX_RUNS`]: their batches may be counted missing on failback.
    /// Not yet exported as a self-metric.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn dropped_runs(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Adds `seq` to `runs`, merging neighbours; true when the lowest run had to be dropped.
fn add(runs: &mut BTreeMap<u64, u64>, seq: u64) -> bool {
    let (mut start, mut end) = (seq, seq);
    if let Some((&s, &e)) = runs.range(..=seq).next_back()
        && e.saturating_add(1) >= seq
    {
        start = s;
        end = end.max(e);
        runs.remove(&s);
    }
    if let Some((&s, &e)) = runs.range(start..).next()
        && s <= end.saturating_add(1)
    {
        end = end.max(e);
        runs.remove(&s);
    }
    runs.insert(start, end);
    if runs.len() > MAX_RUNS {
        runs.pop_first();
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failover_and_back_tells_the_first_endpoint_what_the_second_took() {
        let h = Handover::new(2);
        // Endpoint 0 takes 1..=3.
        for seq in 1..=3 {
            let t = h.header(0);
            assert_eq!(t.header, "");
            h.acknowledged(0, seq, &t);
        }
        // It goes away: endpoint 1 takes 4..=9 (out of order), told what 0 took.
        let t1 = h.header(1);
        assert_eq!(t1.header, "1-3");
        for seq in [4, 6, 5, 9, 8, 7] {
            h.acknowledged(1, seq, &t1);
        }
        assert_eq!(h.header(1).header, "");
        // Back to endpoint 0: told 4-9.
        let t0 = h.header(0);
        assert_eq!(t0.header, "4-9");
        // Endpoint 1 takes 11 while the request to 0 is in flight: 0 acknowledges 10, but
        // 11 was not in what it was told, so it is still to be told, with 4-9 again.
        h.acknowledged(1, 11, &h.header(1));
        h.acknowledged(0, 10, &t0);
        assert_eq!(h.header(0).header, "4-9,11");
        let t0 = h.header(0);
        h.acknowledged(0, 12, &t0);
        assert_eq!(h.header(0).header, "");
        assert_eq!(h.header(1).header, "10,12");
        assert_eq!(h.dropped_runs(), 0);
    }

    #[test]
    fn past_sixteen_runs_the_oldest_is_dropped_and_counted() {
        let h = Handover::new(2);
        let t = h.header(1);
        for i in 0..20u64 {
            h.acknowledged(1, 100 + 2 * i, &t);
        }
        let header = h.header(0).header;
        let runs: Vec<&str> = header.split(',').collect();
        assert_eq!(runs.len(), MAX_RUNS);
        assert_eq!(runs[0], "108");
        assert_eq!(*runs.last().unwrap(), "138");
        assert_eq!(h.dropped_runs(), 4);
        // A seq that joins two runs merges them.
        h.acknowledged(1, 109, &t);
        assert!(h.header(0).header.starts_with("108-110,112"));
    }
}
