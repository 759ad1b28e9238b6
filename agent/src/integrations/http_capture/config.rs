//! `integrations.http_capture`: where to capture (interfaces, or a pcap file), which server
//! ports are HTTP and whose, and the bounds of the reassembly and of the series.

use super::flows::Limits;
use dozor_config::{At, Duration};
use dozor_red::RoutesConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `integrations.http_capture`: HTTP/1.x RED of the traffic on the configured interfaces and
/// ports, from libpcap. Needs CAP_NET_RAW and CAP_NET_ADMIN (the systemd drop-in
/// `deploy/systemd/dozor-agent.service.d/http-capture.conf`, or `setcap
/// cap_net_raw,cap_net_admin+ep /usr/local/bin/dozor-agent`). HTTPS is not decrypted.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct Config {
    /// Capture at all (off by default).
    pub enabled: bool,
    /// Time between collections; `agent.interval` when unset.
    pub interval: Option<Duration>,
    /// Longest a collection may take; `agent.timeout` when unset.
    pub timeout: Option<Duration>,
    /// Interfaces to capture on, each on its own thread: `[eth0]`, `[lo]`, or `[any]` (every
    /// interface, Linux cooked headers). A packet seen on two of them is counted twice.
    pub interfaces: Vec<String>,
    /// Read this pcap file instead of interfaces, whole, at the first collection (timestamps
    /// from the file; "now" is its last packet): for `dozor-agent collect --once` and tests.
    pub pcap_file: Option<PathBuf>,
    /// The HTTP server ports to watch, e.g. `[80, 8080]`; the capture filter is `tcp port 80 or
    /// tcp port 8080`. A connection is HTTP when one end is one of these ports: that end is the
    /// server.
    pub ports: Vec<u16>,
    /// More BPF (tcpdump syntax), and-ed with the port filter: `host 10.0.0.5`.
    pub bpf_filter: Option<String>,
    /// The `service.name` per server port: `{8080: mes-api}`; `port-<port>` for a port not
    /// named here.
    pub services: BTreeMap<u16, String>,
    /// Which end this host is: `server` (`http.server.*`), `client` (`http.client.*`), or
    /// `auto`: server when the server's address is one of this host's (read at each
    /// collection), client otherwise.
    pub side: SideConfig,
    /// Bytes captured per packet at most; longer packets are counted as `truncated` and cost
    /// their request. 262144 covers segmentation offload on loopback.
    pub snaplen: u32,
    /// Size of the kernel ring buffer per interface, bytes: room for the bursts between two
    /// reads of the capture thread (drops are `dozor.http_capture.dropped{reason="kernel"}`).
    pub buffer_size: u32,
    /// How long a request may stay without a response before it leaves the in-flight figures
    /// and is counted in `dozor.http.*.abandoned`.
    pub give_up: Duration,
    /// Most RED series (per side, service, method, route, status, server); exchanges beyond go
    /// to route `_other`, counted in `dozor.http.overflow.series`.
    pub max_series: usize,
    /// Most requests tracked in flight; beyond, counted as abandoned at once.
    pub max_in_flight: usize,
    /// How request targets become the `http.route` attribute.
    pub routes: RoutesConfig,
    /// Bounds of the TCP reassembly.
    pub limits: LimitsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: false,
            interval: None,
            timeout: None,
            interfaces: Vec::new(),
            pcap_file: None,
            ports: Vec::new(),
            bpf_filter: None,
            services: BTreeMap::new(),
            side: SideConfig::Auto,
            snaplen: 262_144,
            buffer_size: 8 << 20,
            give_up: Duration(std::time::Duration::from_secs(2 * 3600)),
            max_series: 500,
            max_in_flight: 100_000,
            routes: RoutesConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

/// Which end of the HTTP exchange this host is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(rename_all = "snake_case")]
pub enum SideConfig {
    /// Server when the server address is local to this host, client otherwise.
    #[default]
    Auto,
    /// Always the server: `http.server.*`.
    Server,
    /// Always the client: `http.client.*`.
    Client,
}

/// Bounds of the TCP reassembly: what a client opening 50,000 connections or sending a 2 GB
/// body may cost the agent. What a bound drops is counted in `dozor.http_capture.lost` and
/// `dozor.http_capture.parse.errors`.
#[derive(Clone, Debug, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema, serde::Serialize))]
#[serde(default)]
pub struct LimitsConfig {
    /// Most TCP connections followed at once.
    pub max_connections: usize,
    /// Most bytes held for one connection (out-of-order segments, a partial header).
    pub max_buffered_per_connection: usize,
    /// Most bytes held for all connections together.
    pub max_buffered_total: usize,
    /// A connection without a packet for this long is forgotten (its open request lost).
    pub idle_timeout: Duration,
    /// Longest request or response head (start line and headers) parsed.
    pub max_header_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        LimitsConfig {
            max_connections: l.max_connections,
            max_buffered_per_connection: l.max_buffered_per_connection,
            max_buffered_total: l.max_buffered_total,
            idle_timeout: Duration(std::time::Duration::from_nanos(l.idle_timeout_ns)),
            max_header_bytes: l.max_header_bytes,
        }
    }
}

impl LimitsConfig {
    /// The reassembler's limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            max_buffered_per_connection: self.max_buffered_per_connection,
            max_buffered_total: self.max_buffered_total,
            idle_timeout_ns: self.idle_timeout.0.as_nanos().min(u64::MAX as u128) as u64,
            max_header_bytes: self.max_header_bytes,
        }
    }
}

impl Config {
    /// The capture filter: the ports, and-ed with `bpf_filter`.
    pub fn filter(&self) -> String {
        let ports = self
            .ports
            .iter()
            .map(|p| format!("tcp port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        match &self.bpf_filter {
            Some(extra) if !extra.trim().is_empty() => format!("({ports}) and ({extra})"),
            _ => ports,
        }
    }

    /// Reports every problem of the section.
    pub fn check(&self, at: &mut At<'_>) {
        at.positive_if_set("interval", self.interval);
        at.positive_if_set("timeout", self.timeout);
        if !self.enabled {
            return;
        }
        match (&self.pcap_file, self.interfaces.is_empty()) {
            (Some(_), false) => at.error(
                "pcap_file",
                "set either interfaces (live capture) or pcap_file (offline), not both",
            ),
            (None, true) => at.error(
                "interfaces",
                "at least one interface (or a pcap_file) is needed when the integration is enabled",
            ),
            _ => {}
        }
        for (i, name) in self.interfaces.iter().enumerate() {
            if name.trim().is_empty() {
                at.item("interfaces", i)
                    .error("", "an interface name must not be blank");
            }
        }
        if self.ports.is_empty() {
            at.error(
                "ports",
                "at least one server port is needed (e.g. [80, 8080])",
            );
        }
        for (i, p) in self.ports.iter().enumerate() {
            if *p == 0 {
                at.item("ports", i).error("", "port 0 is not a server port");
            }
        }
        for (port, name) in &self.services {
            if name.trim().is_empty() {
                at.at("services")
                    .error(&port.to_string(), "a service name must not be blank");
            }
            if !self.ports.contains(port) {
                at.at("services").error(
                    &port.to_string(),
                    format!("port {port} is not in ports, so no traffic of it is captured"),
                );
            }
        }
        // The snaplen must hold the link, IP and TCP headers and some HTTP.
        at.at_least("snaplen", self.snaplen, 256);
        at.at_least("buffer_size", self.buffer_size, 65_536);
        at.positive("give_up", self.give_up);
        at.at_least("max_series", self.max_series, 1);
        at.at_least("max_in_flight", self.max_in_flight, 1);
        let mut l = at.at("limits");
        l.at_least("max_connections", self.limits.max_connections, 1);
        l.at_least("max_header_bytes", self.limits.max_header_bytes, 256);
        l.at_least(
            "max_buffered_per_connection",
            self.limits.max_buffered_per_connection,
            self.limits.max_header_bytes,
        );
        l.at_least(
            "max_buffered_total",
            self.limits.max_buffered_total,
            self.limits.max_buffered_per_connection,
        );
        l.positive("idle_timeout", self.limits.idle_timeout);
        if let Err(e) = dozor_red::Routes::new(&self.routes) {
            at.error("routes", e.to_string());
        }
    }
}
