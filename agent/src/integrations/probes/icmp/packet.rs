//! ICMP and ICMPv6 echo messages: the requests the probe sends, and what it reads back (its
//! replies, and the destination-unreachable errors that quote its requests).
//!
//! A request's payload starts with the round's cookie (8 bytes, big-endian), then a fixed pattern
//! up to the payload size: a reply whose payload does not start with the cookie belongs to
//! someone else (another ping, a round that ended), whatever its identifier.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// ICMP echo request and reply; ICMPv6 echo request and reply.
const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// Destination unreachable, in ICMP and in ICMPv6.
const UNREACHABLE_V4: u8 = 3;
const UNREACHABLE_V6: u8 = 1;
/// Bytes of the echo header: type, code, checksum, identifier, sequence.
pub const HEADER: usize = 8;
/// Bytes of the cookie at the start of the payload: the smallest payload.
pub const COOKIE: usize = 8;

/// An echo request for `v6` or not, with its checksum (which the kernel recomputes for ICMPv6,
/// where it covers a pseudo-header the probe does not see).
pub fn echo_request(v6: bool, id: u16, seq: u16, cookie: u64, payload: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(HEADER + payload);
    p.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&cookie.to_be_bytes()[..COOKIE.min(payload)]);
    p.extend((p.len()..HEADER + payload).map(|i| i as u8));
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let word = match pair {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What a received message says about the probe's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// An echo reply: its identifier (rewritten by the kernel on datagram sockets), sequence and
    /// the cookie its payload starts with (`None` when shorter).
    Reply {
        id: u16,
        seq: u16,
        cookie: Option<u64>,
    },
    /// A destination-unreachable error quoting an echo request to `dst` with `id` and `seq`.
    Unreachable {
        code: u8,
        dst: IpAddr,
        id: u16,
        seq: u16,
    },
}

/// Reads a received message: `ip_header` when it starts with the IPv4 header (raw IPv4 sockets);
/// `None` for anything that is neither a reply nor an error about an echo request.
pub fn parse(buf: &[u8], v6: bool, ip_header: bool) -> Option<Message> {
    let icmp = if ip_header { skip_ipv4(buf)? } else { buf };
    let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
    let (reply, unreachable) = if v6 {
        (ECHO_REPLY_V6, UNREACHABLE_V6)
    } else {
        (ECHO_REPLY_V4, UNREACHABLE_V4)
    };
    if kind == reply {
        let (id, seq) = id_seq(icmp)?;
        let cookie = icmp
            .get(HEADER..HEADER + COOKIE)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()));
        return Some(Message::Reply { id, seq, cookie });
    }
    if kind != unreachable {
        return None;
    }
    // The error quotes the request's IP header and at least its first 8 bytes.
    let quoted = icmp.get(HEADER..)?;
    let (dst, echo) = if v6 {
        // Fixed header only: an echo request the probe sent has no extension headers.
        let header = quoted.get(..40)?;
        if header[6] != 58 {
            return None;
        }
        let dst: [u8; 16] = header[24..40].try_into().ok()?;
        (IpAddr::V6(Ipv6Addr::from(dst)), &quoted[40..])
    } else {
        let echo = skip_ipv4(quoted)?;
        if quoted[9] != 1 {
            return None;
        }
        let dst: [u8; 4] = quoted[16..20].try_into().ok()?;
        (IpAddr::V4(Ipv4Addr::from(dst)), echo)
    };
    let request = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
    if *echo.first()? != request {
        return None;
    }
    let (id, seq) = id_seq(echo)?;
    Some(Message::Unreachable { code, dst, id, seq })
}

fn id_seq(icmp: &[u8]) -> Option<(u16, u16)> {
    let b = icmp.get(4..8)?;
    Some((
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    ))
}

/// What follows an IPv4 header (of at least 20 bytes, by its IHL).
fn skip_ipv4(buf: &[u8]) -> Option<&[u8]> {
    let ihl = usize::from(*buf.first()? & 0x0f) * 4;
    if *buf.first()? >> 4 != 4 || ihl < 20 {
        return None;
    }
    buf.get(ihl..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_checksums_to_zero_and_carries_the_cookie() {
        let p = echo_request(false, 0x1234, 7, 0xdead_beef_0102_0304, 56);
        assert_eq!(p.len(), 64);
        assert_eq!(checksum(&p), 0, "a correct checksum sums to zero");
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        // The peer echoes the payload back: the reply is the request with another type.
        let mut reply = p.clone();
        reply[0] = ECHO_REPLY_V4;
        assert_eq!(
            parse(&reply, false, false),
            Some(Message::Reply {
                id: 0x1234,
                seq: 7,
                cookie: Some(0xdead_beef_0102_0304)
            })
        );
        // An odd length: the last byte is padded with zero.
        let odd = echo_request(false, 1, 2, 3, 9);
        assert_eq!(checksum(&odd), 0);
    }

    #[test]
    fn a_raw_ipv4_reply_is_read_past_its_ip_header_and_others_are_not_replies() {
        let mut reply = echo_request(false, 9, 300, 42, 16);
        reply[0] = ECHO_REPLY_V4;
        let mut packet = vec![
            0x46, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
        ];
        packet.extend_from_slice(&[0; 4]); // options: IHL 6
        packet.extend_from_slice(&reply);
        assert_eq!(
            parse(&packet, false, true),
            Some(Message::Reply {
                id: 9,
                seq: 300,
                cookie: Some(42)
            })
        );
        // Our own request (seen on loopback) is not a reply.
        assert_eq!(
            parse(&echo_request(false, 9, 1, 42, 16), false, false),
            None
        );
        assert_eq!(parse(&echo_request(true, 9, 1, 42, 16), true, false), None);
        assert_eq!(parse(&[], false, true), None);
        assert_eq!(parse(&[0x45, 0], false, true), None);
    }

    #[test]
    fn an_unreachable_error_names_the_quoted_request() {
        let request = echo_request(false, 77, 5, 1, 16);
        let mut quoted = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 192, 0, 2, 9,
        ];
        quoted.extend_from_slice(&request[..8]);
        let mut error = vec![UNREACHABLE_V4, 1, 0, 0, 0, 0, 0, 0];
        error.extend_from_slice(&quoted);
        assert_eq!(
            parse(&error, false, false),
            Some(Message::Unreachable {
                code: 1,
                dst: "192.0.2.9".parse().unwrap(),
                id: 77,
                seq: 5
            })
        );

        let request = echo_request(true, 78, 6, 1, 16);
        let mut header = vec![0x60, 0, 0, 0, 0, 24, 58, 64];
        header.extend_from_slice(&"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
        header.extend_from_slice(&"fd00::9".parse::<Ipv6Addr>().unwrap().octets());
        let mut error = vec![UNREACHABLE_V6, 3, 0, 0, 0, 0, 0, 0];
        error.extend_from_slice(&header);
        error.extend_from_slice(&request[..8]);
        assert_eq!(
            parse(&error, true, false),
            Some(Message::Unreachable {
                code: 3,
                dst: "fd00::9".parse().unwrap(),
                id: 78,
                seq: 6
            })
        );
        // Truncated: nothing.
        assert_eq!(parse(&error[..30], true, false), None);
    }
}
