//! A pcap file written by the test, with exchanges of known method, route, status and duration
//! (nanosecond timestamps), one request left without a response, an IP fragment and a UDP
//! packet: read whole at the first collection, "now" being its last packet.

use crate::integrations::Integration;
use crate::integrations::http_capture::{Config, HttpCapture};
use crate::integrations::testing::histogram;
use crate::integrations::testing::{load, value};
use dozor_metrics::sample::Recorder;
use etherparse::PacketBuilder;
use pcap::{Capture, Linktype, Packet, PacketHeader, Precision};

const SERVER: [u8; 4] = [10, 1, 0, 1];
const CLIENT: [u8; 4] = [10, 1, 0, 2];
const T0: u64 = 1_700_000_000_000_000_000;

/// Flags of a segment.
#[derive(Clone, Copy)]
enum F {
    Syn,
    Fin,
    None,
}

struct Writer {
    file: pcap::Savefile,
    packets: u64,
}

impl Writer {
    fn raw(&mut self, ts: u64, data: &[u8]) {
        let header = PacketHeader {
            ts: libc::timeval {
                tv_sec: (ts / 1_000_000_000) as libc::time_t,
                tv_usec: (ts % 1_000_000_000) as libc::suseconds_t,
            },
            caplen: data.len() as u32,
            len: data.len() as u32,
        };
        self.file.write(&Packet::new(&header, data));
        self.packets += 1;
    }

    /// Writes one TCP segment, client to server when `up`.
    fn tcp(&mut self, ts: u64, port: u16, up: bool, seq: u32, flags: F, payload: &[u8]) {
        let packet = segment(port, up, seq, flags, payload);
        self.raw(ts, &packet);
    }
}

/// One TCP segment in Ethernet and IPv4, client to server when `up`.
fn segment(port: u16, up: bool, seq: u32, flags: F, payload: &[u8]) -> Vec<u8> {
    {
        let (src, dst, sp, dp) = if up {
            (CLIENT, SERVER, port, 8080)
        } else {
            (SERVER, CLIENT, 8080, port)
        };
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(src, dst, 64)
            .tcp(sp, dp, seq, 65535);
        let b = match flags {
            F::Syn => b.syn(),
            F::Fin => b.fin(),
            F::None => b,
        };
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }
}

#[test]
fn a_pcap_file_gives_exact_counts_durations_and_the_request_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known.pcap");
    let dead = Capture::dead_with_precision(Linktype::ETHERNET, Precision::Nano).unwrap();
    let mut w = Writer {
        file: dead.savefile(&path).unwrap(),
        packets: 0,
    };
    // 30 exchanges, one connection each: GET /orders/<i>, 503 for every fifth, i+1 ms.
    let mut want: Vec<(u16, u64)> = Vec::new();
    for i in 0..30u16 {
        let port = 41000 + i;
        let st = T0 + u64::from(i) * 100_000_000;
        let (c, s) = (1000 * u32::from(i), 7_000_000 + u32::from(i));
        let status = if i % 5 == 0 { 503 } else { 200 };
        let dur = (u64::from(i) + 1) * 1_000_000;
        let req = format!("GET /orders/{i} HTTP/1.1\r\nHost: x\r\n\r\n");
        let resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok");
        w.tcp(st, port, true, c, F::Syn, b"");
        w.tcp(st + 50_000, port, false, s, F::Syn, b"");
        w.tcp(st + 100_000, port, true, c + 1, F::None, b"");
        w.tcp(st + 200_000, port, true, c + 1, F::None, req.as_bytes());
        w.tcp(
            st + 200_000 + dur,
            port,
            false,
            s + 1,
            F::None,
            resp.as_bytes(),
        );
        w.tcp(
            st + 300_000 + dur,
            port,
            true,
            c + 1 + req.len() as u32,
            F::Fin,
            b"",
        );
        w.tcp(
            st + 400_000 + dur,
            port,
            false,
            s + 1 + resp.len() as u32,
            F::Fin,
            b"",
        );
        want.push((status, dur));
    }
    // A request still running when the file ends, 7 s after it started.
    let start = T0 + 10_000_000_000;
    w.tcp(start - 200_000, 42000, true, 1, F::Syn, b"");
    w.tcp(start - 150_000, 42000, false, 9, F::Syn, b"");
    w.tcp(
        start,
        42000,
        true,
        2,
        F::None,
        b"POST /orders/9/cost HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    // The first fragment of a segment (More Fragments set): counted, not reassembled.
    let mut frag = segment(42001, true, 5, F::Syn, b"");
    frag[14 + 6] |= 0x20;
    frag[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
    w.raw(start + 1_000, &frag);
    // UDP to the port: outside `tcp port 8080`, never seen.
    let mut udp = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(CLIENT, SERVER, 64)
        .udp(5000, 8080)
        .write(&mut udp, b"x")
        .unwrap();
    w.raw(start + 2_000, &udp);
    w.packets -= 1;
    w.tcp(start + 7_000_000_000, 42000, false, 9, F::None, b"");
    w.file.flush().unwrap();
    drop(w.file);

    let cfg: Config = load(&format!(
        "integrations:\n  http_capture:\n    enabled: true\n    pcap_file: {}\n    ports: [8080]\n    services: {{8080: mes-api}}\n",
        path.display()
    ))
    .unwrap();
    let mut cap = HttpCapture::start(&cfg).unwrap();
    let mut rec = Recorder::new();
    cap.collect(&mut rec).unwrap();
    let s = rec.take();
    // side auto: 10.1.0.1 is not this host's, so this host is the client.
    for status in [200u16, 503] {
        let mine: Vec<u64> = want.iter().filter(|w| w.0 == status).map(|w| w.1).collect();
        let st = status.to_string();
        let h = histogram(
            &s,
            "http.client.request.duration",
            &["mes-api", "GET", "/orders/{id}", &st, "10.1.0.1", "8080"],
        )
        .unwrap_or_else(|| panic!("no {status} series"));
        assert_eq!(h.count() as usize, mine.len());
        let sum = mine.iter().sum::<u64>() as f64 / 1e9;
        assert!(
            (h.sum - sum).abs() < 1e-6,
            "{status}: {} s, want {sum} s",
            h.sum
        );
    }
    assert!(s.iter().all(|x| !x.metric.name.starts_with("http.server.")));
    let active = ["mes-api", "POST", "/orders/{id}/cost", "10.1.0.1", "8080"];
    assert_eq!(value(&s, "http.client.active_requests", &active), Some(1.0));
    assert_eq!(
        value(&s, "dozor.http.client.oldest_active.age", &active),
        Some(7.0)
    );
    assert_eq!(
        value(&s, "dozor.http_capture.packets", &["file"]),
        Some(w.packets as f64)
    );
    assert_eq!(
        value(&s, "dozor.http_capture.decode.errors", &["fragment"]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "dozor.http_capture.decode.errors", &["not_tcp"]),
        Some(0.0)
    );
    assert!(
        s.iter()
            .all(|x| x.metric.name != "dozor.http_capture.dropped")
    );

    // Reading again adds nothing: the file is read once.
    let mut rec = Recorder::new();
    cap.collect(&mut rec).unwrap();
    assert_eq!(
        value(&rec.take(), "dozor.http_capture.packets", &["file"]),
        Some(w.packets as f64)
    );
}
