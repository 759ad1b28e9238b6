//! Link, IP and TCP headers of one captured packet, down to the TCP segment that [`Flows`]
//! reassembles: Ethernet (with VLAN tags), Linux cooked capture v1 and v2 (what libpcap gives on
//! the `any` device), BSD loopback (`NULL`/`LOOP`) and raw IP; IPv4 and IPv6. IP fragments are
//! not reassembled (HTTP over TCP almost never fragments; path MTU discovery avoids it): they
//! are counted, like every other packet that does not yield a TCP segment, by a bounded reason.
//!
//! [`Flows`]: super::flows::Flows

use super::flows::Segment;
use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};
use std::net::{IpAddr, SocketAddr};

/// Link types handled, by their `DLT_`/`LINKTYPE_` number (the pcap file header's and
/// `pcap_datalink()`'s).
pub mod link {
    /// BSD loopback, address family in host byte order.
    pub const NULL: i32 = 0;
    /// Ethernet II.
    pub const ETHERNET: i32 = 1;
    /// Raw IP (`DLT_RAW` on Linux and in files).
    pub const RAW: i32 = 101;
    /// Raw IP, the number some BSDs use.
    pub const RAW_BSD: i32 = 12;
    /// OpenBSD loopback, address family in network byte order.
    pub const LOOP: i32 = 108;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: i32 = 113;
    /// Raw IPv4.
    pub const IPV4: i32 = 228;
    /// Raw IPv6.
    pub const IPV6: i32 = 229;
    /// Linux cooked capture v2 (the `any` device of libpcap 1.10).
    pub const LINUX_SLL2: i32 = 276;

    /// Whether packets of this link type can be decoded.
    pub fn supported(linktype: i32) -> bool {
        matches!(
            linktype,
            NULL | ETHERNET | RAW | RAW_BSD | LOOP | LINUX_SLL | IPV4 | IPV6 | LINUX_SLL2
        )
    }
}

/// Why a packet gave no TCP segment: the `reason` of `dozor.http_capture.decode.errors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// The packet was cut by the snaplen (`caplen < len`): its payload is incomplete.
    Truncated,
    /// A link, IP or TCP header that does not parse.
    Malformed,
    /// A link type or a link-layer protocol that is not IP (ARP, LLDP, an unknown family).
    NotIp,
    /// IP without TCP (UDP, ICMP), which a port filter normally keeps out.
    NotTcp,
    /// An IPv4 or IPv6 fragment: not reassembled.
    Fragment,
}

impl Reject {
    /// The bounded label value.
    pub fn reason(self) -> &'static str {
        match self {
            Reject::Truncated => "truncated",
            Reject::Malformed => "malformed",
            Reject::NotIp => "not_ip",
            Reject::NotTcp => "not_tcp",
            Reject::Fragment => "fragment",
        }
    }

    /// Every reason, for recording zeros before the first failure.
    pub const ALL: [Reject; 5] = [
        Reject::Truncated,
        Reject::Malformed,
        Reject::NotIp,
        Reject::NotTcp,
        Reject::Fragment,
    ];
}

/// The TCP segment in `data`, a packet of link type `linktype` captured at `ts_ns` whose wire
/// length was `wire_len`, with its acknowledgement number when the ACK flag is set.
pub fn segment(
    linktype: i32,
    ts_ns: u64,
    data: &[u8],
    wire_len: usize,
) -> Result<(Segment<'_>, Option<u32>), Reject> {
    if data.len() < wire_len {
        return Err(Reject::Truncated);
    }
    let sliced = match linktype {
        link::ETHERNET => SlicedPacket::from_ethernet(data),
        link::LINUX_SLL => cooked(data, 16, 14)?,
        link::LINUX_SLL2 => cooked(data, 20, 0)?,
        link::NULL | link::LOOP => {
            let family = data.get(..4).ok_or(Reject::Malformed)?;
            let (le, be) = (
                u32::from_le_bytes(family.try_into().unwrap_or_default()),
                u32::from_be_bytes(family.try_into().unwrap_or_default()),
            );
            // AF_INET is 2 everywhere; AF_INET6 is 10 on Linux, 24, 28 or 30 on the BSDs.
            let ip = |f: u32| matches!(f, 2 | 10 | 24 | 28 | 30);
            if !ip(le) && !ip(be) {
                return Err(Reject::NotIp);
            }
            SlicedPacket::from_ip(&data[4..])
        }
        link::RAW | link::RAW_BSD | link::IPV4 | link::IPV6 => SlicedPacket::from_ip(data),
        _ => return Err(Reject::NotIp),
    }
    .map_err(|_| Reject::Malformed)?;
    let (src, dst, fragmented) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
            v4.is_payload_fragmented(),
        ),
        Some(NetSlice::Ipv6(v6)) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
            v6.is_payload_fragmented(),
        ),
        Some(NetSlice::Arp(_)) | None => return Err(Reject::NotIp),
    };
    if fragmented {
        return Err(Reject::Fragment);
    }
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        return Err(Reject::NotTcp);
    };
    let ack = tcp.ack().then(|| tcp.acknowledgment_number());
    let seg = Segment {
        ts_ns,
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: tcp.payload(),
    };
    Ok((seg, ack))
}

/// A Linux cooked header of `len` bytes with the protocol (an EtherType) at `proto_at`.
fn cooked(
    data: &[u8],
    len: usize,
    proto_at: usize,
) -> Result<Result<SlicedPacket<'_>, etherparse::err::packet::SliceError>, Reject> {
    let header = data.get(..len).ok_or(Reject::Malformed)?;
    let proto = u16::from_be_bytes([header[proto_at], header[proto_at + 1]]);
    Ok(SlicedPacket::from_ether_type(
        EtherType(proto),
        &data[len..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{PacketBuilder, VlanId};

    /// The rejection (Segment has no Debug, so no unwrap_err).
    fn err(r: Result<(Segment<'_>, Option<u32>), Reject>) -> Reject {
        match r {
            Ok(_) => panic!("decoded a segment"),
            Err(r) => r,
        }
    }

    const PAYLOAD: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

    /// An IPv4 or IPv6 packet (no link header) from port 40000 to 8080, seq 7, with a payload.
    fn ip(v6: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let b = if v6 {
            PacketBuilder::ipv6([1; 16], [2; 16], 64)
        } else {
            PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        };
        b.tcp(40000, 8080, 7, 1000)
            .fin()
            .write(&mut out, PAYLOAD)
            .unwrap();
        out
    }

    fn check(linktype: i32, packet: &[u8], v6: bool) {
        let Ok((seg, ack)) = segment(linktype, 5, packet, packet.len()) else {
            panic!("link {linktype}: not decoded");
        };
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            ([1u8; 16].into(), [2u8; 16].into())
        } else {
            ([10, 0, 0, 1].into(), [10, 0, 0, 2].into())
        };
        assert_eq!(seg.src, SocketAddr::new(src, 40000), "link {linktype}");
        assert_eq!(seg.dst, SocketAddr::new(dst, 8080));
        assert_eq!(
            (seg.seq, seg.syn, seg.fin, seg.rst),
            (7, false, true, false)
        );
        assert_eq!((seg.ts_ns, seg.payload, ack), (5, PAYLOAD, None));
    }

    #[test]
    fn every_link_type_yields_the_same_segment() {
        for v6 in [false, true] {
            let ip = ip(v6);
            let ethertype: [u8; 2] = if v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
            let mut eth = vec![0u8; 12];
            eth.extend_from_slice(&ethertype);
            eth.extend_from_slice(&ip);
            check(link::ETHERNET, &eth, v6);
            // 802.1Q: TPID, TCI (VLAN 5), then the real EtherType.
            let mut vlan = vec![0u8; 12];
            vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
            vlan.extend_from_slice(&ethertype);
            vlan.extend_from_slice(&ip);
            check(link::ETHERNET, &vlan, v6);
            let mut sll = vec![0u8; 14];
            sll.extend_from_slice(&ethertype);
            sll.extend_from_slice(&ip);
            check(link::LINUX_SLL, &sll, v6);
            let mut sll2 = ethertype.to_vec();
            sll2.extend_from_slice(&[0u8; 18]);
            sll2.extend_from_slice(&ip);
            check(link::LINUX_SLL2, &sll2, v6);
            let family: u32 = if v6 { 30 } else { 2 };
            let mut null = family.to_le_bytes().to_vec();
            null.extend_from_slice(&ip);
            check(link::NULL, &null, v6);
            let mut lp = family.to_be_bytes().to_vec();
            lp.extend_from_slice(&ip);
            check(link::LOOP, &lp, v6);
            check(link::RAW, &ip, v6);
        }
    }

    #[test]
    fn a_vlan_tag_from_the_builder_decodes_with_the_ack_number() {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .single_vlan(VlanId::try_new(42).unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 8080, 7, 1000)
            .ack(99)
            .write(&mut out, PAYLOAD)
            .unwrap();
        let Ok((seg, ack)) = segment(link::ETHERNET, 5, &out, out.len()) else {
            panic!("not decoded");
        };
        assert_eq!((seg.dst.port(), seg.seq, ack), (8080, 7, Some(99)));
    }

    #[test]
    fn what_is_not_a_whole_tcp_segment_is_rejected_by_reason() {
        let ip4 = ip(false);
        assert_eq!(
            err(segment(link::RAW, 0, &ip4[..30], ip4.len())),
            Reject::Truncated
        );
        assert_eq!(
            err(segment(link::RAW, 0, &ip4[..30], 30)),
            Reject::Malformed
        );
        assert_eq!(err(segment(999, 0, &ip4, ip4.len())), Reject::NotIp);
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        assert_eq!(
            err(segment(link::ETHERNET, 0, &arp, arp.len())),
            Reject::NotIp
        );
        let mut udp = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1, 2)
            .write(&mut udp, b"x")
            .unwrap();
        assert_eq!(err(segment(link::RAW, 0, &udp, udp.len())), Reject::NotTcp);
        // More fragments set (flags byte 6, bit 0x20).
        let mut frag = ip4.clone();
        frag[6] |= 0x20;
        frag[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(
            err(segment(link::RAW, 0, &frag, frag.len())),
            Reject::Fragment
        );
        assert_eq!(
            err(segment(link::NULL, 0, &[7, 0, 0, 0, 1], 5)),
            Reject::NotIp
        );
        assert_eq!(
            err(segment(link::LINUX_SLL2, 0, &[0; 10], 10)),
            Reject::Malformed
        );
    }
}
