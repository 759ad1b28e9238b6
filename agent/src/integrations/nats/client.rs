//! A small blocking NATS client over one TCP connection: enough of the client protocol for
//! request/reply (`INFO`, `CONNECT`, `PING`/`PONG`, `SUB`, `PUB`, `MSG`, `HMSG`, `-ERR`), which
//! is all the JetStream API needs. Every read and write has the call timeout; a request waits
//! for its own reply subject and skips late replies to earlier requests.

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// TLS to the server: the rustls configuration (roots) and the name its certificate must carry.
#[derive(Clone)]
pub struct Tls {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// The connection, plain or TLS (NATS sends `INFO` in the clear, then the client starts TLS).
type Conn = crate::integrations::maybe_tls::MaybeTls<TcpStream>;

/// Credentials sent in `CONNECT`.
#[derive(Clone, Default)]
pub struct Auth {
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
}

/// Why a call failed.
#[derive(Debug)]
pub enum Failure {
    /// The socket failed: refused, reset, closed.
    Io(std::io::Error),
    /// No answer within the call timeout.
    Timeout,
    /// The server sent `-ERR '<text>'`.
    Server(String),
    /// The server requires TLS and the instance has none configured.
    TlsRequired,
    /// The TLS handshake failed (the rustls error).
    Tls(String),
    /// Nobody listens on the subject (status 503): JetStream is not enabled, or the account
    /// has none.
    NoResponders,
    /// The server sent something that is not the protocol.
    Protocol(String),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        match e.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Failure::Timeout,
            _ => Failure::Io(e),
        }
    }
}

/// One message delivered to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    pub subject: String,
    pub reply: Option<String>,
    /// The status of a header-only message (`503` no responders, `404`, `408`), if any.
    pub status: Option<u16>,
    pub payload: Vec<u8>,
}

/// A connected, authenticated client with one subscription for its replies.
pub struct Client {
    reader: BufReader<Conn>,
    inbox: String,
    next: u64,
    timeout: Duration,
}

impl Client {
    /// Connects to `address`, reads `INFO`, starts TLS when `tls` is given, sends `CONNECT`
    /// with `auth`, and waits for the `PONG` that proves it was accepted.
    pub fn connect(
        address: &str,
        auth: &Auth,
        tls: Option<&Tls>,
        timeout: Duration,
    ) -> Result<Client, Failure> {
        let addr = address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| Failure::Protocol(format!("{address} resolves to no address")))?;
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let mut stream = stream;
        let line = read_info_line(&mut stream)?;
        let info = line
            .strip_prefix("INFO ")
            .ok_or_else(|| Failure::Protocol(format!("expected INFO, got {:?}", trim(&line))))?;
        let info: serde_json::Value = serde_json::from_str(info.trim())
            .map_err(|e| Failure::Protocol(format!("INFO: {e}")))?;
        let conn = match tls {
            Some(tls) => Conn::Tls(Box::new(handshake(stream, tls)?)),
            None if info.get("tls_required").and_then(|v| v.as_bool()) == Some(true) => {
                return Err(Failure::TlsRequired);
            }
            None => Conn::Plain(stream),
        };
        let mut reader = BufReader::new(conn);
        let mut connect = serde_json::json!({
            "verbose": false, "pedantic": false, "lang": "rust", "version": "dozor-agent",
            "protocol": 1, "headers": true, "no_responders": true, "name": "dozor-agent",
        });
        if let Some(u) = &auth.user {
            connect["user"] = u.clone().into();
        }
        if let Some(p) = &auth.password {
            connect["pass"] = p.clone().into();
        }
        if let Some(t) = &auth.token {
            connect["auth_token"] = t.clone().into();
        }
        let inbox = format!("_INBOX.dozor{:016x}", rand::random::<u64>());
        let hello = format!("CONNECT {connect}\r\nPING\r\nSUB {inbox}.* 1\r\n");
        reader.get_mut().write_all(hello.as_bytes())?;
        let mut client = Client {
            reader,
            inbox,
            next: 0,
            timeout,
        };
        let deadline = Instant::now() + timeout;
        loop {
            match client.read_op(deadline)? {
                Op::Pong => return Ok(client),
                Op::Msg(_) => {}
            }
        }
    }

    /// Sends `payload` to `subject` and returns the one reply.
    pub fn request(&mut self, subject: &str, payload: &[u8]) -> Result<Msg, Failure> {
        let mut replies = self.replies(subject, payload, 1, false)?;
        Ok(replies.remove(0))
    }

    /// Sends a JetStream pull request `payload` to `subject` and returns the first `n`
    /// messages, which come to the reply inbox under their own subject, with an ack subject as
    /// their reply. Used by the tests, which consume what they publish.
    #[cfg(test)]
    pub fn request_many(
        &mut self,
        subject: &str,
        payload: &[u8],
        n: usize,
    ) -> Result<Vec<Msg>, Failure> {
        self.replies(subject, payload, n, true)
    }

    fn replies(
        &mut self,
        subject: &str,
        payload: &[u8],
        n: usize,
        pull: bool,
    ) -> Result<Vec<Msg>, Failure> {
        self.next += 1;
        let reply = format!("{}.{}", self.inbox, self.next);
        self.publish(subject, Some(&reply), payload)?;
        let deadline = Instant::now() + self.timeout;
        let mut out = Vec::new();
        while out.len() < n {
            if let Op::Msg(m) = self.read_op(deadline)?
                && (m.subject == reply
                    || (pull
                        && m.reply
                            .as_deref()
                            .is_some_and(|r| r.starts_with("$JS.ACK."))))
            {
                if m.status == Some(503) {
                    return Err(Failure::NoResponders);
                }
                out.push(m);
            }
        }
        Ok(out)
    }

    /// `PUB subject [reply] len`.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        payload: &[u8],
    ) -> Result<(), Failure> {
        let mut buf = match reply {
            Some(r) => format!("PUB {subject} {r} {}\r\n", payload.len()),
            None => format!("PUB {subject} {}\r\n", payload.len()),
        }
        .into_bytes();
        buf.extend_from_slice(payload);
        buf.extend_from_slice(b"\r\n");
        self.reader.get_mut().write_all(&buf)?;
        Ok(())
    }

    /// The next `PONG` or message; answers the server's `PING`s, skips `+OK` and `INFO`.
    fn read_op(&mut self, deadline: Instant) -> Result<Op, Failure> {
        loop {
            if Instant::now() >= deadline {
                return Err(Failure::Timeout);
            }
            let mut line = String::new();
            if (&mut self.reader)
                .take(MAX_LINE as u64)
                .read_line(&mut line)?
                == 0
            {
                return Err(Failure::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )));
            }
            if !line.ends_with('\n') && line.len() >= MAX_LINE {
                return Err(Failure::Protocol(format!(
                    "a line longer than {} KiB, not the NATS protocol",
                    MAX_LINE / 1024
                )));
            }
            match parse_line(&line)? {
                Line::Ping => self.reader.get_mut().write_all(b"PONG\r\n")?,
                Line::Pong => return Ok(Op::Pong),
                Line::Skip => {}
                Line::Err(e) => return Err(Failure::Server(e)),
                Line::Msg {
                    subject,
                    reply,
                    header_len,
                    total_len,
                } => {
                    let mut body = vec![0; total_len + 2];
                    self.reader.read_exact(&mut body)?;
                    body.truncate(total_len);
                    let payload = body.split_off(header_len);
                    let status = (header_len > 0).then(|| status(&body)).flatten();
                    return Ok(Op::Msg(Msg {
                        subject,
                        reply,
                        status,
                        payload,
                    }));
                }
            }
        }
    }
}

enum Op {
    Pong,
    Msg(Msg),
}

/// The `INFO` line, read a byte at a time so nothing after it is consumed before TLS starts.
fn read_info_line(stream: &mut TcpStream) -> Result<String, Failure> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 64 * 1024 {
        if stream.read(&mut byte)? == 0 {
            return Err(Failure::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection before INFO",
            )));
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Completes the TLS handshake on `stream`, so a certificate problem is reported as such.
fn handshake(
    mut stream: TcpStream,
    tls: &Tls,
) -> Result<StreamOwned<ClientConnection, TcpStream>, Failure> {
    let mut conn = ClientConnection::new(tls.config.clone(), tls.server_name.clone())
        .map_err(|e| Failure::Tls(e.to_string()))?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut stream) {
            let inner = e
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
                .map(|r| r.to_string());
            return Err(match inner {
                Some(r) => Failure::Tls(r),
                None => e.into(),
            });
        }
    }
    Ok(StreamOwned::new(conn, stream))
}

/// One protocol line from the server.
#[derive(Debug, PartialEq)]
pub enum Line {
    Ping,
    Pong,
    Skip,
    Err(String),
    Msg {
        subject: String,
        reply: Option<String>,
        header_len: usize,
        total_len: usize,
    },
}

fn trim(line: &str) -> &str {
    let t = line.trim_end();
    &t[..t.len().min(200)]
}

/// The longest control line read (`INFO` with many `connect_urls` is the longest a server sends).
const MAX_LINE: usize = 64 * 1024;
/// The largest message read: a server's `max_payload` is at most 64 MiB. A larger size in a
/// `MSG` line is a protocol error, not an allocation.
const MAX_MESSAGE: usize = 64 << 20;

/// Parses a control line (`MSG a.b 1 _INBOX.x 12`, `HMSG a 1 12 30`, `-ERR 'x'`, ...).
pub fn parse_line(line: &str) -> Result<Line, Failure> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut words = line.split_ascii_whitespace();
    let op = words.next().unwrap_or("");
    let bad = || Failure::Protocol(format!("unexpected {:?}", trim(line)));
    let num = |w: &str| {
        w.parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_MESSAGE)
            .ok_or_else(bad)
    };
    Ok(match op.to_ascii_uppercase().as_str() {
        "PING" => Line::Ping,
        "PONG" => Line::Pong,
        "+OK" | "INFO" | "" => Line::Skip,
        "-ERR" => Line::Err(line[4..].trim().trim_matches('\'').to_string()),
        "MSG" => {
            let w: Vec<&str> = words.collect();
            let (subject, reply, len) = match w.as_slice() {
                [s, _sid, len] => (s, None, len),
                [s, _sid, r, len] => (s, Some(r.to_string()), len),
                _ => return Err(bad()),
            };
            Line::Msg {
                subject: subject.to_string(),
                reply,
                header_len: 0,
                total_len: num(len)?,
            }
        }
        "HMSG" => {
            let w: Vec<&str> = words.collect();
            let (subject, reply, h, t) = match w.as_slice() {
                [s, _sid, h, t] => (s, None, h, t),
                [s, _sid, r, h, t] => (s, Some(r.to_string()), h, t),
                _ => return Err(bad()),
            };
            let (header_len, total_len) = (num(h)?, num(t)?);
            if header_len > total_len {
                return Err(bad());
            }
            Line::Msg {
                subject: subject.to_string(),
                reply,
                header_len,
                total_len,
            }
        }
        _ => return Err(bad()),
    })
}

/// The status code of a header block `NATS/1.0 503\r\n...`.
fn status(headers: &[u8]) -> Option<u16> {
    let first = headers.split(|b| *b == b'\r').next()?;
    let text = std::str::from_utf8(first).ok()?;
    text.strip_prefix("NATS/1.0")?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_control_lines() {
        assert_eq!(parse_line("PING\r\n").unwrap(), Line::Ping);
        assert_eq!(
            parse_line("MSG _INBOX.a.1 1 12\r\n").unwrap(),
            Line::Msg {
                subject: "_INBOX.a.1".into(),
                reply: None,
                header_len: 0,
                total_len: 12
            }
        );
        assert_eq!(
            parse_line("HMSG _INBOX.a.2 1 $JS.ACK.s.c.1.3.3.1733.17 16 20\r\n").unwrap(),
            Line::Msg {
                subject: "_INBOX.a.2".into(),
                reply: Some("$JS.ACK.s.c.1.3.3.1733.17".into()),
                header_len: 16,
                total_len: 20
            }
        );
        assert_eq!(
            parse_line("-ERR 'Authorization Violation'\r\n").unwrap(),
            Line::Err("Authorization Violation".into())
        );
        assert!(parse_line("HMSG a 1 30 12\r\n").is_err());
        assert!(parse_line("HTTP/1.1 400 Bad Request\r\n").is_err());
        assert_eq!(status(b"NATS/1.0 503\r\n\r\n"), Some(503));
        assert_eq!(status(b"NATS/1.0\r\nX: y\r\n\r\n"), None);
    }
}
