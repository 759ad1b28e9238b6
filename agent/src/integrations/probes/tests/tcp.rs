//! TCP connect probes against listeners in another network namespace whose SYN-ACKs the test
//! holds in user space for a known time (NFQUEUE: this kernel has no netem), and against ports
//! that refuse, drop and reject.

use super::{build, iptables, run_in};
use crate::integrations::testing::value;
use dozor_testkit::netns::{Link, Netns};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(40);

/// Holds every packet of NFQUEUE `queue` in `ns` for `delay` before letting it go; counts them.
struct Holder {
    stop: Arc<AtomicBool>,
    held: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Holder {
    fn start(ns: &Netns, queue: u16, delay: Duration) -> Holder {
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicUsize::new(0));
        let (s, h) = (stop.clone(), held.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = ns.spawn(move || {
            let mut q = nfq::Queue::open().expect("NFQUEUE (needs root)");
            q.bind(queue).expect("bind the queue");
            q.set_nonblocking(true);
            ready_tx.send(()).unwrap();
            let mut pending: std::collections::VecDeque<(Instant, nfq::Message)> =
                Default::default();
            while !s.load(Ordering::Relaxed) || !pending.is_empty() {
                match q.recv() {
                    Ok(msg) => {
                        h.fetch_add(1, Ordering::Relaxed);
                        pending.push_back((Instant::now() + delay, msg));
                        continue;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("NFQUEUE: {e}"),
                }
                while pending
                    .front()
                    .is_some_and(|(due, _)| *due <= Instant::now())
                {
                    let (_, mut msg) = pending.pop_front().unwrap();
                    msg.set_verdict(nfq::Verdict::Accept);
                    q.verdict(msg).unwrap();
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        ready_rx.recv().unwrap();
        Holder {
            stop,
            held,
            thread: Some(thread),
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A listener on `ip` in `ns` that accepts (and drops) every connection; its port.
fn listen(ns: &Netns, ip: IpAddr) -> u16 {
    let l = ns.run(|| TcpListener::bind(SocketAddr::new(ip, 0)).unwrap());
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            drop(c);
        }
    });
    port
}

fn address(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

/// The connect time is the SYN-ACK's hold plus the veth's own round trip, within 10% (2 ms),
/// over IPv4 and IPv6, run after run.
#[test]
fn connect_time_is_the_injected_delay() {
    let link = Link::new();
    let (p4, p6) = (listen(&link.b, link.b_v4), listen(&link.b, link.b_v6));
    // Undelayed first, over both families: the veth's own connect time, the floor under the
    // injected delay (and the neighbours resolved, which IPv6 otherwise does under the hold).
    let mut plain = build(&format!(
        "enabled: true\ntargets:\n  - {{name: plain4, tcp: {{address: \"{}\"}}}}\n  - {{name: plain6, tcp: {{address: \"{}\"}}}}\n",
        address(link.b_v4, p4),
        address(link.b_v6, p6)
    ));
    for (p, name) in plain.iter_mut().zip(["plain4", "plain6"]) {
        for _ in 0..2 {
            let (s, _) = run_in(&link.a, p.integration.as_mut());
            let floor = value(&s, "dozor.probe.duration", &[name, "tcp"]).unwrap();
            assert!(floor < 0.05, "{name}: undelayed connect took {floor} s");
        }
    }

    for v6 in [false, true] {
        let hold = "-A OUTPUT -p tcp --tcp-flags SYN,ACK SYN,ACK -j NFQUEUE --queue-num 40";
        iptables(&link.b, v6, hold);
    }
    let holder = Holder::start(&link.b, 40, DELAY);
    let mut probes = build(&format!(
        "enabled: true\ntargets:\n  - {{name: v4, tcp: {{address: \"{}\"}}}}\n  - {{name: v6, tcp: {{address: \"{}\", family: ipv6}}}}\n",
        address(link.b_v4, p4),
        address(link.b_v6, p6)
    ));
    for round in 1..=5 {
        for (p, name) in probes.iter_mut().zip(["v4", "v6"]) {
            let (s, _) = run_in(&link.a, p.integration.as_mut());
            assert_eq!(value(&s, "dozor.probe.success", &[name, "tcp"]), Some(1.0));
            let took = value(&s, "dozor.probe.duration", &[name, "tcp"]).unwrap();
            let want = DELAY.as_secs_f64();
            assert!(
                took >= want && took <= want + (want * 0.1).max(0.002),
                "{name} round {round}: {took} s, injected {want} s"
            );
            assert_eq!(
                value(&s, "dozor.probe.runs", &[name, "tcp"]),
                Some(round as f64)
            );
        }
    }
    // One SYN-ACK held per connect: the delay really was the test's.
    assert_eq!(holder.held.load(Ordering::Relaxed), 10);
}

/// Refused, dropped, rejected and unresolvable: each its own reason, counted, no duration,
/// never past the timeout.
#[test]
fn each_failure_has_its_reason() {
    let link = Link::new();
    let open = listen(&link.b, link.b_v4);
    let (closed, dropped, rejected) = (open + 1, open + 2, open + 3);
    iptables(
        &link.b,
        false,
        &format!("-A INPUT -p tcp --dport {dropped} -j DROP"),
    );
    iptables(
        &link.b,
        false,
        &format!(
            "-A INPUT -p tcp --dport {rejected} -j REJECT --reject-with icmp-host-unreachable"
        ),
    );
    let mut probes = build(&format!(
        "enabled: true\ntimeout: 2s\ntargets:\n  - {{name: closed, tcp: {{address: \"{}\"}}}}\n  - {{name: dropped, tcp: {{address: \"{}\"}}}}\n  - {{name: rejected, tcp: {{address: \"{}\"}}}}\n  - {{name: nowhere, tcp: {{address: \"no-such-host.invalid:80\"}}}}\n",
        address(link.b_v4, closed),
        address(link.b_v4, dropped),
        address(link.b_v4, rejected),
    ));
    let want = [
        ("closed", "refused"),
        ("dropped", "timeout"),
        ("rejected", "unreachable"),
        ("nowhere", "resolve"),
    ];
    for (p, (name, reason)) in probes.iter_mut().zip(want) {
        for run in 1..=2 {
            let (s, took) = run_in(&link.a, p.integration.as_mut());
            assert_eq!(
                value(&s, "dozor.probe.success", &[name, "tcp"]),
                Some(0.0),
                "{name}"
            );
            assert_eq!(
                value(&s, "dozor.probe.duration", &[name, "tcp"]),
                None,
                "{name}"
            );
            assert_eq!(
                value(&s, "dozor.probe.failures", &[name, "tcp", reason]),
                Some(run as f64),
                "{name}: {s:?}"
            );
            // The probe's own budget is the timeout less its tenth: it ends first.
            assert!(took < Duration::from_secs(2), "{name} took {took:?}");
            if reason == "timeout" {
                assert!(took >= Duration::from_millis(1800), "{name} took {took:?}");
            }
        }
    }
}

/// A target without a probe, with two, and bad addresses: every problem at load, with its key.
#[test]
fn bad_targets_are_refused_at_load() {
    let text = "\
integrations:
  probes:
    enabled: true
    targets:
      - {name: none}
      - {name: two, tcp: {address: 'a:1'}, dns: {query: a}}
      - {name: noport, tcp: {address: mes.plant}}
      - {name: v6, tcp: {address: 'fd00::1:80'}}
      - {name: zero, tcp: {address: 'a:0'}, interval: 0s}
";
    let e = crate::integrations::testing::load::<super::Config>(text).unwrap_err();
    for want in [
        "integrations.probes.targets[0].name: the target has no probe",
        "integrations.probes.targets[1].dns: a target has one probe, and this one has tcp already",
        "integrations.probes.targets[2].tcp.address: \"mes.plant\" is not host:port",
        "integrations.probes.targets[3].tcp.address: \"fd00::1:80\": write an IPv6 address in brackets",
        "integrations.probes.targets[4].tcp.address: \"a:0\": the port is not a number from 1 to 65535",
        "integrations.probes.targets[4].interval",
    ] {
        assert!(e.contains(want), "{want} not in:\n{e}");
    }
}
