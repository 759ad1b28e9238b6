//! Delivery tracking end to end (issue #3): duplicates stored once, gaps counted and logged
//! once, the ledger surviving a SIGKILL, and replayed old points not moving series back.

mod common;

use common::proc::Collector;
use common::*;
use dozor_metrics::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;

const STREAM: &str = "0123456789abcdef";

fn delivery(m: &str, what: &str, agent: &str) -> f64 {
    must(
        m,
        &format!("dozor_collector_delivery_{what}_total{{agent=\"{agent}\"}}"),
    )
}

fn events(m: &str, agent: &str) -> Option<f64> {
    value(
        m,
        &format!(
            r#"dozor_test_events_total{{instance="{agent}",job="dozor-agent",role="web",site="plant-a"}}"#
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicate_batch_is_stored_once_over_http_and_grpc() {
    let running = start(|_| {}).await;
    let http = running.addrs.otlp_http;
    // Deltas add up: a batch stored twice would show 10, not 5.
    for _ in 0..2 {
        let r = post(
            http,
            &delta_request("a1", 5.0),
            &batch_headers("a1", STREAM, 1, 1),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let mut client = MetricsServiceClient::connect(format!("http://{}", running.addrs.otlp_grpc))
        .await
        .unwrap();
    for _ in 0..3 {
        let (code, _) = grpc_call(
            &mut client,
            delta_request("a1", 7.0),
            &batch_headers("a1", STREAM, 2, 1),
        )
        .await;
        assert_eq!(code, tonic::Code::Ok);
    }
    // Untracked requests (no stream headers) are never duplicates.
    for _ in 0..2 {
        let r = post(http, &delta_request("sdk", 1.0), &[]).await;
        assert_eq!(r.status, 200);
    }
    let m = scrape(&running).await;
    assert_eq!(events(&m, "a1"), Some(12.0), "{m}");
    assert_eq!(events(&m, "sdk"), Some(2.0));
    assert_eq!(delivery(&m, "accepted_batches", "a1"), 2.0);
    assert_eq!(delivery(&m, "duplicate_batches", "a1"), 3.0);
    assert_eq!(delivery(&m, "duplicate_points", "a1"), 6.0);
    assert_eq!(delivery(&m, "missing_batches", "a1"), 0.0);
    assert_eq!(requests(&m, "otlp_http", "accepted"), 4.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_delivery_headers_are_refused() {
    let running = start(|_| {}).await;
    let http = running.addrs.otlp_http;
    let mut bad = batch_headers("a1", "NOT-HEX-AT-ALL!!", 1, 1);
    let r = post(http, &delta_request("a1", 1.0), &bad).await;
    assert_eq!(r.status, 400);
    bad = batch_headers("a1", STREAM, 1, 1);
    bad.retain(|(k, _)| k != "dozor-oldest");
    let (code, _) = grpc_export(running.addrs.otlp_grpc, delta_request("a1", 1.0), &bad).await;
    assert_eq!(code, tonic::Code::InvalidArgument);
    let m = scrape(&running).await;
    assert_eq!(refused(&m, "otlp_http", "bad_delivery_header"), 1.0);
    assert_eq!(refused(&m, "otlp_grpc", "bad_delivery_header"), 1.0);
    assert_eq!(events(&m, "a1"), None);
}

#[test]
fn a_gap_is_counted_and_logged_once() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // 1 arrives; then the agent says its oldest is 4: 2 and 3 will never come.
        for (seq, oldest) in [(1, 1), (5, 4), (6, 4), (4, 4)] {
            let r = post(
                c.http,
                &delta_request("a1", 1.0),
                &batch_headers("a1", STREAM, seq, oldest),
            )
            .await;
            assert_eq!(r.status, 200);
        }
    });
    assert!(c.wait_for_log("Batches missing"), "{:#?}", c.log());
    let m = rt.block_on(async {
        common::wire::http1(c.prometheus, "GET", "/metrics", &[], vec![])
            .await
            .text()
    });
    assert_eq!(delivery(&m, "missing_batches", "a1"), 2.0, "{m}");
    assert_eq!(delivery(&m, "accepted_batches", "a1"), 4.0);
    let gaps: Vec<String> = c
        .log()
        .into_iter()
        .filter(|l| l.contains("Batches missing"))
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:#?}");
    for want in ["agent=a1", &format!("stream={STREAM}"), "first=2", "last=3"] {
        assert!(gaps[0].contains(want), "{want} not in {}", gaps[0]);
    }
}

#[test]
fn the_ledger_survives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let rest = format!("delivery:\n  ledger_path: {}\n", ledger.display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = Collector::start(dir.path(), &rest);
    rt.block_on(async {
        for seq in 1..=5 {
            let r = post(
                c.http,
                &delta_request("a1", 1.0),
                &batch_headers("a1", STREAM, seq, 1),
            )
            .await;
            assert_eq!(r.status, 200);
        }
    });
    c.kill9();
    let text = std::fs::read_to_string(&ledger).unwrap();
    assert!(text.contains(&format!("A a1 {STREAM} 5 2\n")), "{text}");

    let c = Collector::start(dir.path(), &rest);
    let m = rt.block_on(async {
        let r = post(
            c.http,
            &delta_request("a1", 1.0),
            &batch_headers("a1", STREAM, 3, 1),
        )
        .await;
        assert_eq!(r.status, 200);
        let (code, _) = grpc_export(
            c.grpc,
            delta_request("a1", 1.0),
            &batch_headers("a1", STREAM, 6, 1),
        )
        .await;
        assert_eq!(code, tonic::Code::Ok);
        common::wire::http1(c.prometheus, "GET", "/metrics", &[], vec![])
            .await
            .text()
    });
    assert_eq!(delivery(&m, "duplicate_batches", "a1"), 1.0, "{m}");
    assert_eq!(delivery(&m, "accepted_batches", "a1"), 1.0);
    assert_eq!(delivery(&m, "missing_batches", "a1"), 0.0);
    assert_eq!(
        events(&m, "a1"),
        Some(1.0),
        "only seq 6 stored after the restart"
    );
    assert_eq!(
        must(&m, "dozor_collector_delivery_ledger_errors_total"),
        0.0
    );
    assert_eq!(c.terminate(), Some(0));
    // Every batch accepted once, across both runs: the ledger's A lines are the record.
    let text = std::fs::read_to_string(&ledger).unwrap();
    let accepted: Vec<&str> = text.lines().filter(|l| l.starts_with("A ")).collect();
    let want: Vec<String> = (1..=6).map(|s| format!("A a1 {STREAM} {s} 2")).collect();
    assert_eq!(accepted, want, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_point_does_not_move_a_series_back() {
    use dozor_metrics::otlp::metrics::v1::NumberDataPoint;
    let running = start(|_| {}).await;
    let at = |t: u64, v: f64| -> NumberDataPoint {
        let mut p = point(&[], v);
        p.time_unix_nano = t;
        p
    };
    let cumulative = |p: NumberDataPoint| {
        request(
            &agent("a1", "plant-a", "web"),
            vec![counter("dozor.test.total", "{event}", false, vec![p])],
        )
    };
    // Live lane first (newer), backlog replay after it (older).
    let sec = 1_000_000_000;
    for (seq, t, v) in [(2, 2000 * sec, 10.0), (1, 1000 * sec, 5.0)] {
        let r = post(
            running.addrs.otlp_http,
            &cumulative(at(t, v)),
            &batch_headers("a1", STREAM, seq, 1),
        )
        .await;
        assert_eq!(r.status, 200);
        use prost::Message;
        let resp =
            dozor_metrics::otlp::collector::metrics::v1::ExportMetricsServiceResponse::decode(
                r.body,
            )
            .unwrap();
        assert_eq!(
            resp.partial_success, None,
            "out of order is not a rejection"
        );
    }
    let m = scrape(&running).await;
    let series = r#"dozor_test_total{instance="a1",job="dozor-agent",role="web",site="plant-a"}"#;
    assert_eq!(must(&m, series), 10.0, "{m}");
    assert_eq!(
        must(
            &m,
            r#"dozor_collector_dropped_points_total{reason="out_of_order"}"#
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_redeliveries_are_stored_once() {
    let running = start(|_| {}).await;
    let http = running.addrs.otlp_http;
    // 16 copies of each of 10 batches at once, as retries racing a slow original would be.
    let mut sends = Vec::new();
    for seq in 1..=10u64 {
        for _ in 0..16 {
            sends.push(tokio::spawn(async move {
                post(
                    http,
                    &delta_request("a1", 1.0),
                    &batch_headers("a1", STREAM, seq, 1),
                )
                .await
                .status
            }));
        }
    }
    for s in sends {
        assert_eq!(s.await.unwrap(), 200);
    }
    let m = scrape(&running).await;
    assert_eq!(events(&m, "a1"), Some(10.0), "{m}");
    assert_eq!(delivery(&m, "accepted_batches", "a1"), 10.0);
    assert_eq!(delivery(&m, "duplicate_batches", "a1"), 150.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_ledger_path_stops_the_start_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = dozor_collector::config::Config::default();
    config.receivers.otlp_grpc.endpoint = "127.0.0.1:0".into();
    config.receivers.otlp_http.endpoint = "127.0.0.1:0".into();
    config.exporters.prometheus.endpoint = "127.0.0.1:0".into();
    config.delivery.ledger_path = dir.path().join("no-such-dir/ledger").display().to_string();
    let err = dozor_collector::serve(&config)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("delivery.ledger_path: "), "{err}");
    assert!(err.contains("no-such-dir/ledger"), "{err}");
}
