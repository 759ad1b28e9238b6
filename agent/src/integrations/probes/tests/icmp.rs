//! ICMP echo probes against an echo responder the test runs in user space in namespace `b`
//! (with `b`'s kernel echo turned off): it answers after a known delay and drops every request
//! whose sequence number is a multiple of 5, counting what it saw, dropped and answered, which
//! is the ground truth for the probe's figures.

use crate::integrations::probes::icmp::{Icmp, IcmpProbe};
use crate::integrations::probes::resolve::Family;
use crate::integrations::probes::{Config, Probe};
use crate::integrations::testing::{histogram, load, value};
use dozor_metrics::sample::{Recorder, Sample};
use dozor_testkit::netns::{Link, Netns};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(25);

/// What the responder counted.
#[derive(Default)]
struct Counts {
    seen: AtomicU64,
    dropped: AtomicU64,
    answered: AtomicU64,
    /// Nanoseconds the answered requests were actually held (the delay, plus the responder's
    /// own lateness under load).
    held_ns: AtomicU64,
}

/// A user-space echo responder in a namespace; stops when dropped.
struct Responder {
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Answers the echo requests `ns` receives (of `v6` or not) after `delay`, dropping those whose
/// sequence number is a multiple of 5 (when `drop_fifth`).
fn responder(ns: &Netns, v6: bool, delay: Duration, drop_fifth: bool) -> Responder {
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let socket: UdpSocket = ns.run(|| {
        let (domain, protocol) = if v6 {
            (Domain::IPV6, Protocol::ICMPV6)
        } else {
            (Domain::IPV4, Protocol::ICMPV4)
        };
        Socket::new(domain, Type::RAW, Some(protocol))
            .expect("raw ICMP socket (the tests run as root)")
            .into()
    });
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let sender = socket.try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, Instant, SocketAddr, Vec<u8>)>();
    let (c, s) = (counts.clone(), stop.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while !s.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let at = Instant::now();
            // Raw IPv4 sockets get the IP header; ICMPv6 ones do not.
            let icmp = if v6 {
                &buf[..n]
            } else {
                &buf[usize::from(buf[0] & 0x0f) * 4..n]
            };
            if icmp.len() < 8 || icmp[0] != if v6 { 128 } else { 8 } {
                continue;
            }
            c.seen.fetch_add(1, Ordering::Relaxed);
            let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
            if drop_fifth && seq % 5 == 0 {
                c.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let mut reply = icmp.to_vec();
            reply[0] = if v6 { 129 } else { 0 };
            reply[2..4].copy_from_slice(&[0, 0]);
            if !v6 {
                let sum = checksum(&reply);
                reply[2..4].copy_from_slice(&sum.to_be_bytes());
            }
            let _ = tx.send((at, at + delay, from, reply));
        }
    });
    let c = counts.clone();
    std::thread::spawn(move || {
        // The delay is the same for all: replies leave in the order their requests came.
        for (came, due, to, reply) in rx {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let held = Instant::now() - came;
            if sender.send_to(&reply, to).is_ok() {
                c.answered.fetch_add(1, Ordering::Relaxed);
                c.held_ns
                    .fetch_add(held.as_nanos() as u64, Ordering::Relaxed);
            }
        }
    });
    Responder { counts, stop }
}

fn probe(host: IpAddr, count: u32, spacing_ms: u64, wait_ms: u64) -> Icmp {
    Icmp::new(&IcmpProbe {
        host: host.to_string(),
        count,
        spacing: dozor_config::Duration(Duration::from_millis(spacing_ms)),
        wait: dozor_config::Duration(Duration::from_millis(wait_ms)),
        ..IcmpProbe::default()
    })
}

/// Runs `probe` `rounds` times from `ns`, each within `timeout`: the results, the last
/// round's samples.
fn rounds(
    ns: &Netns,
    probe: &mut Icmp,
    rounds: usize,
    timeout: Duration,
) -> (Vec<Result<Duration, String>>, Vec<Sample>) {
    ns.run(|| {
        let mut results = Vec::new();
        let mut samples = Vec::new();
        for _ in 0..rounds {
            let mut rec = Recorder::new();
            let started = Instant::now();
            let r = probe.run("t", started + timeout, &mut rec);
            assert!(
                started.elapsed() < timeout + Duration::from_millis(50),
                "a round took {:?}, past its timeout",
                started.elapsed()
            );
            results.push(r.map_err(|f| format!("{}: {}", f.reason, f.message)));
            samples = rec.take();
        }
        (results, samples)
    })
}

fn rtt(samples: &[Sample], stat: &str) -> Option<f64> {
    value(samples, "dozor.probe.icmp.rtt", &["t", stat])
}

/// Waits until `host` answers from `a` (b's kernel answering): IPv6 over a fresh veth drops
/// the first packets for up to a second or two after `Link::new`.
fn ready(link: &Link, host: IpAddr) {
    let mut p = probe(host, 1, 10, 100);
    let (results, _) = rounds(&link.a, &mut p, 50, Duration::from_millis(200));
    assert!(results.iter().any(Result::is_ok), "{host} never answered");
}

/// The acceptance: `rounds_n` rounds of `count` echoes through a responder that answers after
/// 25 ms and drops a known fifth of them; with a datagram socket when `dgram`.
fn delayed_and_lossy(v6: bool, dgram: bool, rounds_n: usize, count: u32) {
    let link = Link::new();
    if dgram {
        link.a.sysctl("net.ipv4.ping_group_range", "0 2147483647");
    }
    let host = if v6 { link.b_v6 } else { link.b_v4 };
    ready(&link, host);
    link.b.sysctl("net.ipv4.icmp_echo_ignore_all", "1");
    link.b.sysctl("net.ipv6.icmp.echo_ignore_all", "1");
    let r = responder(&link.b, v6, DELAY, true);

    let mut p = probe(host, count, 10, 300);
    let (results, samples) = rounds(&link.a, &mut p, rounds_n, Duration::from_secs(2));
    assert_eq!(
        p.socket_kind(),
        Some(if dgram { "datagram" } else { "raw" })
    );
    let (seen, dropped, answered, held_ns) = (
        r.counts.seen.load(Ordering::Relaxed),
        r.counts.dropped.load(Ordering::Relaxed),
        r.counts.answered.load(Ordering::Relaxed),
        r.counts.held_ns.load(Ordering::Relaxed),
    );
    drop(r);
    let sent = value(&samples, "dozor.probe.icmp.packets.sent", &["t"]).unwrap();
    let received = value(&samples, "dozor.probe.icmp.packets.received", &["t"]).unwrap();
    let h = histogram(&samples, "dozor.probe.icmp.round_trip", &["t"]).unwrap();
    // The probe's mean over every echo, against the responder's actual mean hold (the 25 ms,
    // plus its own lateness on a loaded machine): at least that, and at most 10% of the 25 ms
    // (or 2 ms) more, the veth's own round trip (~0.1 ms here) included.
    let mean = h.sum / received;
    let held = held_ns as f64 / 1e9 / answered as f64;
    let (avg, min, max, stddev) = (
        rtt(&samples, "avg").unwrap(),
        rtt(&samples, "min").unwrap(),
        rtt(&samples, "max").unwrap(),
        rtt(&samples, "stddev").unwrap(),
    );
    let loss = 1.0 - received / sent;
    println!(
        "icmp v6={v6} dgram={dgram}: {rounds_n}x{count} echoes: sent {sent} received {received} \
         (responder: seen {seen} dropped {dropped} answered {answered}); loss {loss:.3}; \
         mean rtt {:.3} ms, responder held {:.3} ms; \
         last round avg {:.3} min {:.3} max {:.3} stddev {:.3} ms",
        mean * 1e3,
        held * 1e3,
        avg * 1e3,
        min * 1e3,
        max * 1e3,
        stddev * 1e3,
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(sent, (rounds_n as u32 * count) as f64);
    assert_eq!(
        sent, seen as f64,
        "every request the probe sent reached the responder"
    );
    assert_eq!(received, answered as f64, "every reply counts, once");
    assert_eq!(
        sent - received,
        dropped as f64,
        "the losses are the responder's drops"
    );
    assert!((0.15..=0.25).contains(&loss), "loss {loss}");
    let last_loss = value(&samples, "dozor.probe.icmp.loss.ratio", &["t"]).unwrap();
    assert!(
        (0.15..=0.25).contains(&last_loss),
        "last round's loss {last_loss}"
    );
    assert!(held >= DELAY.as_secs_f64());
    assert!(
        held <= mean && mean - held <= (0.1 * DELAY.as_secs_f64()).max(0.002),
        "mean rtt {mean} vs held {held}"
    );
    assert!(DELAY.as_secs_f64() <= min && min <= avg && avg <= max);
    assert!(stddev <= max - min);
    // Every round trip since the start, none at or below the 25 ms the responder held it.
    let i = h.bounds.iter().position(|b| *b == 0.025).unwrap();
    assert_eq!(h.counts.iter().sum::<u64>() as f64, received);
    assert_eq!(h.counts[..=i].iter().sum::<u64>(), 0, "{:?}", h.counts);
    // The duration of a probe is its round's mean round trip.
    let took = results.last().unwrap().as_ref().unwrap().as_secs_f64();
    assert!((took - avg).abs() < 1e-6);
}

#[test]
fn ipv4_raw_socket_measures_the_responders_delay_and_loss_over_500_echoes() {
    delayed_and_lossy(false, false, 10, 50);
}

#[test]
fn ipv6_datagram_socket_measures_the_responders_delay_and_loss() {
    delayed_and_lossy(true, true, 4, 50);
}

#[test]
fn ipv4_datagram_and_ipv6_raw_sockets_too() {
    delayed_and_lossy(false, true, 2, 50);
    delayed_and_lossy(true, false, 2, 50);
}

#[test]
fn a_host_that_never_answers_is_a_loss_within_the_timeout_with_no_round_trip() {
    let link = Link::new();
    link.b.sysctl("net.ipv4.icmp_echo_ignore_all", "1");
    let mut p = probe(link.b_v4, 3, 100, 5000);
    let started = Instant::now();
    let (results, samples) = rounds(&link.a, &mut p, 1, Duration::from_millis(800));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        results[0].as_ref().unwrap_err(),
        "loss: no reply to 3 echoes"
    );
    assert_eq!(rtt(&samples, "avg"), None);
    assert_eq!(rtt(&samples, "min"), None);
    assert_eq!(
        value(&samples, "dozor.probe.icmp.loss.ratio", &["t"]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "dozor.probe.icmp.packets.sent", &["t"]),
        Some(3.0)
    );
    assert_eq!(
        value(&samples, "dozor.probe.icmp.packets.received", &["t"]),
        Some(0.0)
    );
}

/// Replies that come after their round ended are losses, also when they land in a later round
/// (whose sequence numbers and cookie differ), on both kinds of socket.
#[test]
fn late_replies_count_as_lost_in_their_round_and_are_ignored_in_the_next() {
    let link = Link::new();
    ready(&link, link.b_v4);
    link.b.sysctl("net.ipv4.icmp_echo_ignore_all", "1");
    let r = responder(&link.b, false, Duration::from_millis(400), false);
    for dgram in [false, true] {
        link.a.sysctl(
            "net.ipv4.ping_group_range",
            if dgram { "0 2147483647" } else { "1 0" },
        );
        // Rounds of 150 ms: each round's replies land two rounds later.
        let mut p = probe(link.b_v4, 2, 50, 100);
        let (results, samples) = rounds(&link.a, &mut p, 6, Duration::from_secs(1));
        assert!(
            results
                .iter()
                .all(|r| r.as_ref().is_err_and(|e| e.starts_with("loss: "))),
            "dgram={dgram}: {results:?}"
        );
        assert_eq!(
            value(&samples, "dozor.probe.icmp.packets.received", &["t"]),
            Some(0.0)
        );
        assert_eq!(
            value(&samples, "dozor.probe.icmp.packets.sent", &["t"]),
            Some(12.0)
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let answered = r.counts.answered.load(Ordering::Relaxed);
    assert_eq!(answered, 24, "the responder answered every request, late");
}

#[test]
fn a_host_that_rejects_the_echoes_is_unreachable() {
    let link = Link::new();
    ready(&link, link.b_v4);
    ready(&link, link.b_v6);
    let reject =
        "-A INPUT -p icmp --icmp-type echo-request -j REJECT --reject-with icmp-host-unreachable";
    super::iptables(&link.b, false, reject);
    let reject = "-A INPUT -p icmpv6 --icmpv6-type echo-request -j REJECT --reject-with icmp6-addr-unreachable";
    super::iptables(&link.b, true, reject);
    for (host, dgram) in [(link.b_v4, false), (link.b_v6, false), (link.b_v4, true)] {
        link.a.sysctl(
            "net.ipv4.ping_group_range",
            if dgram { "0 2147483647" } else { "1 0" },
        );
        let mut p = probe(host, 2, 50, 500);
        let (results, _) = rounds(&link.a, &mut p, 1, Duration::from_secs(1));
        let e = results[0].as_ref().unwrap_err();
        assert!(e.starts_with("unreachable: "), "{host} dgram={dgram}: {e}");
    }
}

#[test]
fn a_name_that_does_not_resolve_is_a_resolve_failure() {
    let link = Link::new();
    let mut p = Icmp::new(&IcmpProbe {
        host: "no-such-host.invalid".into(),
        ..IcmpProbe::default()
    });
    let (results, samples) = rounds(&link.a, &mut p, 1, Duration::from_secs(3));
    assert!(
        results[0].as_ref().unwrap_err().starts_with("resolve: "),
        "{results:?}"
    );
    assert_eq!(rtt(&samples, "avg"), None);
    assert_eq!(value(&samples, "dozor.probe.icmp.loss.ratio", &["t"]), None);
    // A literal of the other family than asked is refused without a lookup.
    let mut p = Icmp::new(&IcmpProbe {
        host: "10.0.0.1".into(),
        family: Family::Ipv6,
        ..IcmpProbe::default()
    });
    let e = p
        .run(
            "t",
            Instant::now() + Duration::from_secs(1),
            &mut Recorder::new(),
        )
        .unwrap_err();
    assert_eq!(e.reason, "resolve");
}

#[test]
fn a_round_that_cannot_fit_in_the_timeout_fails_with_config() {
    let mut p = probe("127.0.0.1".parse().unwrap(), 20, 100, 100);
    let started = Instant::now();
    let e = p
        .run(
            "t",
            Instant::now() + Duration::from_secs(1),
            &mut Recorder::new(),
        )
        .unwrap_err();
    assert_eq!(e.reason, "config", "{e:?}");
    assert!(e.message.contains("lower count or spacing"), "{e:?}");
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[test]
fn bad_icmp_settings_are_reported_with_their_keys() {
    let e = load::<Config>(
        "integrations:\n  probes:\n    targets:\n      - name: p\n        icmp: {host: '', count: 0, spacing: 0s, wait: 0s, payload_size: 4, family: ipv5}\n",
    )
    .unwrap_err();
    assert!(e.contains("family"), "{e}");
    let e = load::<Config>(
        "integrations:\n  probes:\n    targets:\n      - name: p\n        icmp: {host: '', count: 1001, spacing: 0s, wait: 0s, payload_size: 9001}\n",
    )
    .unwrap_err();
    for key in [
        "targets[0].icmp.host",
        "targets[0].icmp.count",
        "targets[0].icmp.spacing",
        "targets[0].icmp.wait",
        "targets[0].icmp.payload_size",
    ] {
        assert!(e.contains(key), "{key} not in: {e}");
    }
    let ok = load::<Config>(
        "integrations:\n  probes:\n    targets:\n      - {name: p, icmp: {host: mes.plant}}\n",
    );
    assert!(ok.is_ok(), "{ok:?}");
}

const CHILD: &str = "DOZOR_ICMP_NO_CAP_CHILD";

/// Runs itself again in a namespace whose ping_group_range admits no group, without
/// CAP_NET_RAW (setpriv drops it from the bounding set, so even root lacks it): neither socket
/// opens, and the failure names both fixes.
#[test]
fn without_cap_net_raw_or_ping_group_range_the_failure_names_both_fixes() {
    if std::env::var_os(CHILD).is_some() {
        let mut p = probe("127.0.0.1".parse().unwrap(), 1, 100, 100);
        let e = p
            .run(
                "t",
                Instant::now() + Duration::from_secs(1),
                &mut Recorder::new(),
            )
            .unwrap_err();
        println!("CHILD reason={} message={}", e.reason, e.message);
        return;
    }
    let ns = Netns::new("icmp");
    ns.sysctl("net.ipv4.ping_group_range", "1 0");
    let out = ns
        .command("setpriv")
        .args(["--bounding-set", "-net_raw", "--inh-caps=-all"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "integrations::probes::tests::icmp::without_cap_net_raw_or_ping_group_range_the_failure_names_both_fixes",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("setpriv (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("CHILD reason=permission"), "{text}");
    for needle in [
        "sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"",
        "now \"1 0\", the agent's group is 0",
        "setcap cap_net_raw+ep",
        "AmbientCapabilities=CAP_NET_RAW",
    ] {
        assert!(text.contains(needle), "{needle} not in: {text}");
    }
}
