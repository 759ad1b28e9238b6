//! Tests of the `tcp_info` integration: the aggregation on crafted sockets here; against the
//! kernel and `ss -ti` in network namespaces ([`netns`]) and on loopback ([`loopback`]); the
//! cost of a collection with 10,000 sockets ([`cost`], ignored: a figure, not an assertion).

mod cost;
mod loopback;
mod netns;

use super::config::{Service, parse_network};
use super::diag::{Socket, TcpInfo};
use super::peers::{OTHER, Peers, Row};
use std::collections::HashSet;

fn socket(cookie: u64, local: &str, remote: &str, info: TcpInfo) -> Socket {
    Socket {
        state: super::peers::ESTABLISHED,
        local: local.parse().unwrap(),
        remote: remote.parse().unwrap(),
        cookie,
        info: Some(info),
    }
}

fn info(rtt_us: u32, retrans: u32, acked: u64, received: u64) -> TcpInfo {
    TcpInfo {
        lost: Some(0),
        rtt_us: Some(rtt_us),
        rttvar_us: Some(rtt_us / 2),
        reordering: Some(3),
        total_retrans: Some(retrans),
        bytes_acked: Some(acked),
        bytes_received: Some(received),
        min_rtt_us: Some(rtt_us / 4),
        delivery_rate: Some(1000),
    }
}

fn row<'a>(rows: &'a [Row], peer: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.peer == peer)
        .unwrap_or_else(|| panic!("no {peer} in {rows:?}"))
}

fn service(name: &str, address: &str, port: Option<u16>) -> Service {
    let (network, prefix) = parse_network(address).unwrap();
    Service {
        name: name.into(),
        network,
        prefix,
        port,
    }
}

#[test]
fn peers_are_services_then_listening_ports_then_remote_ends() {
    let p = Peers::new(
        vec![
            service("mes-db", "10.0.0.5", Some(5432)),
            service("office", "192.168.10.0/24", None),
        ],
        10,
        false,
        10,
    );
    let listening: HashSet<u16> = [8080].into();
    let peer = |local: &str, remote: &str| {
        p.peer_of(&socket(1, local, remote, info(1, 0, 0, 0)), &listening)
            .0
    };
    assert_eq!(peer("10.0.0.1:40000", "10.0.0.5:5432"), "mes-db");
    assert_eq!(peer("10.0.0.1:40001", "10.0.0.5:5433"), "10.0.0.5:5433");
    assert_eq!(peer("10.0.0.1:8080", "192.168.10.7:51234"), "office");
    assert_eq!(
        peer("10.0.0.1:8080", "172.16.0.9:51234"),
        "172.16.0.9->:8080"
    );
    assert_eq!(
        peer("[2001:db8::1]:8080", "[2001:db8::9]:40000"),
        "[2001:db8::9]->:8080"
    );
    assert_eq!(
        peer("[2001:db8::1]:40000", "[2001:db8::9]:443"),
        "[2001:db8::9]:443"
    );
}

/// Incoming connections from one client on many ephemeral ports are one peer.
#[test]
fn ephemeral_client_ports_do_not_make_peers() {
    let mut p = Peers::new(vec![], 10, false, 10);
    let listening: HashSet<u16> = [5432].into();
    let sockets = (0..50).map(|i| {
        socket(
            i,
            "10.0.0.1:5432",
            &format!("10.0.0.9:{}", 40000 + i),
            info(100, 0, 0, 0),
        )
    });
    let r = p.update(sockets, &listening, 1);
    assert_eq!(r.rows.len(), 1);
    assert_eq!(row(&r.rows, "10.0.0.9->:5432").gauges.sockets, 50);
}

#[test]
fn gauges_average_rtt_and_take_min_max_and_sums() {
    let mut p = Peers::new(vec![], 10, false, 10);
    let mut a = info(1000, 0, 0, 0);
    a.lost = Some(2);
    a.reordering = Some(5);
    a.min_rtt_us = Some(u32::MAX); // no sample yet: left out of the minimum
    let mut b = info(3000, 0, 0, 0);
    b.delivery_rate = Some(3000);
    let r = p.update(
        [
            socket(1, "10.0.0.1:1", "10.0.0.2:80", a),
            socket(2, "10.0.0.1:2", "10.0.0.2:80", b),
        ],
        &HashSet::new(),
        1,
    );
    let g = &row(&r.rows, "10.0.0.2:80").gauges;
    assert_eq!(g.sockets, 2);
    assert_eq!(g.rtt(), Some(0.002));
    assert_eq!(g.rttvar(), Some(0.001));
    assert_eq!(g.min_rtt_us, Some(750));
    assert_eq!(g.lost, Some(2));
    assert_eq!(g.reordering, Some(5));
    assert_eq!(g.delivery_rate(), Some(2000.0));
}

/// A kernel without a field: the peer has no figure for it, not 0.
#[test]
fn absent_fields_are_not_reported() {
    let mut p = Peers::new(vec![], 10, false, 10);
    let old = TcpInfo {
        rtt_us: Some(500),
        total_retrans: Some(1),
        ..TcpInfo::default()
    };
    let mut rec = dozor_metrics::sample::Recorder::new();
    for _ in 0..2 {
        let r = p.update(
            [socket(1, "10.0.0.1:1", "10.0.0.2:80", old)],
            &HashSet::new(),
            1,
        );
        super::record(&mut rec, &r);
    }
    let names: HashSet<&str> = rec.samples().iter().map(|s| s.metric.name).collect();
    assert!(names.contains("dozor.tcp.peer.rtt") && names.contains("dozor.tcp.peer.retransmits"));
    for absent in [
        "dozor.tcp.peer.bytes",
        "dozor.tcp.peer.rtt.min",
        "dozor.tcp.peer.delivery_rate",
        "dozor.tcp.peer.lost",
    ] {
        assert!(
            !names.contains(absent),
            "{absent} recorded from an absent field"
        );
    }
}

#[test]
fn the_budget_folds_the_rest_into_other_and_counts_them() {
    let mut p = Peers::new(vec![service("zz-db", "10.9.9.9", None)], 3, false, 10);
    let sockets: Vec<Socket> = (0..6)
        .map(|i| {
            socket(
                i,
                "10.0.0.1:40000",
                &format!("10.0.0.{}:80", 10 + i),
                info(1000 * (i as u32 + 1), 0, 0, 0),
            )
        })
        .chain([socket(
            99,
            "10.0.0.1:40001",
            "10.9.9.9:5432",
            info(9, 0, 0, 0),
        )])
        .collect();
    let r = p.update(sockets, &HashSet::new(), 1);
    let peers: Vec<&str> = r.rows.iter().map(|r| r.peer.as_str()).collect();
    // The service first whatever its name, then by name; 4 left for _other.
    assert_eq!(peers, ["zz-db", "10.0.0.10:80", "10.0.0.11:80", OTHER]);
    assert_eq!(r.overflow, 4);
    let other = &row(&r.rows, OTHER).gauges;
    assert_eq!(other.sockets, 4);
    assert_eq!(
        other.rtt(),
        Some((3000.0 + 4000.0 + 5000.0 + 6000.0) / 4.0 / 1e6)
    );
}

/// Regression: #14. Counters per peer never go back when a socket closes, a new socket's
/// whole history counts once it opened after the first collection, and the first collection
/// is a baseline.
#[test]
fn counters_are_monotonic_across_closed_sockets() {
    let mut p = Peers::new(vec![], 10, false, 10);
    let none = HashSet::new();
    let s = |cookie, retrans, acked| {
        socket(
            cookie,
            "10.0.0.1:40000",
            "10.0.0.2:80",
            info(100, retrans, acked, 7),
        )
    };
    let counters = |r: &super::peers::Report| {
        let r = row(&r.rows, "10.0.0.2:80");
        (
            r.retransmits.unwrap(),
            r.bytes_acked.unwrap(),
            r.bytes_received.unwrap(),
        )
    };
    // First collection: socket 1 with history before the agent: baseline.
    assert_eq!(counters(&p.update([s(1, 5, 1000)], &none, 1)), (0, 0, 0));
    // It grows; socket 2 opens with 2 retransmits and 300 bytes.
    assert_eq!(
        counters(&p.update([s(1, 8, 1500), s(2, 2, 300)], &none, 2)),
        (5, 800, 7)
    );
    // Socket 1 closes: the peer's counters stay.
    let r = p.update([s(2, 3, 400)], &none, 3);
    assert_eq!(counters(&r), (6, 900, 7));
    assert_eq!(p.tracked().0, 1, "the closed socket is forgotten");
    // The start time stays that of the first collection.
    assert_eq!(row(&r.rows, "10.0.0.2:80").since_ns, 1);
}

#[test]
fn peers_unseen_for_forget_after_collections_are_dropped() {
    let mut p = Peers::new(vec![], 10, false, 3);
    let none = HashSet::new();
    p.update(
        [socket(1, "10.0.0.1:1", "10.0.0.2:80", info(1, 0, 0, 0))],
        &none,
        1,
    );
    for n in 0..2 {
        p.update([], &none, 2 + n);
        assert_eq!(p.tracked(), (0, 1));
    }
    p.update([], &none, 4);
    assert_eq!(p.tracked(), (0, 0));
}

#[test]
fn loopback_is_left_out_unless_asked() {
    let lo = [
        socket(1, "127.0.0.1:40000", "127.0.0.1:6379", info(10, 0, 0, 0)),
        socket(2, "[::1]:40000", "[::1]:6379", info(10, 0, 0, 0)),
    ];
    let mut p = Peers::new(vec![], 10, false, 10);
    assert!(p.update(lo, &HashSet::new(), 1).rows.is_empty());
    let mut p = Peers::new(vec![], 10, true, 10);
    assert_eq!(p.update(lo, &HashSet::new(), 1).rows.len(), 2);
}
