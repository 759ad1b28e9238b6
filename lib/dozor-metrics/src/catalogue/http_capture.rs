//! The `http_capture` integration's own metrics: what the packet capture saw, what the kernel
//! and the interface dropped before it (libpcap's `pcap_stats`), packets and HTTP messages it
//! could not use, by reason, and the reassembly state it holds (see
//! `agent/src/integrations/http_capture`). The HTTP RED series themselves are in the `http`
//! section.
//!
//! `network.interface.name` is a configured interface, or `file` when reading a pcap file.
//! Counters count since the agent started; a capture reopened after an error keeps counting
//! from where it was.

metrics! {
    section: "HTTP packet capture (`http_capture` integration)",
    emitter: "http_capture",
    metrics: {
        PACKETS {
            name: "dozor.http_capture.packets",
            instrument: Counter,
            unit: "{packet}",
            attributes: ["network.interface.name"],
            source: "packets libpcap handed to the agent (after the BPF filter)",
            description: "Packets the capture read.",
        },
        DROPPED {
            name: "dozor.http_capture.dropped",
            instrument: Counter,
            unit: "{packet}",
            attributes: ["network.interface.name", "reason"],
            source: "pcap_stats: ps_drop (reason=kernel: the ring buffer was full, the agent read too slowly) and ps_ifdrop (reason=interface: dropped by the interface or its driver)",
            description: "Packets lost before the capture saw them: every one may cost an HTTP request.",
        },
        DECODE_ERRORS {
            name: "dozor.http_capture.decode.errors",
            instrument: Counter,
            unit: "{packet}",
            attributes: ["reason"],
            source: "packets without a usable TCP segment: truncated (cut by snaplen), malformed, not_ip, not_tcp, fragment (IP fragments are not reassembled)",
            description: "Captured packets that gave no TCP segment, by reason.",
        },
        PARSE_ERRORS {
            name: "dozor.http_capture.parse.errors",
            instrument: Counter,
            unit: "{error}",
            attributes: ["reason"],
            source: "the HTTP/1 reassembler's errors (a message that does not parse, headers over max_header_bytes, a connection over its limits), by its reason",
            description: "HTTP streams the capture could not follow, by reason.",
        },
        LOST {
            name: "dozor.http_capture.lost",
            instrument: Counter,
            unit: "{request}",
            attributes: ["reason"],
            source: "requests seen whose response could not be matched (a gap in the stream, a reset, an evicted connection), by the reassembler's reason",
            description: "HTTP requests lost by the capture: never given a status, never in the duration histograms.",
        },
        CONNECTIONS {
            name: "dozor.http_capture.connections",
            instrument: Gauge,
            unit: "{connection}",
            attributes: [],
            source: "TCP connections the reassembler tracks now (bounded by limits.max_connections)",
            description: "TCP connections the capture is following.",
        },
        MEMORY {
            name: "dozor.http_capture.memory.usage",
            instrument: Gauge,
            unit: "By",
            attributes: [],
            source: "bytes the reassembler holds for out-of-order segments and partial messages (bounded by limits.max_buffered_total)",
            description: "Memory the capture holds for reassembly.",
        },
    }
}
