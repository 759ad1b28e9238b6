//! A raw HTTP/1.1 client for the tests: keep-alive, `Expect: 100-continue`, HEAD, chunked and
//! close-delimited responses, and pipelining (several requests in one write). It returns the
//! statuses it really received, the client side of the ground truth.

use std::io::{Read, Write};
use std::net::TcpStream;

/// One connection to the test server.
pub struct Client {
    conn: TcpStream,
    buf: Vec<u8>,
}

/// A request to send: method, target, body, whether to expect `100 Continue` first.
pub struct Req<'a> {
    /// Method.
    pub method: &'a str,
    /// Target.
    pub target: &'a str,
    /// Body (sent with Content-Length when not empty).
    pub body: &'a [u8],
    /// Send `Expect: 100-continue` and the body only after the `100`.
    pub expect: bool,
    /// Send `Connection: close`.
    pub close: bool,
}

impl<'a> Req<'a> {
    /// A request without a body.
    pub fn get(method: &'a str, target: &'a str) -> Req<'a> {
        Req {
            method,
            target,
            body: b"",
            expect: false,
            close: false,
        }
    }

    fn head(&self) -> String {
        let mut h = format!("{} {} HTTP/1.1\r\nHost: test\r\n", self.method, self.target);
        if !self.body.is_empty() {
            h += &format!("Content-Length: {}\r\n", self.body.len());
        }
        if self.expect {
            h += "Expect: 100-continue\r\n";
        }
        if self.close {
            h += "Connection: close\r\n";
        }
        h + "\r\n"
    }
}

impl Client {
    /// Connects to 127.0.0.1:`port`, then gives the server 20 ms to accept and wait in
    /// `read`: its log dates a request from the read that returned its first byte, which would
    /// otherwise include the time to accept and start its thread (the capture dates the packet).
    pub fn connect(port: u16) -> Client {
        let conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to the test server");
        conn.set_nodelay(true).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        Client {
            conn,
            buf: Vec::new(),
        }
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        let n = self.conn.read(&mut chunk).unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    fn head(&mut self) -> (u16, String) {
        loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(self.buf.drain(..i + 4).collect()).unwrap();
                let status = head[9..12].parse().unwrap();
                return (status, head.to_ascii_lowercase());
            }
            assert!(self.fill(), "connection closed before a response head");
        }
    }

    fn need(&mut self, n: usize) {
        while self.buf.len() < n {
            assert!(self.fill(), "connection closed inside a body");
        }
    }

    /// Reads one final response to a request of `method`; returns its status.
    pub fn response(&mut self, method: &str) -> u16 {
        let (status, head) = self.head();
        if method == "HEAD" {
            return status;
        }
        if let Some(len) = head
            .split("\r\n")
            .find_map(|l| l.strip_prefix("content-length:"))
        {
            let len: usize = len.trim().parse().unwrap();
            self.need(len);
            self.buf.drain(..len);
        } else if head.contains("transfer-encoding: chunked") {
            loop {
                let line_end = loop {
                    if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    assert!(self.fill(), "closed inside a chunk size");
                };
                let size =
                    usize::from_str_radix(std::str::from_utf8(&self.buf[..line_end]).unwrap(), 16)
                        .unwrap();
                self.need(line_end + 2 + size + 2);
                self.buf.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        } else {
            while self.fill() {}
            self.buf.clear();
        }
        status
    }

    /// Sends one request and reads its final response (after a `100 Continue` when it
    /// expected one).
    pub fn call(&mut self, req: &Req<'_>) -> u16 {
        self.conn.write_all(req.head().as_bytes()).unwrap();
        if req.expect {
            let (status, _) = self.head();
            assert_eq!(status, 100, "the server did not send 100 Continue");
        }
        self.conn.write_all(req.body).unwrap();
        self.response(req.method)
    }

    /// Writes every request at once (pipelining), then reads the responses in order.
    pub fn pipeline(&mut self, reqs: &[Req<'_>]) -> Vec<u16> {
        let mut all = Vec::new();
        for r in reqs {
            assert!(!r.expect, "no 100-continue in a pipeline");
            all.extend_from_slice(r.head().as_bytes());
            all.extend_from_slice(r.body);
        }
        self.conn.write_all(&all).unwrap();
        reqs.iter().map(|r| self.response(r.method)).collect()
    }
}
