//! Bounds on one point (`limits.point`) end to end: what is over a bound is not exposed (or is
//! exposed cut to it), is counted by reason, and is reported to the sender; and no point
//! stamped far from now can freeze its series.
// Regression: #10

mod common;

use common::*;
use dozor_metrics::otlp::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use dozor_metrics::otlp::metrics::v1::{
    AggregationTemporality, Exemplar, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    metric,
};
use prost::Message;

fn a1() -> Vec<(&'static str, String)> {
    agent("a1", "plant-a", "web")
}

/// POSTs `req`; the partial success of the 200 reply, if any.
async fn send(
    running: &dozor_collector::Running,
    req: &ExportMetricsServiceRequest,
) -> Option<ExportMetricsPartialSuccess> {
    let r = post(running.addrs.otlp_http, req, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    ExportMetricsServiceResponse::decode(r.body.clone())
        .unwrap()
        .partial_success
}

fn dropped(exposition: &str, reason: &str) -> f64 {
    must(
        exposition,
        &format!(r#"dozor_collector_dropped_points_total{{reason="{reason}"}}"#),
    )
}

fn truncated(exposition: &str, reason: &str) -> f64 {
    must(
        exposition,
        &format!(r#"dozor_collector_truncated_points_total{{reason="{reason}"}}"#),
    )
}

/// The sample lines of family `name`.
fn lines<'a>(exposition: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}{{");
    exposition
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .collect()
}

/// A histogram point with `buckets` buckets (one observation in the first).
fn histogram(name: &str, buckets: usize) -> Metric {
    let mut counts = vec![0; buckets];
    counts[0] = 1;
    let p = HistogramDataPoint {
        time_unix_nano: point(&[], 0.0).time_unix_nano,
        count: 1,
        sum: Some(0.5),
        bucket_counts: counts,
        explicit_bounds: (1..buckets).map(|b| b as f64).collect(),
        ..Default::default()
    };
    Metric {
        name: name.into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![p],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    }
}

/// A gauge point carrying `n` exemplars.
fn with_exemplars(value: f64, n: usize) -> NumberDataPoint {
    NumberDataPoint {
        exemplars: vec![Exemplar::default(); n],
        ..point(&[], value)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_label_value_and_metric_name_are_dropped_and_counted() {
    let running = start(|_| {}).await;
    let huge_name = "a".repeat(1 << 20);
    let huge_value = "v".repeat(4 << 20);
    let long_key = "k".repeat(300);
    let req = request(
        &a1(),
        vec![
            gauge("dozor.test.ok", "", vec![point(&[], 1.0)]),
            gauge(&huge_name, "", vec![point(&[], 2.0)]),
            gauge(
                "dozor.test.big",
                "",
                vec![point(&[("v", &huge_value)], 3.0)],
            ),
            gauge("dozor.test.key", "", vec![point(&[(&long_key, "x")], 4.0)]),
        ],
    );
    let partial = send(&running, &req).await.expect("partial success");
    assert_eq!(partial.rejected_data_points, 3);
    assert_eq!(
        partial.error_message,
        "3 data points not stored: 1 name_too_long, 1 label_name_too_long, 1 label_value_too_long"
    );
    let m = scrape(&running).await;
    assert!(m.len() < 1 << 20, "the scrape is {} bytes", m.len());
    assert_eq!(lines(&m, "dozor_test_ok").len(), 1, "{m}");
    assert!(lines(&m, "dozor_test_big").is_empty());
    assert!(lines(&m, "dozor_test_key").is_empty());
    assert_eq!(dropped(&m, "label_name_too_long"), 1.0);
    assert_eq!(dropped(&m, "name_too_long"), 1.0);
    assert_eq!(dropped(&m, "label_value_too_long"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn truncate_exposes_cut_names_and_values_and_counts_them() {
    let running = start(|c| {
        c.limits.point.on_over = dozor_collector::config::OverBound::Truncate;
        c.limits.point.max_label_value_length = 12;
        c.limits.point.max_name_length = 16;
        c.limits.point.max_exemplars = 2;
    })
    .await;
    // 11 ASCII bytes and a 2-byte "é": cut at 12 would split it. The resource's labels
    // (job="dozor-agent", host_name="a1.example") are within the bound.
    let req = request(
        &a1(),
        vec![
            gauge(
                "dozor.test.cut",
                "",
                vec![point(&[("v", "aaaaaaaaaaaé")], 1.0)],
            ),
            gauge(
                "dozor.test.long.name",
                "",
                vec![point(&[("v", "bbbbbbbbbbbbbbbb")], 2.0)],
            ),
            gauge("dozor.test.ex", "", vec![with_exemplars(3.0, 5)]),
        ],
    );
    assert_eq!(send(&running, &req).await, None);
    let m = scrape(&running).await;
    let cut = lines(&m, "dozor_test_cut");
    assert_eq!(cut.len(), 1, "{m}");
    assert!(cut[0].contains(r#"v="aaaaaaaaaaa""#), "{}", cut[0]);
    let long = lines(&m, "dozor_test_long_");
    assert_eq!(long.len(), 1, "{m}");
    assert!(long[0].contains(r#"v="bbbbbbbbbbbb""#), "{}", long[0]);
    assert_eq!(lines(&m, "dozor_test_ex").len(), 1, "{m}");
    assert_eq!(truncated(&m, "label_value_too_long"), 1.0);
    // Over two bounds, counted once: under the first, its name.
    assert_eq!(truncated(&m, "name_too_long"), 1.0);
    assert_eq!(truncated(&m, "too_many_exemplars"), 1.0);
    assert_eq!(dropped(&m, "name_too_long"), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_labels_are_dropped_even_when_truncating() {
    let running = start(|c| {
        c.limits.point.on_over = dozor_collector::config::OverBound::Truncate;
    })
    .await;
    // 61 attributes and job, instance, site, role: 65 labels, over the default 64.
    let keys: Vec<String> = (0..61).map(|i| format!("k{i}")).collect();
    let attrs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "x")).collect();
    let req = request(
        &a1(),
        vec![
            gauge("dozor.test.wide", "", vec![point(&attrs, 1.0)]),
            gauge("dozor.test.narrow", "", vec![point(&attrs[..60], 1.0)]),
        ],
    );
    let partial = send(&running, &req).await.expect("partial success");
    assert_eq!(partial.rejected_data_points, 1);
    let m = scrape(&running).await;
    assert!(lines(&m, "dozor_test_wide").is_empty(), "{m}");
    assert_eq!(lines(&m, "dozor_test_narrow").len(), 1, "{m}");
    assert_eq!(dropped(&m, "too_many_labels"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_buckets_are_dropped() {
    let running = start(|c| c.limits.point.max_buckets = 512).await;
    let req = request(
        &a1(),
        vec![
            histogram("dozor.test.wide", 1000),
            histogram("dozor.test.narrow", 512),
        ],
    );
    let partial = send(&running, &req).await.expect("partial success");
    assert_eq!(partial.rejected_data_points, 1);
    assert_eq!(
        partial.error_message,
        "1 data points not stored: 1 too_many_buckets"
    );
    let m = scrape(&running).await;
    assert!(lines(&m, "dozor_test_wide_seconds_bucket").is_empty());
    assert_eq!(lines(&m, "dozor_test_narrow_seconds_bucket").len(), 512);
    assert_eq!(dropped(&m, "too_many_buckets"), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_exemplars_are_dropped() {
    let running = start(|c| c.limits.point.max_exemplars = 16).await;
    let req = request(
        &a1(),
        vec![
            gauge("dozor.test.many", "", vec![with_exemplars(1.0, 17)]),
            gauge("dozor.test.few", "", vec![with_exemplars(1.0, 16)]),
        ],
    );
    let partial = send(&running, &req).await.expect("partial success");
    assert_eq!(partial.rejected_data_points, 1);
    let m = scrape(&running).await;
    assert!(lines(&m, "dozor_test_many").is_empty(), "{m}");
    assert_eq!(lines(&m, "dozor_test_few").len(), 1, "{m}");
    assert_eq!(dropped(&m, "too_many_exemplars"), 1.0);
}

/// One gauge point of `dozor.test.level` at `time_unix_nano`.
fn level_at(value: f64, time_unix_nano: u64) -> ExportMetricsServiceRequest {
    let p = NumberDataPoint {
        time_unix_nano,
        ..point(&[], value)
    };
    request(&a1(), vec![gauge("dozor.test.level", "", vec![p])])
}

fn level(exposition: &str) -> Option<f64> {
    value(
        exposition,
        r#"dozor_test_level{instance="a1",job="dozor-agent",role="web",site="plant-a"}"#,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_point_far_in_the_future_is_refused_and_freezes_nothing() {
    let running = start(|_| {}).await;
    let now = point(&[], 0.0).time_unix_nano;
    let year_ns = 365 * 86_400 * 1_000_000_000u64;
    let partial = send(&running, &level_at(1.0, now + 200 * year_ns))
        .await
        .expect("partial success");
    assert_eq!(partial.rejected_data_points, 1);
    assert_eq!(
        partial.error_message,
        "1 data points not stored: 1 future_timestamp"
    );
    let m = scrape(&running).await;
    assert_eq!(level(&m), None);
    assert_eq!(dropped(&m, "future_timestamp"), 1.0);

    // The next correct point is stored, and the one after it replaces it.
    assert_eq!(send(&running, &level_at(2.0, now)).await, None);
    assert_eq!(level(&scrape(&running).await), Some(2.0));
    assert_eq!(send(&running, &level_at(3.0, now + 1_000)).await, None);
    let m = scrape(&running).await;
    assert_eq!(level(&m), Some(3.0));
    assert_eq!(dropped(&m, "out_of_order"), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_point_stamped_near_1970_freezes_nothing() {
    let running = start(|_| {}).await;
    let now = point(&[], 0.0).time_unix_nano;
    // A new series from a point stamped 1970: stored, and later points replace it.
    assert_eq!(send(&running, &level_at(1.0, 1)).await, None);
    assert_eq!(level(&scrape(&running).await), Some(1.0));
    assert_eq!(send(&running, &level_at(2.0, now)).await, None);
    assert_eq!(level(&scrape(&running).await), Some(2.0));
    // Behind the series: out of order (accepted, not applied); the series moves on after it.
    assert_eq!(send(&running, &level_at(9.0, 1)).await, None);
    let m = scrape(&running).await;
    assert_eq!(level(&m), Some(2.0));
    assert_eq!(dropped(&m, "out_of_order"), 1.0);
    assert_eq!(send(&running, &level_at(3.0, now + 1_000)).await, None);
    assert_eq!(level(&scrape(&running).await), Some(3.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_over_bound_resource_attribute_drops_every_point_that_carries_it() {
    // `site` is promoted onto every series; `host.name` only goes to target_info.
    let mut resource = a1();
    assert_eq!((resource[2].0, resource[3].0), ("host.name", "site"));
    resource[2].1 = "h".repeat(4096);
    resource[3].1 = "s".repeat(4096);
    let req = request(
        &resource,
        vec![gauge("dozor.test.ok", "", vec![point(&[], 1.0)])],
    );
    let running = start(|_| {}).await;
    let partial = send(&running, &req).await.expect("partial success");
    // target_info is made by the collector, not sent: not reported to the sender.
    assert_eq!(partial.rejected_data_points, 1);
    let m = scrape(&running).await;
    assert!(lines(&m, "dozor_test_ok").is_empty(), "{m}");
    assert!(lines(&m, "target_info").is_empty(), "{m}");
    assert_eq!(dropped(&m, "label_value_too_long"), 2.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_point_with_more_attributes_than_labels_allowed_is_refused_before_translation() {
    // Translation compares each attribute's name with those before it: 100,000 distinct
    // attributes on one point would keep a core busy for minutes. The prescan sees them first.
    let running = start(|_| {}).await;
    let keys: Vec<String> = (0..100_000).map(|i| format!("k{i}")).collect();
    let attrs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "x")).collect();
    let req = request(
        &a1(),
        vec![gauge("dozor.test.wide", "", vec![point(&attrs, 1.0)])],
    );
    let r = post(running.addrs.otlp_http, &req, &[]).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.text().contains("limits.point.max_labels (64)"),
        "{}",
        r.text()
    );
    let m = scrape(&running).await;
    assert!(lines(&m, "dozor_test_wide").is_empty());
    assert_eq!(refused(&m, "otlp_http", "too_many_attributes"), 1.0);
}
