//! Streaming HTTP/1.x message framing for one direction of a connection, on `httparse`.
//!
//! A [`Half`] turns reassembled bytes into message heads (request or status line and headers,
//! parsed by `httparse`) and message ends. Heads are parsed straight from the packet when they
//! fit in it and buffered (at most `max_header_bytes`) only when split across segments; bodies
//! (`Content-Length`, chunked, or until close) are counted, never buffered. After a gap or a
//! parse failure it resynchronises at the next line that parses as a request or status line.
//! What the head means (which request a response answers, whether it has a body) is decided by
//! the [`Sink`], which knows both directions.

mod chunked;
mod head;

use chunked::{Decoder, Progress};
use head::{Parsed, parse, plausible};

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the sender closes (responses only).
    Close,
}

/// A parsed head.
#[derive(Debug)]
pub(super) enum Head<'h> {
    /// A request line and headers.
    Request {
        method: &'h str,
        target: &'h str,
        framing: Framing,
    },
    /// A status line and headers; `framing` as the headers say, before HEAD or status rules.
    Response { status: u16, framing: Framing },
}

/// What to do after a head, as the [`Sink`] decides.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Read a body delimited so.
    Body(Framing),
    /// The head does not belong here: skip to the next line.
    Resync,
    /// Stop parsing this direction (the connection switched protocols).
    Stop,
}

/// Why framing was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    /// Bytes missing (a hole given up on).
    Gap,
    /// Not HTTP/1.
    Bad,
    /// Head longer than `max_header_bytes`.
    TooLarge,
    /// No memory budget left to hold a split head.
    BufferFull,
    /// The direction closed in the middle of a message.
    Closed,
}

/// How far the current message got when framing was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Between messages (nothing of the next one seen).
    Idle,
    /// Part of a head seen.
    Head,
    /// Head delivered, body in progress.
    Body,
    /// Already skipping after an earlier loss.
    Resync,
}

/// The receiver of what a [`Half`] finds.
pub(super) trait Sink {
    /// A head, from the capture time of its first byte to that of its last.
    fn head(&mut self, start_ns: u64, end_ns: u64, head: Head<'_>) -> Verdict;
    /// The message ended at `end_ns` after `body` body bytes.
    fn end(&mut self, end_ns: u64, body: u64);
    /// Framing was lost; the half now skips to the next head.
    fn lost(&mut self, why: Why, phase: Phase);
    /// Asks to hold `bytes` more of a split head.
    fn reserve(&mut self, bytes: usize) -> bool;
    /// Bytes were skipped while resynchronising: whole messages may be among them.
    fn skipped(&mut self);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Resync,
    Body { left: u64 },
    Chunked(Decoder),
    Close,
    Dead,
}

/// Framing state of one direction.
#[derive(Debug)]
pub(super) struct Half {
    state: State,
    /// A head split across segments.
    buf: Vec<u8>,
    /// Resynchronising (the direction was picked up mid-stream or after a loss): failures are
    /// not counted and only `head::STARTS` are tried as heads.
    quiet: bool,
    start_ns: u64,
    last_ns: u64,
    body: u64,
    max_head: usize,
}

impl Half {
    /// A direction seen from an unknown point: the first failures only resynchronise.
    pub(super) fn new(max_head: usize) -> Self {
        Half {
            state: State::Head,
            buf: Vec::new(),
            quiet: true,
            start_ns: 0,
            last_ns: 0,
            body: 0,
            max_head,
        }
    }

    /// The direction is seen from its first byte (a SYN): failures count from the start.
    pub(super) fn seen_from_start(&mut self) {
        self.quiet = false;
    }

    /// Stops parsing this direction.
    pub(super) fn stop(&mut self) {
        self.state = State::Dead;
        self.buf = Vec::new();
    }

    /// Heap bytes held.
    pub(super) fn memory(&self) -> usize {
        self.buf.capacity()
    }

    /// Takes in-order bytes captured at `ts_ns`.
    pub(super) fn data(&mut self, ts_ns: u64, mut data: &[u8], sink: &mut impl Sink) {
        if self.state == State::Resync {
            // Heads usually start segments: try one before skipping to the next line.
            self.state = State::Head;
        }
        while !data.is_empty() {
            match self.state {
                State::Dead => return,
                State::Resync => {
                    let at =
                        (0..data.len()).find(|&i| plausible(data.get(i..).unwrap_or_default()));
                    if at != Some(0) {
                        sink.skipped();
                    }
                    let Some(i) = at else { return };
                    data = data.get(i..).unwrap_or_default();
                    self.state = State::Head;
                }
                State::Head => data = self.head(ts_ns, data, sink),
                State::Body { left } => {
                    let take = left.min(data.len() as u64);
                    self.body = self.body.saturating_add(take);
                    data = data.get(take as usize..).unwrap_or_default();
                    self.state = State::Body { left: left - take };
                    if take == left {
                        self.finish(ts_ns, sink);
                    }
                }
                State::Chunked(mut d) => {
                    let progress = d.feed(data, &mut self.body);
                    self.state = State::Chunked(d);
                    match progress {
                        Progress::More => return,
                        Progress::Done(n) => {
                            data = data.get(n..).unwrap_or_default();
                            self.finish(ts_ns, sink);
                        }
                        Progress::Bad => {
                            self.lose(Why::Bad, sink);
                            data = &[];
                        }
                    }
                }
                State::Close => {
                    self.body = self.body.saturating_add(data.len() as u64);
                    self.last_ns = ts_ns;
                    return;
                }
            }
        }
    }

    /// Takes `len` bytes that will never be seen.
    pub(super) fn gap(&mut self, len: u64, sink: &mut impl Sink) {
        match self.state {
            State::Dead => {}
            State::Body { left } if len < left => {
                self.state = State::Body { left: left - len };
                self.body = self.body.saturating_add(len);
            }
            State::Chunked(d) if d.can_skip(len) => {
                self.state = State::Chunked(d.skip(len));
                self.body = self.body.saturating_add(len);
            }
            _ => self.lose(Why::Gap, sink),
        }
    }

    /// The sender closed this direction: a body delimited by close ends at its last data byte.
    pub(super) fn fin(&mut self, sink: &mut impl Sink) {
        match self.state {
            State::Close => {
                self.state = State::Head;
                sink.end(self.last_ns, self.body);
            }
            State::Body { .. } | State::Chunked(_) => self.lose(Why::Closed, sink),
            State::Head if !self.buf.is_empty() => self.lose(Why::Closed, sink),
            _ => {}
        }
        self.stop();
    }

    /// Framing lost: tell the sink (unless resynchronising quietly) and skip to the next line.
    fn lose(&mut self, why: Why, sink: &mut impl Sink) {
        let phase = match self.state {
            State::Head if self.buf.is_empty() => Phase::Idle,
            State::Head => Phase::Head,
            State::Body { .. } | State::Chunked(_) | State::Close => Phase::Body,
            State::Resync | State::Dead => Phase::Resync,
        };
        if !(self.quiet && why == Why::Bad) {
            sink.lost(why, phase);
        }
        self.buf.clear();
        self.release();
        self.quiet = true;
        // After a hole the next byte may start a head; after a bad line, skip the line.
        self.state = if why == Why::Gap {
            State::Head
        } else {
            State::Resync
        };
    }

    fn release(&mut self) {
        if self.buf.capacity() > 1024 {
            self.buf = Vec::new();
        }
    }

    /// The current message ended with the byte captured at `ts_ns`.
    fn finish(&mut self, ts_ns: u64, sink: &mut impl Sink) {
        self.state = State::Head;
        sink.end(ts_ns, self.body);
    }

    /// Parses (or keeps) a head; returns the input left after it.
    fn head<'d>(&mut self, ts_ns: u64, mut data: &'d [u8], sink: &mut impl Sink) -> &'d [u8] {
        if self.buf.is_empty() {
            // Empty lines between messages are allowed (RFC 9112 section 2.2).
            match data.iter().position(|b| *b != b'\r' && *b != b'\n') {
                Some(i) => data = data.get(i..).unwrap_or_default(),
                None => return &[],
            }
            self.start_ns = ts_ns;
            if self.quiet && !plausible(data) {
                self.state = State::Resync;
                return data.get(1..).unwrap_or_default();
            }
            let verdict = match parse(data) {
                Parsed::Done(n, head) => (n, sink.head(ts_ns, ts_ns, head)),
                Parsed::Partial if data.len() >= self.max_head => {
                    self.lose(Why::TooLarge, sink);
                    return &[];
                }
                Parsed::Partial if !sink.reserve(data.len()) => {
                    self.lose(Why::BufferFull, sink);
                    return &[];
                }
                Parsed::Partial => {
                    self.buf.extend_from_slice(data);
                    return &[];
                }
                Parsed::Bad => {
                    self.lose(Why::Bad, sink);
                    return data.get(1..).unwrap_or_default();
                }
            };
            self.after(verdict.1, ts_ns, sink);
            return data.get(verdict.0..).unwrap_or_default();
        }
        let old = self.buf.len();
        let take = data.len().min(self.max_head.saturating_sub(old));
        if !sink.reserve(take) {
            self.lose(Why::BufferFull, sink);
            return &[];
        }
        self.buf
            .extend_from_slice(data.get(..take).unwrap_or_default());
        if self.quiet && !plausible(&self.buf) {
            // A short false start (`T` of `TRACE`) whose continuation does not fit.
            self.buf.clear();
            return data;
        }
        let start_ns = self.start_ns;
        let (used, verdict) = match parse(&self.buf) {
            Parsed::Done(n, head) => (n.saturating_sub(old), sink.head(start_ns, ts_ns, head)),
            Parsed::Partial if self.buf.len() < self.max_head => return &[],
            Parsed::Partial => {
                self.lose(Why::TooLarge, sink);
                return &[];
            }
            Parsed::Bad if self.quiet => {
                // A false start at the end of the last segment: the new one may begin a head.
                self.buf.clear();
                return data;
            }
            Parsed::Bad => {
                self.lose(Why::Bad, sink);
                return &[];
            }
        };
        self.buf.clear();
        self.release();
        self.after(verdict, ts_ns, sink);
        data.get(used..).unwrap_or_default()
    }

    fn after(&mut self, verdict: Verdict, ts_ns: u64, sink: &mut impl Sink) {
        self.body = 0;
        self.last_ns = ts_ns;
        self.quiet = false;
        match verdict {
            Verdict::Body(Framing::None | Framing::Length(0)) => self.finish(ts_ns, sink),
            Verdict::Body(Framing::Length(n)) => self.state = State::Body { left: n },
            Verdict::Body(Framing::Chunked) => self.state = State::Chunked(Decoder::default()),
            Verdict::Body(Framing::Close) => self.state = State::Close,
            Verdict::Resync => {
                self.quiet = true;
                self.state = State::Resync;
            }
            Verdict::Stop => self.stop(),
        }
    }
}
