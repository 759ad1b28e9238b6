//! libpcap: a live capture per interface, each on its own thread, or a whole pcap file read at
//! once; every packet goes through [`State::packet`]. Opening names what is missing (the
//! capability and how to grant it, the interface and which exist); a live capture that fails
//! is reopened every [`REOPEN_AFTER`], its counters carried over. libpcap's own statistics
//! (`pcap_stats`: kernel and interface drops) are read every [`STATS_EVERY`].

use super::config::Config;
use super::decode::link;
use super::state::{Failure, Shared, State};
use pcap::{Active, Capture, Device, Precision};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a read waits for packets before the thread looks at its stop flag and sweeps.
const READ_TIMEOUT_MS: i32 = 100;
/// Pause before reopening a capture that failed to open or to read.
pub const REOPEN_AFTER: Duration = Duration::from_secs(10);
/// How often the kernel's drop counters are read and idle connections swept.
const STATS_EVERY: Duration = Duration::from_millis(500);

/// Opens a live capture on `interface` with the section's snaplen, ring buffer and filter.
pub fn open_live(interface: &str, cfg: &Config) -> Result<Capture<Active>, Failure> {
    let devices = Device::list().map_err(|e| {
        Failure::new(
            "io",
            format!("listing the capture interfaces (libpcap): {e}"),
        )
    })?;
    if !devices.iter().any(|d| d.name == interface) {
        let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
        return Err(Failure::new(
            "config",
            format!(
                "interface \"{interface}\" does not exist on this host (it has: {}); fix integrations.http_capture.interfaces",
                names.join(", ")
            ),
        ));
    }
    let mut cap = Capture::from_device(interface)
        .and_then(|c| {
            // Not immediate mode: libpcap then uses TPACKET_V2, whose ring has fixed frames of
            // the snaplen (262 KiB), 32 of them in 8 MiB, and dropped 47,000 of 110,000 packets
            // replayed onto lo at 100,000/s. TPACKET_V3 packs packets into blocks handed over
            // when full or after the timeout: at most READ_TIMEOUT_MS of latency, which
            // timestamps taken by the kernel make harmless to durations.
            c.immediate_mode(false)
                .timeout(READ_TIMEOUT_MS)
                .snaplen(cfg.snaplen.min(i32::MAX as u32) as i32)
                .buffer_size(cfg.buffer_size.min(i32::MAX as u32) as i32)
                .precision(Precision::Nano)
                .open()
        })
        .map_err(|e| open_error(interface, &e))?;
    cap.filter(&cfg.filter(), true).map_err(|e| {
        Failure::new(
            "config",
            format!(
                "the capture filter \"{}\" does not compile: {e}; fix integrations.http_capture.ports or bpf_filter",
                cfg.filter()
            ),
        )
    })?;
    let linktype = cap.get_datalink().0;
    if !link::supported(linktype) {
        return Err(Failure::new(
            "config",
            format!(
                "interface \"{interface}\" has link type {linktype}, which the capture cannot decode (Ethernet, Linux cooked, loopback and raw IP can be)"
            ),
        ));
    }
    Ok(cap)
}

/// The error of `pcap_activate`, with the fix when it is a missing permission.
fn open_error(interface: &str, e: &pcap::Error) -> Failure {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if lower.contains("permitted") || lower.contains("permission") {
        return Failure::new(
            "permission",
            format!(
                "capturing on \"{interface}\" needs CAP_NET_RAW and CAP_NET_ADMIN ({text}): run the agent under the systemd drop-in deploy/systemd/dozor-agent.service.d/http-capture.conf, or grant them to the binary with `setcap cap_net_raw,cap_net_admin+ep /usr/local/bin/dozor-agent`"
            ),
        );
    }
    Failure::new(
        "io",
        format!("opening a capture on \"{interface}\": {text}"),
    )
}

/// Unix nanoseconds of a packet header (nanosecond precision: `tv_usec` holds nanoseconds).
fn ts_ns(h: &pcap::PacketHeader) -> u64 {
    (h.ts.tv_sec.max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(h.ts.tv_usec.max(0) as u64)
}

/// Now, Unix nanoseconds.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Captures on interface number `index` of `cfg.interfaces` until the shared stop flag is set.
pub fn run_live(index: usize, cfg: Config, shared: Arc<Shared>) {
    let interface = cfg.interfaces[index].clone();
    while !shared.stop.load(Ordering::Relaxed) {
        let opened = open_live(&interface, &cfg);
        let mut cap = match opened {
            Ok(cap) => {
                shared.attempted(index, None);
                tracing::info!(interface = %interface, filter = %cfg.filter(), "Capturing HTTP.");
                cap
            }
            Err(f) => {
                tracing::error!(interface = %interface, error = %f.message, "Cannot capture.");
                shared.attempted(index, Some(f));
                shared.sleep(REOPEN_AFTER);
                continue;
            }
        };
        let linktype = cap.get_datalink().0;
        let mut last_stats = Instant::now();
        let failure = loop {
            if shared.stop.load(Ordering::Relaxed) {
                break None;
            }
            match cap.next_packet() {
                Ok(p) => shared.lock().packet(
                    index,
                    linktype,
                    ts_ns(p.header),
                    p.data,
                    p.header.len as usize,
                ),
                Err(pcap::Error::TimeoutExpired) => {}
                Err(e) => {
                    break Some(Failure::new(
                        "io",
                        format!("reading packets on \"{interface}\": {e}"),
                    ));
                }
            }
            if last_stats.elapsed() >= STATS_EVERY {
                last_stats = Instant::now();
                let stats = cap.stats().ok();
                let mut state = shared.lock();
                if let Some(s) = stats {
                    state.pcap_stats(index, s.dropped, s.if_dropped);
                }
                state.sweep(now_ns());
            }
        };
        if let Ok(s) = cap.stats() {
            shared.lock().pcap_stats(index, s.dropped, s.if_dropped);
        }
        shared.lock().reopened(index);
        if let Some(f) = failure {
            tracing::error!(interface = %interface, error = %f.message, "Capture failed; reopening.");
            shared.attempted(index, Some(f));
            shared.sleep(REOPEN_AFTER);
        }
    }
}

/// Reads the whole of `cfg.pcap_file` into `state`; the state's clock ends at its last packet.
pub fn read_file(cfg: &Config, state: &mut State) -> Result<(), Failure> {
    let path = cfg.pcap_file.as_deref().unwrap_or(std::path::Path::new(""));
    let mut cap = Capture::from_file_with_precision(path, Precision::Nano).map_err(|e| {
        Failure::new(
            "io",
            format!("opening the pcap file {}: {e}", path.display()),
        )
    })?;
    cap.filter(&cfg.filter(), true).map_err(|e| {
        Failure::new(
            "config",
            format!(
                "the capture filter \"{}\" does not compile: {e}",
                cfg.filter()
            ),
        )
    })?;
    let linktype = cap.get_datalink().0;
    if !link::supported(linktype) {
        return Err(Failure::new(
            "parse",
            format!("{}: link type {linktype} cannot be decoded", path.display()),
        ));
    }
    loop {
        match cap.next_packet() {
            Ok(p) => state.packet(0, linktype, ts_ns(p.header), p.data, p.header.len as usize),
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                return Err(Failure::new(
                    "parse",
                    format!("reading the pcap file {}: {e}", path.display()),
                ));
            }
        }
    }
    let now = state.clock();
    state.sweep(now);
    Ok(())
}
