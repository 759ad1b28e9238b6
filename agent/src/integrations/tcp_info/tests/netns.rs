//! Acceptance (#14): a sender in one network namespace sends to a receiver in another through
//! a router namespace whose link to the receiver is rate-limited by `tc tbf` with a short
//! queue, so segments are dropped on the way and retransmitted, and the queue raises the RTT.
//! The integration collects inside the sender's namespace; `ss -tin` in the same namespace,
//! read just before and just after, is the ground truth for the same sockets, and so are the
//! bytes the test itself sent and received. Needs root (`ip netns`, `tc`).
//!
//! The drops must be on the path, not in the sender's own qdisc: a local qdisc drop is handed
//! back to TCP, which sends the segment again later without counting a retransmission.

use super::super::TcpInfo;
use super::super::config::{Config, ServiceConfig};
use super::super::peers::{Report, Row};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;

/// Bytes each connection sends.
const BULK: usize = 1_500_000;
/// Bytes the receiver sends first on each connection.
const GREETING: usize = 12_345;
const CONNECTIONS: usize = 2;
const PORT: u16 = 5001;

/// Runs `ip` or `tc` (or anything), failing the test with its stderr.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Network namespaces named `dz-<pid>-<suffix>`, deleted on drop (their veth ends with them),
/// even when the test fails.
pub struct Namespaces {
    names: Vec<String>,
}

impl Namespaces {
    /// Makes one namespace per suffix, each with `lo` up.
    pub fn new(suffixes: &[&str]) -> Namespaces {
        let mut ns = Namespaces { names: Vec::new() };
        for s in suffixes {
            let name = format!("dz-{}-{s}", std::process::id());
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
            run("ip", &["netns", "add", &name]);
            ns.names.push(name.clone());
            run("ip", &["-n", &name, "link", "set", "lo", "up"]);
        }
        ns
    }

    /// The full name of the namespace with `suffix`.
    pub fn name(&self, suffix: &str) -> String {
        format!("dz-{}-{suffix}", std::process::id())
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// Runs `f` on a new thread that has entered the network namespace `name` (setns affects only
/// the calling thread; sockets opened there stay in it).
pub fn in_netns<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{name}");
    std::thread::spawn(move || {
        enter(&path);
        f()
    })
}

#[allow(unsafe_code)]
fn enter(path: &str) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // SAFETY: setns(2) on a descriptor we own; it changes only this thread's namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}

/// One socket as `ss -tin` prints it.
#[derive(Debug, Default, Clone)]
pub struct Ss {
    pub rtt_ms: f64,
    pub rttvar_ms: f64,
    pub minrtt_ms: Option<f64>,
    pub total_retrans: f64,
    pub lost: f64,
    pub bytes_acked: f64,
    pub bytes_received: f64,
    pub delivery_rate: f64,
}

/// `ss -tin` of the established sockets to `dst` in namespace `ns`.
pub fn ss(ns: &str, dst: &str) -> Vec<Ss> {
    let out = run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "ss",
            "-tinH",
            "state",
            "established",
            "dst",
            dst,
        ],
    );
    parse_ss(&out)
}

/// Parses the info lines of `ss -ti` (those starting with white space). A figure `ss` leaves
/// out (it prints most only when not 0) is 0.
pub fn parse_ss(text: &str) -> Vec<Ss> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with([' ', '\t'])) {
        let mut s = Ss::default();
        let mut words = line.split_whitespace().peekable();
        while let Some(w) = words.next() {
            let (k, v) = w.split_once(':').unwrap_or((w, ""));
            let num = |t: &str| t.parse::<f64>().unwrap_or_else(|_| panic!("{w} in {line}"));
            match k {
                "rtt" => {
                    let (a, b) = v.split_once('/').unwrap();
                    s.rtt_ms = num(a);
                    s.rttvar_ms = num(b);
                }
                "minrtt" => s.minrtt_ms = Some(num(v)),
                "retrans" => s.total_retrans = num(v.split_once('/').unwrap().1),
                "lost" => s.lost = num(v),
                "bytes_acked" => s.bytes_acked = num(v),
                "bytes_received" => s.bytes_received = num(v),
                "delivery_rate" => s.delivery_rate = bits(words.next().unwrap()) / 8.0,
                _ => {}
            }
        }
        out.push(s);
    }
    out
}

/// `9.5Mbps` and the like (ss's `sprint_bw`) in bits per second.
fn bits(t: &str) -> f64 {
    let t = t.strip_suffix("bps").expect("a rate in bps");
    let (n, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('G') => (&t[..t.len() - 1], 1e9),
        Some('T') => (&t[..t.len() - 1], 1e12),
        _ => (t, 1.0),
    };
    n.parse::<f64>().unwrap() * mult
}

/// `ours` is within 10% of the range `ss` showed before and after (both inclusive).
fn within(what: &str, ours: f64, before: f64, after: f64) {
    let (lo, hi) = (before.min(after), before.max(after));
    assert!(
        ours >= lo * 0.9 - 1e-9 && ours <= hi * 1.1 + 1e-9,
        "{what}: ours {ours}, ss {before} before and {after} after"
    );
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

fn peer<'a>(r: &'a Report, name: &str) -> &'a Row {
    r.rows
        .iter()
        .find(|r| r.peer == name)
        .unwrap_or_else(|| panic!("no peer {name} in {:?}", r.rows))
}

#[test]
fn figures_equal_ss_under_rate_limited_loss() {
    let ns = Namespaces::new(&["tx", "rt", "rx"]);
    let (tx, rt, rx) = (ns.name("tx"), ns.name("rt"), ns.name("rx"));
    let pid = std::process::id();
    let (a0, a1, b0, b1) = (
        format!("dz{pid}a0"),
        format!("dz{pid}a1"),
        format!("dz{pid}b0"),
        format!("dz{pid}b1"),
    );
    // tx a0 <-> a1 rt b0 <-> b1 rx
    run(
        "ip",
        &[
            "link", "add", &a0, "netns", &tx, "type", "veth", "peer", "name", &a1, "netns", &rt,
        ],
    );
    run(
        "ip",
        &[
            "link", "add", &b0, "netns", &rt, "type", "veth", "peer", "name", &b1, "netns", &rx,
        ],
    );
    for (n, dev, addr) in [
        (&tx, &a0, "10.77.1.1/24"),
        (&rt, &a1, "10.77.1.2/24"),
        (&rt, &b0, "10.77.2.2/24"),
        (&rx, &b1, "10.77.2.1/24"),
    ] {
        run("ip", &["-n", n, "addr", "add", addr, "dev", dev]);
        run("ip", &["-n", n, "link", "set", dev, "up"]);
    }
    run(
        "ip",
        &["-n", &tx, "route", "add", "default", "via", "10.77.1.2"],
    );
    run(
        "ip",
        &["-n", &rx, "route", "add", "default", "via", "10.77.2.2"],
    );
    run(
        "ip",
        &[
            "netns",
            "exec",
            &rt,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ],
    );
    // 10 Mbit/s with a 30 kB queue (24 ms) toward the receiver.
    run(
        "tc",
        &[
            "-n", &rt, "qdisc", "add", "dev", &b0, "root", "tbf", "rate", "10mbit", "burst",
            "16kb", "limit", "30kb",
        ],
    );

    // The receiver: greets each connection, then reads everything and counts it.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = in_netns(&rx, move || {
        let l = TcpListener::bind(("10.77.2.1", PORT)).unwrap();
        ready_tx.send(()).unwrap();
        let mut handles = Vec::new();
        for _ in 0..CONNECTIONS {
            let (mut c, _) = l.accept().unwrap();
            handles.push(std::thread::spawn(move || {
                c.write_all(&[7u8; GREETING]).unwrap();
                let mut n = 0usize;
                let mut buf = [0u8; 65536];
                loop {
                    match c.read(&mut buf).unwrap() {
                        0 => return n,
                        k => n += k,
                    }
                }
            }));
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum::<usize>()
    });
    ready_rx.recv().unwrap();

    let config = Config {
        enabled: true,
        services: vec![ServiceConfig {
            name: "sink".into(),
            address: "10.77.2.0/24".into(),
            port: Some(PORT),
        }],
        ..Config::default()
    };
    let tx_ns = tx.clone();
    let sender = in_netns(&tx, move || {
        let mut agent = TcpInfo::new(&config);
        let baseline = agent.read().unwrap();
        assert!(baseline.rows.is_empty(), "{:?}", baseline.rows);
        let mut conns: Vec<TcpStream> = (0..CONNECTIONS)
            .map(|_| TcpStream::connect(("10.77.2.1", PORT)).unwrap())
            .collect();
        for c in &mut conns {
            let mut g = vec![0u8; GREETING];
            c.read_exact(&mut g).unwrap();
        }
        let unloaded = agent.read().unwrap();
        let unloaded_rtt = peer(&unloaded, "sink").gauges.rtt().unwrap();
        // Both connections at once, so they share the queue.
        let writers: Vec<_> = conns
            .iter()
            .map(|c| {
                let mut c = c.try_clone().unwrap();
                std::thread::spawn(move || c.write_all(&vec![1u8; BULK]).unwrap())
            })
            .collect();
        // The RTT while the queue is full, from collections during the transfer.
        let mut peak_rtt = 0f64;
        while !writers.iter().all(std::thread::JoinHandle::is_finished) {
            let r = agent.read().unwrap();
            peak_rtt = peak_rtt.max(peer(&r, "sink").gauges.rtt().unwrap_or(0.0));
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        for w in writers {
            w.join().unwrap();
        }
        // Quiescent: everything sent was acknowledged, so the figures hold still.
        for c in &conns {
            while outq(c) > 0 {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        let dst = format!("10.77.2.1:{PORT}");
        let before = ss(&tx_ns, &dst);
        let loaded = agent.read().unwrap();
        let after = ss(&tx_ns, &dst);
        drop(conns);
        (unloaded_rtt, peak_rtt, before, loaded, after)
    });
    let (unloaded_rtt, peak_rtt, before, loaded, after) = sender.join().unwrap();
    let received = receiver.join().unwrap();
    assert_eq!(received, BULK * CONNECTIONS, "the receiver got everything");
    assert_eq!(
        (before.len(), after.len()),
        (CONNECTIONS, CONNECTIONS),
        "{before:?} {after:?}"
    );

    let row = peer(&loaded, "sink");
    let g = &row.gauges;
    eprintln!(
        "unloaded rtt {unloaded_rtt}s, peak {peak_rtt}s; ours {row:?}; ss before {before:?}; after {after:?}"
    );
    assert_eq!(g.sockets, CONNECTIONS as u64);
    let retrans = row.retransmits.unwrap() as f64;
    assert!(retrans > 0.0, "no retransmits: the queue dropped nothing?");
    // The queue holds 30 kB at 10 Mbit/s: up to 24 ms against well under 1 ms unloaded.
    assert!(
        peak_rtt > 10.0 * unloaded_rtt && peak_rtt > 0.005,
        "RTT {peak_rtt}s under load did not rise above the unloaded {unloaded_rtt}s"
    );
    let rtt = g.rtt().unwrap();

    let sum = |v: &[Ss], f: fn(&Ss) -> f64| v.iter().map(f).sum::<f64>();
    let avg = |v: &[Ss], f: fn(&Ss) -> f64| mean(v.iter().map(f));
    within(
        "rtt",
        rtt * 1e3,
        avg(&before, |s| s.rtt_ms),
        avg(&after, |s| s.rtt_ms),
    );
    within(
        "rttvar",
        g.rttvar().unwrap() * 1e3,
        avg(&before, |s| s.rttvar_ms),
        avg(&after, |s| s.rttvar_ms),
    );
    let minrtt = |v: &[Ss]| {
        v.iter()
            .filter_map(|s| s.minrtt_ms)
            .fold(f64::INFINITY, f64::min)
    };
    within(
        "minrtt",
        f64::from(g.min_rtt_us.unwrap()) / 1e3,
        minrtt(&before),
        minrtt(&after),
    );
    within(
        "retrans",
        retrans,
        sum(&before, |s| s.total_retrans),
        sum(&after, |s| s.total_retrans),
    );
    within(
        "lost",
        g.lost.unwrap() as f64,
        sum(&before, |s| s.lost),
        sum(&after, |s| s.lost),
    );
    let acked = row.bytes_acked.unwrap() as f64;
    within(
        "bytes_acked",
        acked,
        sum(&before, |s| s.bytes_acked),
        sum(&after, |s| s.bytes_acked),
    );
    let received_ours = row.bytes_received.unwrap() as f64;
    within(
        "bytes_received",
        received_ours,
        sum(&before, |s| s.bytes_received),
        sum(&after, |s| s.bytes_received),
    );
    within(
        "delivery_rate",
        g.delivery_rate().unwrap(),
        avg(&before, |s| s.delivery_rate),
        avg(&after, |s| s.delivery_rate),
    );
    // And the bytes the test itself moved: bytes_acked counts the SYN too (1 per socket).
    let sent = (BULK * CONNECTIONS) as f64;
    assert!(
        (sent..=sent + CONNECTIONS as f64).contains(&acked),
        "bytes acked {acked}, sent {sent}"
    );
    assert_eq!(
        received_ours,
        (GREETING * CONNECTIONS) as f64,
        "bytes received"
    );
}

/// Bytes not yet acknowledged on `c` (SIOCOUTQ).
#[allow(unsafe_code)]
fn outq(c: &TcpStream) -> libc::c_int {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int through the pointer we pass.
    let rc = unsafe { libc::ioctl(c.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    assert_eq!(rc, 0, "SIOCOUTQ: {}", std::io::Error::last_os_error());
    n
}

#[test]
fn parses_ss_info_lines() {
    let text = "0 0 10.77.1.1:40000 10.77.2.1:5001\n\t cubic wscale:7,7 rto:228 rtt:26.42/1.31 ato:40 mss:1448 bytes_acked:1500001 bytes_received:12345 retrans:0/37 lost:2 minrtt:0.061 delivery_rate 9.5Mbps\n";
    let s = &parse_ss(text)[0];
    assert_eq!(
        (s.rtt_ms, s.rttvar_ms, s.minrtt_ms),
        (26.42, 1.31, Some(0.061))
    );
    assert_eq!(
        (s.total_retrans, s.lost, s.bytes_acked, s.bytes_received),
        (37.0, 2.0, 1_500_001.0, 12_345.0)
    );
    assert_eq!(s.delivery_rate, 9.5e6 / 8.0);
}
