//! The integration capturing on `lo` while a real server (its own log the ground truth) serves
//! real clients: keep-alive, pipelined, HEAD, chunked, 100-continue, close-delimited, and one
//! request that takes 20 s and must show in flight, its age growing, before it completes.

use super::client::{Client, Req};
use super::route_of;
use super::server::{Logged, Server};
use crate::integrations::Integration;
use crate::integrations::http_capture::{Config, HttpCapture};
use crate::integrations::testing::histogram;
use crate::integrations::testing::{load, value};
use dozor_metrics::sample::{Recorder, Sample};
use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

fn collect(cap: &mut HttpCapture) -> Vec<Sample> {
    let mut rec = Recorder::new();
    cap.collect(&mut rec)
        .expect("capturing on lo needs root or CAP_NET_RAW and CAP_NET_ADMIN");
    rec.take()
}

/// The traffic of every client but the slow one; returns (method, target, status) as received.
fn traffic(port: u16) -> Vec<(String, String, u16)> {
    let mut got = Vec::new();
    let mut keep = Client::connect(port);
    let mut calls: Vec<Req<'_>> = Vec::new();
    let targets: Vec<String> = (0..20).map(|i| format!("/orders/{}", 100 + i)).collect();
    calls.extend(targets.iter().map(|t| Req::get("GET", t)));
    calls.extend((0..5).map(|_| Req::get("GET", "/missing")));
    calls.extend((0..4).map(|_| Req::get("GET", "/boom")));
    calls.extend((0..6).map(|_| Req::get("HEAD", "/fast")));
    calls.extend((0..5).map(|_| Req::get("GET", "/chunked")));
    for r in &calls {
        got.push((r.method.into(), r.target.into(), keep.call(r)));
    }
    let mut cont = Client::connect(port);
    for _ in 0..5 {
        let r = Req {
            method: "POST",
            target: "/orders",
            body: b"{\"item\": 42, \"qty\": 3}",
            expect: true,
            close: false,
        };
        got.push((r.method.into(), r.target.into(), cont.call(&r)));
    }
    for _ in 0..3 {
        let r = Req::get("GET", "/close");
        got.push((
            r.method.into(),
            r.target.into(),
            Client::connect(port).call(&r),
        ));
    }
    let pipelined = [
        Req::get("GET", "/orders/1"),
        Req::get("HEAD", "/fast"),
        Req::get("GET", "/missing"),
        Req::get("GET", "/chunked"),
        Req {
            body: b"abc",
            ..Req::get("POST", "/orders")
        },
        Req {
            close: true,
            ..Req::get("GET", "/fast")
        },
    ];
    let statuses = Client::connect(port).pipeline(&pipelined);
    for (r, s) in pipelined.iter().zip(statuses) {
        got.push((r.method.into(), r.target.into(), s));
    }
    got
}

#[test]
fn live_capture_on_loopback_matches_the_servers_own_log() {
    // Durations are compared with the server's own clock: no property test may take the CPU.
    let _cpu = crate::integrations::testing::cpu();
    let server = Server::start();
    let port = server.port;
    let cfg: Config = load(&format!(
        "integrations:\n  http_capture:\n    enabled: true\n    interfaces: [lo]\n    ports: [{port}]\n    services: {{{port}: shop}}\n    side: server\n"
    ))
    .unwrap();
    let mut cap = HttpCapture::start(&cfg).unwrap();
    collect(&mut cap);
    let p = port.to_string();
    let slow_at = Instant::now();
    let slow = thread::spawn(move || Client::connect(port).call(&Req::get("GET", "/slow")));
    let mut sent = traffic(port);

    // The 20 s request: in flight with an age that grows, and no status yet.
    let active = ["shop", "GET", "/slow", "127.0.0.1", p.as_str()];
    let mut ages = Vec::new();
    for _ in 0..2 {
        thread::sleep(Duration::from_secs(3));
        let s = collect(&mut cap);
        let expected_age = slow_at.elapsed().as_secs_f64();
        assert_eq!(value(&s, "http.server.active_requests", &active), Some(1.0));
        let age = value(&s, "dozor.http.server.oldest_active.age", &active)
            .expect("the oldest in-flight age of /slow");
        assert!(
            (age - expected_age).abs() < 0.5,
            "age {age} s, running for {expected_age} s"
        );
        assert!(
            histogram(
                &s,
                "http.server.request.duration",
                &["shop", "GET", "/slow", "200", "127.0.0.1", &p]
            )
            .is_none()
        );
        ages.push(age);
    }
    assert!(ages[1] > ages[0] + 2.5, "the age did not grow: {ages:?}");
    sent.push(("GET".into(), "/slow".into(), slow.join().unwrap()));

    // Everything the server logged is in the histograms, exactly. The server logs after its
    // last write, which the client may read first.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.log().len() < sent.len() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let log = server.log();
    let mut want: BTreeMap<(String, String, u16), Vec<&Logged>> = BTreeMap::new();
    for l in &log {
        want.entry((l.method.clone(), route_of(&l.target), l.status))
            .or_default()
            .push(l);
    }
    let mut client_view: Vec<_> = sent
        .iter()
        .map(|(m, t, s)| (m.clone(), t.clone(), *s))
        .collect();
    let mut server_view: Vec<_> = log
        .iter()
        .map(|l| (l.method.clone(), l.target.clone(), l.status))
        .collect();
    client_view.sort();
    server_view.sort();
    assert_eq!(
        client_view, server_view,
        "the clients and the server disagree"
    );
    assert_eq!(log.len(), 55);

    let deadline = Instant::now() + Duration::from_secs(10);
    let samples = loop {
        let s = collect(&mut cap);
        let total: f64 = s
            .iter()
            .filter(|x| x.metric.name == "http.server.request.duration")
            .map(|x| x.value)
            .sum();
        if total as usize >= log.len() || Instant::now() > deadline {
            break s;
        }
        thread::sleep(Duration::from_millis(200));
    };
    let got_series = samples
        .iter()
        .filter(|x| x.metric.name == "http.server.request.duration")
        .count();
    assert_eq!(
        got_series,
        want.len(),
        "series: {:?}",
        want.keys().collect::<Vec<_>>()
    );
    for ((method, route, status), reqs) in &want {
        let st = status.to_string();
        let attrs = [
            "shop",
            method.as_str(),
            route.as_str(),
            st.as_str(),
            "127.0.0.1",
            p.as_str(),
        ];
        let h = histogram(&samples, "http.server.request.duration", &attrs)
            .unwrap_or_else(|| panic!("no series {attrs:?}"));
        assert_eq!(h.count() as usize, reqs.len(), "{attrs:?}");
        let server_sum: f64 = reqs.iter().map(|l| l.duration.as_secs_f64()).sum();
        assert!(
            (h.sum - server_sum).abs() <= 0.001 * reqs.len() as f64,
            "{attrs:?}: capture {} s, server {server_sum} s",
            h.sum
        );
    }
    assert_eq!(
        value(&samples, "http.server.active_requests", &active),
        Some(0.0)
    );

    // Each request within 1 ms of the server's own duration (same method and target, in order
    // of duration).
    let mut seen: BTreeMap<(String, String, u16), Vec<u64>> = BTreeMap::new();
    for (m, t, s, d) in cap.seen() {
        seen.entry((m, t, s)).or_default().push(d);
    }
    let mut logged: BTreeMap<(String, String, u16), Vec<u64>> = BTreeMap::new();
    for l in &log {
        logged
            .entry((l.method.clone(), l.target.clone(), l.status))
            .or_default()
            .push(l.duration.as_nanos() as u64);
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        logged.keys().collect::<Vec<_>>()
    );
    for (k, mut ours) in seen {
        let mut theirs = logged.remove(&k).unwrap();
        ours.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(ours.len(), theirs.len(), "{k:?}");
        for (a, b) in ours.iter().zip(&theirs) {
            assert!(
                a.abs_diff(*b) <= 1_000_000,
                "{k:?}: capture {a} ns, server {b} ns"
            );
        }
    }
    for reason in ["truncated", "malformed", "fragment"] {
        assert_eq!(
            value(&samples, "dozor.http_capture.decode.errors", &[reason]),
            Some(0.0)
        );
    }
    assert!(
        samples
            .iter()
            .all(|s| s.metric.name != "dozor.http_capture.lost"),
        "requests lost"
    );
    assert_eq!(
        value(&samples, "dozor.http_capture.dropped", &["lo", "kernel"]),
        Some(0.0)
    );
    assert!(value(&samples, "dozor.http_capture.packets", &["lo"]).unwrap() > 100.0);
}
