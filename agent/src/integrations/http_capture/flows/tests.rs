//! Table-driven tests of [`Flows`] on literal conversations.

use super::*;

/// One captured segment of a test conversation: `c` from the client, else from the server.
#[derive(Clone, Copy)]
struct Step {
    ts: u64,
    c: bool,
    data: &'static str,
    fin: bool,
    rst: bool,
}

fn c(ts: u64, data: &'static str) -> Step {
    Step {
        ts,
        c: true,
        data,
        fin: false,
        rst: false,
    }
}
fn s(ts: u64, data: &'static str) -> Step {
    Step {
        ts,
        c: false,
        data,
        fin: false,
        rst: false,
    }
}
fn sfin(ts: u64) -> Step {
    Step {
        fin: true,
        ..s(ts, "")
    }
}
fn srst(ts: u64) -> Step {
    Step {
        rst: true,
        ..s(ts, "")
    }
}

/// How a conversation is captured.
#[derive(Clone, Copy)]
pub(super) struct Capture {
    /// Start with the handshake (else mid-connection).
    pub syn: bool,
    /// Initial sequence numbers (client, server).
    pub isn: (u32, u32),
    /// Pass acknowledgement numbers.
    pub ack: bool,
    /// The client has the lower address (direction 0).
    pub client_low: bool,
}

const CAPTURE: Capture = Capture {
    syn: true,
    isn: (1000, 5000),
    ack: true,
    client_low: true,
};

/// Runs `steps` in the order given by `order` (indexes; missing ones are dropped, repeated ones
/// duplicated) and returns the outcomes and the errors.
fn run(steps: &[Step], order: &[usize], cap: Capture) -> (Vec<String>, Vec<&'static str>) {
    let (lo, hi): (SocketAddr, SocketAddr) = (
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
    );
    let (client, server) = if cap.client_low { (lo, hi) } else { (hi, lo) };
    // Sequence and acknowledgement numbers as sent, in script order.
    let (mut cs, mut ss) = (cap.isn.0.wrapping_add(1), cap.isn.1.wrapping_add(1));
    let mut segs = Vec::new();
    for st in steps {
        let (seq, ack) = if st.c { (cs, ss) } else { (ss, cs) };
        segs.push((seq, ack));
        let n = st.data.len() as u32 + u32::from(st.fin);
        if st.c {
            cs = cs.wrapping_add(n)
        } else {
            ss = ss.wrapping_add(n)
        }
    }
    let mut flows = Flows::new(Limits::default());
    let mut names = HashMap::new();
    let (mut outcomes, mut errors) = (Vec::new(), Vec::new());
    let mut out = |e: Event<'_>| match e {
        Event::Request {
            id, method, target, ..
        } => {
            names.insert(id, format!("{method} {target}"));
        }
        Event::Response {
            id,
            method,
            target,
            status,
            start_ns,
            end_ns,
            request_bytes,
            response_bytes,
            client: cl,
            server: sv,
        } => {
            assert_eq!((cl, sv), (client, server));
            assert_eq!(names.get(&id), Some(&format!("{method} {target}")));
            outcomes.push(format!(
                "{method} {target} {status} {start_ns}-{end_ns} {request_bytes}/{response_bytes}"
            ));
        }
        Event::Lost { id, reason } => outcomes.push(format!("lost {} {reason}", names[&id])),
        Event::Error { reason } => errors.push(reason),
    };
    let seg = |ts, src, dst, seq, payload, syn| Segment {
        ts_ns: ts,
        src,
        dst,
        seq,
        syn,
        fin: false,
        rst: false,
        payload,
    };
    if cap.syn {
        flows.segment_acked(
            &seg(0, client, server, cap.isn.0, &[], true),
            None,
            &mut out,
        );
        flows.segment_acked(
            &seg(0, server, client, cap.isn.1, &[], true),
            Some(cap.isn.0.wrapping_add(1)),
            &mut out,
        );
    }
    for &i in order {
        let (st, (seq, ack)) = (steps[i], segs[i]);
        let (src, dst) = if st.c {
            (client, server)
        } else {
            (server, client)
        };
        let sg = Segment {
            fin: st.fin,
            rst: st.rst,
            ..seg(st.ts, src, dst, seq, st.data.as_bytes(), false)
        };
        flows.segment_acked(&sg, cap.ack.then_some(ack), &mut out);
    }
    flows.sweep(u64::MAX, &mut out);
    assert_eq!(flows.connections(), 0);
    (outcomes, errors)
}

fn all(steps: &[Step]) -> Vec<usize> {
    (0..steps.len()).collect()
}

struct Case {
    name: &'static str,
    steps: Vec<Step>,
    /// Capture order; `None` for all in order.
    order: Option<Vec<usize>>,
    want: &'static [&'static str],
    errors: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    let get = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    let ok5 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    vec![
        Case {
            name: "one exchange",
            steps: vec![c(10, get), s(20, ok5)],
            order: None,
            want: &["GET /a 200 10-20 0/5"],
            errors: &[],
        },
        Case {
            name: "keep-alive, head and body split, response end is its last byte",
            steps: vec![
                c(10, "GET /a HT"),
                c(11, "TP/1.1\r\n\r\n"),
                s(20, "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nab"),
                s(21, "c"),
                c(30, "DELETE /b HTTP/1.1\r\n\r\n"),
                s(40, "HTTP/1.1 204 No Content\r\n\r\n"),
            ],
            order: None,
            want: &["GET /a 404 10-21 0/3", "DELETE /b 204 30-40 0/0"],
            errors: &[],
        },
        Case {
            name: "pipelining of five with a HEAD",
            steps: vec![
                c(
                    10,
                    "GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
                ),
                c(
                    11,
                    "POST /4 HTTP/1.1\r\nContent-Length: 2\r\n\r\nxyGET /5 HTTP/1.1\r\n\r\n",
                ),
                s(
                    20,
                    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
                ),
                s(
                    21,
                    "HTTP/1.1 500 E\r\nContent-Length: 2\r\n\r\nbbHTTP/1.1 201 C\r\nContent-Length: 0\r\n\r\n",
                ),
                s(
                    22,
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                ),
            ],
            order: None,
            want: &[
                "GET /1 200 10-20 0/1",
                "HEAD /2 200 10-20 0/0",
                "GET /3 500 10-21 0/2",
                "POST /4 201 11-21 2/0",
                "GET /5 200 11-22 0/3",
            ],
            errors: &[],
        },
        Case {
            name: "100-continue: the final status counts",
            steps: vec![
                c(
                    10,
                    "PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
                ),
                s(15, "HTTP/1.1 100 Continue\r\n\r\n"),
                c(16, "data"),
                s(30, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"),
            ],
            order: None,
            want: &["PUT /u 201 10-30 4/2"],
            errors: &[],
        },
        Case {
            name: "chunked with extensions and trailers, split anywhere",
            steps: vec![
                c(
                    10,
                    "POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4;a=b\r\nwx",
                ),
                c(11, "yz\r\n0\r\n\r\n"),
                s(
                    20,
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext\r\nhel",
                ),
                s(21, "lo\r\n1"),
                s(22, "0\r\n0123456789abcdef\r\n0\r\nTrailer-A: 1\r\n"),
                s(23, "\r\n"),
            ],
            order: None,
            want: &["POST /c 200 10-23 4/21"],
            errors: &[],
        },
        Case {
            name: "response delimited by close ends at its last data byte",
            steps: vec![
                c(10, get),
                s(20, "HTTP/1.0 200 OK\r\n\r\nsome"),
                s(25, " more"),
                sfin(90),
            ],
            order: None,
            want: &["GET /a 200 10-25 0/9"],
            errors: &[],
        },
        Case {
            name: "304 and HEAD have no body; 101 ends HTTP on the connection",
            steps: vec![
                c(10, "GET /n HTTP/1.1\r\n\r\n"),
                s(
                    20,
                    "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
                ),
                c(30, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
                s(
                    40,
                    "HTTP/1.1 101 Switching Protocols\r\n\r\n\u{81}\u{5}hello",
                ),
                c(50, "\u{81}\u{5}hello GET / HTTP/1.1\r\n\r\n"),
            ],
            order: None,
            want: &["GET /n 304 10-20 0/0", "GET /ws 101 30-40 0/0"],
            errors: &[],
        },
        Case {
            name: "out of order, duplicated and overlapping segments",
            steps: vec![
                c(10, "GET /o HTTP/1.1\r\n"),
                c(11, "\r\n"),
                s(20, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"),
                s(21, "abc"),
                s(22, "def"),
            ],
            order: Some(vec![1, 0, 1, 4, 2, 4, 3]),
            want: &["GET /o 200 10-22 0/6"],
            errors: &[],
        },
        Case {
            name: "a hole in one body of known length costs nothing",
            steps: vec![
                c(10, get),
                s(20, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"),
                s(21, "def"),
                s(22, "ghi"),
                c(30, get),
                s(40, ok5),
            ],
            order: Some(vec![0, 1, 3, 4, 5]),
            want: &["GET /a 200 10-22 0/9", "GET /a 200 30-40 0/5"],
            errors: &["gap"],
        },
        Case {
            name: "a hole in one response head costs that exchange only",
            steps: vec![
                c(10, get),
                s(20, ok5),
                c(30, "GET /b HTTP/1.1\r\n\r\n"),
                s(40, "HTTP/1.1 500 Oops\r\nContent-"),
                s(41, "Length: 2\r\n\r\nxy"),
                c(50, get),
                s(60, ok5),
            ],
            order: Some(vec![0, 1, 2, 4, 5, 6]),
            want: &[
                "GET /a 200 10-20 0/5",
                "lost GET /b gap",
                "GET /a 200 50-60 0/5",
            ],
            errors: &["gap"],
        },
        Case {
            name: "a whole response lost costs that exchange only",
            steps: vec![
                c(10, get),
                s(20, ok5),
                c(30, "GET /b HTTP/1.1\r\n\r\n"),
                s(40, ok5),
                c(50, get),
                s(60, ok5),
            ],
            order: Some(vec![0, 1, 2, 4, 5]),
            want: &[
                "GET /a 200 10-20 0/5",
                "lost GET /b gap",
                "GET /a 200 50-60 0/5",
            ],
            errors: &["gap"],
        },
        Case {
            name: "a lost request: its response is not given to the next one",
            steps: vec![
                c(10, "GET /lost HTTP/1.1\r\n\r\n"),
                s(20, "HTTP/1.1 503 X\r\nContent-Length: 0\r\n\r\n"),
                c(30, get),
                s(40, ok5),
            ],
            order: Some(vec![1, 2, 3]),
            want: &["GET /a 200 30-40 0/5"],
            errors: &["gap", "unmatched_response"],
        },
        Case {
            name: "pipelining with a loss: the requests in flight are lost, never mismatched",
            steps: vec![
                c(10, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
                s(20, ok5),
                s(21, ok5),
                c(30, get),
                s(40, ok5),
            ],
            order: Some(vec![0, 2, 3, 4]),
            want: &["lost GET /1 desync", "lost GET /2 desync"],
            errors: &["gap", "desync", "desync", "desync"],
        },
        Case {
            name: "reset with a request in flight",
            steps: vec![c(10, get), srst(20)],
            order: None,
            want: &["lost GET /a rst"],
            errors: &[],
        },
        Case {
            name: "bad request and head too large, counted",
            steps: vec![
                c(10, "\x16\x03\x01 TLS?\r\n"),
                c(20, "GET /big HTTP/1.1\r\nX: "),
                c(21, &*Box::leak("y".repeat(17 * 1024).into_boxed_str())),
                s(30, "HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n"),
            ],
            order: None,
            want: &[],
            errors: &["bad_request", "header_too_large", "unmatched_response"],
        },
    ]
}

#[test]
fn conversations() {
    for case in cases() {
        let order = case.order.clone().unwrap_or_else(|| all(&case.steps));
        for cap in [
            CAPTURE,
            Capture {
                client_low: false,
                ..CAPTURE
            },
            Capture {
                isn: (u32::MAX - 20, u32::MAX - 3),
                ..CAPTURE
            },
        ] {
            let (got, errors) = run(&case.steps, &order, cap);
            assert_eq!(got, case.want, "{}", case.name);
            assert_eq!(errors, case.errors, "{} (errors)", case.name);
        }
    }
}

#[test]
fn picked_up_mid_connection() {
    let steps = [
        s(5, "dy of an earlier response\r\n"),
        c(10, "GET /m HTTP/1.1\r\n\r\n"),
        s(20, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"),
    ];
    let (got, errors) = run(
        &steps,
        &all(&steps),
        Capture {
            syn: false,
            ..CAPTURE
        },
    );
    assert_eq!(got, ["GET /m 200 10-20 0/1"]);
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn fifty_thousand_partial_requests_stay_bounded() {
    let _cpu = crate::integrations::testing::cpu();
    let limits = Limits::default();
    let mut flows = Flows::new(limits);
    let server: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let (evicted, requests) = (Cell::new(0), Cell::new(0));
    let mut out = |e: Event<'_>| match e {
        Event::Error {
            reason: "evicted_connection",
        } => evicted.set(evicted.get() + 1),
        Event::Request { .. } => requests.set(requests.get() + 1),
        _ => {}
    };
    let head = [
        b"GET /partial HTTP/1.1\r\nHost: x\r\nX-Pad: ".as_slice(),
        &[b'p'; 1000],
    ]
    .concat();
    let mut peak = 0;
    for i in 0..50_000u32 {
        let client =
            SocketAddr::from(([10, 1, (i >> 8) as u8, i as u8], 1024 + (i % 50_000) as u16));
        let syn = Segment {
            ts_ns: u64::from(i),
            src: client,
            dst: server,
            seq: i,
            syn: true,
            fin: false,
            rst: false,
            payload: &[],
        };
        flows.segment_acked(&syn, None, &mut out);
        let data = Segment {
            syn: false,
            seq: i.wrapping_add(1),
            payload: &head,
            ..syn
        };
        flows.segment_acked(&data, Some(7), &mut out);
        peak = peak.max(flows.memory());
    }
    assert_eq!(flows.connections(), limits.max_connections);
    assert_eq!(evicted.get(), 50_000 - limits.max_connections);
    assert_eq!(requests.get(), 0, "no head is complete");
    // Each connection holds its 1 KiB head: 10,000 of them fit in the 32 MiB total.
    assert!(
        peak <= limits.max_memory(),
        "peak {peak} above {}",
        limits.max_memory()
    );
    assert!(
        peak >= limits.max_connections * head.len(),
        "the heads are held and counted: {peak}"
    );
    assert!(peak < 24 << 20, "peak {peak}");
    flows.sweep(u64::MAX, &mut out);
    assert_eq!(
        (flows.connections(), flows.memory() < 2 << 20),
        (0, true),
        "{}",
        flows.memory()
    );
}

#[test]
fn without_acknowledgements_a_hole_is_given_up_after_the_timeout() {
    let (c, sv): (SocketAddr, SocketAddr) = (
        "10.0.0.1:1".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
    );
    let mut flows = Flows::new(Limits::default());
    let mut got = Vec::new();
    let mut feed = |ts, client: bool, seq, payload: &[u8], got: &mut Vec<String>| {
        let (src, dst) = if client { (c, sv) } else { (sv, c) };
        let seg = Segment {
            ts_ns: ts,
            src,
            dst,
            seq,
            syn: false,
            fin: false,
            rst: false,
            payload,
        };
        flows.segment(&seg, &mut |e| match e {
            Event::Response {
                status,
                end_ns,
                response_bytes,
                ..
            } => got.push(format!("{status} {end_ns} {response_bytes}")),
            e => got.push(format!("{e:?}")),
        });
    };
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc";
    feed(10, true, 0, b"GET /a HTTP/1.1\r\n\r\n", &mut Vec::new());
    feed(20, false, 0, head, &mut got);
    // "def" is never captured; "ghi" waits behind the hole.
    feed(22, false, head.len() as u32 + 3, b"ghi", &mut got);
    feed(22 + REORDER_TIMEOUT_NS, false, 9_999, b"", &mut got);
    assert_eq!(
        got,
        Vec::<String>::new(),
        "the hole waits for a retransmission"
    );
    feed(23 + REORDER_TIMEOUT_NS, true, 9_999, b"", &mut got);
    assert_eq!(
        got,
        ["Error { reason: \"gap\" }", "200 22 9"],
        "given up after the timeout, the body completes"
    );
}

#[test]
fn long_targets_are_cut_at_2_kib() {
    let target = format!("/{}", "é".repeat(2000));
    let mut flows = Flows::new(Limits::default());
    let (c, s): (SocketAddr, SocketAddr) = (
        "10.0.0.1:1".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
    );
    let req = format!("GET {target} HTTP/1.1\r\n\r\n");
    let mut got = Vec::new();
    let seg = Segment {
        ts_ns: 1,
        src: c,
        dst: s,
        seq: 0,
        syn: false,
        fin: false,
        rst: false,
        payload: req.as_bytes(),
    };
    flows.segment(&seg, &mut |e| {
        if let Event::Request { target, .. } = e {
            got.push(target.to_owned());
        }
    });
    assert_eq!(got.len(), 1);
    assert!(
        got[0].len() <= 2048 && got[0].len() > 2040 && target.starts_with(&got[0]),
        "{}",
        got[0].len()
    );
}

#[test]
fn an_idle_connection_gives_up_its_holes_before_it_is_dropped() {
    let steps = [
        c(10, "GET /a HTTP/1.1\r\n\r\n"),
        s(20, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"),
        s(21, "def"),
        s(22, "ghi"),
    ];
    let (got, errors) = run(
        &steps,
        &[0, 1, 3],
        Capture {
            ack: false,
            ..CAPTURE
        },
    );
    assert_eq!(
        (got, errors),
        (vec!["GET /a 200 10-22 0/9".to_string()], vec!["gap"])
    );
}

/// Throughput on keep-alive traffic (run in release: `cargo test --release -p dozor-agent
/// --features http_capture throughput -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement, not a check"]
fn throughput() {
    let server: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let req = b"GET /api/v1/orders/12345 HTTP/1.1\r\nHost: mes\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n";
    let resp = [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 600\r\n\r\n"
            .as_slice(),
        &[b'x'; 600],
    ]
    .concat();
    let (conns, rounds) = (1000u32, 100u32);
    let mut segs = Vec::new();
    for r in 0..rounds {
        for i in 0..conns {
            let client = SocketAddr::from(([10, 1, (i >> 8) as u8, i as u8], 40_000));
            let (cseq, sseq) = (r * req.len() as u32, r * resp.len() as u32);
            let ts = u64::from(r * conns + i) * 1000;
            segs.push(Segment {
                ts_ns: ts,
                src: client,
                dst: server,
                seq: cseq,
                syn: false,
                fin: false,
                rst: false,
                payload: req.as_slice(),
            });
            segs.push(Segment {
                ts_ns: ts + 500,
                src: server,
                dst: client,
                seq: sseq,
                syn: false,
                fin: false,
                rst: false,
                payload: &resp,
            });
            segs.push(Segment {
                ts_ns: ts + 600,
                src: client,
                dst: server,
                seq: cseq + req.len() as u32,
                syn: false,
                fin: false,
                rst: false,
                payload: &[],
            });
        }
    }
    let mut flows = Flows::new(Limits::default());
    let mut answered = 0u64;
    let start = std::time::Instant::now();
    for s in &segs {
        flows.segment_acked(s, Some(0), &mut |e| {
            answered += u64::from(matches!(e, Event::Response { .. }))
        });
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} segments in {secs:.3} s: {:.0} segments/s, {answered} responses, memory {} B",
        segs.len(),
        segs.len() as f64 / secs,
        flows.memory()
    );
    assert_eq!(answered, u64::from(conns * rounds));
}
