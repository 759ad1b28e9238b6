//! The in-memory acknowledgement window above the buffer's ack position.
//!
//! Two lanes send concurrently, so batches are acknowledged out of order. The buffer keeps one
//! position (every seq below it is settled); this window keeps, above it, the seqs being sent
//! and the seqs already settled, and moves the position forward over the settled prefix. It
//! holds only what is in flight or settled out of order: bounded by the lanes' concurrency,
//! never by the backlog.

use std::collections::BTreeMap;

/// Seqs being sent and settled above the buffer's first unacknowledged seq.
#[derive(Debug, Default)]
pub struct Window {
    /// The buffer's first unacknowledged seq, as this window last set or learnt it.
    base: u64,
    /// Settled (acknowledged or rejected) seqs at or above `base`, with their points.
    done: BTreeMap<u64, u32>,
    /// Seqs being sent by a lane, with their points. One below `base` was dropped from the
    /// buffer while in flight: its send decides whether its points were sent or dropped.
    inflight: BTreeMap<u64, u32>,
    /// Ranges `start..end` of seqs with no record (lost to corruption), settled by nobody.
    gaps: BTreeMap<u64, u64>,
}

/// What settling a seq did.
#[derive(Debug, PartialEq, Eq)]
pub struct Settled {
    /// The new first unsettled seq, when it moved: acknowledge the buffer up to it.
    pub advanced_to: Option<u64>,
    /// The seq had been dropped from the buffer while in flight.
    pub orphan: bool,
}

impl Window {
    /// A window whose buffer's first unacknowledged seq is `base`.
    pub fn new(base: u64) -> Self {
        Window {
            base,
            ..Window::default()
        }
    }

    /// The first seq not yet settled (the `dozor-oldest` header).
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The oldest seq the agent may still send (the `dozor-oldest` header): the first
    /// unsettled seq, or an older one still in flight after the buffer dropped it. Never above
    /// a seq being sent, so the collector never takes a batch in flight for a duplicate.
    pub fn oldest(&self) -> u64 {
        self.inflight
            .keys()
            .next()
            .map_or(self.base, |&first| first.min(self.base))
    }

    /// Whether `seq`, in flight, was dropped from the buffer meanwhile.
    pub fn is_orphan(&self, seq: u64) -> bool {
        seq < self.base
    }

    /// Takes `seq` for sending; false when it is settled or already being sent.
    pub fn claim(&mut self, seq: u64, points: u32) -> bool {
        if seq < self.base || self.done.contains_key(&seq) || self.inflight.contains_key(&seq) {
            return false;
        }
        self.inflight.insert(seq, points);
        true
    }

    /// Whether `seq` is settled or being sent.
    #[cfg(test)]
    pub fn is_taken(&self, seq: u64) -> bool {
        seq < self.base || self.done.contains_key(&seq) || self.inflight.contains_key(&seq)
    }

    /// Gives `seq` back unsent (to be replayed from disk). True when it had been dropped from
    /// the buffer meanwhile: its points are lost and must be counted as dropped.
    pub fn release(&mut self, seq: u64) -> bool {
        self.inflight.remove(&seq);
        seq < self.base
    }

    /// Marks `seq` delivered (or permanently rejected) and moves the base over every settled
    /// seq at its front.
    pub fn settle(&mut self, seq: u64) -> Settled {
        let points = self.inflight.remove(&seq).unwrap_or(0);
        if seq < self.base {
            return Settled {
                advanced_to: None,
                orphan: true,
            };
        }
        self.done.insert(seq, points);
        Settled {
            advanced_to: self.advance(),
            orphan: false,
        }
    }

    /// Records that seqs `start..end` have no record (the buffer skipped them).
    pub fn gap(&mut self, start: u64, end: u64) -> Option<u64> {
        if start < end && end > self.base {
            self.gaps.insert(start.max(self.base), end);
        }
        self.advance()
    }

    /// The buffer dropped the records with seqs in `first..end`, `points` in total, and its
    /// first unacknowledged seq is now `new_base`. Returns the points that were truly lost:
    /// those of records neither delivered already nor in flight (an in-flight one is counted
    /// when its send ends, by [`Window::release`]).
    pub fn dropped(&mut self, first: u64, end: u64, points: u64, new_base: u64) -> u64 {
        let spared: u64 = self
            .done
            .range(first..end)
            .chain(self.inflight.range(first..end))
            .map(|(_, &p)| u64::from(p))
            .sum();
        if new_base > self.base {
            self.base = new_base;
            self.done = self.done.split_off(&new_base);
            self.gaps.retain(|_, end| *end > new_base);
            self.advance();
        }
        points.saturating_sub(spared)
    }

    /// Seqs currently being sent.
    #[cfg(test)]
    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    fn advance(&mut self) -> Option<u64> {
        let start = self.base;
        loop {
            if self.done.remove(&self.base).is_some() {
                self.base += 1;
            } else if let Some(end) = self.gaps.remove(&self.base) {
                self.base = end.max(self.base + 1);
            } else {
                break;
            }
        }
        (self.base > start).then_some(self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_settles_advance_exactly_over_the_settled_prefix() {
        let mut w = Window::new(10);
        for seq in 10..15 {
            assert!(w.claim(seq, 1));
        }
        assert!(!w.claim(12, 1), "already in flight");
        assert_eq!(w.settle(13).advanced_to, None);
        assert_eq!(w.settle(11).advanced_to, None);
        assert_eq!(w.settle(10).advanced_to, Some(12));
        assert_eq!(w.base(), 12);
        assert!(w.is_taken(11) && w.is_taken(13) && w.is_taken(14));
        assert_eq!(w.settle(12).advanced_to, Some(14));
        assert_eq!(w.settle(14).advanced_to, Some(15));
        assert_eq!((w.done.len(), w.inflight()), (0, 0), "nothing kept");
    }

    #[test]
    fn released_seqs_can_be_claimed_again() {
        let mut w = Window::new(0);
        assert!(w.claim(0, 5));
        assert!(!w.release(0));
        assert!(!w.is_taken(0));
        assert!(w.claim(0, 5));
        assert_eq!(w.settle(0).advanced_to, Some(1));
        assert!(!w.claim(0, 5), "settled seqs are never sent again");
    }

    #[test]
    fn gaps_are_skipped() {
        let mut w = Window::new(0);
        assert!(w.claim(0, 1) && w.claim(5, 1));
        assert_eq!(w.gap(1, 5), None);
        assert_eq!(w.settle(5).advanced_to, None);
        assert_eq!(w.settle(0).advanced_to, Some(6));
    }

    #[test]
    fn drops_count_only_points_neither_delivered_nor_in_flight() {
        let mut w = Window::new(0);
        // 0..4 exist; 1 was delivered out of order, 2 is in flight.
        assert!(w.claim(1, 10) && w.claim(2, 100));
        w.settle(1);
        // The buffer dropped 0..4 (1 + 10 + 100 + 1000 points) and now starts at 4.
        assert_eq!(w.dropped(0, 4, 1111, 4), 1001);
        assert_eq!(w.base(), 4);
        assert!(w.is_orphan(2));
        assert_eq!(
            w.oldest(),
            2,
            "2 may still be sent: the collector must not pass it"
        );
        // The in-flight one ends: delivered means sent, given back means dropped.
        assert_eq!(
            w.settle(2),
            Settled {
                advanced_to: None,
                orphan: true
            }
        );
        assert_eq!(w.oldest(), 4, "2 is no longer in flight");
        assert!(w.claim(4, 1));
        assert!(!w.release(4));
        assert!(w.claim(5, 1));
        assert_eq!(w.dropped(4, 6, 2, 6), 1, "5 is in flight");
        assert!(w.release(5), "5 was dropped while in flight");
    }
}
