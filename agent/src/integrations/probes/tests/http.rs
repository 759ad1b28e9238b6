//! HTTP(S) probes against responders the test runs in a network namespace: a DNS responder
//! that answers after a known delay, and an HTTP(S) server (rustls, with a CA and certificates
//! the test makes) that delays its TLS handshake, its first response byte and the second half
//! of its body by known amounts. Each phase the probe measures is compared with the delay
//! injected into it.

use super::dns::{Answer, Holds, best_of_3, near, responder, warm_up};
use crate::integrations::probes::Failure;
use crate::integrations::probes::config::ProbeConfig;
use crate::integrations::probes::http::HttpProbe;
use crate::integrations::testing::value;
use dozor_metrics::sample::{Recorder, Sample};
use dozor_testkit::netns::Link;
use hickory_proto::op::ResponseCode;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const D_DNS: Duration = Duration::from_millis(100);
const D_TLS: Duration = Duration::from_millis(150);
const D_TTFB: Duration = Duration::from_millis(120);
const D_TRANSFER: Duration = Duration::from_millis(100);
/// The good certificate's notAfter (2099-01-01) and the expired one's (2020-01-02), Unix time.
const GOOD_NOT_AFTER: f64 = 4_070_908_800.0;
const EXPIRED_NOT_AFTER: f64 = 1_577_923_200.0;
/// `/orders`'s body, sent in two parts D_TRANSFER apart.
const PART1: &str = "{\"orders\": [{\"id\": 1, \"state\": \"open\"},";
const PART2: &str = " {\"id\": 2, \"state\": \"open\"}]}";

/// The server configs: signed by the test's CA, expired, self-signed; and the CA's PEM file.
struct Certs {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    good: Arc<ServerConfig>,
    expired: Arc<ServerConfig>,
    self_signed: Arc<ServerConfig>,
}

fn server_config(cert: CertificateDer<'static>, key: &rcgen::KeyPair) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    )
}

fn certs() -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, date_time_ymd};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf = |not_after| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["orders.test".into()]).unwrap();
        p.not_before = date_time_ymd(2019, 1, 1);
        p.not_after = not_after;
        (p, key)
    };
    let (p, key) = leaf(date_time_ymd(2099, 1, 1));
    let good = server_config(p.signed_by(&key, &issuer).unwrap().der().clone(), &key);
    let (p, key) = leaf(date_time_ymd(2020, 1, 2));
    let expired = server_config(p.signed_by(&key, &issuer).unwrap().der().clone(), &key);
    let (p, key) = leaf(date_time_ymd(2099, 1, 1));
    let self_signed = server_config(p.self_signed(&key).unwrap().der().clone(), &key);
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    Certs {
        _dir: dir,
        ca: ca_path,
        good,
        expired,
        self_signed,
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Serves `listener` (bound in its namespace) until the test ends: TLS with `tls` (after
/// holding the ClientHello for D_TLS), then the routes of [`respond`].
fn serve(listener: TcpListener, tls: Option<Arc<ServerConfig>>, log: Log, holds: Holds) {
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { return };
            let (tls, log, holds) = (tls.clone(), log.clone(), holds.clone());
            std::thread::spawn(move || {
                let _ = sock.set_nodelay(true);
                match tls {
                    None => respond(sock, &log, &holds),
                    Some(cfg) => {
                        // The ClientHello is in: hold the handshake for D_TLS.
                        let mut b = [0u8; 1];
                        let _ = sock.peek(&mut b);
                        let hello = Instant::now();
                        std::thread::sleep(D_TLS);
                        holds.lock().unwrap().insert("tls".into(), hello.elapsed());
                        let conn = ServerConnection::new(cfg).unwrap();
                        let mut s = StreamOwned::new(conn, sock);
                        if s.conn.complete_io(&mut s.sock).is_err() {
                            return;
                        }
                        respond(&mut s, &log, &holds);
                        s.conn.send_close_notify();
                        let _ = s.flush();
                    }
                }
            });
        }
    });
}

/// Reads one request and answers it by its path.
fn respond(mut s: impl Read + Write, log: &Log, holds: &Holds) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let mut hs = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut hs);
    req.parse(&head).unwrap();
    let path = req.path.unwrap().to_string();
    let headers = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    log.lock().unwrap().push(Seen {
        path: path.clone(),
        headers,
    });
    let read = Instant::now();
    let mut send = |text: &str| {
        let _ = s.write_all(text.as_bytes()).and_then(|_| s.flush());
    };
    match path.as_str() {
        "/orders" => {
            std::thread::sleep(D_TTFB);
            let hold = read.elapsed();
            send(&format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Order-Count: 2\r\nContent-Length: {}\r\n\r\n{PART1}",
                PART1.len() + PART2.len()
            ));
            let part1 = Instant::now();
            std::thread::sleep(D_TRANSFER);
            let mut h = holds.lock().unwrap();
            h.insert("first_byte".into(), hold);
            h.insert("transfer".into(), part1.elapsed());
            drop(h);
            send(PART2);
        }
        "/chunked" => send(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n7\r\n orders\r\n0\r\nX-Trailer: 1\r\n\r\n",
        ),
        "/close" => send("HTTP/1.1 200 OK\r\n\r\nuntil the end"),
        "/not-found" => send("HTTP/1.1 404 Not Found\r\nContent-Length: 8\r\n\r\nnot here"),
        "/loop" => send("HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n"),
        "/hang" => std::thread::sleep(Duration::from_secs(5)),
        "/garbage" => send("HTTQ/1.1 ok\r\n\r\n"),
        p if p.starts_with("/redirect/") => {
            let n: u32 = p["/redirect/".len()..].parse().unwrap();
            let to = if n <= 1 {
                "/close".to_string()
            } else {
                format!("/redirect/{}", n - 1)
            };
            send(&format!(
                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n"
            ));
        }
        _ => send("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"),
    }
}

/// The responders in `b`: DNS, plain HTTP, and HTTPS with the good, expired and self-signed
/// certificates.
struct Fixture {
    link: Link,
    certs: Certs,
    dns: SocketAddr,
    http: u16,
    good: u16,
    expired: u16,
    self_signed: u16,
    log: Log,
    /// What the DNS responder and the server really held: resolve (`orders.test`), tls,
    /// first_byte, transfer.
    dns_holds: Holds,
    holds: Holds,
}

impl Fixture {
    fn new() -> Fixture {
        let link = Link::new();
        let certs = certs();
        let b = link.b_v4;
        let dns_sock = link.b.run(|| UdpSocket::bind((b, 0)).unwrap());
        let dns = dns_sock.local_addr().unwrap();
        let dns_holds = responder(
            dns_sock,
            HashMap::from([
                ("orders.test".to_string(), Answer::Ips(vec![b], D_DNS)),
                (
                    "gone.test".to_string(),
                    Answer::Code(ResponseCode::NXDomain),
                ),
                ("silent.test".to_string(), Answer::Silent),
            ]),
        );
        let log = Log::default();
        let holds = Holds::default();
        let listen = |tls: Option<Arc<ServerConfig>>| {
            let l = link.b.run(|| TcpListener::bind((b, 0)).unwrap());
            let port = l.local_addr().unwrap().port();
            serve(l, tls, log.clone(), holds.clone());
            port
        };
        warm_up(&link, dns);
        let http = listen(None);
        let good = listen(Some(certs.good.clone()));
        let expired = listen(Some(certs.expired.clone()));
        let self_signed = listen(Some(certs.self_signed.clone()));
        Fixture {
            link,
            dns,
            http,
            good,
            expired,
            self_signed,
            log,
            certs,
            dns_holds,
            holds,
        }
    }

    /// `url: ...` plus `more` (YAML flow mapping entries), with the test's resolver and CA.
    fn yaml(&self, url: &str, more: &str) -> String {
        format!(
            "{{url: \"{url}\", resolver: \"{}\", tls: {{ca_file: \"{}\"}}{}{more}}}",
            self.dns,
            self.certs.ca.display(),
            if more.is_empty() { "" } else { ", " }
        )
    }

    fn probe(&self, yaml: &str, timeout: Duration) -> (Result<Duration, Failure>, Vec<Sample>) {
        let cfg: HttpProbe = serde_saphyr::from_str(yaml).unwrap();
        let mut v = dozor_config::Validator::default();
        cfg.validate(&mut v.at("http"));
        assert!(format!("{v:?}").contains("problems: []"), "{v:?}");
        let ctx = crate::integrations::Context::for_tests(Duration::from_secs(10), timeout);
        let mut p = cfg.build(&ctx).unwrap();
        self.link.a.run(|| {
            let mut rec = Recorder::new();
            let r = p.run("t", Instant::now() + timeout, &mut rec);
            (r, rec.take())
        })
    }

    fn http(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.link.b_v4, self.http)
    }
}

fn phase(s: &[Sample], p: &str) -> Option<f64> {
    value(s, "dozor.probe.http.phase.duration", &["t", p])
}

const T: Duration = Duration::from_secs(2);

#[test]
fn each_phase_measures_its_injected_delay() {
    let f = Fixture::new();
    let url = format!("https://orders.test:{}/orders", f.good);
    let held = |p: &str| match p {
        "resolve" => f.dns_holds.lock().unwrap()["orders.test"],
        _ => f.holds.lock().unwrap()[p],
    };
    best_of_3("https phases", || {
        let (r, s) = f.probe(&f.yaml(&url, ""), T);
        let took = r.unwrap();
        let got: Vec<(&str, f64)> = ["resolve", "connect", "tls", "first_byte", "transfer"]
            .iter()
            .map(|p| (*p, phase(&s, p).unwrap_or_else(|| panic!("no {p} phase"))))
            .collect();
        eprintln!("https phases: {got:?}, total {took:?}");
        let mut timing = Vec::new();
        for (p, d) in [
            ("resolve", D_DNS),
            ("tls", D_TLS),
            ("first_byte", D_TTFB),
            ("transfer", D_TRANSFER),
        ] {
            let v = phase(&s, p).unwrap();
            let h = held(p);
            eprintln!("  {p}: measured {v:.6} s, held {h:?}, injected {d:?}");
            assert!(h >= d, "{p}: held {h:?}");
            if !near(v, h) {
                timing.push(format!("{p}: {v} s for {h:?} held ({d:?} injected)"));
            }
        }
        // Connect: one round trip over the veth, no delay injected (and none asserted on).
        assert!(got[1].1 > 0.0, "{got:?}");
        // The total is the phases end to end, plus the writing of the request.
        let sum: f64 = got.iter().map(|(_, v)| v).sum();
        assert!(took.as_secs_f64() >= sum, "{took:?} vs {sum}");
        if took.as_secs_f64() > sum + 0.01 {
            timing.push(format!("total {took:?} vs phases {sum}"));
        }
        assert_eq!(
            value(&s, "dozor.probe.http.status_code", &["t"]),
            Some(200.0)
        );
        assert_eq!(
            value(&s, "dozor.probe.http.response.body.size", &["t"]),
            Some((PART1.len() + PART2.len()) as f64)
        );
        assert_eq!(value(&s, "dozor.probe.http.redirects", &["t"]), Some(0.0));
        assert_eq!(
            value(&s, "dozor.probe.tls.cert.expiry", &["t"]),
            Some(GOOD_NOT_AFTER)
        );
        assert_eq!(value(&s, "dozor.probe.tls.chain.valid", &["t"]), Some(1.0));
        if timing.is_empty() {
            Ok(())
        } else {
            Err(timing.join("; "))
        }
    });

    // Plain HTTP to an address: no lookup, no TLS, and neither phase recorded.
    best_of_3("plain http phases", || {
        let (r, s) = f.probe(&f.yaml(&f.http("/orders"), ""), T);
        r.unwrap();
        assert_eq!(phase(&s, "resolve"), None);
        assert_eq!(phase(&s, "tls"), None);
        assert_eq!(value(&s, "dozor.probe.tls.chain.valid", &["t"]), None);
        let mut timing = Vec::new();
        for p in ["first_byte", "transfer"] {
            let (v, h) = (phase(&s, p).unwrap(), held(p));
            if !near(v, h) {
                timing.push(format!("plain {p}: {v} s for {h:?} held"));
            }
        }
        if timing.is_empty() {
            Ok(())
        } else {
            Err(timing.join("; "))
        }
    });
}

#[test]
fn redirects_status_and_matches() {
    let f = Fixture::new();
    let ok = |yaml: String| {
        let (r, s) = f.probe(&yaml, T);
        assert!(r.is_ok(), "{yaml}: {r:?}");
        s
    };
    let fails = |yaml: String, reason: &str| {
        let (r, s) = f.probe(&yaml, T);
        let e = r.expect_err(&yaml);
        assert_eq!(e.reason, reason, "{yaml}: {e:?}");
        s
    };
    // Followed: three hops, the last response's status and body.
    let s = ok(f.yaml(&f.http("/redirect/3"), ""));
    assert_eq!(value(&s, "dozor.probe.http.redirects", &["t"]), Some(3.0));
    assert_eq!(
        value(&s, "dozor.probe.http.status_code", &["t"]),
        Some(200.0)
    );
    assert_eq!(
        value(&s, "dozor.probe.http.response.body.size", &["t"]),
        Some(13.0)
    );
    let paths: Vec<String> = f
        .log
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        paths,
        ["/redirect/3", "/redirect/2", "/redirect/1", "/close"]
    );
    // Not followed: the 302 is the response.
    let s = fails(
        f.yaml(&f.http("/redirect/3"), "follow_redirects: false"),
        "status",
    );
    assert_eq!(
        value(&s, "dozor.probe.http.status_code", &["t"]),
        Some(302.0)
    );
    assert_eq!(value(&s, "dozor.probe.http.redirects", &["t"]), Some(0.0));
    ok(f.yaml(
        &f.http("/redirect/3"),
        "follow_redirects: false, expect: {status: [\"3xx\"]}",
    ));
    let s = fails(
        f.yaml(&f.http("/loop"), "max_redirects: 2"),
        "too_many_redirects",
    );
    assert_eq!(value(&s, "dozor.probe.http.redirects", &["t"]), Some(2.0));

    // Status.
    let s = fails(f.yaml(&f.http("/not-found"), ""), "status");
    assert_eq!(
        value(&s, "dozor.probe.http.status_code", &["t"]),
        Some(404.0)
    );
    assert_eq!(
        value(&s, "dozor.probe.http.response.body.size", &["t"]),
        Some(8.0)
    );
    ok(f.yaml(&f.http("/not-found"), "expect: {status: [404]}"));
    ok(f.yaml(&f.http("/not-found"), "expect: {status: [\"400-404\"]}"));

    // Body: chunked, and matches.
    let s = ok(f.yaml(
        &f.http("/chunked"),
        "expect: {body_regex: '^hello orders$'}",
    ));
    assert_eq!(
        value(&s, "dozor.probe.http.response.body.size", &["t"]),
        Some(12.0)
    );
    fails(
        f.yaml(&f.http("/chunked"), "expect: {body_regex: closed}"),
        "body_mismatch",
    );
    fails(
        f.yaml(&f.http("/chunked"), "expect: {body_not_regex: orders}"),
        "body_mismatch",
    );
    ok(f.yaml(&f.http("/orders"), "expect: {body_regex: '\"id\": 2'}"));
    // Cut at max_body: the size says so, the rest is not read.
    let s = fails(
        f.yaml(
            &f.http("/orders"),
            "max_body: 10, expect: {body_regex: '\"id\": 2'}",
        ),
        "body_mismatch",
    );
    assert_eq!(
        value(&s, "dozor.probe.http.response.body.size", &["t"]),
        Some(10.0)
    );

    // Headers.
    ok(f.yaml(
        &f.http("/orders"),
        "expect: {header: {x-order-count: '^2$', Content-Type: json}}",
    ));
    fails(
        f.yaml(
            &f.http("/orders"),
            "expect: {header: {X-Order-Count: '^3$'}}",
        ),
        "header_mismatch",
    );
    fails(
        f.yaml(&f.http("/orders"), "expect: {header: {X-Missing: '.'}}"),
        "header_mismatch",
    );

    // Malformed.
    fails(f.yaml(&f.http("/garbage"), ""), "protocol");
}

#[test]
fn credentials_reach_the_server_as_configured_and_are_never_logged() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "tok-SECRET-1\n").unwrap();
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = {
        let logs = logs.clone();
        move || Capture(logs.clone())
    };
    let yamls = [
        f.yaml(
            &f.http("/not-found"),
            &format!(
                "method: POST, body: order=1, bearer_token_file: \"{}\", headers: {{X-Desk: d7}}",
                token.display()
            ),
        ),
        f.yaml(
            &f.http("/not-found"),
            "basic_auth: {username: operator, password: s3cr3t pw}",
        ),
    ];
    for yaml in &yamls {
        let cfg: HttpProbe = serde_saphyr::from_str(yaml).unwrap();
        let ctx = crate::integrations::Context::for_tests(Duration::from_secs(10), T);
        let probe = cfg.build(&ctx).unwrap();
        let mut run = crate::integrations::probes::ProbeRun::new("t", probe, T);
        let text = format!("{cfg:?}");
        assert!(
            !text.contains("SECRET") && !text.contains("s3cr3t"),
            "{text}"
        );
        f.link.a.run(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(writer.clone())
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                use crate::integrations::Integration;
                let mut rec = Recorder::new();
                run.collect(&mut rec).unwrap();
                assert_eq!(
                    value(&rec.take(), "dozor.probe.success", &["t", "http"]),
                    Some(0.0)
                );
            })
        });
    }
    let seen = f.log.lock().unwrap().clone();
    let auth = |i: usize| {
        seen[i]
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(auth(0).as_deref(), Some("Bearer tok-SECRET-1"));
    assert!(
        seen[0]
            .headers
            .iter()
            .any(|(n, v)| n == "X-Desk" && v == "d7")
    );
    // base64("operator:s3cr3t pw"), computed outside the code under test.
    assert_eq!(auth(1).as_deref(), Some("Basic b3BlcmF0b3I6czNjcjN0IHB3"));
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(text.contains("Probe failed"), "nothing logged: {text}");
    for secret in ["SECRET", "s3cr3t", "b3BlcmF0b3I6czNjcjN0IHB3"] {
        assert!(!text.contains(secret), "{secret} in the log: {text}");
    }
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn bad_targets_fail_with_their_reason_within_the_timeout() {
    let f = Fixture::new();
    let fails = |yaml: String, reason: &str, timeout: Duration| {
        let start = Instant::now();
        let (r, s) = f.probe(&yaml, timeout);
        let waited = start.elapsed();
        let e = r.expect_err(&yaml);
        assert_eq!(e.reason, reason, "{yaml}: {e:?}");
        assert!(
            waited < timeout + Duration::from_millis(100),
            "{yaml}: {waited:?}"
        );
        (e, s)
    };
    // The responder says NXDOMAIN.
    let (e, s) = fails(
        f.yaml(&format!("http://gone.test:{}/", f.http), ""),
        "resolve",
        T,
    );
    assert!(e.message.contains("NXDomain"), "{e:?}");
    assert_eq!(phase(&s, "resolve"), None);
    // The resolver never answers.
    let (e, _) = fails(
        f.yaml(&format!("http://silent.test:{}/", f.http), ""),
        "timeout",
        Duration::from_millis(300),
    );
    assert!(e.message.contains("resolve"), "{e:?}");
    // Nothing listens.
    let (_, s) = fails(
        f.yaml(&format!("http://{}:1/", f.link.b_v4), ""),
        "refused",
        T,
    );
    assert_eq!(phase(&s, "connect"), None);

    // Expired: the reason, and the expiry that made it.
    let url = |port: u16| format!("https://orders.test:{port}/orders");
    let (_, s) = fails(f.yaml(&url(f.expired), ""), "certificate_expired", T);
    assert_eq!(
        value(&s, "dozor.probe.tls.cert.expiry", &["t"]),
        Some(EXPIRED_NOT_AFTER)
    );
    assert_eq!(value(&s, "dozor.probe.tls.chain.valid", &["t"]), Some(0.0));
    assert!(phase(&s, "connect").is_some());
    assert_eq!(phase(&s, "tls"), None);
    assert_eq!(phase(&s, "first_byte"), None);
    // Self-signed: untrusted; accepted with insecure_skip_verify, and still reported invalid.
    let (_, s) = fails(f.yaml(&url(f.self_signed), ""), "certificate_untrusted", T);
    assert_eq!(value(&s, "dozor.probe.tls.chain.valid", &["t"]), Some(0.0));
    assert_eq!(
        value(&s, "dozor.probe.tls.cert.expiry", &["t"]),
        Some(GOOD_NOT_AFTER)
    );
    let yaml = format!(
        "{{url: \"{}\", resolver: \"{}\", tls: {{ca_file: \"{}\", insecure_skip_verify: true}}}}",
        url(f.self_signed),
        f.dns,
        f.certs.ca.display()
    );
    let (r, s) = f.probe(&yaml, T);
    r.unwrap();
    assert_eq!(value(&s, "dozor.probe.tls.chain.valid", &["t"]), Some(0.0));
    assert!(phase(&s, "tls").is_some());
    // The name: the certificate is for orders.test, not for the address.
    let (_, s) = fails(
        f.yaml(&format!("https://{}:{}/orders", f.link.b_v4, f.good), ""),
        "certificate_name",
        T,
    );
    assert_eq!(value(&s, "dozor.probe.tls.chain.valid", &["t"]), Some(0.0));
    // ... unless the name to verify is set.
    let (r, _) = f.probe(
        &format!(
            "{{url: \"https://{}:{}/orders\", tls: {{ca_file: \"{}\", server_name: orders.test}}}}",
            f.link.b_v4,
            f.good,
            f.certs.ca.display()
        ),
        T,
    );
    r.unwrap();

    // Accepts, reads the request, never answers: a timeout while waiting for the first byte.
    let t = Duration::from_millis(400);
    let (e, s) = fails(f.yaml(&f.http("/hang"), ""), "timeout", t);
    assert!(e.message.contains("first byte"), "{e:?}");
    assert!(phase(&s, "connect").is_some());
    assert_eq!(phase(&s, "first_byte"), None);
    assert_eq!(phase(&s, "transfer"), None);
    assert_eq!(value(&s, "dozor.probe.http.status_code", &["t"]), None);
    // Over TLS the handshake is held past the timeout.
    let (e, s) = fails(f.yaml(&url(f.good), ""), "timeout", D_DNS + D_TLS / 2);
    assert!(e.message.contains("tls"), "{e:?}");
    assert_eq!(phase(&s, "tls"), None);
}
