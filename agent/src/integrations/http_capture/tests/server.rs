//! A real HTTP/1.1 server for the tests, on loopback, with known routes, statuses and delays,
//! that keeps its own log of every request as nginx's `$request_time` does: from the read that
//! brought the request's first byte to the write of its last response byte. That log is the
//! ground truth the capture is compared with.

use std::collections::VecDeque;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Logged {
    /// Request method.
    pub method: String,
    /// Request target as sent.
    pub target: String,
    /// Final status sent.
    pub status: u16,
    /// First request byte read to last response byte written.
    pub duration: Duration,
}

/// The running server: its port and its log.
pub struct Server {
    /// Port on 127.0.0.1.
    pub port: u16,
    /// Every request served, in the order they finished.
    pub log: Arc<Mutex<Vec<Logged>>>,
}

/// What a route answers: status, delay before answering, and how the body is framed.
fn route(method: &str, target: &str) -> (u16, Duration, Framing) {
    let ms = Duration::from_millis;
    match (method, target) {
        (_, "/slow") => (200, Duration::from_secs(20), Framing::Length),
        ("POST", "/orders") => (201, ms(2), Framing::Length),
        (_, "/missing") => (404, ms(0), Framing::Length),
        (_, "/boom") => (500, ms(15), Framing::Length),
        (_, "/chunked") => (200, ms(1), Framing::Chunked),
        (_, "/close") => (200, ms(1), Framing::Close),
        (_, t) if t.starts_with("/orders/") => (200, ms(3), Framing::Length),
        _ => (200, ms(0), Framing::Length),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Framing {
    Length,
    Chunked,
    Close,
}

impl Server {
    /// Listens on an ephemeral port of 127.0.0.1, a thread per connection.
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test server");
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = Arc::clone(&log);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let l = Arc::clone(&l);
                std::thread::spawn(move || serve(conn, &l));
            }
        });
        Server { port, log }
    }

    /// A copy of the log.
    pub fn log(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }
}

/// Bytes read but not consumed, with the time each read arrived (to date a request's first
/// byte when several came in one read).
struct Input {
    conn: TcpStream,
    buf: Vec<u8>,
    /// (absolute end offset of a read, when the kernel received its last segment, Unix ns)
    reads: VecDeque<(usize, u64)>,
    consumed: usize,
}

impl Input {
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match recv_stamped(&self.conn, &mut chunk) {
            Ok((0, _)) | Err(_) => false,
            Ok((n, at)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.reads.push_back((self.consumed + self.buf.len(), at));
                true
            }
        }
    }

    /// When the byte now first in the buffer was read.
    fn first_byte_time(&mut self) -> u64 {
        while self
            .reads
            .front()
            .is_some_and(|(end, _)| *end <= self.consumed)
        {
            self.reads.pop_front();
        }
        self.reads.front().map_or_else(now_ns, |(_, t)| *t)
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        self.consumed += n;
        self.buf.drain(..n).collect()
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One `recv` with the kernel's receive time of the data (`SO_TIMESTAMPNS`), Unix ns: the
/// server's "first byte read" is when the segment arrived, not when this thread, on a busy
/// 2-core machine, got around to reading it (nginx's clock would be late by that much too).
fn recv_stamped(conn: &TcpStream, buf: &mut [u8]) -> std::io::Result<(usize, u64)> {
    #[allow(unsafe_code)]
    // SAFETY: recvmsg on an open socket with an iovec over `buf` and a control buffer that
    // outlive the call; the control messages are read only within `msg_controllen` through the
    // CMSG_* accessors, and the timestamp is copied out unaligned.
    unsafe {
        let fd = conn.as_raw_fd();
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control = [0u64; 16];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        let n = libc::recvmsg(fd, &mut msg, 0);
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut at = now_ns();
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                at = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        Ok((n as usize, at))
    }
}

fn serve(conn: TcpStream, log: &Mutex<Vec<Logged>>) {
    // As nginx's `tcp_nodelay on`: a write is on the wire when it returns, not held by Nagle
    // until the peer's delayed ACK, so "last byte written" is the last byte on the wire.
    conn.set_nodelay(true).unwrap();
    let mut out = conn.try_clone().unwrap();
    let mut inp = Input {
        conn,
        buf: Vec::new(),
        reads: VecDeque::new(),
        consumed: 0,
    };
    loop {
        while inp.buf.is_empty() {
            if !inp.fill() {
                return;
            }
        }
        let start = inp.first_byte_time();
        let head_len = loop {
            if let Some(i) = inp.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !inp.fill() {
                return;
            }
        };
        let head = String::from_utf8(inp.take(head_len)).unwrap();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let (method, target) = (
            first.next().unwrap().to_string(),
            first.next().unwrap().to_string(),
        );
        let header = |name: &str| {
            head.split("\r\n")
                .skip(1)
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                })
                .map(|(_, v)| v.trim().to_ascii_lowercase())
        };
        let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
        if header("expect").as_deref() == Some("100-continue") {
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
        }
        while inp.buf.len() < length {
            if !inp.fill() {
                return;
            }
        }
        inp.take(length);
        let close_asked = header("connection").as_deref() == Some("close");
        let (status, delay, framing) = route(&method, &target);
        std::thread::sleep(delay);
        let body = format!("{method} {target} answered {status}\n").repeat(3);
        let reason = if status < 400 { "OK" } else { "Error" };
        let mut resp = format!("HTTP/1.1 {status} {reason}\r\n");
        let head_only = method == "HEAD";
        match framing {
            Framing::Length => {
                resp += &format!("Content-Length: {}\r\n\r\n", body.len());
                if !head_only {
                    resp += &body;
                }
                out.write_all(resp.as_bytes()).unwrap();
            }
            Framing::Chunked => {
                resp += "Transfer-Encoding: chunked\r\n\r\n";
                out.write_all(resp.as_bytes()).unwrap();
                if !head_only {
                    for part in body.as_bytes().chunks(40) {
                        std::thread::sleep(Duration::from_millis(1));
                        out.write_all(format!("{:x}\r\n", part.len()).as_bytes())
                            .unwrap();
                        out.write_all(part).unwrap();
                        out.write_all(b"\r\n").unwrap();
                    }
                    out.write_all(b"0\r\n\r\n").unwrap();
                }
            }
            Framing::Close => {
                resp += "Connection: close\r\n\r\n";
                resp += &body;
                out.write_all(resp.as_bytes()).unwrap();
            }
        }
        let duration = Duration::from_nanos(now_ns().saturating_sub(start));
        log.lock().unwrap().push(Logged {
            method,
            target,
            status,
            duration,
        });
        if framing == Framing::Close || close_asked {
            let _ = out.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}
