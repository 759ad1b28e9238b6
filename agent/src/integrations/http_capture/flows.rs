//! The connection table: captured TCP segments in, HTTP/1.x exchanges out.
//!
//! [`Flows`] keeps one entry per connection (both directions under one key), reassembles each
//! direction ([`super::tcp`]), frames HTTP messages ([`super::http1`]) and pairs requests with
//! responses (`pair`). It does no I/O and allocates nothing per packet in the steady state: bytes
//! in order are parsed straight from the packet; only a segment beyond a hole, a head split
//! across segments and each request's method and target are copied.
//!
//! Memory is bounded: at most `max_connections` entries (the least recently active is evicted,
//! counted `evicted_connection`), at most `max_buffered_per_connection` bytes held by one and
//! `max_buffered_total` by all (past it, a hole is given up on or a head dropped, counted
//! `buffer_full`). Bodies are counted, never held.
//!
//! Times: a request starts at the capture time of the segment carrying its first byte; a
//! response ends at that of the segment carrying its last byte. A response delimited by the
//! connection's close ends at its last data byte (what the server's log sees), not at the FIN.
//! A hole in one direction is given up on as soon as the other direction acknowledges past it
//! (the bytes reached the peer but not the capture), when it cannot be held, after
//! [`REORDER_TIMEOUT_NS`], or when the connection goes idle.

mod pair;
#[cfg(test)]
mod tests;

use super::tcp::{Chunk, Stream};
use pair::{Ctx, Http};
use std::cell::Cell;
use std::collections::HashMap;
use std::mem::size_of;
use std::net::SocketAddr;

/// How long a hole may wait for a retransmission before it is given up on.
pub const REORDER_TIMEOUT_NS: u64 = 10_000_000_000;

/// One captured TCP segment, decoded by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// Sequence number of the segment (of the SYN itself when `syn`).
    pub seq: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// TCP payload.
    pub payload: &'a [u8],
}

/// Bounds on what [`Flows`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections tracked at once; beyond it the least recently active is evicted.
    pub max_connections: usize,
    /// Bytes one connection may hold: segments beyond a hole, split heads, requests in flight.
    pub max_buffered_per_connection: usize,
    /// Bytes all connections together may hold.
    pub max_buffered_total: usize,
    /// A connection without a segment for this long is dropped (its requests lost).
    pub idle_timeout_ns: u64,
    /// Longest request or response head (start line and headers).
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_buffered_per_connection: 64 * 1024,
            max_buffered_total: 32 * 1024 * 1024,
            idle_timeout_ns: 300_000_000_000,
            max_header_bytes: 16 * 1024,
        }
    }
}

impl Limits {
    /// The most [`Flows::memory`] can report under these limits.
    #[cfg(test)]
    pub fn max_memory(&self) -> usize {
        // The slab and the index grow by doubling: at most twice (index: 16/7 times) the entries.
        let entry = 2 * size_of::<Slot>() + 3 * (size_of::<(Key, u32)>() + 1);
        self.max_buffered_total + self.max_connections.saturating_mul(entry) + 4096
    }
}

/// What [`Flows`] reports, as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// Request line and headers parsed: the request is now in flight.
    Request {
        /// Unique for the life of the [`Flows`].
        id: u64,
        /// Client address.
        client: SocketAddr,
        /// Server address.
        server: SocketAddr,
        /// Method as sent (any token).
        method: &'a str,
        /// Request target, at most 2 KiB.
        target: &'a str,
        /// Capture time of the segment carrying the request's first byte.
        start_ns: u64,
    },
    /// The final response to request `id` is complete.
    Response {
        /// The request's id.
        id: u64,
        /// Client address.
        client: SocketAddr,
        /// Server address.
        server: SocketAddr,
        /// The request's method.
        method: &'a str,
        /// The request's target.
        target: &'a str,
        /// Final status (never 1xx, except 101).
        status: u16,
        /// As in [`Event::Request`].
        start_ns: u64,
        /// Capture time of the segment carrying the response's last byte.
        end_ns: u64,
        /// Request body bytes (decoded when chunked).
        request_bytes: u64,
        /// Response body bytes (decoded when chunked).
        response_bytes: u64,
    },
    /// Request `id` will never get a response we can see.
    Lost {
        /// The request's id.
        id: u64,
        /// `gap`, `rst`, `closed`, `evicted`, `idle`, `upgraded` or `desync`.
        reason: &'static str,
    },
    /// Something counted by reason: `bad_request`, `bad_response`, `header_too_large`, `gap`,
    /// `evicted_connection`, `buffer_full`, `unmatched_response`, `desync`.
    Error {
        /// The reason.
        reason: &'static str,
    },
}

/// Both endpoints, lower first.
type Key = (SocketAddr, SocketAddr);
const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Conn {
    key: Key,
    last_ns: u64,
    /// Direction 0 is sent by `key.0`.
    tcp: [Stream; 2],
    http: Http,
    /// Heap bytes held (what the limits bound).
    held: usize,
}

#[derive(Debug)]
struct Slot {
    conn: Option<Conn>,
    /// Neighbours in recency order (`prev` is more recent).
    prev: u32,
    next: u32,
}

/// The connection table. See the module documentation.
#[derive(Debug)]
pub struct Flows {
    limits: Limits,
    index: HashMap<Key, u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Most and least recently active.
    head: u32,
    tail: u32,
    held: usize,
    next_id: u64,
}

impl Flows {
    /// An empty table.
    pub fn new(limits: Limits) -> Self {
        Flows {
            limits,
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            held: 0,
            next_id: 0,
        }
    }

    /// Takes one segment without its acknowledgement number (holes wait longer to be given up).
    #[cfg(test)]
    pub fn segment(&mut self, seg: &Segment<'_>, out: &mut dyn FnMut(Event<'_>)) {
        self.segment_acked(seg, None, out);
    }

    /// Takes one segment; `ack` is its acknowledgement number when the ACK flag is set. An
    /// acknowledgement past a hole in the other direction gives that hole up at once.
    pub fn segment_acked(
        &mut self,
        seg: &Segment<'_>,
        ack: Option<u32>,
        out: &mut dyn FnMut(Event<'_>),
    ) {
        let (key, d) = match seg.src <= seg.dst {
            true => ((seg.src, seg.dst), 0),
            false => ((seg.dst, seg.src), 1),
        };
        let i = match self.index.get(&key) {
            Some(&i) if seg.syn && self.conn(i).is_some_and(|c| c.tcp[d].is_new_syn(seg.seq)) => {
                self.remove(i, "closed", out);
                self.insert(key, seg.ts_ns, out)
            }
            Some(&i) => i,
            None if seg.rst || (seg.payload.is_empty() && !seg.syn && !seg.fin) => return,
            None => self.insert(key, seg.ts_ns, out),
        };
        self.touch(i);
        if seg.rst {
            return self.remove(i, "rst", out);
        }
        let (limits, total) = (self.limits, self.held);
        let next_id = &mut self.next_id;
        let Some(conn) = self.slots.get_mut(i as usize).and_then(|s| s.conn.as_mut()) else {
            return;
        };
        let before = conn.held;
        let budget = Cell::new(
            limits
                .max_buffered_per_connection
                .saturating_sub(before)
                .min(limits.max_buffered_total.saturating_sub(total)),
        );
        let addrs = [conn.key.0, conn.key.1];
        let mut ctx = Ctx {
            next_id,
            out,
            budget: &budget,
            addrs,
        };
        let Conn { tcp, http, .. } = &mut *conn;
        let [t0, t1] = tcp;
        let (mine, other) = if d == 0 { (t0, t1) } else { (t1, t0) };
        if let Some(ack) = ack {
            other.acked(ack, &mut |c| feed(http, 1 - d, c, &mut ctx));
        }
        let mut seq = seg.seq;
        if seg.syn {
            mine.syn(seg.seq);
            // The SYN without an acknowledgement opens the connection: its sender is the client.
            http.seen_from_start(d, ack.is_none());
            seq = seq.wrapping_add(1);
        }
        let fits = mine.push(seg.ts_ns, seq, seg.payload, seg.fin, &budget, &mut |c| {
            feed(http, d, c, &mut ctx)
        });
        if !fits {
            (ctx.out)(Event::Error {
                reason: "buffer_full",
            });
        }
        for (dir, s) in [(d, mine), (1 - d, other)] {
            if s.hole_since()
                .is_some_and(|t| t.saturating_add(REORDER_TIMEOUT_NS) < seg.ts_ns)
            {
                s.give_up(&mut |c| feed(http, dir, c, &mut ctx));
            }
        }
        conn.last_ns = seg.ts_ns;
        conn.held = conn.tcp[0].memory() + conn.tcp[1].memory() + conn.http.memory();
        self.held = (self.held + conn.held).saturating_sub(before);
        if conn.tcp[0].closed() && conn.tcp[1].closed() {
            self.remove(i, "closed", out);
        }
    }

    /// Drops connections idle since `now_ns - idle_timeout`; their requests in flight are lost.
    pub fn sweep(&mut self, now_ns: u64, out: &mut dyn FnMut(Event<'_>)) {
        while self.tail != NIL {
            let tail = self.tail;
            match self.conn(tail) {
                Some(c) if c.last_ns.saturating_add(self.limits.idle_timeout_ns) <= now_ns => {
                    self.remove(tail, "idle", out)
                }
                _ => break,
            }
        }
        // Give back what a burst of connections grew.
        if self.index.is_empty() {
            (self.slots, self.free) = (Vec::new(), Vec::new());
        }
        if self.index.len() < self.index.capacity() / 4 {
            self.index.shrink_to_fit();
        }
    }

    /// Heap bytes held now: buffers and the table, what the limits bound.
    pub fn memory(&self) -> usize {
        let index = self.index.capacity() * 8 / 7 * (size_of::<(Key, u32)>() + 1);
        self.held + index + self.slots.capacity() * size_of::<Slot>() + self.free.capacity() * 4
    }

    /// Connections tracked now.
    pub fn connections(&self) -> usize {
        self.index.len()
    }

    fn conn(&self, i: u32) -> Option<&Conn> {
        self.slots.get(i as usize).and_then(|s| s.conn.as_ref())
    }

    fn insert(&mut self, key: Key, ts_ns: u64, out: &mut dyn FnMut(Event<'_>)) -> u32 {
        if self.index.len() >= self.limits.max_connections.max(1) && self.tail != NIL {
            out(Event::Error {
                reason: "evicted_connection",
            });
            self.remove(self.tail, "evicted", out);
        }
        let conn = Conn {
            key,
            last_ns: ts_ns,
            tcp: [Stream::default(), Stream::default()],
            http: Http::new(self.limits.max_header_bytes),
            held: 0,
        };
        let slot = Slot {
            conn: Some(conn),
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, i);
        self.link_front(i);
        i
    }

    fn remove(&mut self, i: u32, reason: &'static str, out: &mut dyn FnMut(Event<'_>)) {
        self.unlink(i);
        let Some(mut conn) = self.slots.get_mut(i as usize).and_then(|s| s.conn.take()) else {
            return;
        };
        self.index.remove(&conn.key);
        self.free.push(i);
        self.held = self.held.saturating_sub(conn.held);
        let budget = Cell::new(0);
        let mut ctx = Ctx {
            next_id: &mut self.next_id,
            out,
            budget: &budget,
            addrs: [conn.key.0, conn.key.1],
        };
        // What was held behind holes is handed on first: it may complete a response.
        let Conn { tcp, http, .. } = &mut conn;
        for (d, t) in tcp.iter_mut().enumerate() {
            t.give_up(&mut |c| feed(http, d, c, &mut ctx));
        }
        http.close(reason, &mut ctx);
    }

    fn touch(&mut self, i: u32) {
        if self.head != i {
            self.unlink(i);
            self.link_front(i);
        }
    }

    fn link_front(&mut self, i: u32) {
        let old = self.head;
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.prev = NIL;
            s.next = old;
        }
        match self.slots.get_mut(old as usize) {
            Some(s) => s.prev = i,
            None => self.tail = i,
        }
        self.head = i;
    }

    fn unlink(&mut self, i: u32) {
        let Some(&Slot { prev, next, .. }) = self.slots.get(i as usize) else {
            return;
        };
        match self.slots.get_mut(prev as usize) {
            Some(s) => s.next = next,
            None if self.head == i => self.head = next,
            None => {}
        }
        match self.slots.get_mut(next as usize) {
            Some(s) => s.prev = prev,
            None if self.tail == i => self.tail = prev,
            None => {}
        }
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.prev = NIL;
            s.next = NIL;
        }
    }
}

/// Hands one reassembled chunk of direction `dir` to the connection's HTTP state.
fn feed(http: &mut Http, dir: usize, chunk: Chunk<'_>, ctx: &mut Ctx<'_, '_>) {
    match chunk {
        Chunk::Data { ts_ns, bytes } => http.data(dir, ts_ns, bytes, ctx),
        Chunk::Gap { len } => http.gap(dir, len, ctx),
        Chunk::Fin => http.fin(dir, ctx),
    }
}
