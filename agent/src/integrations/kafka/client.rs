//! A small blocking Kafka client over `std::net::TcpStream`, on the `kafka-protocol` codec.
//!
//! Framing: a request is an `i32` size, the request header (v1 or v2, as the API version says)
//! and the body; a response is an `i32` size, the response header (correlation id) and the body.
//! Each connection asks `ApiVersions` (v0) once and each call picks the lowest version that the
//! broker supports within the range the caller needs. Every read and write has a deadline, the
//! collection's: a broker that accepts and never answers costs one timeout, not a hung agent.
//! Requests are counted by API, which is how the integration reports its own cost.
//!
//! With `security.protocol` `SSL` or `SASL_SSL` the TCP stream is wrapped in rustls before the
//! first frame; with `SASL_PLAINTEXT` or `SASL_SSL`, `SaslHandshake` (v1) and
//! `SaslAuthenticate` follow `ApiVersions` on every connection ([`super::sasl`]).

use super::sasl::{self, Mechanism, Sasl, Scram};
use super::security::{self, Security};
use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The API key of SaslAuthenticate.
const R_AUTH: i16 = ApiKey::SaslAuthenticate as i16;

/// The largest response read: more is a protocol error, not an allocation.
const MAX_RESPONSE: usize = 64 << 20;

/// What went wrong talking to one broker.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No address of the broker accepted a connection.
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    /// The deadline passed while waiting for the broker.
    #[error("{addr} did not answer {api} in time")]
    Timeout { addr: String, api: &'static str },
    /// The connection failed mid-request.
    #[error("{addr} closed or broke the connection during {api}: {reason}")]
    Io {
        addr: String,
        api: &'static str,
        reason: String,
    },
    /// The broker's bytes did not decode.
    #[error("{addr} sent a {api} response that does not decode: {reason}")]
    Protocol {
        addr: String,
        api: &'static str,
        reason: String,
    },
    /// The agent could not encode its own request (a bug: report it).
    #[error("encoding a {api} request for {addr} failed: {reason}")]
    Encode {
        addr: String,
        api: &'static str,
        reason: String,
    },
    /// The TLS handshake failed; `reason` names the setting to change.
    #[error("the TLS handshake with {addr} failed: {reason}")]
    Tls { addr: String, reason: String },
    /// SASL authentication failed; `reason` never holds the password.
    #[error("SASL authentication to {addr} failed: {reason}")]
    Auth { addr: String, reason: String },
    /// The broker supports no version of an API in the range needed.
    #[error("{addr} supports no {api} version from {lo} to {hi}")]
    Version {
        addr: String,
        api: &'static str,
        lo: i16,
        hi: i16,
    },
}

/// The socket, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One connection to one broker.
pub struct Conn {
    addr: String,
    stream: Stream,
    next_id: i32,
    versions: HashMap<i16, (i16, i16)>,
    /// The TLS settings, to explain an alert the broker sends after the handshake (TLS 1.3
    /// checks the client's certificate then).
    tls: Option<crate::integrations::db::tls::Settings>,
    /// When the SASL session ends (`session_lifetime_ms`, less a margin), if the broker says.
    expires: Option<Instant>,
}

/// The name of an API, for the `api` attribute and messages.
pub fn api_name(key: i16) -> &'static str {
    match ApiKey::try_from(key) {
        Ok(ApiKey::Metadata) => "Metadata",
        Ok(ApiKey::ListGroups) => "ListGroups",
        Ok(ApiKey::DescribeGroups) => "DescribeGroups",
        Ok(ApiKey::FindCoordinator) => "FindCoordinator",
        Ok(ApiKey::OffsetFetch) => "OffsetFetch",
        Ok(ApiKey::ListOffsets) => "ListOffsets",
        Ok(ApiKey::Fetch) => "Fetch",
        Ok(ApiKey::ApiVersions) => "ApiVersions",
        Ok(ApiKey::SaslHandshake) => "SaslHandshake",
        Ok(ApiKey::SaslAuthenticate) => "SaslAuthenticate",
        _ => "other",
    }
}

/// Requests sent, by API name.
pub type Counts = BTreeMap<&'static str, u64>;

impl Conn {
    /// Connects to `addr`, starts TLS and reads its API versions, then authenticates, all
    /// before `deadline`.
    pub fn open(
        addr: &str,
        client_id: &str,
        security: &Security,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<Conn, ClientError> {
        let connect = |reason: String| ClientError::Connect {
            addr: addr.to_string(),
            reason,
        };
        let addrs = addr
            .to_socket_addrs()
            .map_err(|e| connect(format!("cannot resolve it: {e}")))?;
        let mut last = "it resolves to no address".to_string();
        let mut stream = None;
        for a in addrs {
            let left = remaining(deadline).ok_or_else(|| connect("no time left".into()))?;
            match TcpStream::connect_timeout(&a, left) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let stream = stream.ok_or_else(|| connect(last))?;
        let _ = stream.set_nodelay(true);
        let stream = match &security.tls {
            Some(settings) => Stream::Tls(Box::new(handshake(addr, stream, settings, deadline)?)),
            None => Stream::Plain(stream),
        };
        let mut conn = Conn {
            addr: addr.to_string(),
            stream,
            next_id: 1,
            versions: HashMap::new(),
            tls: security.tls.clone(),
            expires: None,
        };
        let req = ApiVersionsRequest::default();
        let resp: ApiVersionsResponse = conn.send(&req, 0, client_id, deadline, counts)?;
        conn.versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        if let Some(sasl) = &security.sasl {
            conn.authenticate(sasl, client_id, deadline, counts)?;
        }
        Ok(conn)
    }

    /// `SaslHandshake` v1 for the mechanism, then its `SaslAuthenticate` exchange.
    fn authenticate(
        &mut self,
        sasl: &Sasl,
        client_id: &str,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<(), ClientError> {
        let addr = self.addr.clone();
        let auth = |reason: String| ClientError::Auth {
            addr: addr.clone(),
            reason,
        };
        let name = sasl.mechanism.name();
        let req = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(name));
        let resp = self.call(&req, 1, 1, client_id, deadline, counts)?;
        if resp.error_code != 0 {
            let offered: Vec<&str> = resp.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(auth(format!(
                "the broker does not enable sasl.mechanism {name} on this listener (error code \
                 {}; it offers {offered:?})",
                resp.error_code
            )));
        }
        match sasl.mechanism {
            Mechanism::Plain => {
                self.sasl_step(
                    sasl::plain(&sasl.username, &sasl.password),
                    client_id,
                    deadline,
                    counts,
                )?;
            }
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                let mut scram = Scram::new(
                    sasl.mechanism,
                    &sasl.username,
                    &sasl.password,
                    Scram::nonce(),
                );
                let server_first =
                    self.sasl_step(scram.client_first(), client_id, deadline, counts)?;
                let client_final = scram
                    .client_final(&server_first)
                    .map_err(|e| auth(e.to_string()))?;
                let server_final = self.sasl_step(client_final, client_id, deadline, counts)?;
                scram
                    .verify(&server_final)
                    .map_err(|e| auth(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// One `SaslAuthenticate` round trip: `bytes` out, the broker's bytes back.
    fn sasl_step(
        &mut self,
        bytes: Vec<u8>,
        client_id: &str,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<Vec<u8>, ClientError> {
        let req = SaslAuthenticateRequest::default().with_auth_bytes(bytes.into());
        // v1 when the broker has it: its answer says how long the session lasts (KIP-368).
        let v = if pick(self.versions.get(&R_AUTH).copied(), 1, 1).is_some() {
            1
        } else {
            0
        };
        let resp = self.call(&req, v, v, client_id, deadline, counts)?;
        if resp.error_code != 0 {
            let said = resp
                .error_message
                .as_ref()
                .map_or("no message", |m| m.as_str());
            return Err(ClientError::Auth {
                addr: self.addr.clone(),
                reason: format!("the broker answered error code {}: {said}", resp.error_code),
            });
        }
        if resp.session_lifetime_ms > 0 {
            // Reconnect (and authenticate again) before the broker would close the connection,
            // with a tenth of the lifetime to spare.
            let life = Duration::from_millis(resp.session_lifetime_ms as u64);
            self.expires = Some(Instant::now() + life.mul_f64(0.9));
        }
        Ok(resp.auth_bytes.to_vec())
    }

    /// Whether the broker's SASL session is over or nearly so: the connection must be opened
    /// again, not used.
    pub fn expired(&self) -> bool {
        self.expires.is_some_and(|at| Instant::now() >= at)
    }

    /// The address this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `req` at the lowest version from `lo` to `hi` the broker supports and reads the
    /// response.
    pub fn call<R: Request>(
        &mut self,
        req: &R,
        lo: i16,
        hi: i16,
        client_id: &str,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<R::Response, ClientError> {
        let version = pick(self.versions.get(&R::KEY).copied(), lo, hi).ok_or_else(|| {
            ClientError::Version {
                addr: self.addr.clone(),
                api: api_name(R::KEY),
                lo,
                hi,
            }
        })?;
        self.send(req, version, client_id, deadline, counts)
    }

    fn send<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        client_id: &str,
        deadline: Instant,
        counts: &mut Counts,
    ) -> Result<R::Response, ClientError> {
        let api = api_name(R::KEY);
        let addr = self.addr.clone();
        let protocol = |reason: String| ClientError::Protocol {
            addr: addr.clone(),
            api,
            reason,
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_string(client_id.to_string())));
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0; 4]);
        header
            .encode(&mut buf, R::header_version(version))
            .and_then(|_| req.encode(&mut buf, version))
            .map_err(|e| ClientError::Encode {
                addr: addr.clone(),
                api,
                reason: e.to_string(),
            })?;
        let size = i32::try_from(buf.len() - 4).map_err(|e| protocol(e.to_string()))?;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        *counts.entry(api).or_default() += 1;
        self.io(deadline, api, |s| s.write_all(&buf))?;
        let mut size = [0u8; 4];
        self.io(deadline, api, |s| s.read_exact(&mut size))?;
        let size = usize::try_from(i32::from_be_bytes(size)).unwrap_or(usize::MAX);
        if !(4..=MAX_RESPONSE).contains(&size) {
            return Err(protocol(format!("a response of {size} bytes")));
        }
        let mut body = vec![0u8; size];
        self.io(deadline, api, |s| s.read_exact(&mut body))?;
        let mut body = bytes::Bytes::from(body);
        // ApiVersions answers with header v0 whatever the request's version (KIP-511).
        let header_version = if R::KEY == ApiKey::ApiVersions as i16 {
            0
        } else {
            R::Response::header_version(version)
        };
        let header = kafka_protocol::messages::ResponseHeader::decode(&mut body, header_version)
            .map_err(|e| protocol(format!("header: {e}")))?;
        if header.correlation_id != id {
            return Err(protocol(format!(
                "correlation id {} for request {id}",
                header.correlation_id
            )));
        }
        let resp = R::Response::decode(&mut body, version).map_err(|e| protocol(e.to_string()))?;
        if body.has_remaining() {
            tracing::debug!(addr = %addr, api, left = body.remaining(), "Response had trailing bytes.");
        }
        Ok(resp)
    }

    /// One read or write under the deadline.
    fn io(
        &mut self,
        deadline: Instant,
        api: &'static str,
        f: impl FnOnce(&mut Stream) -> std::io::Result<()>,
    ) -> Result<(), ClientError> {
        let timeout = || ClientError::Timeout {
            addr: self.addr.clone(),
            api,
        };
        let left = remaining(deadline).ok_or_else(timeout)?;
        let tcp = self.stream.tcp();
        let set = tcp
            .set_read_timeout(Some(left))
            .and_then(|_| tcp.set_write_timeout(Some(left)));
        match set.and_then(|_| f(&mut self.stream)) {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(timeout())
            }
            Err(e)
                if self.tls.is_some()
                    && crate::integrations::db::tls::find::<rustls::Error>(&e).is_some() =>
            {
                let settings = self.tls.as_ref().expect("checked");
                Err(ClientError::Tls {
                    addr: self.addr.clone(),
                    reason: security::explain(settings, &e),
                })
            }
            Err(e) => Err(ClientError::Io {
                addr: self.addr.clone(),
                api,
                reason: e.to_string(),
            }),
        }
    }
}

/// The TLS handshake on `tcp`, under `deadline`; a failure says which setting to change.
fn handshake(
    addr: &str,
    mut tcp: TcpStream,
    settings: &crate::integrations::db::tls::Settings,
    deadline: Instant,
) -> Result<StreamOwned<ClientConnection, TcpStream>, ClientError> {
    let tls = |reason: String| ClientError::Tls {
        addr: addr.to_string(),
        reason,
    };
    let config = settings
        .client_config()
        .map_err(|e| tls(security::explain(settings, &e)))?;
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .map_err(|e| tls(format!("{host} is not a valid TLS server name: {e}")))?;
    let mut conn = ClientConnection::new(config, name).map_err(|e| tls(e.to_string()))?;
    while conn.is_handshaking() {
        let left = remaining(deadline).ok_or_else(|| ClientError::Timeout {
            addr: addr.to_string(),
            api: "the TLS handshake",
        })?;
        let _ = tcp.set_read_timeout(Some(left));
        let _ = tcp.set_write_timeout(Some(left));
        match conn.complete_io(&mut tcp) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(ClientError::Timeout {
                    addr: addr.to_string(),
                    api: "the TLS handshake",
                });
            }
            Err(e) => return Err(tls(security::explain(settings, &e))),
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Time left before `deadline`, `None` when it has passed.
fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

/// The lowest version from `lo` to `hi` within what the broker supports.
pub fn pick(broker: Option<(i16, i16)>, lo: i16, hi: i16) -> Option<i16> {
    let (bmin, bmax) = broker?;
    let v = lo.max(bmin);
    (v <= hi.min(bmax)).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_lowest_common_version() {
        assert_eq!(pick(Some((0, 9)), 2, 7), Some(2));
        assert_eq!(pick(Some((3, 9)), 2, 7), Some(3));
        assert_eq!(pick(Some((0, 1)), 2, 7), None);
        assert_eq!(pick(None, 0, 7), None);
    }
}
