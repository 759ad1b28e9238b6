//! The sequence state of one (agent, stream): a floor below which everything is settled, and
//! the ranges of sequence numbers received at or above it. Pure: no I/O, no clock.
//!
//! Batches may arrive in any order (a live lane and a backlog replay run at once), so the
//! state is a set, not a counter. The set stays small because a range that reaches the floor
//! is folded into it, and because the agent's `dozor-oldest` moves the floor up; should it
//! still grow past [`MAX_RANGES`], the floor is raised past the lowest hole, which is then
//! reported as missing like any other gap.

use std::collections::BTreeMap;

/// Most disjoint ranges kept per stream (a few bytes each) before the lowest hole is given up.
pub const MAX_RANGES: usize = 4096;

/// A run of missing sequence numbers, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missing {
    /// The first missing sequence number.
    pub first: u64,
    /// The last missing sequence number.
    pub last: u64,
}

impl Missing {
    /// How many batches the run covers.
    pub fn batches(&self) -> u64 {
        self.last - self.first + 1
    }
}

/// The state of one stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    /// Every sequence number below this is settled (received or given up).
    floor: u64,
    /// Received runs above the floor: start -> end (inclusive). Disjoint, not adjacent, and
    /// none starts at `floor` (it would have been folded in).
    ranges: BTreeMap<u64, u64>,
}

impl Stream {
    /// A stream whose first request said `oldest`: nothing below it is expected.
    pub fn new(floor: u64) -> Self {
        Stream {
            floor,
            ranges: BTreeMap::new(),
        }
    }

    /// The floor.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// The received runs above the floor, as (first, last) pairs in order.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(s, e)| (*s, *e))
    }

    /// True when `seq` was received before or lies below the floor.
    pub fn is_duplicate(&self, seq: u64) -> bool {
        seq < self.floor
            || self
                .ranges
                .range(..=seq)
                .next_back()
                .is_some_and(|(_, end)| *end >= seq)
    }

    /// Records `first..=last` as received. Returns the holes given up to keep the set bounded.
    pub fn insert_range(&mut self, first: u64, last: u64) -> Vec<Missing> {
        let first = first.max(self.floor);
        if first > last {
            return Vec::new();
        }
        let (mut start, mut end) = (first, last);
        // Merge with a run that overlaps or touches on the left.
        if let Some((&s, &e)) = self.ranges.range(..=start).next_back()
            && e.saturating_add(1) >= start
        {
            start = s;
            end = end.max(e);
            self.ranges.remove(&s);
        }
        // And with every run that starts inside or right after.
        while let Some((&s, &e)) = self.ranges.range(start..).next() {
            if s > end.saturating_add(1) {
                break;
            }
            end = end.max(e);
            self.ranges.remove(&s);
        }
        self.ranges.insert(start, end);
        self.fold();
        let mut given_up = Vec::new();
        while self.ranges.len() > MAX_RANGES {
            let lowest = *self.ranges.keys().next().unwrap_or(&self.floor);
            given_up.extend(self.advance(lowest));
        }
        given_up
    }

    /// Records `first..=last` as received by another collector of the same agent (the
    /// `dozor-elsewhere` header): settled, not missing. Returns how many of those sequence
    /// numbers were not settled here before (at or above the floor and not yet received), so
    /// that a range told twice is counted once, and the holes given up to keep the set bounded.
    pub fn insert_elsewhere(&mut self, first: u64, last: u64) -> (u64, Vec<Missing>) {
        let first = first.max(self.floor);
        if first > last {
            return (0, Vec::new());
        }
        let mut new = last - first + 1;
        // Subtract what is already received inside first..=last.
        let from = self
            .ranges
            .range(..=first)
            .next_back()
            .map_or(first, |(s, _)| *s);
        for (s, e) in self.ranges.range(from..=last) {
            let (a, b) = ((*s).max(first), (*e).min(last));
            if a <= b {
                new -= b - a + 1;
            }
        }
        (new, self.insert_range(first, last))
    }

    /// Records one received batch. Returns the holes given up to keep the set bounded.
    pub fn insert(&mut self, seq: u64) -> Vec<Missing> {
        self.insert_range(seq, seq)
    }

    /// Moves the floor up to `oldest` (the agent will never send anything below it) and
    /// returns the runs below it that never arrived. A lower `oldest` changes nothing.
    pub fn advance(&mut self, oldest: u64) -> Vec<Missing> {
        let mut missing = Vec::new();
        if oldest <= self.floor {
            return missing;
        }
        let mut next = self.floor;
        let below: Vec<(u64, u64)> = self.ranges.range(..oldest).map(|(s, e)| (*s, *e)).collect();
        for (s, e) in below {
            if s > next {
                missing.push(Missing {
                    first: next,
                    last: s - 1,
                });
            }
            self.ranges.remove(&s);
            if e >= oldest {
                // Straddles the new floor: keep the part at or above it.
                self.ranges.insert(oldest, e);
            }
            next = e.saturating_add(1);
        }
        if next < oldest {
            missing.push(Missing {
                first: next,
                last: oldest - 1,
            });
        }
        self.floor = oldest;
        self.fold();
        missing
    }

    /// Folds a run that starts at the floor into it.
    fn fold(&mut self) {
        if let Some(end) = self.ranges.get(&self.floor).copied()
            && end < u64::MAX
        {
            self.ranges.remove(&self.floor);
            self.floor = end + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeSet;

    fn m(first: u64, last: u64) -> Missing {
        Missing { first, last }
    }

    #[test]
    fn in_order_folds_into_the_floor() {
        let mut s = Stream::new(1);
        for seq in 1..=5 {
            assert!(!s.is_duplicate(seq));
            assert!(s.insert(seq).is_empty());
        }
        assert_eq!(s.floor(), 6);
        assert_eq!(s.ranges().count(), 0);
        assert!(s.is_duplicate(3));
        assert!(!s.is_duplicate(6));
    }

    #[test]
    fn out_of_order_then_gap_on_advance() {
        let mut s = Stream::new(10);
        s.insert(15);
        s.insert(13);
        s.insert(14);
        s.insert(11);
        assert_eq!(s.ranges().collect::<Vec<_>>(), vec![(11, 11), (13, 15)]);
        assert!(s.is_duplicate(14));
        assert!(!s.is_duplicate(12));
        // The agent says 14 is the oldest it may send: 10 and 12 are lost.
        assert_eq!(s.advance(14), vec![m(10, 10), m(12, 12)]);
        assert_eq!(s.floor(), 16);
        assert_eq!(s.advance(12), vec![]);
        assert_eq!(s.advance(20), vec![m(16, 19)]);
        assert_eq!(s.floor(), 20);
    }

    #[test]
    fn ranges_received_elsewhere_are_not_missing() {
        let mut s = Stream::new(10);
        s.insert(10);
        s.insert(11);
        // Another collector took 12..=20 while this one was away; then 21 arrives here.
        s.insert(21);
        assert_eq!(s.insert_elsewhere(12, 20), (9, vec![]));
        assert_eq!(s.floor(), 22);
        assert_eq!(s.advance(22), vec![]);
        // Told again: nothing new.
        assert_eq!(s.insert_elsewhere(12, 20), (0, vec![]));
    }

    #[test]
    fn an_elsewhere_range_overlapping_received_seqs_counts_only_the_rest() {
        let mut s = Stream::new(0);
        s.insert(0);
        s.insert(5);
        s.insert(6);
        s.insert(9);
        // 1..=9: 5, 6 and 9 were received here; 1, 2, 3, 4, 7, 8 elsewhere.
        assert_eq!(s.insert_elsewhere(1, 9), (6, vec![]));
        assert_eq!(s.floor(), 10);
        assert_eq!(s.ranges().count(), 0);
        // Below the floor: nothing.
        assert_eq!(s.insert_elsewhere(0, 3), (0, vec![]));
        // Partly above: only the part above counts; a gap left below still is one.
        s.insert(15);
        assert_eq!(s.insert_elsewhere(12, 16), (4, vec![]));
        assert_eq!(s.advance(17), vec![m(10, 11)]);
    }

    #[test]
    fn bounded_by_giving_up_the_lowest_hole() {
        let mut s = Stream::new(0);
        let mut lost = Vec::new();
        for i in 0..=MAX_RANGES as u64 {
            lost.extend(s.insert(2 * i + 1));
        }
        assert_eq!(lost, vec![m(0, 0)]);
        assert_eq!(s.ranges().count(), MAX_RANGES);
        assert_eq!(s.floor(), 2);
    }

    #[test]
    fn near_the_top_of_u64() {
        let mut s = Stream::new(u64::MAX - 1);
        s.insert(u64::MAX);
        s.insert(u64::MAX - 1);
        assert!(s.is_duplicate(u64::MAX));
        assert!(s.is_duplicate(u64::MAX - 1));
    }

    /// A model: the plain set of every seq received and every seq given up.
    #[test]
    fn any_order_matches_a_plain_set() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..300 {
            let n: u64 = rng.random_range(1..60);
            let mut seqs: Vec<u64> = (0..n).collect();
            seqs.shuffle(&mut rng);
            // Some sent twice, some never.
            let extra: Vec<u64> = (0..rng.random_range(0..10))
                .map(|_| rng.random_range(0..n))
                .collect();
            seqs.extend(extra);
            seqs.retain(|_| rng.random_range(0..10) > 0);
            seqs.shuffle(&mut rng);
            let mut s = Stream::new(0);
            let mut settled = BTreeSet::new();
            let (mut lost, mut oldest) = (0u64, 0u64);
            for seq in seqs {
                let dup = s.is_duplicate(seq);
                assert_eq!(dup, settled.contains(&seq) || seq < oldest, "seq {seq}");
                if !dup {
                    s.insert(seq);
                    settled.insert(seq);
                }
                if rng.random_range(0..8) == 0 {
                    let new_oldest = oldest + rng.random_range(0..5);
                    for missing in s.advance(new_oldest) {
                        for x in missing.first..=missing.last {
                            assert!(!settled.contains(&x), "{x} reported missing");
                            settled.insert(x);
                            lost += 1;
                        }
                    }
                    oldest = oldest.max(new_oldest);
                }
                for x in 0..n + 5 {
                    assert_eq!(s.is_duplicate(x), settled.contains(&x) || x < oldest);
                }
            }
            // Everything below the agent's oldest is accounted for: received or reported lost.
            for x in 0..oldest {
                assert!(settled.contains(&x), "{x} neither received nor reported");
            }
            assert!(lost <= oldest);
        }
    }
}
