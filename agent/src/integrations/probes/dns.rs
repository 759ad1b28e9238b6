//! DNS probes: one query to one resolver, timed from the query sent to the matching reply
//! received, with the reply's code and answers checked.
//!
//! Messages are built and parsed with `hickory-proto` and sent over a std `UdpSocket` (or a
//! `TcpStream` for `transport: tcp`, and when a UDP reply comes back truncated) within the
//! probe's deadline. A reply whose id or question does not match the query (late, spoofed) is
//! ignored, and the probe waits on for the right one until the deadline.
//!
//! Without `resolver`, the probe asks the first `nameserver` of `/etc/resolv.conf` (on unix). A
//! Windows build has no such file: there `resolver` must be set (a later version could read the
//! adapters' DNS servers with `GetAdaptersAddresses`); see `docs/probes-http.md`.

use super::config::ProbeConfig;
use super::{Failure, Probe, remaining};
use crate::integrations::Context;
use dozor_config::At;
use dozor_metrics::catalogue::probes as m;
use dozor_metrics::sample::Recorder;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use serde::Deserialize;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// `dns`: a query to a resolver.
#[derive(Debug, Default, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct DnsProbe {
    /// The name asked for, e.g. `mes.plant`.
    pub query: String,
    /// The record type asked for: `A` (default), `AAAA`, `CNAME`, `MX`, `TXT`, `NS`, `SRV`.
    pub record: Option<String>,
    /// The resolver, `ip:port` (e.g. `10.0.0.53:53`, `[fd00::53]:53`); the first `nameserver`
    /// of `/etc/resolv.conf` when unset.
    pub resolver: Option<String>,
    /// `udp` (default) or `tcp`.
    pub transport: Transport,
    /// The response code that counts as success: `NOERROR` (default), `NXDOMAIN`, ...
    pub expect_rcode: Option<String>,
    /// When set, at least one answer record of the asked type, as text (`10.0.0.5`,
    /// `10 mail.plant.`), must match this regular expression.
    pub expect_answers_regex: Option<String>,
}

/// How a DNS query travels.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// One datagram each way (TCP when the reply is truncated).
    #[default]
    Udp,
    /// A TCP connection per query, with the two-byte length prefix.
    Tcp,
}

const RECORDS: [(&str, RecordType); 7] = [
    ("A", RecordType::A),
    ("AAAA", RecordType::AAAA),
    ("CNAME", RecordType::CNAME),
    ("MX", RecordType::MX),
    ("TXT", RecordType::TXT),
    ("NS", RecordType::NS),
    ("SRV", RecordType::SRV),
];

const RCODES: [(&str, ResponseCode); 6] = [
    ("NOERROR", ResponseCode::NoError),
    ("FORMERR", ResponseCode::FormErr),
    ("SERVFAIL", ResponseCode::ServFail),
    ("NXDOMAIN", ResponseCode::NXDomain),
    ("NOTIMP", ResponseCode::NotImp),
    ("REFUSED", ResponseCode::Refused),
];

fn record_type(s: Option<&str>) -> Result<RecordType, String> {
    let s = s.unwrap_or("A");
    RECORDS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, t)| *t)
        .ok_or_else(|| format!("\"{s}\" is not one of A, AAAA, CNAME, MX, TXT, NS, SRV"))
}

fn rcode(s: Option<&str>) -> Result<ResponseCode, String> {
    let s = s.unwrap_or("NOERROR");
    RCODES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, c)| *c)
        .ok_or_else(|| {
            format!("\"{s}\" is not one of NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED")
        })
}

/// `ip:port` of a resolver (a bare IP means port 53).
pub fn parse_resolver(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!(
        "\"{s}\" is not ip:port, e.g. 10.0.0.53:53 or [fd00::53]:53 (a name would need a resolver of its own)"
    ))
}

fn parse_name(s: &str) -> Result<Name, String> {
    if s.is_empty() {
        return Err("the name to ask for is empty".into());
    }
    let mut n = Name::from_ascii(s).map_err(|e| format!("\"{s}\" is not a DNS name: {e}"))?;
    n.set_fqdn(true);
    Ok(n)
}

impl ProbeConfig for DnsProbe {
    fn validate(&self, at: &mut At<'_>) {
        if let Err(e) = parse_name(&self.query) {
            at.error("query", e);
        }
        if let Err(e) = record_type(self.record.as_deref()) {
            at.error("record", e);
        }
        if let Err(e) = rcode(self.expect_rcode.as_deref()) {
            at.error("expect_rcode", e);
        }
        if let Some(r) = &self.resolver
            && let Err(e) = parse_resolver(r)
        {
            at.error("resolver", e);
        }
        if let Some(r) = &self.expect_answers_regex
            && let Err(e) = regex::Regex::new(r)
        {
            at.error("expect_answers_regex", e.to_string());
        }
    }

    fn build(&self, _ctx: &Context) -> Result<Box<dyn Probe>, String> {
        let resolver = match &self.resolver {
            Some(r) => parse_resolver(r)?,
            None => system_resolver()?,
        };
        Ok(Box::new(Dns {
            name: parse_name(&self.query)?,
            record: record_type(self.record.as_deref())?,
            resolver,
            transport: self.transport,
            expect_rcode: rcode(self.expect_rcode.as_deref())?,
            answers: self
                .expect_answers_regex
                .as_deref()
                .map(regex::Regex::new)
                .transpose()
                .map_err(|e| e.to_string())?,
        }))
    }
}

/// The first `nameserver` of `/etc/resolv.conf`.
#[cfg(unix)]
pub fn system_resolver() -> Result<SocketAddr, String> {
    let text = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| format!("/etc/resolv.conf: {e}: set resolver"))?;
    first_nameserver(&text)
        .ok_or_else(|| "/etc/resolv.conf names no nameserver: set resolver".into())
}

/// No system file to read: `resolver` must be set.
#[cfg(not(unix))]
pub fn system_resolver() -> Result<SocketAddr, String> {
    Err("no system resolver is read on this platform: set resolver".into())
}

fn first_nameserver(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("nameserver"))
            .then(|| w.next())
            .flatten()
            // A link-local address with a zone (`fe80::1%eth0`) is left out: std cannot parse it.
            .and_then(|a| a.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// A configured DNS probe.
#[derive(Debug)]
pub struct Dns {
    name: Name,
    record: RecordType,
    resolver: SocketAddr,
    transport: Transport,
    expect_rcode: ResponseCode,
    answers: Option<regex::Regex>,
}

impl Probe for Dns {
    fn kind(&self) -> &'static str {
        "dns"
    }

    fn run(
        &mut self,
        target: &str,
        deadline: Instant,
        rec: &mut Recorder,
    ) -> Result<Duration, Failure> {
        let (reply, took) = exchange(
            self.resolver,
            &self.name,
            self.record,
            self.transport,
            deadline,
        )?;
        let texts: Vec<String> = reply
            .answers
            .iter()
            .filter(|r| r.record_type() == self.record)
            .map(|r| r.data.to_string())
            .collect();
        rec.record(&m::DNS_ANSWERS, texts.len() as f64, &[target]);
        let code = reply.metadata.response_code;
        if code != self.expect_rcode {
            return Err(rcode_failure(&self.name, code, self.expect_rcode));
        }
        if let Some(re) = &self.answers
            && !texts.iter().any(|t| re.is_match(t))
        {
            return Err(Failure::new(
                "mismatch",
                format!(
                    "no {} answer for {} matches /{re}/ (answers: {texts:?})",
                    self.record, self.name
                ),
            ));
        }
        Ok(took)
    }
}

/// The reason for a reply with another code than expected.
fn rcode_failure(name: &Name, got: ResponseCode, want: ResponseCode) -> Failure {
    let reason = match got {
        ResponseCode::NXDomain => "nxdomain",
        ResponseCode::ServFail => "servfail",
        _ => "rcode",
    };
    Failure::new(
        reason,
        format!("{name}: the resolver answered {got}, not {want}"),
    )
}

/// Sends one query for `name`/`record` to `server` and returns the matching reply and the time
/// from the query sent (for TCP: from the connect) to the reply received. Any response code is
/// a reply; the caller judges it. Shared with the probes' resolver (`resolve.rs`).
pub fn exchange(
    server: SocketAddr,
    name: &Name,
    record: RecordType,
    transport: Transport,
    deadline: Instant,
) -> Result<(Message, Duration), Failure> {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name.clone(), record));
    let wire = query
        .to_vec()
        .map_err(|e| Failure::new("protocol", format!("query for {name}: {e}")))?;
    match transport {
        Transport::Udp => {
            let (reply, took) = udp(server, &query, &wire, deadline)?;
            if !reply.metadata.truncation {
                return Ok((reply, took));
            }
            // Too long for a datagram: the same query over TCP, timed from the first send.
            let start = Instant::now();
            let (reply, more) = tcp(server, &query, &wire, deadline)?;
            Ok((reply, took + more.max(start.elapsed())))
        }
        Transport::Tcp => tcp(server, &query, &wire, deadline),
    }
}

fn io_failure(server: SocketAddr, what: &str, e: &std::io::Error) -> Failure {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Failure::timeout(what),
        ErrorKind::ConnectionRefused => Failure::new("refused", format!("{server}: {what}: {e}")),
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            Failure::new("unreachable", format!("{server}: {what}: {e}"))
        }
        _ => Failure::new("protocol", format!("{server}: {what}: {e}")),
    }
}

/// Whether `reply` answers `query`: a response, same id, same question.
fn matches(query: &Message, reply: &Message) -> bool {
    reply.metadata.message_type == MessageType::Response
        && reply.metadata.id == query.metadata.id
        && reply.metadata.op_code == OpCode::Query
        && (reply.queries.is_empty() && reply.metadata.response_code != ResponseCode::NoError
            || reply.queries.len() == query.queries.len()
                && reply.queries.iter().zip(&query.queries).all(|(a, b)| {
                    a.query_type == b.query_type
                        && a.query_class == b.query_class
                        && a.name.to_lowercase() == b.name.to_lowercase()
                }))
}

fn udp(
    server: SocketAddr,
    query: &Message,
    wire: &[u8],
    deadline: Instant,
) -> Result<(Message, Duration), Failure> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).map_err(|e| io_failure(server, "socket", &e))?;
    // Connected: the kernel drops datagrams from other addresses, and reports ICMP errors.
    sock.connect(server)
        .map_err(|e| io_failure(server, "connect", &e))?;
    let start = Instant::now();
    sock.send(wire)
        .map_err(|e| io_failure(server, "send", &e))?;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = remaining(deadline, "dns reply")?;
        sock.set_read_timeout(Some(left))
            .map_err(|e| io_failure(server, "socket", &e))?;
        let n = sock
            .recv(&mut buf)
            .map_err(|e| io_failure(server, "dns reply", &e))?;
        let took = start.elapsed();
        match Message::from_vec(&buf[..n]) {
            Ok(reply) if matches(query, &reply) => return Ok((reply, took)),
            // Not ours (a late reply to an earlier probe, a spoofed one): wait on.
            Ok(_) => tracing::debug!(%server, "DNS reply that does not match the query ignored."),
            Err(e) => tracing::debug!(%server, error = %e, "Malformed DNS reply ignored."),
        }
    }
}

fn tcp(
    server: SocketAddr,
    query: &Message,
    wire: &[u8],
    deadline: Instant,
) -> Result<(Message, Duration), Failure> {
    let start = Instant::now();
    let left = remaining(deadline, "dns connect")?;
    let mut s = TcpStream::connect_timeout(&server, left)
        .map_err(|e| io_failure(server, "dns connect", &e))?;
    let mut framed = Vec::with_capacity(wire.len() + 2);
    framed.extend_from_slice(&(wire.len() as u16).to_be_bytes());
    framed.extend_from_slice(wire);
    s.set_write_timeout(Some(remaining(deadline, "dns query")?))
        .and_then(|_| s.write_all(&framed))
        .map_err(|e| io_failure(server, "dns query", &e))?;
    let mut read_exact = |buf: &mut [u8]| -> Result<(), Failure> {
        let mut got = 0;
        while got < buf.len() {
            let left = remaining(deadline, "dns reply")?;
            s.set_read_timeout(Some(left))
                .map_err(|e| io_failure(server, "socket", &e))?;
            match s.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(Failure::new(
                        "protocol",
                        format!("{server}: the connection closed before the whole reply"),
                    ));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io_failure(server, "dns reply", &e)),
            }
        }
        Ok(())
    };
    let mut len = [0u8; 2];
    read_exact(&mut len)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    read_exact(&mut buf)?;
    let took = start.elapsed();
    let reply = Message::from_vec(&buf)
        .map_err(|e| Failure::new("protocol", format!("{server}: malformed reply: {e}")))?;
    if !matches(query, &reply) {
        return Err(Failure::new(
            "protocol",
            format!("{server}: the reply does not answer the query (id or question differ)"),
        ));
    }
    Ok((reply, took))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn first_nameserver_of_resolv_conf() {
        let text = "# comment\nsearch plant\nnameserver fe80::1%eth0\nnameserver 10.0.0.53\nnameserver 10.0.0.54\n";
        assert_eq!(
            first_nameserver(text),
            Some("10.0.0.53:53".parse().unwrap())
        );
        assert_eq!(first_nameserver("search plant\n"), None);
    }

    #[test]
    fn resolvers_records_and_codes() {
        assert_eq!(
            parse_resolver("10.0.0.53").unwrap(),
            "10.0.0.53:53".parse().unwrap()
        );
        assert_eq!(
            parse_resolver("[fd00::53]:5353").unwrap(),
            "[fd00::53]:5353".parse().unwrap()
        );
        assert!(parse_resolver("dns.plant:53").is_err());
        assert_eq!(record_type(Some("mx")).unwrap(), RecordType::MX);
        assert!(record_type(Some("PTR")).is_err());
        assert_eq!(rcode(None).unwrap(), ResponseCode::NoError);
        assert_eq!(rcode(Some("nxdomain")).unwrap(), ResponseCode::NXDomain);
    }

    #[test]
    fn every_problem_at_once() {
        let p = DnsProbe {
            query: String::new(),
            record: Some("PTR".into()),
            resolver: Some("dns.plant".into()),
            expect_rcode: Some("MAYBE".into()),
            expect_answers_regex: Some("(".into()),
            ..Default::default()
        };
        let mut v = dozor_config::Validator::default();
        p.validate(&mut v.at("dns"));
        let text = format!("{v:?}");
        for key in [
            "dns.query",
            "dns.record",
            "dns.resolver",
            "dns.expect_rcode",
            "dns.expect_answers_regex",
        ] {
            assert!(text.contains(key), "{key} not reported: {text}");
        }
    }
}
