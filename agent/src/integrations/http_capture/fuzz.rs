//! Property test of reassembly and pairing on generated conversations.
//!
//! A conversation (random requests and responses: pipelined bursts, Content-Length and chunked
//! bodies with extensions and trailers, HEAD, 204/304, `Expect: 100-continue`, a response
//! delimited by close) is written out as the bytes each side sends, cut into random segments,
//! reordered within each flight, partly duplicated and, in some cases, partly dropped, and fed
//! to [`Flows`]. The generator knows the truth: the status, byte counts and the capture times
//! of the segments carrying each request's first byte and each response's last.
//!
//! Checked: no panic; `memory()` never above [`Limits::max_memory`]; without drops every request
//! matched with the right status, times and byte counts; with drops every request reported is
//! matched exactly right or lost, never given a wrong status, and each at most once.
//! Cases: `PROPTEST_CASES` (default 256).

use super::flows::{Event, Flows, Limits, Segment};
use proptest::prelude::*;
use std::collections::HashMap;
use std::net::SocketAddr;

#[derive(Debug, Clone)]
enum Body {
    Length(usize),
    /// Chunk sizes; with extensions and a trailer.
    Chunked(Vec<usize>, bool),
}

#[derive(Debug, Clone)]
struct Exchange {
    method: &'static str,
    req: Option<Body>,
    expect: bool,
    status: u16,
    resp: Body,
}

#[derive(Debug, Clone)]
struct Conversation {
    pipelined: bool,
    exchanges: Vec<Exchange>,
    /// The last response is delimited by the server's close.
    close_last: bool,
    isn: (u32, u32),
}

/// What the generator knows about one exchange.
#[derive(Debug, Clone, Default, PartialEq)]
struct Truth {
    status: u16,
    start_seg: usize,
    end_seg: usize,
    request_bytes: u64,
    response_bytes: u64,
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (0usize..3000).prop_map(Body::Length),
        (prop::collection::vec(1usize..700, 1..4), any::<bool>())
            .prop_map(|(c, x)| Body::Chunked(c, x)),
    ]
}

fn exchange() -> impl Strategy<Value = Exchange> {
    let methods =
        prop::sample::select(&["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "M-SEARCH"][..]);
    let statuses = prop::sample::select(&[200u16, 201, 204, 301, 304, 404, 500, 503][..]);
    (
        methods,
        prop::option::of(body()),
        any::<bool>(),
        statuses,
        body(),
    )
        .prop_map(|(method, req, expect, status, resp)| Exchange {
            method,
            req,
            expect,
            status,
            resp,
        })
}

fn conversation() -> impl Strategy<Value = Conversation> {
    (
        any::<bool>(),
        prop::collection::vec(exchange(), 1..7),
        any::<bool>(),
        any::<(u32, u32)>(),
    )
        .prop_map(|(pipelined, exchanges, close_last, isn)| Conversation {
            pipelined,
            exchanges,
            close_last,
            isn,
        })
}

fn write_body(b: &Body, out: &mut Vec<u8>) -> u64 {
    match b {
        Body::Length(n) => {
            out.extend(std::iter::repeat_n(b'q', *n));
            *n as u64
        }
        Body::Chunked(sizes, fancy) => {
            for n in sizes {
                let ext = if *fancy { ";name=\"v\"" } else { "" };
                out.extend(format!("{n:x}{ext}\r\n").bytes());
                out.extend(std::iter::repeat_n(b'z', *n));
                out.extend(b"\r\n");
            }
            out.extend(if *fancy {
                &b"0\r\nx-trailer: t\r\n\r\n"[..]
            } else {
                b"0\r\n\r\n"
            });
            sizes.iter().sum::<usize>() as u64
        }
    }
}

fn body_header(b: &Body) -> String {
    match b {
        Body::Length(n) => format!("Content-Length: {n}\r\n"),
        Body::Chunked(..) => "Transfer-Encoding: chunked\r\n".into(),
    }
}

/// A flight: bytes one side sends before waiting for the other, with the exchanges' marks
/// (byte offsets of request starts and response ends).
#[derive(Default)]
struct Flight {
    client: bool,
    bytes: Vec<u8>,
    /// (exchange, offset of its first byte) for requests, (exchange, offset of its last) for responses.
    marks: Vec<(usize, usize)>,
    fin: bool,
}

/// Writes the conversation as flights and the truth (segments not known yet).
fn flights(conv: &Conversation, conn: usize, bursts: &[usize]) -> (Vec<Flight>, Vec<Truth>) {
    let mut fl = Vec::new();
    let mut truth = vec![Truth::default(); conv.exchanges.len()];
    let mut i = 0;
    for &burst in bursts {
        let (mut req, mut resp) = (
            Flight {
                client: true,
                ..Flight::default()
            },
            Flight::default(),
        );
        let end = (i + burst).min(conv.exchanges.len());
        for (k, x) in conv.exchanges.iter().enumerate().take(end).skip(i) {
            let last = k + 1 == conv.exchanges.len();
            req.marks.push((k, req.bytes.len()));
            req.bytes
                .extend(format!("{} /x/{conn}/{k} HTTP/1.1\r\nHost: h\r\n", x.method).bytes());
            let expect = x.expect && x.req.is_some() && !conv.pipelined;
            if expect {
                req.bytes.extend(b"Expect: 100-continue\r\n");
            }
            if let Some(b) = &x.req {
                req.bytes.extend(body_header(b).bytes());
            }
            req.bytes.extend(b"\r\n");
            if expect {
                fl.push(std::mem::replace(
                    &mut req,
                    Flight {
                        client: true,
                        ..Flight::default()
                    },
                ));
                fl.push(Flight {
                    bytes: b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
                    ..Flight::default()
                });
            }
            truth[k].request_bytes = x.req.as_ref().map_or(0, |b| write_body(b, &mut req.bytes));
            truth[k].status = x.status;
            let close = last && conv.close_last;
            resp.bytes
                .extend(format!("HTTP/1.1 {} S\r\n", x.status).bytes());
            let no_body = x.method == "HEAD" || x.status == 204 || x.status == 304;
            if close && !no_body {
                resp.bytes.extend(b"Connection: close\r\n\r\n");
                let n = match &x.resp {
                    Body::Length(n) => *n,
                    Body::Chunked(c, _) => c.iter().sum(),
                };
                resp.bytes.extend(std::iter::repeat_n(b'c', n));
                truth[k].response_bytes = n as u64;
            } else {
                if x.status != 204 {
                    let hb = body_header(&x.resp);
                    resp.bytes.extend(hb.bytes());
                }
                resp.bytes.extend(b"\r\n");
                if !no_body {
                    truth[k].response_bytes = write_body(&x.resp, &mut resp.bytes);
                }
            }
            resp.marks.push((k, resp.bytes.len() - 1));
            resp.fin = close;
        }
        i += burst;
        fl.push(req);
        fl.push(resp);
    }
    (fl, truth)
}

/// An exchange's truth with the capture times of its first and last segments (`None`: dropped).
type Timed = (Truth, Option<u64>, Option<u64>);

/// splitmix64: the segmentation, reordering and timing, from one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pct(&mut self, p: u8) -> bool {
        self.below(100) < u64::from(p)
    }
}

/// How the capture mangles the conversation.
#[derive(Debug, Clone, Copy)]
struct Mangle {
    seed: u64,
    max_seg: usize,
    swaps: u8,
    dup_pct: u8,
    drop_pct: u8,
}

/// One captured copy of a segment.
#[derive(Debug, Clone)]
struct Cap {
    id: usize,
    ts: u64,
    conn: usize,
    client: bool,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    data: Vec<u8>,
}

/// Cuts, mangles and times one conversation; returns its captured segments and truth (with
/// segment ids resolved to capture times; `None` when that segment was dropped).
fn capture(conv: &Conversation, conn: usize, m: Mangle, ids: &mut usize) -> (Vec<Cap>, Vec<Timed>) {
    let mut rng = Rng(m.seed ^ (conn as u64).wrapping_mul(0x1234_5678_9abc));
    let bursts: Vec<usize> = (0..conv.exchanges.len())
        .map(|_| {
            if conv.pipelined {
                1 + rng.below(4) as usize
            } else {
                1
            }
        })
        .collect();
    let (fl, mut truth) = flights(conv, conn, &bursts);
    let (cisn, sisn) = conv.isn;
    let (mut coff, mut soff) = (1u32, 1u32);
    let mut caps = Vec::new();
    let mk = |id: &mut usize, client, seq, ack, syn, fin, data: Vec<u8>| {
        *id += 1;
        Cap {
            id: *id,
            ts: 0,
            conn,
            client,
            seq,
            ack,
            syn,
            fin,
            data,
        }
    };
    let mut flights_caps: Vec<Vec<Cap>> = vec![vec![
        mk(ids, true, cisn, None, true, false, Vec::new()),
        mk(
            ids,
            false,
            sisn,
            Some(cisn.wrapping_add(1)),
            true,
            false,
            Vec::new(),
        ),
    ]];
    for f in &fl {
        let mut pieces = Vec::new();
        let mut at = 0;
        while at < f.bytes.len() {
            let n = (1 + rng.below(m.max_seg as u64) as usize).min(f.bytes.len() - at);
            let (seq, ack) = match f.client {
                true => (cisn.wrapping_add(coff), sisn.wrapping_add(soff)),
                false => (sisn.wrapping_add(soff), cisn.wrapping_add(coff)),
            };
            let cap = mk(
                ids,
                f.client,
                seq,
                Some(ack),
                false,
                false,
                f.bytes[at..at + n].to_vec(),
            );
            for &(k, off) in &f.marks {
                if (at..at + n).contains(&off) {
                    match f.client {
                        true => truth[k].start_seg = cap.id,
                        false => truth[k].end_seg = cap.id,
                    }
                }
            }
            pieces.push(cap);
            match f.client {
                true => coff = coff.wrapping_add(n as u32),
                false => soff = soff.wrapping_add(n as u32),
            }
            at += n;
        }
        for _ in 0..m.swaps as usize * pieces.len() / 4 {
            let i = rng.below(pieces.len() as u64) as usize;
            if i + 1 < pieces.len() {
                pieces.swap(i, i + 1);
            }
        }
        let mut captured = Vec::new();
        for p in pieces {
            if rng.pct(m.drop_pct) {
                continue;
            }
            if rng.pct(m.dup_pct) {
                captured.push(p.clone());
            }
            captured.push(p);
        }
        if f.fin {
            let (seq, ack) = (sisn.wrapping_add(soff), cisn.wrapping_add(coff));
            captured.push(mk(ids, false, seq, Some(ack), false, true, Vec::new()));
        }
        flights_caps.push(captured);
    }
    // Both sides close at the end (again, harmlessly, if the server already did).
    let (cs, ss) = (cisn.wrapping_add(coff), sisn.wrapping_add(soff));
    flights_caps.push(vec![
        mk(ids, true, cs, Some(ss), false, true, Vec::new()),
        mk(
            ids,
            false,
            ss,
            Some(cs.wrapping_add(1)),
            false,
            true,
            Vec::new(),
        ),
    ]);
    let mut ts = 1_000_000 + rng.below(1_000_000);
    let mut first = HashMap::new();
    for f in flights_caps {
        ts += rng.below(5_000_000);
        for mut c in f {
            ts += 1_000 + rng.below(50_000);
            c.ts = ts;
            first.entry(c.id).or_insert(ts);
            caps.push(c);
        }
    }
    let truth = truth
        .into_iter()
        .map(|t| {
            (
                first.get(&t.start_seg).copied(),
                first.get(&t.end_seg).copied(),
                t,
            )
        })
        .map(|(a, b, t)| (t, a, b))
        .collect();
    (caps, truth)
}

fn addr(conn: usize, client: bool) -> SocketAddr {
    match client {
        true => SocketAddr::from(([10, 0, 0, 1], 40_000 + conn as u16)),
        false => SocketAddr::from(([10, 0, 0, 2], 8080)),
    }
}

/// Feeds the captures and checks every property; `exact` when nothing was dropped or bounded.
fn check(convs: &[Conversation], m: Mangle, limits: Limits, exact: bool) {
    let _cpu = crate::integrations::testing::cpu();
    let mut ids = 0;
    let mut caps = Vec::new();
    let mut truth = Vec::new();
    for (conn, conv) in convs.iter().enumerate() {
        let (c, t) = capture(conv, conn, m, &mut ids);
        caps.extend(c);
        truth.push(t);
    }
    caps.sort_by_key(|c| c.ts);
    let mut flows = Flows::new(limits);
    // id -> (conn, exchange); outcome per (conn, exchange).
    let mut reqs: HashMap<u64, (usize, usize)> = HashMap::new();
    let mut done: HashMap<(usize, usize), String> = HashMap::new();
    let mut errors: Vec<&'static str> = Vec::new();
    let mut out = |e: Event<'_>| match e {
        Event::Request {
            id,
            client,
            target,
            start_ns,
            method,
            ..
        } => {
            let mut parts = target
                .trim_start_matches("/x/")
                .split('/')
                .map(|p| p.parse::<usize>().unwrap());
            let key = (parts.next().unwrap(), parts.next().unwrap());
            assert_eq!(client, addr(key.0, true));
            let (t, start, _) = &truth[key.0][key.1];
            assert_eq!(method, convs[key.0].exchanges[key.1].method);
            assert_eq!(Some(start_ns), *start, "start of {key:?}");
            let _ = t;
            assert!(reqs.insert(id, key).is_none());
        }
        Event::Response {
            id,
            status,
            start_ns,
            end_ns,
            request_bytes,
            response_bytes,
            ..
        } => {
            let key = reqs[&id];
            let (t, start, end) = &truth[key.0][key.1];
            let got = (
                status,
                Some(start_ns),
                Some(end_ns),
                request_bytes,
                response_bytes,
            );
            assert_eq!(
                got,
                (t.status, *start, *end, t.request_bytes, t.response_bytes),
                "exchange {key:?}"
            );
            assert!(
                done.insert(key, "response".into()).is_none(),
                "{key:?} twice"
            );
        }
        Event::Lost { id, reason } => {
            assert!(!exact, "{:?} lost: {reason}", reqs[&id]);
            assert!(
                done.insert(reqs[&id], reason.into()).is_none(),
                "{:?} twice",
                reqs[&id]
            );
        }
        Event::Error { reason } => errors.push(reason),
    };
    let max = limits.max_memory();
    for c in &caps {
        let (src, dst) = (addr(c.conn, c.client), addr(c.conn, !c.client));
        let seg = Segment {
            ts_ns: c.ts,
            src,
            dst,
            seq: c.seq,
            syn: c.syn,
            fin: c.fin,
            rst: false,
            payload: &c.data,
        };
        flows.segment_acked(&seg, c.ack, &mut out);
        assert!(
            flows.memory() <= max,
            "memory {} above {max}",
            flows.memory()
        );
    }
    flows.sweep(u64::MAX, &mut out);
    assert_eq!(flows.connections(), 0);
    for id in reqs.keys() {
        assert!(
            done.contains_key(&reqs[id]),
            "{:?} neither answered nor lost",
            reqs[id]
        );
    }
    if exact {
        assert!(errors.is_empty(), "{errors:?}");
        let n: usize = convs.iter().map(|c| c.exchanges.len()).sum();
        assert_eq!(done.len(), n, "every exchange answered");
    }
}

fn mangle(drops: bool) -> impl Strategy<Value = Mangle> {
    let drop = if drops { 1u8..25 } else { 0u8..1 };
    (
        any::<u64>(),
        prop_oneof![1usize..8, 8usize..200, 200usize..1500],
        0u8..4,
        0u8..20,
        drop,
    )
        .prop_map(|(seed, max_seg, swaps, dup_pct, drop_pct)| Mangle {
            seed,
            max_seg,
            swaps,
            dup_pct,
            drop_pct,
        })
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Bytes that are mostly pieces of HTTP, so that random input gets past the first parse.
const PIECES: [&[u8]; 13] = [
    b"GET / HTTP/1.1\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 101 S\r\n\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"\r\n",
    b"5\r\nhello\r\n",
    b"0\r\n\r\n",
    b"fffffffffffffff\r\n",
    b"HEAD /h HTTP/1.1\r\n",
    b"CONNECT h:1 HTTP/1.1\r\n",
];

fn noise() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::sample::select(&PIECES[..]).prop_map(<[u8]>::to_vec),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_input_is_survived_within_bounds(
        segs in prop::collection::vec((0usize..3, any::<bool>(), 0u32..3000, any::<[bool; 4]>(), noise()), 0..120),
    ) {
        let _cpu = crate::integrations::testing::cpu();
        let limits = Limits { max_connections: 2, max_buffered_per_connection: 600, max_buffered_total: 1000, max_header_bytes: 200, ..Limits::default() };
        let mut flows = Flows::new(limits);
        let mut seen = HashMap::new();
        for (ts, (conn, client, seq, [syn, fin, rst, acked], payload)) in segs.iter().enumerate() {
            let (src, dst) = (addr(*conn, *client), addr(*conn, !*client));
            let seg = Segment { ts_ns: ts as u64 * 1_000_000_000, src, dst, seq: seq.wrapping_mul(7), syn: *syn, fin: *fin, rst: *rst, payload };
            flows.segment_acked(&seg, acked.then_some(seq.wrapping_mul(5)), &mut |e| match e {
                Event::Request { id, .. } => assert!(seen.insert(id, false).is_none()),
                Event::Response { id, .. } | Event::Lost { id, .. } => {
                    assert_eq!(seen.insert(id, true), Some(false), "one outcome per request");
                }
                Event::Error { .. } => {}
            });
            prop_assert!(flows.memory() <= limits.max_memory());
        }
        flows.sweep(u64::MAX, &mut |_| {});
        prop_assert_eq!(flows.connections(), 0);
    }

    #[test]
    fn without_drops_every_exchange_is_exact(convs in prop::collection::vec(conversation(), 1..4), m in mangle(false)) {
        check(&convs, m, Limits::default(), true);
    }

    #[test]
    fn with_drops_never_a_wrong_status(convs in prop::collection::vec(conversation(), 1..4), m in mangle(true)) {
        check(&convs, m, Limits::default(), false);
    }

    #[test]
    fn tight_limits_stay_bounded_and_right(convs in prop::collection::vec(conversation(), 1..4), m in mangle(true)) {
        let limits = Limits { max_buffered_per_connection: 1500, max_buffered_total: 3000, max_header_bytes: 256, ..Limits::default() };
        check(&convs, m, limits, false);
    }
}
