//! A minimal HTTP/1.1 client that times its own phases: a blocking `TcpStream` (plus a rustls
//! `ClientConnection` for https), every read and write bounded by the time left until the
//! probe's deadline; the response head parsed with `httparse`; bodies by `Content-Length`,
//! chunked, or until the connection closes. One request per connection (`Connection: close`),
//! no HTTP/2: see `docs/adr/` (the probe HTTP client) for why not reqwest or ureq.

use super::super::tcp::connect_failure;
use super::super::{Failure, remaining};
use super::tls::{Recording, reason};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest response head read: past it the response is malformed (`protocol`).
const MAX_HEAD: usize = 64 * 1024;
/// Most headers parsed.
const MAX_HEADERS: usize = 128;

/// A TCP stream whose every read and write ends by the deadline.
struct Timed {
    sock: TcpStream,
    deadline: Instant,
}

fn left(deadline: Instant) -> std::io::Result<Duration> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err(std::io::Error::new(ErrorKind::TimedOut, "deadline passed"))
    } else {
        Ok(d)
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.sock.set_read_timeout(Some(left(self.deadline)?))?;
        self.sock.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sock.set_write_timeout(Some(left(self.deadline)?))?;
        self.sock.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.sock.flush()
    }
}

type Conn = crate::integrations::maybe_tls::MaybeTls<Timed>;

/// The phases' times, summed over the requests of one probe (redirects); `None`: not run.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Phases {
    pub resolve: Option<Duration>,
    pub connect: Option<Duration>,
    pub tls: Option<Duration>,
    pub first_byte: Option<Duration>,
    pub transfer: Option<Duration>,
}

fn add(slot: &mut Option<Duration>, d: Duration) {
    *slot = Some(slot.unwrap_or_default() + d);
}

impl Phases {
    /// `(phase label, time)` of the phases that ran.
    pub fn ran(&self) -> Vec<(&'static str, Duration)> {
        [
            ("resolve", self.resolve),
            ("connect", self.connect),
            ("tls", self.tls),
            ("first_byte", self.first_byte),
            ("transfer", self.transfer),
        ]
        .into_iter()
        .filter_map(|(n, d)| d.map(|d| (n, d)))
        .collect()
    }

    pub fn add_resolve(&mut self, d: Duration) {
        add(&mut self.resolve, d);
    }
}

/// TLS for one request: the config, the verifier it records with, and the name to verify.
pub struct Tls<'a> {
    pub config: &'a Arc<ClientConfig>,
    pub verifier: &'a Recording,
    pub server_name: ServerName<'static>,
}

/// One response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The first `max_body` bytes of the body.
    pub body: Vec<u8>,
    /// Body bytes received (after dechunking), at most `max_body`.
    pub size: u64,
    /// Whether the body went on past `max_body` (and the connection was dropped there).
    pub cut: bool,
}

impl Response {
    /// The values of header `name` (lowercase).
    pub fn header<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn io_failure(phase: &str, e: &std::io::Error) -> Failure {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Failure::timeout(phase),
        _ => {
            if let Some(t) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Failure::new(reason(t), format!("{phase}: {t}"));
            }
            Failure::new("protocol", format!("{phase}: {e}"))
        }
    }
}

/// Connects to `addr`, shakes hands when `tls`, writes `request` and reads the response,
/// adding each phase that completed to `phases`.
pub fn exchange(
    addr: SocketAddr,
    tls: Option<Tls<'_>>,
    request: &[u8],
    head_only: bool,
    max_body: u64,
    deadline: Instant,
    phases: &mut Phases,
) -> Result<Response, Failure> {
    let left = remaining(deadline, "connect")?;
    let start = Instant::now();
    let sock = TcpStream::connect_timeout(&addr, left).map_err(|e| connect_failure(&addr, &e))?;
    add(&mut phases.connect, start.elapsed());
    let _ = sock.set_nodelay(true);
    let mut timed = Timed { sock, deadline };
    let mut conn = match tls {
        None => Conn::Plain(timed),
        Some(t) => {
            t.verifier.reset();
            let start = Instant::now();
            let mut c = ClientConnection::new(t.config.clone(), t.server_name)
                .map_err(|e| Failure::new("tls", format!("TLS setup: {e}")))?;
            while c.is_handshaking() {
                if let Err(e) = c.complete_io(&mut timed) {
                    // The verifier's own verdict says best why a chain was refused.
                    if let Some(Err(v)) = t.verifier.seen().verdict {
                        return Err(Failure::new(reason(&v), format!("tls handshake: {v}")));
                    }
                    return Err(match e.kind() {
                        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                            Failure::timeout("tls handshake")
                        }
                        _ => {
                            let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
                            match inner {
                                Some(t) => Failure::new(reason(t), format!("tls handshake: {t}")),
                                None => Failure::new("tls", format!("tls handshake: {e}")),
                            }
                        }
                    });
                }
            }
            add(&mut phases.tls, start.elapsed());
            Conn::Tls(Box::new(StreamOwned::new(c, timed)))
        }
    };
    conn.write_all(request)
        .and_then(|_| conn.flush())
        .map_err(|e| io_failure("sending the request", &e))?;
    let sent = Instant::now();
    // The head, from the first response byte.
    let mut buf = vec![0u8; 16 * 1024];
    let mut head: Vec<u8> = Vec::new();
    let mut first: Option<Instant> = None;
    let (status, headers, used) = loop {
        let n = match conn.read(&mut buf) {
            Ok(0) => {
                return Err(Failure::new(
                    "protocol",
                    format!(
                        "the server closed the connection after {} bytes of response head",
                        head.len()
                    ),
                ));
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                let phase = if first.is_some() {
                    "response head"
                } else {
                    "first byte"
                };
                return Err(io_failure(phase, &e));
            }
        };
        if first.is_none() {
            let now = Instant::now();
            first = Some(now);
            add(&mut phases.first_byte, now - sent);
        }
        head.extend_from_slice(&buf[..n]);
        let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut r = httparse::Response::new(&mut hs);
        match r.parse(&head) {
            Ok(httparse::Status::Complete(used)) => {
                let status = r.code.unwrap_or(0);
                let headers: Vec<(String, String)> = r
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).trim().to_string(),
                        )
                    })
                    .collect();
                // 1xx interim responses (100 Continue) precede the real one.
                if (100..200).contains(&status) && status != 101 {
                    head.drain(..used);
                    continue;
                }
                break (status, headers, used);
            }
            Ok(httparse::Status::Partial) if head.len() <= MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(Failure::new(
                    "protocol",
                    format!("response head longer than {MAX_HEAD} bytes"),
                ));
            }
            Err(e) => {
                return Err(Failure::new(
                    "protocol",
                    format!("malformed response head: {e}"),
                ));
            }
        }
    };
    let first = first.unwrap_or(sent);
    let framing = framing(status, &headers, head_only)?;
    let mut src = Src {
        conn: &mut conn,
        pending: head.split_off(used),
        pos: 0,
    };
    let mut body = Body {
        kept: Vec::new(),
        size: 0,
        max: max_body,
        cut: false,
    };
    match framing {
        Framing::None => {}
        Framing::Length(n) => src.copy(&mut body, Some(n))?,
        Framing::Close => src.copy(&mut body, None)?,
        Framing::Chunked => src.chunked(&mut body)?,
    }
    add(&mut phases.transfer, first.elapsed());
    Ok(Response {
        status,
        headers,
        body: body.kept,
        size: body.size,
        cut: body.cut,
    })
}

enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

fn framing(status: u16, headers: &[(String, String)], head_only: bool) -> Result<Framing, Failure> {
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Framing::None);
    }
    let te = headers
        .iter()
        .filter(|(n, _)| n == "transfer-encoding")
        .map(|(_, v)| v.to_ascii_lowercase())
        .collect::<Vec<_>>();
    if let Some(last) = te.last() {
        return if last.rsplit(',').next().map(str::trim) == Some("chunked") {
            Ok(Framing::Chunked)
        } else {
            Ok(Framing::Close)
        };
    }
    let mut lengths = headers.iter().filter(|(n, _)| n == "content-length");
    match (lengths.next(), lengths.next()) {
        (None, _) => Ok(Framing::Close),
        (Some((_, v)), second) => {
            let n = v.parse::<u64>().map_err(|_| {
                Failure::new(
                    "protocol",
                    format!("Content-Length \"{v}\" is not a number"),
                )
            })?;
            if second.is_some_and(|(_, w)| w != v) {
                return Err(Failure::new(
                    "protocol",
                    "two different Content-Length headers",
                ));
            }
            Ok(Framing::Length(n))
        }
    }
}

/// The body as received: the first `max` bytes kept, all counted up to `max`.
struct Body {
    kept: Vec<u8>,
    size: u64,
    max: u64,
    cut: bool,
}

impl Body {
    /// Takes `data`; false once `max` is reached (the rest is not read).
    fn take(&mut self, data: &[u8]) -> bool {
        let room = (self.max - self.size) as usize;
        let n = data.len().min(room);
        self.kept.extend_from_slice(&data[..n]);
        self.size += n as u64;
        if n < data.len() {
            self.cut = true;
        }
        !self.cut
    }
}

/// The connection after the head, with what was read past it.
struct Src<'a> {
    conn: &'a mut Conn,
    pending: Vec<u8>,
    pos: usize,
}

impl Src<'_> {
    /// More bytes (`Ok(false)` at the end of the stream).
    fn fill(&mut self) -> Result<bool, Failure> {
        if self.pos < self.pending.len() {
            return Ok(true);
        }
        self.pending.resize(16 * 1024, 0);
        self.pos = 0;
        loop {
            match self.conn.read(&mut self.pending) {
                Ok(n) => {
                    self.pending.truncate(n);
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // TLS without close_notify: the end of a close-delimited body all the same.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    self.pending.clear();
                    return Ok(false);
                }
                Err(e) => {
                    self.pending.clear();
                    return Err(io_failure("transfer", &e));
                }
            }
        }
    }

    /// Copies `len` bytes (until the end when `None`) into `body`.
    fn copy(&mut self, body: &mut Body, len: Option<u64>) -> Result<(), Failure> {
        let mut want = len;
        while want != Some(0) {
            if !self.fill()? {
                return match want {
                    None => Ok(()),
                    Some(n) => Err(Failure::new(
                        "protocol",
                        format!("the connection closed {n} bytes before the end of the body"),
                    )),
                };
            }
            let avail = self.pending.len() - self.pos;
            let n = want.map_or(avail, |w| avail.min(w as usize));
            let more = body.take(&self.pending[self.pos..self.pos + n]);
            self.pos += n;
            if let Some(w) = &mut want {
                *w -= n as u64;
            }
            if !more {
                return Ok(());
            }
        }
        Ok(())
    }

    fn line(&mut self) -> Result<String, Failure> {
        let mut line = Vec::new();
        loop {
            if !self.fill()? {
                return Err(Failure::new(
                    "protocol",
                    "the connection closed inside a chunk header",
                ));
            }
            let b = self.pending[self.pos];
            self.pos += 1;
            if b == b'\n' {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            line.push(b);
            if line.len() > 4096 {
                return Err(Failure::new(
                    "protocol",
                    "chunk header longer than 4096 bytes",
                ));
            }
        }
    }

    fn chunked(&mut self, body: &mut Body) -> Result<(), Failure> {
        loop {
            let line = self.line()?;
            let hex = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(hex, 16)
                .map_err(|_| Failure::new("protocol", format!("bad chunk size \"{hex}\"")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !self.line()?.is_empty() {}
                return Ok(());
            }
            let before = body.size;
            self.copy(body, Some(size))?;
            if body.cut || body.size - before < size {
                return Ok(());
            }
            if !self.line()?.is_empty() {
                return Err(Failure::new("protocol", "a chunk is longer than its size"));
            }
        }
    }
}
