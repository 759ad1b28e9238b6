//! One socket of a `sock_diag` dump: `struct inet_diag_msg` (family, state, addresses, ports,
//! cookie) and the `struct tcp_info` of its `INET_DIAG_INFO` attribute.
//!
//! `struct tcp_info` has grown with the kernel (`tcpi_bytes_acked` in 4.1, `tcpi_delivery_rate`
//! in 4.9, ...): it is read by the length the kernel sent, and a field beyond that length is
//! `None`, never 0, so an older kernel's missing figure is not reported rather than reported
//! wrong. Fields a newer kernel appends are ignored.

use crate::integrations::sock_diag::{INET_DIAG_INFO, invalid};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Length of `struct inet_diag_msg` before its attributes.
pub const MSG_LEN: usize = 72;

/// The figures of `struct tcp_info` the agent reports; `None` when the kernel's struct is too
/// short to hold the field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// `tcpi_lost`: segments in flight considered lost.
    pub lost: Option<u32>,
    /// `tcpi_rtt`: smoothed RTT, µs.
    pub rtt_us: Option<u32>,
    /// `tcpi_rttvar`: RTT mean deviation, µs.
    pub rttvar_us: Option<u32>,
    /// `tcpi_reordering`: reordering distance, segments.
    pub reordering: Option<u32>,
    /// `tcpi_total_retrans`: segments retransmitted over the socket's life.
    pub total_retrans: Option<u32>,
    /// `tcpi_bytes_acked`: payload bytes sent and acknowledged.
    pub bytes_acked: Option<u64>,
    /// `tcpi_bytes_received`: payload bytes received.
    pub bytes_received: Option<u64>,
    /// `tcpi_min_rtt`: windowed minimum RTT, µs; `u32::MAX` before the first sample.
    pub min_rtt_us: Option<u32>,
    /// `tcpi_delivery_rate`: bytes per second of the latest delivered flight.
    pub delivery_rate: Option<u64>,
}

/// Byte offsets of the fields in `struct tcp_info` (`include/uapi/linux/tcp.h`).
pub mod off {
    pub const LOST: usize = 32;
    pub const RTT: usize = 68;
    pub const RTTVAR: usize = 72;
    pub const REORDERING: usize = 88;
    pub const TOTAL_RETRANS: usize = 100;
    pub const BYTES_ACKED: usize = 120;
    pub const BYTES_RECEIVED: usize = 128;
    pub const MIN_RTT: usize = 148;
    pub const DELIVERY_RATE: usize = 160;
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl TcpInfo {
    /// Reads the struct the kernel sent, of whatever length.
    pub fn parse(b: &[u8]) -> TcpInfo {
        TcpInfo {
            lost: u32_at(b, off::LOST),
            rtt_us: u32_at(b, off::RTT),
            rttvar_us: u32_at(b, off::RTTVAR),
            reordering: u32_at(b, off::REORDERING),
            total_retrans: u32_at(b, off::TOTAL_RETRANS),
            bytes_acked: u64_at(b, off::BYTES_ACKED),
            bytes_received: u64_at(b, off::BYTES_RECEIVED),
            min_rtt_us: u32_at(b, off::MIN_RTT),
            delivery_rate: u64_at(b, off::DELIVERY_RATE),
        }
    }
}

/// One TCP socket of the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Socket {
    /// Kernel TCP state (`1` established, `10` listen, ...).
    pub state: u8,
    /// This host's end; an IPv4-mapped IPv6 address is given as IPv4.
    pub local: SocketAddr,
    /// The other end, likewise.
    pub remote: SocketAddr,
    /// The kernel's socket cookie: unique for the socket's life (and the boot).
    pub cookie: u64,
    /// Its `struct tcp_info`, when the request asked for it and the kernel sent it.
    pub info: Option<TcpInfo>,
}

/// Parses one reply of the dump (`struct inet_diag_msg` and its attributes).
pub fn parse_socket(p: &[u8]) -> std::io::Result<Socket> {
    if p.len() < MSG_LEN {
        return Err(invalid(format!("short inet_diag_msg ({} bytes)", p.len())));
    }
    let family = i32::from(p[0]);
    let addr = |at: usize| -> std::io::Result<IpAddr> {
        match family {
            libc::AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(
                p[at],
                p[at + 1],
                p[at + 2],
                p[at + 3],
            ))),
            libc::AF_INET6 => {
                let octets: [u8; 16] = p[at..at + 16].try_into().map_err(|_| invalid("address"))?;
                let v6 = Ipv6Addr::from(octets);
                Ok(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
            }
            other => Err(invalid(format!("address family {other}"))),
        }
    };
    // inet_diag_sockid at 4: sport, dport (network order), src[16], dst[16], if, cookie[2].
    let sport = u16::from_be_bytes([p[4], p[5]]);
    let dport = u16::from_be_bytes([p[6], p[7]]);
    let local = SocketAddr::new(addr(8)?, sport);
    let remote = SocketAddr::new(addr(24)?, dport);
    let lo = u32_at(p, 44).unwrap_or(0);
    let hi = u32_at(p, 48).unwrap_or(0);
    let mut info = None;
    let mut rest = &p[MSG_LEN..];
    while rest.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]);
        if len < 4 || len > rest.len() {
            return Err(invalid("attribute length out of bounds"));
        }
        if kind == INET_DIAG_INFO {
            info = Some(TcpInfo::parse(&rest[4..len]));
        }
        rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
    }
    Ok(Socket {
        state: p[1],
        local,
        remote,
        cookie: (u64::from(hi) << 32) | u64::from(lo),
        info,
    })
}

/// Test builders of replies, shared with the aggregation's tests.
#[cfg(test)]
pub mod build {
    use super::*;

    /// A `struct tcp_info` of `len` bytes with the given fields set (the others 0).
    pub fn tcp_info(len: usize, fields: &[(usize, u64)]) -> Vec<u8> {
        let mut b = vec![0u8; 232.max(len)];
        for &(at, v) in fields {
            if at == off::BYTES_ACKED || at == off::BYTES_RECEIVED || at == off::DELIVERY_RATE {
                b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
            } else {
                b[at..at + 4].copy_from_slice(&(v as u32).to_ne_bytes());
            }
        }
        b.truncate(len);
        b
    }

    /// An `inet_diag_msg` for an IPv4 socket with an `INET_DIAG_INFO` attribute.
    pub fn reply(
        state: u8,
        local: SocketAddr,
        remote: SocketAddr,
        cookie: u64,
        info: &[u8],
    ) -> Vec<u8> {
        let mut p = vec![0u8; MSG_LEN];
        let v4 = |a: SocketAddr| match a.ip() {
            IpAddr::V4(v) => v.octets(),
            IpAddr::V6(_) => panic!("IPv4 only"),
        };
        p[0] = libc::AF_INET as u8;
        p[1] = state;
        p[4..6].copy_from_slice(&local.port().to_be_bytes());
        p[6..8].copy_from_slice(&remote.port().to_be_bytes());
        p[8..12].copy_from_slice(&v4(local));
        p[24..28].copy_from_slice(&v4(remote));
        p[44..48].copy_from_slice(&(cookie as u32).to_ne_bytes());
        p[48..52].copy_from_slice(&((cookie >> 32) as u32).to_ne_bytes());
        let len = 4 + info.len();
        p.extend_from_slice(&(len as u16).to_ne_bytes());
        p.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        p.extend_from_slice(info);
        p.resize(p.len().next_multiple_of(4), 0);
        p
    }

    /// The field offsets, for tests.
    pub use super::off;
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reads_every_field_of_a_full_struct() {
        let b = tcp_info(
            232,
            &[
                (off::LOST, 4),
                (off::RTT, 1500),
                (off::RTTVAR, 700),
                (off::REORDERING, 3),
                (off::TOTAL_RETRANS, 9),
                (off::BYTES_ACKED, 5_000_000_000),
                (off::BYTES_RECEIVED, 77),
                (off::MIN_RTT, 40),
                (off::DELIVERY_RATE, 125_000),
            ],
        );
        let i = TcpInfo::parse(&b);
        assert_eq!(
            i,
            TcpInfo {
                lost: Some(4),
                rtt_us: Some(1500),
                rttvar_us: Some(700),
                reordering: Some(3),
                total_retrans: Some(9),
                bytes_acked: Some(5_000_000_000),
                bytes_received: Some(77),
                min_rtt_us: Some(40),
                delivery_rate: Some(125_000),
            }
        );
    }

    /// Regression: #14. A 3.x kernel's 104-byte struct ends after `tcpi_total_retrans`: the
    /// later fields are absent, not 0.
    #[test]
    fn a_short_struct_leaves_the_later_fields_absent() {
        let b = tcp_info(104, &[(off::RTT, 900), (off::TOTAL_RETRANS, 2)]);
        let i = TcpInfo::parse(&b);
        assert_eq!((i.rtt_us, i.total_retrans), (Some(900), Some(2)));
        assert_eq!(
            (
                i.bytes_acked,
                i.bytes_received,
                i.min_rtt_us,
                i.delivery_rate
            ),
            (None, None, None, None)
        );
        // 4.6 (before tcpi_delivery_rate): min_rtt present, delivery rate absent.
        let i = TcpInfo::parse(&tcp_info(160, &[(off::MIN_RTT, 30)]));
        assert_eq!((i.min_rtt_us, i.delivery_rate), (Some(30), None));
        // A field cut in the middle is absent too.
        assert_eq!(TcpInfo::parse(&tcp_info(70, &[])).rtt_us, None);
        assert_eq!(TcpInfo::parse(&[]), TcpInfo::default());
        // A newer kernel's longer struct: extra bytes ignored.
        assert_eq!(
            TcpInfo::parse(&tcp_info(400, &[(off::LOST, 1)])).lost,
            Some(1)
        );
    }

    #[test]
    fn parses_addresses_ports_cookie_and_the_attribute() {
        let info = tcp_info(232, &[(off::RTT, 250)]);
        let r = reply(
            1,
            addr("10.0.0.1:40000"),
            addr("10.0.0.5:5432"),
            0x1_0000_0002,
            &info,
        );
        let s = parse_socket(&r).unwrap();
        assert_eq!(s.state, 1);
        assert_eq!(s.local, addr("10.0.0.1:40000"));
        assert_eq!(s.remote, addr("10.0.0.5:5432"));
        assert_eq!(s.cookie, 0x1_0000_0002);
        assert_eq!(s.info.unwrap().rtt_us, Some(250));
        // Without the attribute: no info.
        assert_eq!(parse_socket(&r[..MSG_LEN]).unwrap().info, None);
    }

    #[test]
    fn ipv4_mapped_ipv6_is_ipv4_and_garbage_is_an_error() {
        let mut p = vec![0u8; MSG_LEN];
        p[0] = libc::AF_INET6 as u8;
        p[1] = 1;
        p[6..8].copy_from_slice(&443u16.to_be_bytes());
        p[24 + 10] = 0xff;
        p[24 + 11] = 0xff;
        p[24 + 12..24 + 16].copy_from_slice(&[192, 0, 2, 7]);
        assert_eq!(parse_socket(&p).unwrap().remote, addr("192.0.2.7:443"));
        p[24 + 10] = 0;
        assert!(parse_socket(&p).unwrap().remote.is_ipv6());
        assert!(parse_socket(&p[..40]).is_err());
        let mut bad_attr = p.clone();
        bad_attr.extend_from_slice(&[200, 0, 2, 0]);
        assert!(parse_socket(&bad_attr).is_err());
        p[0] = 99;
        assert!(parse_socket(&p).is_err());
    }
}
