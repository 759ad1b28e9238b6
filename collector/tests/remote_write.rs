//! The remote_write exporter end to end (issue #16): the real collector binary fed by this
//! test's OTLP requests, writing to a real VictoriaMetrics and a real Prometheus, whose raw
//! samples are read back (VictoriaMetrics `/api/v1/export`, Prometheus a `[range]` selector)
//! and compared with what the test sent and with what the pull endpoint showed.

mod common;

use common::proc::Collector;
use common::*;
use dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use dozor_metrics::otlp::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint, metric,
    number_data_point,
};
use dozor_testkit::victoriametrics::Exported;
use dozor_testkit::{Prometheus, VictoriaMetrics, wait_for};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const COUNTER: &str = "dozor_test_requests_total";
const GAUGE: &str = "dozor_test_queue_bytes";
const BUCKET: &str = "dozor_test_latency_seconds_bucket";
const SUM: &str = "dozor_test_latency_seconds_sum";
const COUNT: &str = "dozor_test_latency_seconds_count";
/// Samples per [`step`] request: counter, gauge, 3 buckets, sum, count, and `target_info`.
const PER_STEP: usize = 8;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The `exporters.remote_write` lines for one endpoint (appended under `exporters:`).
fn remote_write(url: &str, outbox: &Path, extra: &str) -> String {
    format!(
        "  remote_write:\n    - url: {url}\n      outbox:\n        path: {}\n      batch:\n        flush_interval: 200ms\n\
         \x20     retry:\n        initial_backoff: 100ms\n        max_backoff: 1s\n{extra}",
        outbox.display()
    )
}

fn number(attrs: &[(&str, &str)], value: f64, ms: i64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs
            .iter()
            .map(|(k, v)| dozor_metrics::sample::string_kv(k, v))
            .collect(),
        time_unix_nano: ms as u64 * 1_000_000,
        start_time_unix_nano: 1,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn histogram(ms: i64, counts: [u64; 3]) -> Metric {
    Metric {
        name: "dozor.test.latency".into(),
        description: "Test histogram.".into(),
        unit: "s".into(),
        metadata: vec![],
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: ms as u64 * 1_000_000,
                start_time_unix_nano: 1,
                count: counts.iter().sum(),
                sum: Some(counts.iter().sum::<u64>() as f64 * 0.25),
                bucket_counts: counts.to_vec(),
                explicit_bounds: vec![0.1, 1.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
    }
}

/// Step `i` of agent `id` at `ms`: a counter, a gauge and a histogram, values from `i`.
fn step(id: &str, i: u64, ms: i64) -> ExportMetricsServiceRequest {
    let v = i as f64;
    request(
        &agent(id, "plant-a", "web"),
        vec![
            counter(
                "dozor.test.requests",
                "{request}",
                false,
                vec![number(&[("route", "/a")], 10.0 + 1.5 * v, ms)],
            ),
            gauge("dozor.test.queue", "By", vec![number(&[], 1000.0 - v, ms)]),
            histogram(ms, [i, 2 * i, 1]),
        ],
    )
}

/// `name{labels}` as the pull endpoint writes it: agent `id`'s labels and `extra`, sorted.
fn key(name: &str, id: &str, extra: &[(&str, &str)]) -> String {
    let mut labels = vec![
        ("instance", id),
        ("job", "dozor-agent"),
        ("role", "web"),
        ("site", "plant-a"),
    ];
    labels.extend_from_slice(extra);
    // The exposition writes `le` last.
    labels.sort_by_key(|(k, _)| (*k == "le", *k));
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

/// The samples of step `i` at `ms` as the pull endpoint names them: (series, (ms, value)).
fn expected(id: &str, i: u64, ms: i64) -> Vec<(String, (i64, f64))> {
    let v = i as f64;
    let count = 3.0 * v + 1.0;
    vec![
        (key(COUNTER, id, &[("route", "/a")]), (ms, 10.0 + 1.5 * v)),
        (key(GAUGE, id, &[]), (ms, 1000.0 - v)),
        (key(BUCKET, id, &[("le", "0.1")]), (ms, v)),
        (key(BUCKET, id, &[("le", "1")]), (ms, 3.0 * v)),
        (key(BUCKET, id, &[("le", "+Inf")]), (ms, count)),
        (key(SUM, id, &[]), (ms, count * 0.25)),
        (key(COUNT, id, &[]), (ms, count)),
    ]
}

/// Exported series keyed as the pull endpoint writes them (`name{a="x",...}`, labels sorted).
fn keyed(series: Vec<Exported>) -> BTreeMap<String, Vec<(i64, f64)>> {
    series
        .into_iter()
        .map(|(mut labels, samples)| {
            let name = labels.remove("__name__").unwrap_or_default();
            let le = labels.remove("le");
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v))
                .chain(le.as_ref().map(|v| ("le", v)))
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            (format!("{name}{{{}}}", labels.join(",")), samples)
        })
        .collect()
}

/// The ground truth: every sample the test sent, by series.
fn truth(steps: &[(String, u64, i64)]) -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for (id, i, ms) in steps {
        for (series, sample) in expected(id, *i, *ms) {
            out.entry(series).or_default().push(sample);
        }
    }
    for samples in out.values_mut() {
        samples.sort_by_key(|s| s.0);
    }
    out
}

const SELECTOR: &str = r#"{__name__=~"dozor_test_requests_total|dozor_test_queue_bytes|dozor_test_latency_seconds_(bucket|sum|count)"}"#;

/// VictoriaMetrics' samples of the test series, once it holds `want` of them (or after 60 s).
fn vm_samples(vm: &VictoriaMetrics, want: usize) -> BTreeMap<String, Vec<(i64, f64)>> {
    let count = |m: &BTreeMap<String, Vec<(i64, f64)>>| m.values().map(Vec::len).sum::<usize>();
    wait_for(Duration::from_secs(60), || {
        Some(keyed(vm.export(SELECTOR))).filter(|m| count(m) >= want)
    })
    .unwrap_or_else(|| keyed(vm.export(SELECTOR)))
}

/// The collector's own metric line `series`, 0 when absent.
fn own(c: &Collector, series: &str) -> f64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let m = rt.block_on(async {
        common::wire::http1(c.prometheus, "GET", "/metrics", &[], vec![])
            .await
            .text()
    });
    value(&m, series).unwrap_or(0.0)
}

fn rw_metric(name: &str, url: &str, reason: Option<&str>) -> String {
    match reason {
        Some(r) => {
            format!(r#"dozor_collector_remote_write_{name}{{endpoint="{url}",reason="{r}"}}"#)
        }
        None => format!(r#"dozor_collector_remote_write_{name}{{endpoint="{url}"}}"#),
    }
}

/// Posts `steps` one request each; asserts each was accepted whole.
fn send(c: &Collector, steps: &[(String, u64, i64)]) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for (id, i, ms) in steps {
            let r = post(c.http, &step(id, *i, *ms), &[]).await;
            assert_eq!(r.status, 200, "{}", r.text());
        }
    });
}

/// Every sample arrives in VictoriaMetrics with its timestamp and value, live and backlog
/// (a replayed backlog the pull endpoint drops as out of order included), and each value is
/// the one the pull endpoint showed for that timestamp.
#[test]
fn every_sample_reaches_victoriametrics_as_the_pull_endpoint_showed_it() {
    let dir = tempfile::tempdir().unwrap();
    let vm = VictoriaMetrics::start(dir.path());
    let extra = "      backlog_after: 30s\n      backlog_band: 10s\n";
    let rw = remote_write(&vm.write_url(), &dir.path().join("outbox"), extra);
    let c = Collector::start(dir.path(), &rw);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let start = now_ms() - 90_000;
    let mut steps = Vec::new();
    let mut pulled: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    // In order: 90 s ago up to now, two agents; after each request, what the pull endpoint shows.
    for i in 0..30u64 {
        let ms = start + 3000 * i as i64;
        for id in ["a1", "a2"] {
            send(&c, &[(id.to_string(), i, ms)]);
            steps.push((id.to_string(), i, ms));
            let m = rt.block_on(async {
                common::wire::http1(c.prometheus, "GET", "/metrics", &[], vec![])
                    .await
                    .text()
            });
            for (series, (t, _)) in expected(id, i, ms) {
                pulled
                    .entry(series.clone())
                    .or_default()
                    .push((t, must(&m, &series)));
            }
        }
    }
    assert_eq!(
        pulled,
        truth(&steps),
        "the pull endpoint showed what was sent"
    );
    // A replayed backlog, older than everything above: out of order for the pull endpoint.
    let replay: Vec<_> = (100..110u64)
        .map(|i| {
            (
                "a1".to_string(),
                i,
                start - 600_000 + 1000 * (i - 100) as i64,
            )
        })
        .collect();
    send(&c, &replay);
    steps.extend(replay);
    let want = truth(&steps);
    let total: usize = want.values().map(Vec::len).sum();
    let got = vm_samples(&vm, total);
    assert_eq!(got, want, "VictoriaMetrics holds every sample sent, once");
    let url = vm.write_url();
    let sent = own(&c, &rw_metric("sent_samples_total", &url, None));
    assert_eq!(sent, (steps.len() * PER_STEP) as f64);
}

/// VictoriaMetrics stopped for a while and started again: nothing missing, nothing twice;
/// while it is away the samples wait in the outbox (pending and oldest age say so).
#[test]
fn a_receiver_away_for_a_while_misses_nothing_and_gets_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut vm = VictoriaMetrics::start(dir.path());
    let url = vm.write_url();
    let c = Collector::start(
        dir.path(),
        &remote_write(&url, &dir.path().join("outbox"), ""),
    );
    let start = now_ms() - 60_000;
    let at = |i: u64| ("a1".to_string(), i, start + 1000 * i as i64);
    let before: Vec<_> = (0..10).map(at).collect();
    send(&c, &before);
    let got = vm_samples(&vm, truth(&before).values().map(Vec::len).sum());
    assert_eq!(got, truth(&before));
    vm.stop();
    let during: Vec<_> = (10..40).map(at).collect();
    send(&c, &during);
    let pending = rw_metric("pending_samples", &url, None);
    assert!(
        wait_for(Duration::from_secs(20), || (own(&c, &pending)
            >= (30 * PER_STEP) as f64)
            .then_some(()))
        .is_some(),
        "pending samples: {}",
        own(&c, &pending)
    );
    let age = rw_metric("oldest_pending_age_seconds", &url, None);
    assert!(
        wait_for(Duration::from_secs(20), || (own(&c, &age) > 0.0)
            .then_some(()))
        .is_some()
    );
    vm.restart();
    let all: Vec<_> = before.iter().cloned().chain(during).collect();
    let want = truth(&all);
    let got = vm_samples(&vm, want.values().map(Vec::len).sum());
    assert_eq!(got, want, "every sample once");
    assert!(
        wait_for(Duration::from_secs(20), || (own(&c, &pending) == 0.0)
            .then_some(()))
        .is_some()
    );
    let retried = own(
        &c,
        &format!(
            r#"dozor_collector_remote_write_requests_total{{endpoint="{url}",status="transport_error"}}"#
        ),
    );
    assert!(retried > 0.0, "the outage was retried");
}

/// Samples the agent got its OK for survive a SIGKILL of the collector in the outbox, and
/// arrive after the restart, once.
#[test]
fn the_outbox_survives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut vm = VictoriaMetrics::start(dir.path());
    vm.stop();
    let rw = remote_write(&vm.write_url(), &dir.path().join("outbox"), "");
    let c = Collector::start(dir.path(), &rw);
    let start = now_ms() - 60_000;
    let steps: Vec<_> = (0..25)
        .map(|i| ("a1".to_string(), i, start + 1000 * i as i64))
        .collect();
    send(&c, &steps);
    // Killed while the sender holds samples it tried to send: they must still be on disk.
    let url = vm.write_url();
    let failed = format!(
        r#"dozor_collector_remote_write_requests_total{{endpoint="{url}",status="transport_error"}}"#
    );
    assert!(
        wait_for(Duration::from_secs(20), || (own(&c, &failed) >= 2.0)
            .then_some(()))
        .is_some()
    );
    c.kill9();
    vm.restart();
    let c = Collector::start(dir.path(), &rw);
    let want = truth(&steps);
    let got = vm_samples(&vm, want.values().map(Vec::len).sum());
    assert_eq!(got, want);
    drop(c);
}

/// A Prometheus with an out-of-order window of 10m: live samples and backlog within the window
/// are stored; a sample older than the window is refused with 500 "too old sample", counted
/// as failed for that reason, not retried, and does not cost the samples sent with it.
#[test]
fn a_too_old_sample_is_permanent_and_the_others_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let prom = Prometheus::remote_write_receiver(dir.path(), Some("10m"));
    let url = prom.write_url();
    // One band for the whole backlog, so the too-old sample shares its request with samples
    // Prometheus takes: the refused request is searched by halves.
    let extra = "      backlog_after: 1m\n      backlog_band: 1d\n";
    let c = Collector::start(
        dir.path(),
        &remote_write(&url, &dir.path().join("outbox"), extra),
    );
    let now = now_ms();
    let live: Vec<_> = (0..5)
        .map(|i| ("a1".to_string(), i, now - 5000 + 1000 * i as i64))
        .collect();
    send(&c, &live);
    let want_live = truth(&live);
    let count = |m: &BTreeMap<String, Vec<(i64, f64)>>| m.values().map(Vec::len).sum::<usize>();
    let read = || keyed(prom.raw_samples(SELECTOR, "1d"));
    wait_for(Duration::from_secs(60), || {
        Some(read()).filter(|m| count(m) >= count(&want_live))
    });
    assert_eq!(read(), want_live);
    // Agent a2 replays a backlog: 2 hours ago (older than the head's in-order range, an hour,
    // and than the window: too old) and 3 to 5 minutes ago (taken), sent in one collector
    // one collector request, then one live sample.
    let old: Vec<_> = [(0, now - 120 * 60_000), (1, now - 120 * 60_000 + 1000)]
        .map(|(i, ms)| ("a2".to_string(), i, ms))
        .to_vec();
    let within: Vec<_> = (2..8)
        .map(|i| ("a2".to_string(), i, now - 5 * 60_000 + 20_000 * i as i64))
        .collect();
    let newest = vec![("a2".to_string(), 8, now_ms())];
    let backlog = ExportMetricsServiceRequest {
        resource_metrics: old
            .iter()
            .chain(&within)
            .flat_map(|(id, i, ms)| step(id, *i, *ms).resource_metrics)
            .collect(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(post(c.http, &backlog, &[]));
    assert_eq!(r.status, 200, "{}", r.text());
    send(&c, &newest);
    let stored: Vec<_> = live.iter().chain(&within).chain(&newest).cloned().collect();
    let want = truth(&stored);
    wait_for(Duration::from_secs(60), || {
        Some(read()).filter(|m| count(m) >= count(&want))
    });
    let too_old = rw_metric("failed_samples_total", &url, Some("too_old"));
    // Every sample of the old steps but target_info, which carries the time it was received.
    let old_samples = (old.len() * (PER_STEP - 1)) as f64;
    assert!(
        wait_for(Duration::from_secs(30), || (own(&c, &too_old)
            >= old_samples)
            .then_some(()))
        .is_some(),
        "too_old: {}\n{}\n{}",
        own(&c, &too_old),
        c.log().join("\n"),
        prom.proc.output()
    );
    assert_eq!(read(), want, "everything but the too-old samples stored");
    assert_eq!(own(&c, &too_old), old_samples);
    let refused =
        format!(r#"dozor_collector_remote_write_requests_total{{endpoint="{url}",status="500"}}"#);
    let n = own(&c, &refused);
    assert!((1.0..=10.0).contains(&n), "500s: {n} (not retried forever)");
}

/// A remote_write receiver that checks `Authorization`: 204 with the right value (counting
/// the samples), 401 without it.
struct AuthChecker {
    addr: std::net::SocketAddr,
    samples: std::sync::Arc<std::sync::atomic::AtomicU64>,
    refused: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl AuthChecker {
    fn start(want: &str) -> AuthChecker {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let samples = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let refused = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (s, r, want) = (samples.clone(), refused.clone(), want.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (s, r, want) = (s.clone(), r.clone(), want.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut out = stream;
                    loop {
                        let (mut auth, mut len) = (String::new(), 0usize);
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let line = line.trim_end();
                            if line.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = line.split_once(':') {
                                match k.to_ascii_lowercase().as_str() {
                                    "authorization" => auth = v.trim().to_string(),
                                    "content-length" => len = v.trim().parse().unwrap_or(0),
                                    _ => {}
                                }
                            }
                        }
                        let mut body = vec![0; len];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let status = if auth == want {
                            let series =
                                dozor_collector::exporters::remote_write::encode::decode(&body)
                                    .unwrap();
                            let n: usize = series.iter().map(|t| t.samples.len()).sum();
                            s.fetch_add(n as u64, Ordering::Relaxed);
                            "204 No Content"
                        } else {
                            r.fetch_add(1, Ordering::Relaxed);
                            "401 Unauthorized"
                        };
                        let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                        if out.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        AuthChecker {
            addr,
            samples,
            refused,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    fn samples(&self) -> u64 {
        self.samples.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Bearer and basic authentication reach the receiver from their files; a wrong credential
/// is a permanent refusal (401), counted as rejected and not retried.
#[test]
fn bearer_and_basic_authentication_are_sent_and_a_refusal_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "s3cret-token\n").unwrap();
    std::fs::write(dir.path().join("password"), "pa:ss\n").unwrap();
    let bearer = AuthChecker::start("Bearer s3cret-token");
    // base64("user:pa:ss")
    let basic = AuthChecker::start("Basic dXNlcjpwYTpzcw==");
    let wrong = AuthChecker::start("Bearer another");
    let token = format!(
        "      bearer_token_file: {}\n",
        dir.path().join("token").display()
    );
    let auth = format!(
        "      basic_auth:\n        username: user\n        password_file: {}\n",
        dir.path().join("password").display()
    );
    let mut rw = remote_write(&bearer.url(), &dir.path().join("o1"), &token);
    rw.push_str(
        &remote_write(&basic.url(), &dir.path().join("o2"), &auth)["  remote_write:\n".len()..],
    );
    rw.push_str(
        &remote_write(&wrong.url(), &dir.path().join("o3"), &token)["  remote_write:\n".len()..],
    );
    let c = Collector::start(dir.path(), &rw);
    let steps: Vec<_> = (0..5)
        .map(|i| ("a1".to_string(), i, now_ms() - 5000 + 1000 * i as i64))
        .collect();
    send(&c, &steps);
    let total = (steps.len() * PER_STEP) as u64;
    let rejected = rw_metric("failed_samples_total", &wrong.url(), Some("rejected"));
    wait_for(Duration::from_secs(30), || {
        (bearer.samples() >= total
            && basic.samples() >= total
            && own(&c, &rejected) >= total as f64)
            .then_some(())
    });
    assert_eq!((bearer.samples(), basic.samples()), (total, total));
    assert_eq!(own(&c, &rejected), total as f64);
    let refusals = wrong.refused.load(std::sync::atomic::Ordering::Relaxed);
    assert!((1..=20).contains(&refusals), "401s: {refusals}");
    let log = c.log().join("\n");
    assert!(
        !log.contains("s3cret") && !log.contains("pa:ss"),
        "secrets logged:\n{log}"
    );
}

/// A bounded outbox drops its oldest samples when the endpoint stays away, counts exactly
/// how many, and the rest arrive once it is back.
#[test]
fn a_full_outbox_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut vm = VictoriaMetrics::start(dir.path());
    vm.stop();
    let url = vm.write_url();
    let rw = remote_write(&url, &dir.path().join("outbox"), "").replace(
        &format!(
            "      outbox:\n        path: {}\n",
            dir.path().join("outbox").display()
        ),
        &format!(
            "      outbox:\n        path: {}\n        max_bytes: 1048576\n",
            dir.path().join("outbox").display()
        ),
    );
    let c = Collector::start(dir.path(), &rw);
    // Wide requests with labels that compress badly: 2000 points each, the same 2000 series
    // (under the agent's series budget) at a new timestamp each time.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let requests = 60u64;
    let start = now_ms() - 60_000;
    rt.block_on(async {
        for r in 0..requests {
            let labels: Vec<String> = (0..2000u64)
                .map(|i| format!("{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
                .collect();
            let points = labels
                .iter()
                .map(|l| number(&[("id", l)], r as f64, start + 1000 * r as i64))
                .collect();
            let req = request(
                &agent("a1", "plant-a", "web"),
                vec![gauge("dozor.test.wide", "1", points)],
            );
            let reply = post(c.http, &req, &[]).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
    });
    let sent = requests * 2001;
    let dropped = own(
        &c,
        &rw_metric("dropped_samples_total", &url, Some("outbox_full")),
    );
    let bytes = own(&c, &rw_metric("outbox_size_bytes", &url, None));
    assert!(
        dropped > 0.0,
        "nothing dropped; {bytes} bytes in the outbox"
    );
    assert!(bytes <= 1048576.0, "{bytes}");
    vm.restart();
    let arrived = || {
        vm.export(r#"{__name__=~"dozor_test_wide_ratio|target_info"}"#)
            .iter()
            .map(|s| s.1.len() as u64)
            .sum::<u64>()
    };
    let want = sent - dropped as u64;
    wait_for(Duration::from_secs(60), || {
        (arrived() >= want).then_some(())
    });
    assert_eq!(
        arrived(),
        want,
        "every sample not counted as dropped arrived; sent {}, requests {}, pending {}",
        own(&c, &rw_metric("sent_samples_total", &url, None)),
        own(
            &c,
            &format!(
                r#"dozor_collector_remote_write_requests_total{{endpoint="{url}",status="204"}}"#
            )
        ),
        own(&c, &rw_metric("pending_samples", &url, None)),
    );
    assert!(
        (dropped as u64).is_multiple_of(2001),
        "whole requests dropped: {dropped}"
    );
    let sent_metric = own(&c, &rw_metric("sent_samples_total", &url, None));
    assert_eq!(sent_metric, want as f64, "counted as sent");
}
