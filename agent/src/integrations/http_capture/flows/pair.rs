//! Pairing requests with responses on one connection, from both directions' framing.
//!
//! Responses answer requests in order. The direction that carries a request line (or sent the
//! SYN) is the client. Losses are resolved so that no response is ever given a wrong request,
//! assuming only that a client which has not been seen pipelining waits for each response:
//! - inside a body of known length (or one chunk), lost bytes are skipped and counted, and the
//!   exchange still completes;
//! - a request whose body is cut is lost; a *ghost* keeps its place and absorbs its response;
//! - a request head lost or skipped (hole, bad or oversized head) has its response arrive
//!   before the next request is sent: it finds no request waiting and is counted
//!   `unmatched_response`. If the next request comes before the server sent anything more,
//!   the client pipelines and the connection is no longer paired (below);
//! - a lost response head or body end loses that request; the next response found answers the
//!   latest request sent before it began, the earlier ones are lost (unless a request was lost
//!   too: then none can be trusted and they are all lost);
//! - on a connection that pipelines (a request sent before the previous response completed), a
//!   loss makes the number of lost exchanges unknowable: every request in flight is lost and the
//!   connection is no longer paired (`desync`, counted per message) until it closes. A request
//!   is also matched only to a response that began after it (causality).

use super::Event;
use crate::integrations::http_capture::http1::{Framing, Half, Head, Phase, Sink, Verdict, Why};
use std::cell::Cell;
use std::collections::VecDeque;
use std::mem::size_of;
use std::net::SocketAddr;

/// Longest request target kept, in bytes (cut at a character boundary).
const MAX_TARGET: usize = 2048;
/// Most requests in flight on one connection; more loses pairing on it.
const MAX_PENDING: usize = 64;

/// What a connection's HTTP state needs from the table for one call.
pub(super) struct Ctx<'c, 'o> {
    pub(super) next_id: &'c mut u64,
    pub(super) out: &'c mut (dyn FnMut(Event<'_>) + 'o),
    /// Bytes the connection may still hold (shared with reassembly).
    pub(super) budget: &'c Cell<usize>,
    /// Source address of each direction.
    pub(super) addrs: [SocketAddr; 2],
}

/// A request seen, its response not complete.
#[derive(Debug)]
struct Pending {
    id: u64,
    /// Lost or untracked: absorbs its response without reporting it.
    ghost: bool,
    no_body: bool,
    tunnel: bool,
    method: String,
    target: String,
    start_ns: u64,
    request_bytes: u64,
}

/// HTTP state of one connection.
#[derive(Debug)]
pub(super) struct Http {
    halves: [Half; 2],
    st: Pairs,
}

#[derive(Debug, Default)]
struct Pairs {
    /// Direction index of the client, once a request or status line told.
    client: Option<usize>,
    /// Requests whose response has not begun, oldest first.
    pending: VecDeque<Pending>,
    /// The request whose response is being read (`None` inside it: unmatched).
    cur: Option<Pending>,
    /// Reading a response at all (matched or not).
    answering: bool,
    /// The response read is interim (1xx).
    interim: bool,
    /// An interim response ended: the next head is the final response to `cur`.
    awaiting_final: bool,
    /// Status of the response read.
    status: u16,
    /// The server direction lost framing: the next response found answers the latest request
    /// sent before it, the earlier ones are lost.
    resync: bool,
    /// Bytes each direction handed on (data and gaps).
    seen: [u64; 2],
    /// The client direction lost framing when the server had handed on this many bytes: a
    /// request parsed before the server sends anything more was sent without waiting for the
    /// lost ones' responses (pipelining), and cannot be paired.
    client_loss: Option<u64>,
    /// Id of the request whose body the client direction is reading.
    req_body: Option<u64>,
    pipelined: bool,
    broken: bool,
    upgraded: bool,
    /// Capacity of the strings held in `pending` and `cur`.
    strings: usize,
}

impl Http {
    pub(super) fn new(max_head: usize) -> Self {
        Http {
            halves: [Half::new(max_head), Half::new(max_head)],
            st: Pairs::default(),
        }
    }

    /// Heap bytes held.
    pub(super) fn memory(&self) -> usize {
        self.halves.iter().map(Half::memory).sum::<usize>()
            + self.st.pending.capacity() * size_of::<Pending>()
            + self.st.strings
    }

    /// Direction `dir` is seen from its first byte; `client` when it opened the connection.
    pub(super) fn seen_from_start(&mut self, dir: usize, client: bool) {
        if let Some(h) = self.halves.get_mut(dir) {
            h.seen_from_start();
        }
        if client && self.st.client.is_none() {
            self.st.client = Some(dir);
        }
    }

    /// In-order bytes of direction `dir`.
    pub(super) fn data(&mut self, dir: usize, ts_ns: u64, bytes: &[u8], ctx: &mut Ctx<'_, '_>) {
        let Http { halves, st } = self;
        if let Some(n) = st.seen.get_mut(dir) {
            *n = n.saturating_add(bytes.len() as u64);
        }
        if let Some(h) = halves.get_mut(dir) {
            h.data(ts_ns, bytes, &mut Side { st, dir, ctx });
        }
        self.check_upgrade(ctx);
    }

    /// `len` bytes of direction `dir` that will never be seen.
    pub(super) fn gap(&mut self, dir: usize, len: u64, ctx: &mut Ctx<'_, '_>) {
        (ctx.out)(Event::Error { reason: "gap" });
        let Http { halves, st } = self;
        if let Some(n) = st.seen.get_mut(dir) {
            *n = n.saturating_add(len);
        }
        if let Some(h) = halves.get_mut(dir) {
            h.gap(len, &mut Side { st, dir, ctx });
        }
    }

    /// Direction `dir` closed. When the server closes, what it has not answered never will be.
    pub(super) fn fin(&mut self, dir: usize, ctx: &mut Ctx<'_, '_>) {
        let Http { halves, st } = self;
        if let Some(h) = halves.get_mut(dir) {
            h.fin(&mut Side { st, dir, ctx });
        }
        if self.st.client == Some(1 - dir) {
            self.close("closed", ctx);
        }
    }

    /// The connection is gone: every request in flight is lost.
    pub(super) fn close(&mut self, reason: &'static str, ctx: &mut Ctx<'_, '_>) {
        self.st.lose_all(reason, ctx);
    }

    fn check_upgrade(&mut self, ctx: &mut Ctx<'_, '_>) {
        if self.st.upgraded {
            self.halves.iter_mut().for_each(Half::stop);
            self.st.lose_all("upgraded", ctx);
            self.st.pending = VecDeque::new();
        }
    }
}

impl Pairs {
    fn lose(&mut self, p: Pending, reason: &'static str, ctx: &mut Ctx<'_, '_>) {
        self.strings = self
            .strings
            .saturating_sub(p.method.capacity() + p.target.capacity());
        if !p.ghost {
            (ctx.out)(Event::Lost { id: p.id, reason });
        }
    }

    fn lose_all(&mut self, reason: &'static str, ctx: &mut Ctx<'_, '_>) {
        if let Some(p) = self.cur.take() {
            self.lose(p, reason, ctx);
        }
        while let Some(p) = self.pending.pop_front() {
            self.lose(p, reason, ctx);
        }
        self.req_body = None;
        self.interim = false;
        self.awaiting_final = false;
        self.resync = false;
    }

    /// The pending (or answered) request with this id.
    fn find(&mut self, id: u64) -> Option<&mut Pending> {
        self.cur
            .iter_mut()
            .chain(self.pending.iter_mut())
            .find(|p| p.id == id)
    }
}

/// One direction's view, given to its [`Half`] as the [`Sink`].
struct Side<'s, 'c, 'o> {
    st: &'s mut Pairs,
    dir: usize,
    ctx: &'s mut Ctx<'c, 'o>,
}

impl Side<'_, '_, '_> {
    fn error(&mut self, reason: &'static str) {
        (self.ctx.out)(Event::Error { reason });
    }

    fn is_client(&self) -> bool {
        self.st.client == Some(self.dir)
    }

    /// Stops pairing on this connection: what is in flight is lost.
    fn desync(&mut self) {
        self.st.broken = true;
        self.st.lose_all("desync", self.ctx);
    }

    fn request(&mut self, start_ns: u64, method: &str, target: &str, framing: Framing) -> Verdict {
        let st = &mut *self.st;
        if st.answering || !st.pending.is_empty() {
            st.pipelined = true;
        }
        let server_seen = st.seen.get(1 - self.dir).copied().unwrap_or_default();
        if st.client_loss.take().is_some_and(|at| at == server_seen) && !st.broken {
            st.pipelined = true;
            self.desync();
        }
        if self.st.broken {
            self.error("desync");
            return Verdict::Body(framing);
        }
        let st = &mut *self.st;
        let target = match target.len() {
            n if n <= MAX_TARGET => target,
            _ => {
                let mut end = MAX_TARGET;
                while !target.is_char_boundary(end) {
                    end -= 1;
                }
                target.get(..end).unwrap_or_default()
            }
        };
        let grow = match st.pending.len() == st.pending.capacity() {
            true => st.pending.capacity().max(2) * size_of::<Pending>(),
            false => 0,
        };
        let cost = grow + method.len() + target.len();
        if st.pending.len() >= MAX_PENDING || !self.reserve(cost) {
            self.error("buffer_full");
            self.desync();
            return Verdict::Body(framing);
        }
        let st = &mut *self.st;
        if grow > 0 {
            st.pending.reserve_exact(st.pending.capacity().max(2));
        }
        *self.ctx.next_id += 1;
        let id = *self.ctx.next_id;
        let (method, target) = (method.to_owned(), target.to_owned());
        st.strings += method.capacity() + target.capacity();
        let [client, server] = match self.dir {
            0 => self.ctx.addrs,
            _ => [self.ctx.addrs[1], self.ctx.addrs[0]],
        };
        (self.ctx.out)(Event::Request {
            id,
            client,
            server,
            method: &method,
            target: &target,
            start_ns,
        });
        st.req_body = (framing != Framing::None).then_some(id);
        st.pending.push_back(Pending {
            id,
            ghost: false,
            no_body: method == "HEAD",
            tunnel: method == "CONNECT",
            method,
            target,
            start_ns,
            request_bytes: 0,
        });
        Verdict::Body(framing)
    }

    fn response(&mut self, start_ns: u64, end_ns: u64, status: u16, framing: Framing) -> Verdict {
        let st = &mut *self.st;
        if !std::mem::take(&mut st.awaiting_final) {
            st.cur = None;
            if st.resync && st.pipelined && !st.broken {
                // Which of the requests in flight this answers is unknowable.
                self.desync();
            }
            let st = &mut *self.st;
            if std::mem::take(&mut st.resync) && !st.broken {
                let mut before = st
                    .pending
                    .iter()
                    .take_while(|p| p.start_ns <= start_ns)
                    .count();
                if st.client_loss.is_some() {
                    // It may answer a request lost on the way: none of them can have it.
                    before += 1;
                }
                for _ in 1..before {
                    if let Some(p) = st.pending.pop_front() {
                        st.lose(p, "gap", self.ctx);
                    }
                }
            }
            if st.broken {
                self.error("desync");
            } else if st.pending.front().is_some_and(|p| p.start_ns <= start_ns) {
                st.cur = st.pending.pop_front();
                if st.pending.iter().any(|p| p.start_ns < start_ns) {
                    st.pipelined = true;
                }
            } else {
                self.error("unmatched_response");
            }
        }
        let st = &mut *self.st;
        st.answering = true;
        st.status = status;
        st.interim = (100..200).contains(&status) && status != 101;
        let (no_body, tunnel) = st
            .cur
            .as_ref()
            .map_or((false, false), |p| (p.no_body, p.tunnel));
        if status == 101 || (tunnel && (200..300).contains(&status)) {
            self.end(end_ns, 0);
            self.st.upgraded = true;
            return Verdict::Stop;
        }
        match st.interim || no_body || status == 204 || status == 304 {
            true => Verdict::Body(Framing::None),
            false => Verdict::Body(framing),
        }
    }
}

impl Sink for Side<'_, '_, '_> {
    fn head(&mut self, start_ns: u64, end_ns: u64, head: Head<'_>) -> Verdict {
        let (is_request, other) = (matches!(head, Head::Request { .. }), 1 - self.dir);
        match self.st.client {
            None => self.st.client = Some(if is_request { self.dir } else { other }),
            Some(c) if (c == self.dir) != is_request => {
                self.error(if is_request {
                    "bad_response"
                } else {
                    "bad_request"
                });
                return Verdict::Resync;
            }
            Some(_) => {}
        }
        match head {
            Head::Request {
                method,
                target,
                framing,
            } => self.request(start_ns, method, target, framing),
            Head::Response { status, framing } => self.response(start_ns, end_ns, status, framing),
        }
    }

    fn end(&mut self, end_ns: u64, body: u64) {
        let is_client = self.is_client();
        let st = &mut *self.st;
        if is_client {
            if let Some(p) = st.req_body.take().and_then(|id| st.find(id)) {
                p.request_bytes = body;
            }
            return;
        }
        if st.interim {
            st.interim = false;
            st.awaiting_final = true;
            return;
        }
        st.answering = false;
        let Some(p) = st.cur.take() else { return };
        let [client, server] = match self.dir {
            0 => [self.ctx.addrs[1], self.ctx.addrs[0]],
            _ => self.ctx.addrs,
        };
        if !p.ghost {
            (self.ctx.out)(Event::Response {
                id: p.id,
                client,
                server,
                method: &p.method,
                target: &p.target,
                status: st.status,
                start_ns: p.start_ns,
                end_ns,
                request_bytes: p.request_bytes,
                response_bytes: body,
            });
        }
        st.strings = st
            .strings
            .saturating_sub(p.method.capacity() + p.target.capacity());
    }

    fn lost(&mut self, why: Why, phase: Phase) {
        // A side not known yet that sends something else than HTTP is taken for a client.
        let client = self.st.client.is_none_or(|c| c == self.dir);
        let reason = match why {
            Why::Gap => None, // counted by the caller, once per hole
            Why::Bad if client => Some("bad_request"),
            Why::Bad => Some("bad_response"),
            Why::TooLarge => Some("header_too_large"),
            Why::BufferFull => Some("buffer_full"),
            Why::Closed => None,
        };
        if let Some(reason) = reason {
            self.error(reason);
        }
        if self.st.broken || self.st.client.is_none() {
            return;
        }
        if self.st.pipelined {
            return self.desync();
        }
        let st = &mut *self.st;
        if client {
            // Requests may be lost here; whether the client waited for their responses shows when
            // the next request comes: after the server sent more, or not.
            let server_seen = st.seen.get(1 - self.dir).copied().unwrap_or_default();
            st.client_loss = Some(server_seen);
            // A request whose body was cut still gets its response: a ghost absorbs it.
            if let Some(p) = st.req_body.take().and_then(|id| st.find(id))
                && !p.ghost
            {
                p.ghost = true;
                let id = p.id;
                self.error_lost(id);
            }
            return;
        }
        st.resync = true;
        st.interim = false;
        st.awaiting_final = false;
        st.answering = false;
        let lost = match st.cur.take() {
            Some(p) => Some(p),
            None if matches!(phase, Phase::Idle | Phase::Head) => st.pending.pop_front(),
            None => None,
        };
        if let Some(p) = lost {
            st.lose(p, "gap", self.ctx);
        }
    }

    fn skipped(&mut self) {
        if self.is_client() {
            let server_seen = self.st.seen.get(1 - self.dir).copied().unwrap_or_default();
            self.st.client_loss = Some(server_seen);
        }
    }

    fn reserve(&mut self, bytes: usize) -> bool {
        let left = self.ctx.budget.get();
        self.ctx.budget.set(left.saturating_sub(bytes));
        bytes <= left
    }
}

impl Side<'_, '_, '_> {
    fn error_lost(&mut self, id: u64) {
        (self.ctx.out)(Event::Lost { id, reason: "gap" });
    }
}
