//! One direction of a TCP connection put back in byte order.
//!
//! Segments arrive as captured: out of order, retransmitted, overlapping, duplicated, some never.
//! In-order bytes are handed on straight from the packet (no copy); only segments ahead of a hole
//! are copied and held, within a byte budget the caller grants. A hole that is given up on
//! (budget exhausted, timeout, the other direction moving on, close) becomes a [`Chunk::Gap`] of
//! its exact length, so the HTTP parser can skip inside a body of known length. Sequence numbers
//! are compared with wrap-around (RFC 1982 serial arithmetic on 32 bits).

use std::cell::Cell;
use std::mem::size_of;

/// What the reassembler hands on, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Chunk<'a> {
    /// Bytes in order, with the capture time of the segment that carried them.
    Data { ts_ns: u64, bytes: &'a [u8] },
    /// `len` bytes that will never be seen.
    Gap { len: u64 },
    /// The sender closed its direction after every byte before it.
    Fin,
}

/// A segment held because it lies beyond a hole.
#[derive(Debug)]
struct Held {
    seq: u32,
    ts_ns: u64,
    data: Vec<u8>,
}

/// Segments longer than this are ignored as corrupt (a TSO/GRO capture holds at most 64 KiB).
const MAX_SEGMENT: usize = 1 << 20;

/// Reassembly state of one direction.
#[derive(Debug, Default)]
pub(super) struct Stream {
    /// Sequence number of the next byte to hand on; `None` before the first segment.
    next: Option<u32>,
    /// Sequence number just past the last byte, once a FIN was seen.
    fin: Option<u32>,
    /// Set once the FIN was handed on: later segments are ignored.
    closed: bool,
    /// Held segments, sorted by their distance from `next`.
    held: Vec<Held>,
    /// Sum of the capacities of the held segments' buffers.
    held_bytes: usize,
}

/// Distance from `from` to `to` in sequence space: negative when `to` is before `from`.
fn dist(from: u32, to: u32) -> i64 {
    i64::from(to.wrapping_sub(from) as i32)
}

impl Stream {
    /// Bytes this direction holds on the heap.
    pub(super) fn memory(&self) -> usize {
        self.held.capacity() * size_of::<Held>() + self.held_bytes
    }

    /// A SYN: the stream's first byte is `seq + 1`.
    pub(super) fn syn(&mut self, seq: u32) {
        if self.next.is_none() {
            self.next = Some(seq.wrapping_add(1));
        }
    }

    /// Whether a SYN with this sequence number starts a new connection on the same addresses.
    pub(super) fn is_new_syn(&self, seq: u32) -> bool {
        self.next.is_some_and(|n| n != seq.wrapping_add(1))
    }

    /// Whether the FIN was handed on.
    pub(super) fn closed(&self) -> bool {
        self.closed
    }

    /// Capture time of the oldest segment held behind a hole, if any.
    pub(super) fn hole_since(&self) -> Option<u64> {
        self.held.iter().map(|h| h.ts_ns).min()
    }

    /// Whether bytes are missing before data or a FIN already seen.
    #[cfg(test)]
    pub(super) fn has_hole(&self) -> bool {
        !self.held.is_empty()
            || matches!((self.fin, self.next), (Some(f), Some(n)) if !self.closed && f != n)
    }

    /// Takes one segment. `budget` is how many more bytes may be held; what is held is taken from
    /// it. Returns false when the budget forced a hole to be given up.
    pub(super) fn push(
        &mut self,
        ts_ns: u64,
        seq: u32,
        payload: &[u8],
        fin: bool,
        budget: &Cell<usize>,
        out: &mut impl FnMut(Chunk<'_>),
    ) -> bool {
        if self.closed || payload.len() > MAX_SEGMENT {
            return true;
        }
        let next = *self.next.get_or_insert(seq);
        if fin && self.fin.is_none() {
            self.fin = Some(seq.wrapping_add(payload.len() as u32));
        }
        let mut fits = true;
        if dist(next, seq) > 0 && !payload.is_empty() && !self.hold(ts_ns, seq, payload, budget) {
            // No room to wait for the hole: give it up, and the held segments behind it.
            fits = false;
            self.give_up(out);
            if !self.closed && !self.hold(ts_ns, seq, payload, budget) {
                self.skip_to(seq, out);
            }
        }
        self.deliver(ts_ns, seq, payload, out);
        self.drain(out);
        self.check_fin(out);
        fits
    }

    /// The peer acknowledged every byte before `ack`: what is missing before it never reached
    /// the capture, so it becomes a gap now.
    pub(super) fn acked(&mut self, ack: u32, out: &mut impl FnMut(Chunk<'_>)) {
        while let Some(next) = self.next {
            if self.closed || dist(next, ack) <= 0 {
                break;
            }
            let until = match self.held.first() {
                Some(h) if dist(h.seq, ack) > 0 => h.seq,
                _ => ack,
            };
            self.skip_to(until, out);
            self.drain(out);
        }
        self.check_fin(out);
    }

    /// Gives up every hole: each becomes a [`Chunk::Gap`] and what is held behind it is handed on,
    /// up to a FIN if one was seen.
    pub(super) fn give_up(&mut self, out: &mut impl FnMut(Chunk<'_>)) {
        while let Some(first) = self.held.first() {
            let seq = first.seq;
            self.skip_to(seq, out);
            self.drain(out);
        }
        if let Some(f) = self.fin
            && !self.closed
        {
            self.skip_to(f, out);
            self.check_fin(out);
        }
    }

    /// Hands on the part of a segment at or after `next`, if it starts at or before it.
    fn deliver(&mut self, ts_ns: u64, seq: u32, bytes: &[u8], out: &mut impl FnMut(Chunk<'_>)) {
        let Some(next) = self.next else { return };
        let d = dist(next, seq);
        if d > 0 || bytes.is_empty() {
            return;
        }
        let skip = usize::try_from(-d).unwrap_or(usize::MAX);
        if let Some(rest) = bytes.get(skip..).filter(|r| !r.is_empty()) {
            self.next = Some(next.wrapping_add(rest.len() as u32));
            out(Chunk::Data { ts_ns, bytes: rest });
        }
    }

    /// Emits a gap up to `seq` if it lies ahead.
    fn skip_to(&mut self, seq: u32, out: &mut impl FnMut(Chunk<'_>)) {
        let Some(next) = self.next else { return };
        let d = dist(next, seq);
        if d > 0 {
            self.next = Some(seq);
            out(Chunk::Gap {
                len: d.unsigned_abs(),
            });
        }
    }

    /// Hands on held segments that now touch `next`, dropping those wholly behind it.
    fn drain(&mut self, out: &mut impl FnMut(Chunk<'_>)) {
        while let (Some(first), Some(next)) = (self.held.first(), self.next) {
            if dist(next, first.seq) > 0 {
                break;
            }
            let h = self.held.remove(0);
            self.held_bytes = self.held_bytes.saturating_sub(h.data.capacity());
            self.deliver(h.ts_ns, h.seq, &h.data, out);
        }
        if self.held.is_empty() && self.held.capacity() > 4 {
            self.held = Vec::new();
        }
    }

    fn check_fin(&mut self, out: &mut impl FnMut(Chunk<'_>)) {
        if let (Some(f), Some(n)) = (self.fin, self.next)
            && !self.closed
            && dist(n, f) <= 0
            && self.held.is_empty()
        {
            self.closed = true;
            out(Chunk::Fin);
        }
    }

    /// Copies a segment ahead of a hole, if the budget allows.
    fn hold(&mut self, ts_ns: u64, seq: u32, payload: &[u8], budget: &Cell<usize>) -> bool {
        let Some(next) = self.next else { return false };
        let at = dist(next, seq);
        let pos = self.held.partition_point(|h| dist(next, h.seq) < at);
        if let Some(h) = self.held.get(pos)
            && h.seq == seq
            && h.data.len() >= payload.len()
        {
            return true; // a duplicate of what is held
        }
        let grow = if self.held.len() == self.held.capacity() {
            self.held.capacity().max(2) * size_of::<Held>()
        } else {
            0
        };
        let cost = payload.len() + grow;
        if cost > budget.get() {
            return false;
        }
        budget.set(budget.get() - cost);
        if grow > 0 {
            self.held.reserve_exact(self.held.capacity().max(2));
        }
        let data = payload.to_vec();
        self.held_bytes += data.capacity();
        self.held.insert(pos, Held { seq, ts_ns, data });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds segments `(seq, payload, fin)` with ts = index; returns the chunks as text.
    fn run(segs: &[(u32, &str, bool)], budget: usize) -> Vec<String> {
        let mut s = Stream::default();
        let mut got = Vec::new();
        for (i, (seq, p, fin)) in segs.iter().enumerate() {
            let b = Cell::new(budget);
            s.push(i as u64, *seq, p.as_bytes(), *fin, &b, &mut |c| {
                got.push(match c {
                    Chunk::Data { ts_ns, bytes } => {
                        format!("{ts_ns}:{}", String::from_utf8_lossy(bytes))
                    }
                    Chunk::Gap { len } => format!("gap{len}"),
                    Chunk::Fin => "fin".into(),
                })
            });
        }
        s.give_up(&mut |c| got.push(format!("end:{c:?}")));
        got
    }

    #[test]
    fn reassembles() {
        let m = u32::MAX - 2; // wraps after 3 bytes
        type Case<'a> = (&'a str, &'a [(u32, &'a str, bool)], usize, &'a [&'a str]);
        let cases: &[Case<'_>] = &[
            (
                "in order",
                &[(10, "ab", false), (12, "cd", true)],
                100,
                &["0:ab", "1:cd", "fin"],
            ),
            (
                "swapped",
                &[(10, "ab", false), (14, "ef", false), (12, "cd", false)],
                100,
                &["0:ab", "2:cd", "1:ef"],
            ),
            (
                "duplicate",
                &[(10, "ab", false), (10, "ab", false), (12, "c", false)],
                100,
                &["0:ab", "2:c"],
            ),
            (
                "overlap",
                &[(10, "abc", false), (11, "bcde", false)],
                100,
                &["0:abc", "1:de"],
            ),
            (
                "held overlap",
                &[
                    (10, "a", false),
                    (13, "def", false),
                    (12, "cd", false),
                    (11, "b", false),
                ],
                100,
                &["0:a", "3:b", "2:cd", "1:ef"],
            ),
            (
                "wrap",
                &[
                    (m, "abc", false),
                    (m.wrapping_add(5), "fg", false),
                    (m.wrapping_add(3), "de", false),
                ],
                100,
                &["0:abc", "2:de", "1:fg"],
            ),
            (
                "fin waits",
                &[(10, "a", false), (12, "c", true), (11, "b", false)],
                100,
                &["0:a", "2:b", "1:c", "fin"],
            ),
            (
                "no budget",
                &[(10, "a", false), (12, "c", false)],
                0,
                &["0:a", "gap1", "1:c"],
            ),
            (
                "never filled",
                &[(10, "a", false), (13, "d", true)],
                100,
                &[
                    "0:a",
                    "end:Gap { len: 2 }",
                    "end:Data { ts_ns: 1, bytes: [100] }",
                    "end:Fin",
                ],
            ),
            (
                "old data after fin",
                &[(10, "a", true), (10, "a", false)],
                100,
                &["0:a", "fin"],
            ),
        ];
        for (name, segs, budget, want) in cases {
            assert_eq!(run(segs, *budget), *want, "{name}");
        }
    }

    #[test]
    fn holds_within_budget_and_frees() {
        let mut s = Stream::default();
        let budget = Cell::new(1000);
        s.push(0, 0, b"a", false, &budget, &mut |_| {});
        s.push(1, 5, b"xyz", false, &budget, &mut |_| {});
        assert!(s.has_hole() && s.memory() >= 3 && budget.get() <= 997);
        assert_eq!(s.hole_since(), Some(1));
        s.push(2, 1, b"bcde", false, &budget, &mut |_| {});
        assert!(!s.has_hole());
        assert_eq!(s.memory(), s.held.capacity() * size_of::<Held>());
    }
}
