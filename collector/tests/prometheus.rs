//! The Prometheus exporter end to end: negotiation, expiry, limits, the index and health pages,
//! and `promtool check metrics` on the real output.

mod common;

use common::wire::http1;
use common::*;
use dozor_config::Duration as ConfigDuration;
use prost::Message;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

async fn post(running: &dozor_collector::Running, req: Vec<u8>) {
    let ct = ("content-type", "application/x-protobuf");
    let r = http1(running.addrs.otlp_http, "POST", "/v1/metrics", &[ct], req).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn openmetrics_when_asked_text_otherwise() {
    let running = start(|_| {}).await;
    post(&running, sample_request(1.0).encode_to_vec()).await;
    let addr = running.addrs.prometheus;
    let om = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let r = http1(addr, "GET", "/metrics", &[("accept", om)], vec![]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = r.text();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.contains("# TYPE system_cpu_time_seconds counter\n"),
        "{text}"
    );

    let r = http1(addr, "GET", "/metrics", &[], vec![]).await;
    assert_eq!(
        r.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(!r.text().contains("# EOF"));

    let r = http1(
        addr,
        "GET",
        "/metrics",
        &[("accept-encoding", "gzip")],
        vec![],
    )
    .await;
    assert_eq!(r.header("content-encoding"), "gzip");
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&r.body[..]), &mut plain)
        .unwrap();
    assert!(plain.contains("system_cpu_time_seconds_total{"), "{plain}");

    let r = http1(addr, "GET", "/-/healthy", &[], vec![]).await;
    assert_eq!(r.status, 200);
    let r = http1(addr, "GET", "/", &[], vec![]).await;
    assert!(
        r.text().contains("/metrics") && r.text().contains("/-/healthy"),
        "{}",
        r.text()
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn series_expire_after_ttl_and_are_counted_agents_stay() {
    let running = start(|c| c.store.series_ttl = ConfigDuration(Duration::from_millis(1500))).await;
    post(&running, sample_request(1.0).encode_to_vec()).await;
    let m = scrape(&running).await;
    assert_eq!(must(&m, "dozor_collector_series"), 3.0);
    assert_eq!(must(&m, "dozor_collector_series_expired_total"), 0.0);

    tokio::time::sleep(Duration::from_millis(2000)).await;
    let m = scrape(&running).await;
    assert!(!m.contains("system_cpu_time_seconds_total{"), "{m}");
    assert!(!m.contains("target_info"), "{m}");
    assert_eq!(must(&m, "dozor_collector_series"), 0.0);
    // Two points and target_info.
    assert_eq!(must(&m, "dozor_collector_series_expired_total"), 3.0);
    assert_eq!(must(&m, "dozor_collector_agents"), 1.0);

    // The series comes back when the agent does.
    post(&running, sample_request(2.0).encode_to_vec()).await;
    let m = scrape(&running).await;
    assert_eq!(must(&m, "dozor_collector_series"), 3.0);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn series_beyond_max_series_are_dropped_and_counted() {
    let running = start(|c| c.store.max_series = 3).await;
    let points = (0..5)
        .map(|i| point(&[("i", &i.to_string())], i as f64))
        .collect();
    let req = request(
        &agent("a1", "s", "r"),
        vec![gauge("dozor.test.level", "1", points)],
    );
    post(&running, req.encode_to_vec()).await;
    let m = scrape(&running).await;
    assert_eq!(must(&m, "dozor_collector_series"), 3.0);
    // Which three of the six series (five points and target_info) win depends on hashing;
    // target_info is made here, not sent, so it is not counted as a dropped point.
    let stored = m
        .lines()
        .filter(|l| l.starts_with("dozor_test_level_ratio{"))
        .count();
    let dropped = must(
        &m,
        r#"dozor_collector_dropped_points_total{reason="series_limit"}"#,
    );
    assert_eq!(stored as f64 + dropped, 5.0, "{m}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn exposition_passes_promtool_check_metrics() {
    let promtool = Command::new("promtool").arg("--version").output();
    assert!(
        promtool.is_ok_and(|o| o.status.success()),
        "promtool is not on PATH: install it with `apt-get install prometheus`"
    );
    let running = start(|_| {}).await;
    post(&running, sample_request(1.0).encode_to_vec()).await;
    let delta = request(
        &agent("a2", "plant-b", "db"),
        vec![counter(
            "dozor.test.events",
            "{event}",
            true,
            vec![point(&[("kind", "x\"y")], 1.0)],
        )],
    );
    post(&running, delta.encode_to_vec()).await;
    // promtool parses the text format only (OpenMetrics names counter families without
    // `_total`, which its linter then reads as samples without help).
    {
        let what = "text";
        let body = http1(running.addrs.prometheus, "GET", "/metrics", &[], vec![])
            .await
            .body;
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&body).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics ({what}) failed:\n{}{}\n--- exposition ---\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&body)
        );
    }
    running.shutdown().await.unwrap();
}

/// Regression: #17. With `exporters.prometheus.created_samples`, a counter's
/// `start_time_unix_nano` is its OpenMetrics `_created`; without it (the default), none.
#[tokio::test(flavor = "multi_thread")]
async fn created_samples_only_when_configured() {
    use dozor_metrics::otlp::metrics::v1::metric::Data;
    let mut req = sample_request(3.0);
    for m in &mut req.resource_metrics[0].scope_metrics[0].metrics {
        if let Some(Data::Sum(sum)) = &mut m.data {
            sum.data_points[0].start_time_unix_nano = 1_700_000_000_250_000_000;
        }
    }
    let om = "application/openmetrics-text;version=1.0.0";
    for created in [true, false] {
        let running = start(|c| c.exporters.prometheus.created_samples = created).await;
        post(&running, req.encode_to_vec()).await;
        let r = http1(
            running.addrs.prometheus,
            "GET",
            "/metrics",
            &[("accept", om)],
            vec![],
        )
        .await;
        let text = r.text();
        let line = "\nsystem_cpu_time_seconds_created{cpu_mode=\"user\",instance=\"a1\",job=\"dozor-agent\",role=\"web\",site=\"plant-a\"} 1700000000.25\n";
        assert_eq!(text.contains(line), created, "{text}");
        assert!(
            !text.contains("system_memory_usage_bytes_created"),
            "{text}"
        );
    }
}

/// A workstation agent's `desk` becomes a label by default, like `site` and `role` (the network
/// dashboards group by it); and an agent without one gets no empty `desk` label.
#[tokio::test(flavor = "multi_thread")]
async fn desk_is_a_label_by_default() {
    let running = start(|_| {}).await;
    let mut ws = agent("ws1", "plant-a", "workstation");
    ws.push(("desk", "packing-3".into()));
    let probe = |v| {
        gauge(
            "dozor.probe.success",
            "{status}",
            vec![point(&[("probe.target", "mes")], v)],
        )
    };
    post(&running, request(&ws, vec![probe(1.0)]).encode_to_vec()).await;
    let server = agent("db1", "plant-a", "server");
    post(&running, request(&server, vec![probe(0.0)]).encode_to_vec()).await;
    let text = scrape(&running).await;
    assert_eq!(
        value(
            &text,
            "dozor_probe_success{desk=\"packing-3\",instance=\"ws1\",job=\"dozor-agent\",probe_target=\"mes\",role=\"workstation\",site=\"plant-a\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "dozor_probe_success{instance=\"db1\",job=\"dozor-agent\",probe_target=\"mes\",role=\"server\",site=\"plant-a\"}"
        ),
        Some(0.0),
        "{text}"
    );
}
