//! A blocking `GET` against an admin endpoint (`http://host:port`), with a bearer token and a
//! total deadline: a process that accepts the connection and never answers (stopped with
//! SIGSTOP, every thread stuck) still gives an answer within the timeout.
//!
//! Plain HTTP/1.1 over `std::net`, one request per connection: the admin endpoints listen on
//! loopback (or behind a token), answer small JSON documents, and the CLI must not need an
//! async runtime to ask them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest response body read: a status document of a collector with thousands of agents is
/// well under it.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// The URL is not `http://host:port[/path]`.
    #[error("invalid admin URL {0:?}: expected http://HOST:PORT")]
    Url(String),
    /// Nothing accepted the connection, or it broke.
    #[error("cannot reach {address}: {source}")]
    Unreachable {
        /// `host:port`.
        address: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Connected, but no whole answer within the timeout.
    #[error("{address} did not answer within {timeout:?}")]
    Timeout {
        /// `host:port`.
        address: String,
        /// The total timeout.
        timeout: Duration,
    },
    /// 401: the token is missing or wrong.
    #[error(
        "{address} refused the token (401): set --admin-token-file, or the config's admin.token_file"
    )]
    Unauthorized {
        /// `host:port`.
        address: String,
    },
    /// Another status than 200.
    #[error("{address} answered HTTP {status}: {body}")]
    Status {
        /// `host:port`.
        address: String,
        /// The status code.
        status: u16,
        /// The first bytes of the body.
        body: String,
    },
    /// The answer is not HTTP, or larger than [`MAX_BODY_BYTES`].
    #[error("{address} answered something that is not an admin endpoint's response: {what}")]
    Malformed {
        /// `host:port`.
        address: String,
        /// What was wrong.
        what: String,
    },
}

/// An admin endpoint: where it is and how to authenticate.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port`.
    pub address: String,
    /// Bearer token, when the endpoint needs one.
    pub token: Option<String>,
    /// Total time for one request: connect, send, and read the whole answer.
    pub timeout: Duration,
}

impl Target {
    /// The endpoint at `url` (`http://host:port`, or a bare `host:port`).
    pub fn new(url: &str, token: Option<String>, timeout: Duration) -> Result<Target, GetError> {
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let address = rest.split('/').next().unwrap_or_default();
        if address.is_empty() || !address.contains(':') || url.starts_with("https://") {
            return Err(GetError::Url(url.to_string()));
        }
        Ok(Target {
            address: address.to_string(),
            token,
            timeout,
        })
    }

    /// `GET path`; the body of a 200 answer.
    pub fn get(&self, path: &str) -> Result<String, GetError> {
        let deadline = Instant::now() + self.timeout;
        let timeout = || GetError::Timeout {
            address: self.address.clone(),
            timeout: self.timeout,
        };
        let unreachable = |source| GetError::Unreachable {
            address: self.address.clone(),
            source,
        };
        let addrs: Vec<SocketAddr> = self
            .address
            .to_socket_addrs()
            .map_err(unreachable)?
            .collect();
        let mut last = None;
        let mut stream = None;
        for a in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timeout());
            }
            match TcpStream::connect_timeout(&a, left) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(timeout()),
                Err(e) => last = Some(e),
            }
        }
        let Some(mut stream) = stream else {
            return Err(unreachable(last.unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
            })));
        };
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.address
        );
        if let Some(t) = &self.token {
            request.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        request.push_str("\r\n");
        let io = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => timeout(),
            _ => unreachable(e),
        };
        let left = |d: Instant| {
            let l = d.saturating_duration_since(Instant::now());
            (!l.is_zero()).then_some(l)
        };
        stream
            .set_write_timeout(Some(left(deadline).ok_or_else(timeout)?))
            .map_err(io)?;
        stream.write_all(request.as_bytes()).map_err(io)?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            stream
                .set_read_timeout(Some(left(deadline).ok_or_else(timeout)?))
                .map_err(io)?;
            match stream.read(&mut chunk).map_err(io)? {
                0 => break,
                n => response.extend_from_slice(&chunk[..n]),
            }
            if response.len() > MAX_BODY_BYTES {
                return Err(self.malformed("answer larger than 64 MiB"));
            }
        }
        self.parse(&response)
    }

    fn malformed(&self, what: &str) -> GetError {
        GetError::Malformed {
            address: self.address.clone(),
            what: what.to_string(),
        }
    }

    fn parse(&self, response: &[u8]) -> Result<String, GetError> {
        let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Err(self.malformed("no HTTP header"));
        };
        let head = String::from_utf8_lossy(&response[..split]);
        let mut body = response[split + 4..].to_vec();
        let status: u16 = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.malformed("no HTTP status line"))?;
        let chunked = head.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("transfer-encoding:") && l.contains("chunked")
        });
        if chunked {
            body = dechunk(&body).ok_or_else(|| self.malformed("bad chunked body"))?;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        match status {
            200 => Ok(body),
            401 => Err(GetError::Unauthorized {
                address: self.address.clone(),
            }),
            status => Err(GetError::Status {
                address: self.address.clone(),
                status,
                body: body.chars().take(200).collect(),
            }),
        }
    }
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = body.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&body[..line]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        body = &body[line + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_chunks() {
        let t = Target::new("http://127.0.0.1:8688", None, Duration::from_secs(1)).unwrap();
        assert_eq!(t.address, "127.0.0.1:8688");
        assert_eq!(
            Target::new("127.0.0.1:1/x", None, Duration::ZERO)
                .unwrap()
                .address,
            "127.0.0.1:1"
        );
        assert!(Target::new("https://h:1", None, Duration::ZERO).is_err());
        assert!(Target::new("nohost", None, Duration::ZERO).is_err());
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        let ok = t
            .parse(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            .unwrap();
        assert_eq!(ok, "{}");
        assert!(matches!(
            t.parse(b"HTTP/1.1 401 Unauthorized\r\n\r\n"),
            Err(GetError::Unauthorized { .. })
        ));
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = listener.local_addr().unwrap().to_string();
        let t = Target::new(&url, None, Duration::from_millis(300)).unwrap();
        let started = Instant::now();
        assert!(matches!(t.get("/v1/status"), Err(GetError::Timeout { .. })));
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(listener);
        assert!(matches!(
            t.get("/v1/status"),
            Err(GetError::Unreachable { .. })
        ));
    }
}
