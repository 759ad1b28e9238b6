//! Passive TCP figures per peer, read by the agent's `tcp_info` integration from the kernel's
//! `struct tcp_info` of every TCP socket over `NETLINK_SOCK_DIAG` (what `ss -ti` prints), Linux
//! only (see `agent/src/integrations/tcp_info` and `docs/tcp-info.md`).
//!
//! Every series carries `tcp.peer`: a configured service's name when the remote address (and
//! port) matches one, `<remote address>->:<local port>` (`10.0.0.7->:5432`) for connections accepted by a listening
//! port of this host, otherwise the remote `address:port`. Peers beyond `max_peers` are folded
//! into `tcp.peer="_other"` and counted in `dozor.tcp_info.overflow.peers`. The gauges describe the
//! peer's established sockets at the collection; the counters are kept by the agent from each
//! socket's increase between collections, so they never go back when a socket closes (the
//! increase of a socket's last interval before it closes is not seen).

metrics! {
    section: "Passive TCP per peer (`tcp_info` integration)",
    emitter: "tcp_info",
    metrics: {
        PEER_RTT {
            name: "dozor.tcp.peer.rtt",
            instrument: Gauge,
            unit: "s",
            attributes: ["tcp.peer"],
            source: "tcp_info.tcpi_rtt (smoothed RTT, µs) averaged over the peer's established sockets",
            description: "Smoothed round-trip time to the peer, averaged over its established sockets.",
        },
        PEER_RTT_VARIANCE {
            name: "dozor.tcp.peer.rtt.variance",
            instrument: Gauge,
            unit: "s",
            attributes: ["tcp.peer"],
            source: "tcp_info.tcpi_rttvar (RTT mean deviation, µs) averaged over the peer's established sockets",
            description: "Round-trip time variation (the kernel's mean deviation of the RTT) to the peer, averaged over its established sockets.",
        },
        PEER_RTT_MIN {
            name: "dozor.tcp.peer.rtt.min",
            instrument: Gauge,
            unit: "s",
            attributes: ["tcp.peer"],
            source: "tcp_info.tcpi_min_rtt (µs), the smallest over the peer's established sockets that have an RTT sample",
            description: "Smallest round-trip time the kernel saw to the peer (windowed minimum), over its established sockets.",
        },
        PEER_RETRANSMITS {
            name: "dozor.tcp.peer.retransmits",
            instrument: Counter,
            unit: "{segment}",
            attributes: ["tcp.peer"],
            source: "tcp_info.tcpi_total_retrans, increase per socket between collections, summed per peer by the agent",
            description: "Segments retransmitted to the peer.",
        },
        PEER_LOST {
            name: "dozor.tcp.peer.lost",
            instrument: Gauge,
            unit: "{segment}",
            attributes: ["tcp.peer"],
            source: "tcp_info.tcpi_lost summed over the peer's established sockets",
            description: "Segments in flight to the peer that the kernel currently considers lost.",
        },
        PEER_REORDERING {
            name: "dozor.tcp.peer.reordering",
            instrument: Gauge,
            unit: "{segment}",
            attributes: ["tcp.peer"],
            source: "tcp_info.tcpi_reordering, the largest over the peer's established sockets (3 when no reordering was seen)",
            description: "Reordering distance the kernel estimated for the peer, in segments (the largest of its sockets).",
        },
        PEER_BYTES {
            name: "dozor.tcp.peer.bytes",
            instrument: Counter,
            unit: "By",
            attributes: ["tcp.peer", "network.io.direction"],
            source: "tcp_info.tcpi_bytes_acked (transmit) and tcpi_bytes_received (receive), increase per socket between collections, summed per peer by the agent",
            description: "Payload bytes sent to the peer and acknowledged (transmit), and received from it (receive).",
        },
        PEER_DELIVERY_RATE {
            name: "dozor.tcp.peer.delivery_rate",
            instrument: Gauge,
            unit: "By/s",
            attributes: ["tcp.peer"],
            source: "tcp_info.tcpi_delivery_rate (the rate of the latest delivered flight) averaged over the peer's established sockets",
            description: "Delivery rate the kernel measured to the peer, averaged over its established sockets.",
        },
        PEER_SOCKETS {
            name: "dozor.tcp.peer.sockets",
            instrument: Gauge,
            unit: "{socket}",
            attributes: ["tcp.peer"],
            source: "established TCP sockets of the peer in the sock_diag dump",
            description: "Established TCP sockets to or from the peer.",
        },
        OVERFLOW_PEERS {
            name: "dozor.tcp_info.overflow.peers",
            instrument: Gauge,
            unit: "{peer}",
            attributes: [],
            source: "peers beyond max_peers in the last collection, folded into tcp.peer=\"_other\"",
            description: "Peers folded into the `_other` series because the series budget was reached.",
        },
    }
}
